//! The messages the gateway writes itself about a message (delivery-status notices), the
//! fields every message certmail writes carries, and the address lists of a header section.

use std::collections::HashSet;

use certmail_smime::mime;

/// The addresses of address-list headers (To, Cc, ...), lower case. Groups
/// (`undisclosed-recipients:;`), display names with commas in quotes and comments are
/// handled; anything without `@` is ignored.
pub fn header_addresses(e: &mime::Entity<'_>, names: &[&str]) -> HashSet<String> {
    let mut out = HashSet::new();
    for h in e.headers.iter().filter(|h| names.iter().any(|n| h.is(n))) {
        let v = h.value();
        let mut items = Vec::new();
        let (mut quoted, mut angle, mut depth, mut start) = (false, false, 0usize, 0usize);
        let bytes = v.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if quoted => i += 1,
                b'"' if depth == 0 => quoted = !quoted,
                b'(' if !quoted => depth += 1,
                b')' if !quoted && depth > 0 => depth -= 1,
                b'<' if !quoted && depth == 0 => angle = true,
                b'>' if !quoted && depth == 0 => angle = false,
                b',' | b';' | b':' if !quoted && !angle && depth == 0 => {
                    items.push(&v[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        items.push(&v[start.min(v.len())..]);
        for item in items {
            let addr = match (item.rfind('<'), item.rfind('>')) {
                (Some(a), Some(b)) if a < b => &item[a + 1..b],
                _ => item.split('(').next().unwrap_or(item),
            };
            let addr = addr.trim().trim_matches('"').to_ascii_lowercase();
            if addr.contains('@') && !addr.contains(' ') {
                out.insert(addr);
            }
        }
    }
    out
}

/// A delivery status notification (RFC 3464) to `sender` for recipients the gateway had to
/// refuse after accepting the message: sent with the null sender, carrying the original
/// header section only (the body was meant to be protected).
pub fn failure_notice(
    hostname: &str,
    id: &str,
    sender: &str,
    rejected: &[(String, String)],
    original: &[u8],
    now: i64,
) -> Vec<u8> {
    // The stranger's header section, quoted 7-bit safe (its bytes are anyone's).
    let headers = mime::seven_bit_lines(&header_section(original));
    let b = mime::boundary();
    let date = certmail_pki::time::format_rfc3339(now);
    let mut text = String::new();
    for (r, why) in rejected {
        text.push_str(&format!("<{r}>: {why}\r\n"));
    }
    let mut status = String::new();
    for (r, why) in rejected {
        let clean: String = why.chars().filter(|c| !c.is_control()).collect();
        status.push_str(&format!(
            "Final-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: 5.7.1\r\nDiagnostic-Code: smtp; 550 5.7.1 {clean}\r\n\r\n"
        ));
    }
    let stamp = mail_stamp(hostname, now);
    let mut out = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: <{sender}>\r\n\
         {stamp}\
         Subject: Undelivered mail: could not be protected as required\r\n\
         Auto-Submitted: auto-replied\r\n\
         X-Certmail-Id: {id}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{b}\"\r\n\
         \r\n\
         --{b}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         This is the certmail gateway at {hostname} ({date}).\r\n\
         \r\n\
         Your message (certmail id {id}) was not delivered to the recipients below, because\r\n\
         the mail policy requires protection that could not be applied. Nothing was sent to\r\n\
         them in clear. Other recipients of the message, if any, received it.\r\n\
         \r\n\
         {text}\r\n\
         --{b}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {hostname}\r\n\
         X-Certmail-Id: {id}\r\n\
         \r\n\
         {status}\
         --{b}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n"
    )
    .into_bytes();
    out.extend_from_slice(&headers);
    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    out
}

/// The header fields of a message as received (CRLF, without the blank line), or nothing
/// when it has no parsable header section: what notices carry instead of the body, and what
/// the hold queue shows of a held message.
pub fn header_section(msg: &[u8]) -> Vec<u8> {
    let headers: Vec<u8> = match mime::parse(msg) {
        Ok(e) => e.headers.iter().flat_map(|h| h.raw.to_vec()).collect(),
        Err(_) => Vec::new(),
    };
    mime::canonical(&headers).into_owned()
}

/// The `Date:` and `Message-ID:` fields of a message certmail writes itself (RFC 5322
/// 3.6: both belong in every message; a next hop need not add them).
pub fn mail_stamp(hostname: &str, now: i64) -> String {
    let unique = crate::ca::random_password(20)
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|_| format!("{now:X}.{}", std::process::id()));
    format!(
        "Date: {}\r\nMessage-ID: <{unique}.{now:X}@{hostname}>\r\n",
        certmail_pki::time::format_rfc5322(now)
    )
}

pub(super) fn id_header(id: &str) -> (String, String) {
    ("X-Certmail-Id".to_owned(), id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_from_list_headers() {
        let m = b"To: \"Doe, John\" <John@Example.com>, jane@example.org (Jane)\r\nCc: undisclosed-recipients:;\r\nCc: team: a@x.example, b@x.example;\r\nFrom: c@x.example\r\n\r\nbody\r\n";
        let e = mime::parse(m).expect("parse");
        let got = header_addresses(&e, &["To", "Cc"]);
        let mut v: Vec<_> = got.into_iter().collect();
        v.sort();
        assert_eq!(
            v,
            vec![
                "a@x.example",
                "b@x.example",
                "jane@example.org",
                "john@example.com"
            ]
        );
    }

    #[test]
    fn notice_names_recipients_and_keeps_headers_only() {
        let orig =
            b"Subject: secret plans\r\nTo: x@y.example\r\n\r\nthe body must not be echoed\r\n";
        let n = failure_notice(
            "gw.example",
            "ID1",
            "alice@example.com",
            &[("x@y.example".into(), "no certificate".into())],
            orig,
            0,
        );
        let t = String::from_utf8_lossy(&n);
        assert!(t.contains("Final-Recipient: rfc822; x@y.example"));
        assert!(t.contains("<x@y.example>: no certificate"));
        assert!(t.contains("Subject: secret plans"));
        assert!(!t.contains("the body must not be echoed"));
        assert!(mime::parse(&n).is_ok());
    }
}
