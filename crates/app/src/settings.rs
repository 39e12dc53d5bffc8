//! The settings table: every setting of the user -> domain -> global inheritance in one
//! place, with its name, type, default, scope, label, help and group. The CLI's checks, the
//! API's list of settings (`GET /api/v1/settings/definitions`), the settings pages and
//! README's settings table all come from it (`readme_table`; a test fails when README
//! differs). The mail path reads values through the constants ([`ENCRYPT_MODE`], ...), so a
//! key that does not exist does not compile.

use serde::Serialize;

use crate::policy::Resolved;

/// The check of a free-text setting value: the reason when it is refused.
pub type Check = fn(&str) -> std::result::Result<(), String>;

/// Where a setting may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Users, domains and global (inherited).
    All,
    /// Only globally.
    Global,
    /// Only for a user (it means something for one person only).
    User,
}

impl Scope {
    /// As shown in README and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "user, domain, global",
            Scope::Global => "global",
            Scope::User => "user",
        }
    }
}

/// What a setting is about (the settings pages group by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// Who is internal, and whether S/MIME is processed at all.
    General,
    /// Outgoing encryption.
    Encryption,
    /// Outgoing signatures.
    Signing,
    /// Incoming mail: decryption, verification, tags.
    Incoming,
    /// Certificates: selection, requests, renewal, trust.
    Certificates,
    /// Delivery of passwords and notices.
    Delivery,
    /// Where certmail may connect.
    Network,
}

impl Group {
    /// The heading.
    pub fn title(self) -> &'static str {
        match self {
            Group::General => "General",
            Group::Encryption => "Encryption",
            Group::Signing => "Signing",
            Group::Incoming => "Incoming mail",
            Group::Certificates => "Certificates",
            Group::Delivery => "Passwords and SMS",
            Group::Network => "Network",
        }
    }
}

/// A setting's definition.
#[derive(Debug, Clone, Copy)]
pub struct SettingDef {
    /// Key (the CLI's and the API's name).
    pub key: &'static str,
    /// Allowed values (empty: free text, checked by `check`, or a secret).
    pub values: &'static [&'static str],
    /// Factory default.
    pub default: &'static str,
    /// A short label for people (the settings pages).
    pub label: &'static str,
    /// What it does.
    pub help: &'static str,
    /// Free text that is stored sealed and never shown (`(set)`).
    pub secret: bool,
    /// The check of a free-text value (the reason when it is refused).
    pub check: Option<Check>,
    /// Where it may be set.
    pub scope: Scope,
    /// What it is about.
    pub group: Group,
}

impl SettingDef {
    /// Free text (not a choice, not a secret): shown and edited as a text field.
    pub fn is_text(&self) -> bool {
        self.values.is_empty() && !self.secret
    }

    /// Only the global value means anything (set on users or domains it is refused).
    pub fn global_only(&self) -> bool {
        self.scope == Scope::Global
    }

    /// The type as the API and README name it: `choice`, `text` or `secret`.
    pub fn kind(&self) -> &'static str {
        if self.secret {
            "secret"
        } else if self.values.is_empty() {
            "text"
        } else {
            "choice"
        }
    }
}

const fn choice(
    key: &'static str,
    values: &'static [&'static str],
    default: &'static str,
    label: &'static str,
    group: Group,
    help: &'static str,
) -> SettingDef {
    SettingDef {
        key,
        values,
        default,
        label,
        help,
        secret: false,
        check: None,
        scope: Scope::All,
        group,
    }
}

const fn text(
    key: &'static str,
    default: &'static str,
    label: &'static str,
    group: Group,
    help: &'static str,
    check: Check,
) -> SettingDef {
    SettingDef {
        key,
        values: &[],
        default,
        label,
        help,
        secret: false,
        check: Some(check),
        scope: Scope::All,
        group,
    }
}

/// `def` with another scope.
const fn scoped(scope: Scope, def: SettingDef) -> SettingDef {
    SettingDef { scope, ..def }
}

const ON_OFF: &[&str] = &["on", "off"];

