//! XFORWARD (Postfix's XFORWARD_README): the MTA in front tells certmail the original
//! client and its own queue id, so certmail's log line of a message can be joined with
//! Postfix's. Only from clients that may connect at all (`allow-from`); the values are
//! logged, never trusted for policy.

/// The attributes certmail takes (Postfix sends NAME ADDR PORT PROTO HELO IDENT SOURCE).
pub const ATTRIBUTES: &str = "NAME ADDR PORT PROTO HELO IDENT SOURCE";

/// What the MTA in front said about the current transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// The original client's host name.
    pub name: Option<String>,
    /// The original client's address.
    pub addr: Option<String>,
    /// The original client's HELO.
    pub helo: Option<String>,
    /// The MTA's queue id of this message (Postfix: `IDENT`).
    pub ident: Option<String>,
    /// LOCAL or REMOTE.
    pub source: Option<String>,
}

impl Forwarded {
    /// `client=NAME[ADDR]` for the log, when known.
    pub fn client(&self) -> Option<String> {
        match (&self.name, &self.addr) {
            (Some(n), Some(a)) => Some(format!("{n}[{a}]")),
            (None, Some(a)) => Some(format!("[{a}]")),
            (Some(n), None) => Some(n.clone()),
            (None, None) => None,
        }
    }
}

/// xtext (RFC 3461 4): `+XX` is the byte XX.
fn xtext(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    // Kept to what a log line may carry.
    (!s.chars().any(char::is_control) && s.len() <= 255).then_some(s)
}

/// Applies `XFORWARD attr=value ...` (the line after the verb) to `f`. Unknown attributes
/// are an error, as Postfix's smtpd treats them; `[UNAVAILABLE]` and `[TEMPUNAVAIL]` clear
/// an attribute.
pub fn apply(f: &mut Forwarded, args: &str) -> Result<(), String> {
    let mut any = false;
    for item in args.split_ascii_whitespace() {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("bad XFORWARD attribute {item:?}"))?;
        let v = xtext(v).ok_or_else(|| format!("bad XFORWARD value for {k}"))?;
        let v = (v != "[UNAVAILABLE]" && v != "[TEMPUNAVAIL]" && !v.is_empty()).then_some(v);
        match k.to_ascii_uppercase().as_str() {
            "NAME" => f.name = v,
            "ADDR" => f.addr = v,
            "HELO" => f.helo = v,
            "IDENT" => f.ident = v,
            "SOURCE" => f.source = v,
            "PORT" | "PROTO" => {}
            other => return Err(format!("unknown XFORWARD attribute {other}")),
        }
        any = true;
    }
    if any {
        Ok(())
    } else {
        Err("XFORWARD without attributes".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_attributes() {
        let mut f = Forwarded::default();
        apply(
            &mut f,
            "NAME=mail.example.org ADDR=192.0.2.7 PORT=51515 PROTO=ESMTP HELO=mail.example.org",
        )
        .expect("first");
        apply(&mut f, "IDENT=4Xq1Zb3Hk2z9 SOURCE=REMOTE").expect("second");
        assert_eq!(f.client().as_deref(), Some("mail.example.org[192.0.2.7]"));
        assert_eq!(f.ident.as_deref(), Some("4Xq1Zb3Hk2z9"));
        apply(&mut f, "NAME=[UNAVAILABLE]").expect("unavailable");
        assert_eq!(f.client().as_deref(), Some("[192.0.2.7]"));
        assert_eq!(xtext("a+2Bb").as_deref(), Some("a+b"));
        assert!(apply(&mut f, "COLOR=red").is_err());
        assert!(
            apply(&mut f, "NAME=a+0Ab").is_err(),
            "no control characters"
        );
        assert!(apply(&mut f, "").is_err());
    }
}
