//! Civil-time formatting and parsing for Unix seconds (UTC), without reading any clock.

/// Formats Unix seconds as RFC 3339 UTC (`2026-11-22T20:11:23Z`).
pub fn format_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Formats Unix seconds as an RFC 5322 `Date:` value in UTC, e.g.
/// `Wed, 02 Dec 2026 05:03:18 +0000`.
pub fn format_rfc5322(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m as usize).clamp(1, 12) - 1],
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Parses an RFC 3339 time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`) or a plain date
/// `YYYY-MM-DD` (midnight UTC) into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let date = days_from_civil(y, mo as u32, d as u32) * 86_400;
    if b.len() == 10 {
        return Some(date);
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    Some(date + h * 3600 + mi * 60 + se - offset)
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses an RFC 5322 date-time (section 3.3, with the obsolete forms of 4.3: two-digit
/// years, named zones, no seconds, comments and folding white space), as in a Date header.
pub fn parse_rfc5322(s: &str) -> Option<i64> {
    // Comments out, commas to spaces, then tokens.
    let mut clean = String::with_capacity(s.len());
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            ',' => clean.push(' '),
            c => clean.push(c),
        }
    }
    let mut t: Vec<&str> = clean.split_whitespace().collect();
    if t.first()
        .is_some_and(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphabetic()))
    {
        t.remove(0);
    }
    let [day, month, year, time, rest @ ..] = t.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = MONTHS
        .iter()
        .position(|m| month.len() >= 3 && month[..3].eq_ignore_ascii_case(m))?
        as u32
        + 1;
    let year: i64 = year.parse().ok()?;
    let year = match (year, year_digits(year)) {
        (y, 2) if y < 50 => 2000 + y,
        (y, 2) => 1900 + y,
        (y, 3) => 1900 + y,
        (y, _) => y,
    };
    let hms: Vec<u32> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<_>>>()?;
    let (h, m, sec) = match hms.as_slice() {
        [h, m] => (*h, *m, 0),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let offset = match rest.first() {
        None => 0,
        Some(z) if (z.starts_with('+') || z.starts_with('-')) && z.len() == 5 => {
            let n: i64 = z[1..].parse().ok()?;
            let secs = (n / 100) * 3600 + (n % 100) * 60;
            if z.starts_with('-') { -secs } else { secs }
        }
        Some(z) => match z.to_ascii_uppercase().as_str() {
            "UT" | "GMT" | "Z" => 0,
            "EDT" => -4 * 3600,
            "EST" | "CDT" => -5 * 3600,
            "CST" | "MDT" => -6 * 3600,
            "MST" | "PDT" => -7 * 3600,
            "PST" => -8 * 3600,
            // Other (military) zones are to be taken as +0000 (RFC 5322 4.3).
            _ => 0,
        },
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(h * 3600 + m * 60 + sec.min(59)) - offset)
}

fn year_digits(y: i64) -> usize {
    y.to_string().len()
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5322_dates() {
        assert_eq!(format_rfc5322(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            format_rfc5322(1_796_187_798),
            "Wed, 02 Dec 2026 05:03:18 +0000"
        );
    }

    #[test]
    fn rfc5322_dates_parse() {
        let t = 1_796_187_798;
        assert_eq!(parse_rfc5322(&format_rfc5322(t)), Some(t));
        assert_eq!(
            parse_rfc5322("Sat, 02 Nov 2013 21:28:04 +0100"),
            Some(1_383_424_084)
        );
        assert_eq!(
            parse_rfc5322(" 2 Nov 13 16:28 EDT (a comment)"),
            Some(1_383_424_080)
        );
        assert_eq!(parse_rfc5322("Wed, 02 Dec 2026 05:03:18 GMT"), Some(t));
        assert_eq!(parse_rfc5322("Wed, 02 Foo 2026 05:03:18 GMT"), None);
        assert_eq!(parse_rfc5322("yesterday"), None);
    }

    #[test]
    fn round_trips() {
        for t in [0, 951_782_400, 1_795_378_283, -86_400, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(format_rfc3339(1_795_378_283), "2026-11-22T20:11:23Z");
        assert_eq!(
            parse_rfc3339("2026-11-22T21:11:23+01:00"),
            Some(1_795_378_283)
        );
        assert_eq!(parse_rfc3339("2026-11-22"), Some(1_795_305_600));
        assert_eq!(parse_rfc3339("2026-13-01"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