/// Declares each setting as a constant and [`SETTINGS`] as the list of them all, so a
/// constant cannot be left out of the table.
macro_rules! settings {
    ($($(#[$doc:meta])* $name:ident = $def:expr;)*) => {
        $($(#[$doc])* pub const $name: SettingDef = $def;)*
        /// Every setting, in the order README and the pages show them.
        pub const SETTINGS: &[SettingDef] = &[$($name),*];
    };
}

settings! {
    /// `locality`.
    LOCALITY = choice(
        "locality",
        &["internal", "external"],
        "external",
        "Locality",
        Group::General,
        "internal users' mail is decrypted and signed here; external recipients get encrypted mail",
    );
    /// `smime`.
    SMIME = choice("smime", ON_OFF, "on", "S/MIME processing", Group::General, "S/MIME processing enabled");
    /// `encrypt-mode`.
    ENCRYPT_MODE = choice(
        "encrypt-mode",
        &["no-encryption", "allow", "force"],
        "allow",
        "Encryption",
        Group::Encryption,
        "allow: encrypt when certificates are available; force: never send in clear (refuse or hold, see on-missing-certificate)",
    );
    /// `encrypt-trigger-subject`.
    ENCRYPT_TRIGGER_SUBJECT = text(
        "encrypt-trigger-subject",
        "[encrypt]",
        "Encrypt when the Subject contains",
        Group::Encryption,
        "a Subject containing this (any case) makes the sender's mail encrypt-mode force for every external recipient; removed before sending; empty: off",
        check_line,
    );
    /// `encrypt-trigger-header`.
    ENCRYPT_TRIGGER_HEADER = text(
        "encrypt-trigger-header",
        "",
        "Encrypt when this header is present",
        Group::Encryption,
        "a header 'Name: value' (e.g. 'X-Certmail-Encrypt: yes' or 'Sensitivity: Company-Confidential') with the same effect; removed from all mail; empty: off",
        check_header_trigger,
    );
    /// `on-missing-certificate`.
    ON_MISSING_CERTIFICATE = choice(
        "on-missing-certificate",
        &["reject", "hold"],
        "reject",
        "When no certificate can be used",
        Group::Encryption,
        "encryption required and no usable certificate: refuse the recipient, or keep the message in the hold queue and tell the sender",
    );
    /// `hold-expire-days`.
    HOLD_EXPIRE_DAYS = text(
        "hold-expire-days",
        "7",
        "Days held mail is kept",
        Group::Encryption,
        "days a held message is kept before it is dropped with a notice to the sender",
        check_days,
    );
    /// `sign`.
    SIGN = choice(
        "sign",
        ON_OFF,
        "off",
        "Sign (older switch)",
        Group::Signing,
        "sign outgoing mail (the older switch: sign-mode, where set as near or nearer, wins)",
    );
    /// `sign-mode`.
    SIGN_MODE = choice(
        "sign-mode",
        &["off", "on", "when-encrypted"],
        "off",
        "Signing",
        Group::Signing,
        "sign outgoing mail: off, on, or only the copies that are encrypted; unset anywhere, sign decides",
    );
    /// `sign-calendar`.
    SIGN_CALENDAR = choice(
        "sign-calendar",
        ON_OFF,
        "off",
        "Sign calendar invitations",
        Group::Signing,
        "sign messages that carry a text/calendar invitation (many clients break signed invitations)",
    );
    /// `strict-decryption`.
    STRICT_DECRYPTION = choice(
        "strict-decryption",
        ON_OFF,
        "off",
        "Strict decryption",
        Group::Incoming,
        "decrypt only with a valid key certificate tied to the recipient; otherwise deliver still encrypted",
    );
    /// `on-error`.
    ON_ERROR = choice(
        "on-error",
        &["deliver", "reject"],
        "deliver",
        "When S/MIME cannot be processed",
        Group::Incoming,
        "incoming mail whose S/MIME cannot be processed: deliver the original with X-Certmail-Error, or reject it",
    );
    /// `subject-tags`.
    SUBJECT_TAGS = choice(
        "subject-tags",
        ON_OFF,
        "off",
        "Tag the Subject",
        Group::Incoming,
        "tag the Subject of incoming mail that was decrypted, or carries a valid or an invalid signature",
    );
    /// `subject-tag-decrypted`.
    SUBJECT_TAG_DECRYPTED = text(
        "subject-tag-decrypted",
        "[decrypted]",
        "Tag of decrypted mail",
        Group::Incoming,
        "the Subject tag of decrypted mail (subject-tags on)",
        check_line,
    );
    /// `subject-tag-signed`.
    SUBJECT_TAG_SIGNED = text(
        "subject-tag-signed",
        "[signed]",
        "Tag of validly signed mail",
        Group::Incoming,
        "the Subject tag of mail with a valid, trusted signature (subject-tags on)",
        check_line,
    );
    /// `subject-tag-invalid`.
    SUBJECT_TAG_INVALID = text(
        "subject-tag-invalid",
        "[signature invalid]",
        "Tag of badly signed mail",
        Group::Incoming,
        "the Subject tag of mail with an invalid or untrusted signature (subject-tags on)",
        check_line,
    );
    /// `remove-signature`.
    REMOVE_SIGNATURE = choice(
        "remove-signature",
        ON_OFF,
        "off",
        "Remove valid signatures",
        Group::Incoming,
        "after verification, remove a valid, trusted signature from incoming mail (the report headers stay)",
    );
    /// `collect-certificates`.
    COLLECT_CERTIFICATES = scoped(Scope::Global, choice(
        "collect-certificates",
        &["off", "verified", "trusted"],
        "verified",
        "Collect signers' certificates",
        Group::Incoming,
        "which signers' certificates incoming mail adds to the certificate store (the signer's and its chain, at most 10 a message): none, those whose signature verifies, or only those that also chain to a trusted root",
    ));
    /// `auto-select`.
    AUTO_SELECT = choice(
        "auto-select",
        ON_OFF,
        "on",
        "Select certificates automatically",
        Group::Certificates,
        "select valid certificates with a matching e-mail address automatically",
    );
    /// `min-rsa-bits`.
    MIN_RSA_BITS = text(
        "min-rsa-bits",
        "2048",
        "Smallest trusted RSA key (bits)",
        Group::Certificates,
        "the smallest RSA key trusted in signatures and certificate paths (1024 to 16384); older keys still verify, but are reported weak-key and untrusted, and are not encrypted to",
        check_rsa_bits,
    );
    /// `auto-request-certificate`.
    AUTO_REQUEST_CERTIFICATE = choice(
        "auto-request-certificate",
        ON_OFF,
        "off",
        "Request a signing certificate for senders",
        Group::Certificates,
        "an internal sender who must sign and has no valid signing certificate gets one requested from the default CA",
    );
    /// `auto-request-incoming`.
    AUTO_REQUEST_INCOMING = choice(
        "auto-request-incoming",
        ON_OFF,
        "off",
        "Request a certificate for recipients",
        Group::Certificates,
        "an internal recipient without a valid certificate and key gets one requested from the default CA when mail arrives for them, so later mail can be encrypted to it",
    );
    /// `auto-renew`.
    AUTO_RENEW = choice(
        "auto-renew",
        ON_OFF,
        "off",
        "Renew certificates automatically",
        Group::Certificates,
        "renew this user's certificates of the built-in CA (new key) auto-renew-days before they expire, and send the new PKCS#12 (password by SMS)",
    );
    /// `auto-renew-days`.
    AUTO_RENEW_DAYS = text(
        "auto-renew-days",
        "14",
        "Renew this many days before expiry",
        Group::Certificates,
        "how many days before expiry auto-renew renews",
        check_days,
    );
    /// `pfx-password`.
    PFX_PASSWORD = scoped(Scope::User, SettingDef {
        key: "pfx-password",
        values: &[],
        default: "",
        label: "Last PKCS#12 password",
        help: "last used PKCS#12 password (stored encrypted)",
        secret: true,
        check: None,
        scope: Scope::All,
        group: Group::Delivery,
    });
    /// `phone`.
    PHONE = scoped(Scope::User, text(
        "phone",
        "",
        "Mobile number",
        Group::Delivery,
        "the user's mobile number, for PKCS#12 passwords sent by SMS",
        check_phone,
    ));
    /// `sms-webhook-url`.
    SMS_WEBHOOK_URL = text(
        "sms-webhook-url",
        "",
        "SMS gateway URL",
        Group::Delivery,
        "HTTP(S) URL that gets a JSON POST {\"to\": number, \"text\": message} to send an SMS; empty: no SMS",
        check_url,
    );
    /// `fetch-allow`.
    FETCH_ALLOW = scoped(Scope::Global, text(
        "fetch-allow",
        "",
        "Internal hosts certmail may reach",
        Group::Network,
        "hosts and networks (CIDR) that CRL downloads, directories and the SMS webhook may reach although they are loopback, private, link-local or otherwise internal, separated by commas or spaces; empty: none",
        check_fetch_allow,
    ));
}

/// README's settings table (between `<!-- settings:begin -->` and `<!-- settings:end -->`),
/// made from [`SETTINGS`].
pub fn readme_table() -> String {
    let mut out = String::from(
        "| setting | values | default | where | what it does |\n| --- | --- | --- | --- | --- |\n",
    );
    for d in SETTINGS {
        let values = if d.secret {
            "secret".to_owned()
        } else if d.values.is_empty() {
            "text".to_owned()
        } else {
            d.values
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let default = if d.default.is_empty() {
            "(none)".to_owned()
        } else {
            format!("`{}`", d.default)
        };
        out.push_str(&format!(
            "| `{}` | {values} | {default} | {} | {}: {} |\n",
            d.key,
            d.scope.as_str(),
            d.label,
            d.help.replace('|', "\\|")
        ));
    }
    out
}

/// The setting named `key`.
pub fn find(key: &str) -> Option<&'static SettingDef> {
    SETTINGS.iter().find(|d| d.key == key)
}

/// A short line of text: no control characters, at most 100 characters.
fn check_line(v: &str) -> std::result::Result<(), String> {
    if v.chars().any(char::is_control) {
        return Err("must not contain control characters (line breaks, tabs)".into());
    }
    if v.chars().count() > 100 {
        return Err("must be at most 100 characters".into());
    }
    Ok(())
}

/// `Name: value` (a header field name and the value that triggers), or empty (off).
fn check_header_trigger(v: &str) -> std::result::Result<(), String> {
    check_line(v)?;
    if v.is_empty() {
        return Ok(());
    }
    match header_trigger(v) {
        Some(_) => Ok(()),
        None => Err(
            "must be a header name and value, as in 'X-Certmail-Encrypt: yes', or empty for off"
                .into(),
        ),
    }
}

/// The (name, value) of an `encrypt-trigger-header` value.
pub fn header_trigger(v: &str) -> Option<(String, String)> {
    let (name, value) = v.split_once(':')?;
    let name = name.trim();
    let value = value.trim();
    (!name.is_empty()
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        && !value.is_empty())
    .then(|| (name.to_owned(), value.to_owned()))
}

fn check_rsa_bits(v: &str) -> std::result::Result<(), String> {
    match v.parse::<u32>() {
        Ok(b) if (1024..=16384).contains(&b) => Ok(()),
        _ => Err("must be a number of bits from 1024 to 16384".into()),
    }
}

fn check_days(v: &str) -> std::result::Result<(), String> {
    match v.parse::<u32>() {
        Ok(d) if (1..=365).contains(&d) => Ok(()),
        _ => Err("must be a number of days from 1 to 365".into()),
    }
}

fn check_phone(v: &str) -> std::result::Result<(), String> {
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    if v.is_empty()
        || (v
            .bytes()
            .all(|b| b.is_ascii_digit() || b" +-()/.".contains(&b))
            && (5..=20).contains(&digits))
    {
        Ok(())
    } else {
        Err("must be a telephone number (digits, +, spaces, - ( ) / .; 5 to 20 digits)".into())
    }
}

fn check_url(v: &str) -> std::result::Result<(), String> {
    check_line(v).map_err(|_| "must be one http:// or https:// URL".to_owned())?;
    if v.is_empty() || v.starts_with("http://") || v.starts_with("https://") {
        Ok(())
    } else {
        Err("must be an http:// or https:// URL, or empty for off".into())
    }
}

/// `fetch-allow`: host names and CIDRs.
fn check_fetch_allow(v: &str) -> std::result::Result<(), String> {
    if v.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    crate::fetch_guard::AllowList::parse(v).map(|_| ())
}

/// The value of a resolved `min-rsa-bits` (the default when absent or unreadable).
pub fn min_rsa_bits(resolved: &[Resolved]) -> u32 {
    resolved
        .iter()
        .find(|r| r.key == MIN_RSA_BITS.key)
        .and_then(|r| r.value.parse().ok())
        .unwrap_or(certmail_pki::verify::DEFAULT_MIN_RSA_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_defaults_pass_their_own_checks() {
        let mut keys: Vec<&str> = SETTINGS.iter().map(|d| d.key).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is defined twice");
        for d in SETTINGS {
            assert!(!d.label.is_empty() && !d.help.is_empty(), "{}", d.key);
            if let Some(check) = d.check {
                assert_eq!(check(d.default), Ok(()), "{}", d.key);
            } else if !d.secret {
                assert!(d.values.contains(&d.default), "{}", d.key);
            }
        }
    }

    /// README's table is this table (`CERTMAIL_UPDATE_README=1` rewrites it).
    #[test]
    fn readme_shows_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let (begin, end) = ("<!-- settings:begin -->\n", "<!-- settings:end -->");
        let a = readme.find(begin).expect("settings:begin marker") + begin.len();
        let b = readme.find(end).expect("settings:end marker");
        let table = readme_table();
        if std::env::var_os("CERTMAIL_UPDATE_README").is_some() {
            let new = format!("{}{table}{}", &readme[..a], &readme[b..]);
            std::fs::write(path, new).expect("write README.md");
            return;
        }
        assert_eq!(
            &readme[a..b],
            table,
            "README's settings table differs from crates/app/src/settings.rs (CERTMAIL_UPDATE_README=1 cargo test -p certmail-app readme_shows_this_table rewrites it)"
        );
    }
}
