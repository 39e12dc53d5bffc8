//! Administrator accounts, their roles, API tokens, browser sessions and the audit log:
//! what the web admin and the HTTP API authenticate and authorise with. There is no
//! default account and no default password.

use certmail_crypto::password;
use certmail_store::{AccountRow, AuditFilter, AuditRow, SessionRow};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{App, AppError, Result, now};

/// Sessions end after this long without a request.
pub const SESSION_IDLE_SECS: i64 = 30 * 60;
/// Sessions end this long after login, used or not.
pub const SESSION_MAX_SECS: i64 = 12 * 3600;
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only; no private key export.
    Auditor,
    /// Certificates, keys, CRLs, trust list, users and domains, CA issuance and sending;
    /// not accounts, global settings or CA creation.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "auditor" => Ok(Role::Auditor),
            _ => Err(AppError::Invalid(format!(
                "unknown role {s:?}: use admin, operator or auditor"
            ))),
        }
    }
}

/// An account as shown (never with its hash): `admin list --json` and `GET /api/v1/admins`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether a password is set (otherwise only API tokens work).
    pub has_password: bool,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Number of API tokens.
    pub tokens: usize,
}

/// Who is acting, for authorisation and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Account name (`cli` for the command line).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Client address (`local` for the command line).
    pub address: String,
}

impl Actor {
    /// The command line: local administrator.
    pub fn cli() -> Actor {
        Actor {
            name: "cli".into(),
            role: Role::Admin,
            address: "local".into(),
        }
    }
}

/// A logged-in browser session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub actor_name: String,
    /// Its role.
    pub role: Role,
    /// The CSRF token every state-changing request of this session must carry.
    pub csrf: String,
}

/// A new session: the id goes into the cookie and is stored only hashed.
#[derive(Debug)]
pub struct NewSession {
    /// Session id (secret).
    pub id: Zeroizing<String>,
    /// CSRF token.
    pub csrf: String,
    /// The account's role.
    pub role: Role,
}

/// Parses an audit `since` filter (the CLI's `--since`, the audit page's field): RFC 3339,
/// a date (`2026-11-01`), or `N` days before `now` as `Nd` (at most 36,500).
pub fn parse_since(s: &str, now: i64) -> std::result::Result<i64, String> {
    if let Some(d) = s.strip_suffix('d')
        && let Ok(n) = d.parse::<i64>()
        && (0..=36_500).contains(&n)
    {
        return Ok(now - n * 86_400);
    }
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    certmail_pki::time::parse_rfc3339(&full).ok_or_else(|| {
        format!("since {s:?} is not a time: use 2026-11-01, 2026-11-01T08:00:00Z or 7d")
    })
}

/// A random secret (32 bytes, URL-safe base64): setup links, CSRF tokens.
pub fn random_secret() -> Result<Zeroizing<String>> {
    Ok(password::random_token("")?)
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "account name {name:?} is not acceptable: 1 to 64 characters of letters, digits, '.', '_', '@' and '-'"
        )))
    }
}

/// Checks a new password's strength (length; not just one repeated character).
pub fn check_password(pw: &str) -> Result<()> {
    if pw.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::Invalid(format!(
            "the password is too short: at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let mut chars = pw.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(AppError::Invalid(
            "the password is one character repeated: choose another".into(),
        ));
    }
    Ok(())
}

impl App {
    /// Creates an account. Without a password the account can log in only after
    /// `admin passwd` (or use API tokens).
    pub async fn admin_add(&self, name: &str, role: Role, pw: Option<&str>) -> Result<Account> {
        check_name(name)?;
        let hash = match pw {
            Some(p) => {
                check_password(p)?;
                Some(self.cpu(|| password::hash_password(p.as_bytes())).await?)
            }
            None => None,
        };
        let t = now();
        self.store
            .add_account(&AccountRow {
                name: name.into(),
                role: role.as_str().into(),
                password_hash: hash,
                created_at: t,
                updated_at: t,
            })
            .await?;
        self.admin_get(name).await
    }

    /// One account.
    pub async fn admin_get(&self, name: &str) -> Result<Account> {
        let a = self
            .store
            .account(name)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "account named",
                id: format!("{name:?}"),
            })?;
        self.account_view(a).await
    }

    async fn account_view(&self, a: AccountRow) -> Result<Account> {
        let tokens = self.store.tokens(&a.name).await?.len();
        Ok(Account {
            role: Role::parse(&a.role)?,
            has_password: a.password_hash.is_some(),
            created_at: a.created_at,
            name: a.name,
            tokens,
        })
    }

    /// All accounts.
    pub async fn admin_list(&self) -> Result<Vec<Account>> {
        let mut out = Vec::new();
        for a in self.store.accounts().await? {
            out.push(self.account_view(a).await?);
        }
        Ok(out)
    }

    /// Deletes an account; the last administrator is kept while other accounts exist.
    pub async fn admin_delete(&self, name: &str) -> Result<()> {
        let all = self.store.accounts().await?;
        let Some(me) = all.iter().find(|a| a.name == name) else {
            return Err(AppError::NotFound {
                what: "account named",
                id: format!("{name:?}"),
            });
        };
        let admins = all.iter().filter(|a| a.role == "admin").count();
        if me.role == "admin" && admins == 1 && all.len() > 1 {
            return Err(AppError::Conflict(format!(
                "{name:?} is the last admin account: add another admin first"
            )));
        }
        self.store.delete_account(name).await?;
        Ok(())
    }

    /// Sets an account's password (ending its sessions).
    pub async fn admin_passwd(&self, name: &str, pw: &str) -> Result<()> {
        check_password(pw)?;
        let hash = self.cpu(|| password::hash_password(pw.as_bytes())).await?;
        if !self.store.set_password(name, &hash, now()).await? {
            return Err(AppError::NotFound {
                what: "account named",
                id: format!("{name:?}"),
            });
        }
        Ok(())
    }

    /// Creates an API token for an account; the token is returned once and stored hashed.
    pub async fn admin_token(&self, name: &str, days: Option<u32>) -> Result<Zeroizing<String>> {
        self.admin_get(name).await?;
        let token = password::random_token("cmt_")?;
        let t = now();
        self.store
            .add_token(
                name,
                &password::fingerprint(&token),
                t,
                days.map(|d| t + i64::from(d) * 86_400),
            )
            .await?;
        Ok(token)
    }

    /// The account of a bearer token, if the token is known and unexpired.
    pub async fn admin_bearer(&self, token: &str) -> Result<Option<Actor>> {
        let Some(a) = self
            .store
            .use_token(&password::fingerprint(token), now())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Actor {
            role: Role::parse(&a.role)?,
            name: a.name,
            address: String::new(),
        }))
    }

    /// Checks a name and password; on success a new session. A wrong name and a wrong
    /// password take the same time and give the same answer (`None`).
    pub async fn admin_login(
        &self,
        name: &str,
        pw: &str,
        address: &str,
    ) -> Result<Option<NewSession>> {
        let account = self.store.account(name).await?;
        let hash = account
            .as_ref()
            .and_then(|a| a.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.to_owned());
        let ok = self
            .cpu(|| password::verify_password(&hash, pw.as_bytes()))
            .await;
        let Some(a) = account.filter(|a| ok && a.password_hash.is_some()) else {
            return Ok(None);
        };
        Ok(Some(self.admin_new_session(&a.name, address).await?))
    }

    /// Starts a session for an account (after login or first-run setup).
    pub async fn admin_new_session(&self, name: &str, address: &str) -> Result<NewSession> {
        let a = self
            .store
            .account(name)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "account named",
                id: format!("{name:?}"),
            })?;
        let id = password::random_token("")?;
        let csrf = password::random_token("")?.to_string();
        let t = now();
        self.store
            .expire_sessions(t - SESSION_IDLE_SECS, t - SESSION_MAX_SECS)
            .await?;
        self.store
            .add_session(
                &password::fingerprint(&id),
                &SessionRow {
                    account: a.name.clone(),
                    csrf: csrf.clone(),
                    address: address.into(),
                    created_at: t,
                    last_seen: t,
                },
            )
            .await?;
        Ok(NewSession {
            id,
            csrf,
            role: Role::parse(&a.role)?,
        })
    }

    /// The live session of a cookie value (idle and absolute timeouts applied), marking it used.
    pub async fn admin_session(&self, id: &str) -> Result<Option<Session>> {
        let h = password::fingerprint(id);
        let Some(s) = self.store.session(&h).await? else {
            return Ok(None);
        };
        let t = now();
        if t - s.last_seen > SESSION_IDLE_SECS || t - s.created_at > SESSION_MAX_SECS {
            self.store.delete_session(&h).await?;
            return Ok(None);
        }
        let Some(a) = self.store.account(&s.account).await? else {
            return Ok(None);
        };
        if t - s.last_seen >= 30 {
            self.store.touch_session(&h, t).await?;
        }
        Ok(Some(Session {
            actor_name: a.name,
            role: Role::parse(&a.role)?,
            csrf: s.csrf,
        }))
    }

    /// Ends a session.
    pub async fn admin_logout(&self, id: &str) -> Result<()> {
        Ok(self
            .store
            .delete_session(&password::fingerprint(id))
            .await?)
    }

    /// Whether any account exists (none: the first-run setup link is the only way in).
    pub async fn admin_exists(&self) -> Result<bool> {
        Ok(!self.store.accounts().await?.is_empty())
    }

    /// Writes the audit entry of a change with its outcome, then hands the change's
    /// result back. A failure to write the entry wins: no change is reported without it.
    pub async fn audited<T>(
        &self,
        who: &Actor,
        action: &str,
        object: &str,
        detail: &str,
        r: Result<T>,
    ) -> Result<T> {
        let why = r.as_ref().err().map(ToString::to_string);
        self.audit(
            who,
            action,
            object,
            why.as_deref().map_or(Ok(()), Err),
            detail,
        )
        .await?;
        r
    }

    /// Writes an audit entry. `detail` must never hold a key or a password.
    pub async fn audit(
        &self,
        who: &Actor,
        action: &str,
        object: &str,
        outcome: std::result::Result<(), &str>,
        detail: &str,
    ) -> Result<()> {
        let (outcome, detail) = match outcome {
            Ok(()) => ("ok", detail.to_owned()),
            Err(why) if detail.is_empty() => ("failed", why.to_owned()),
            Err(why) => ("failed", format!("{detail}: {why}")),
        };
        self.store
            .audit(&AuditRow {
                id: 0,
                at: now(),
                account: who.name.clone(),
                role: who.role.as_str().into(),
                address: who.address.clone(),
                action: action.into(),
                object: object.into(),
                outcome: outcome.into(),
                detail: clip(&detail, 1000),
            })
            .await?;
        Ok(())
    }

    /// Audit entries, newest first.
    pub async fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        Ok(self.store.audit_log(f).await?)
    }

    /// Audit log entries as shown (`certmail audit --json` and `GET /api/v1/audit`).
    pub async fn audit_entries(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        Ok(self
            .audit_log(f)
            .await?
            .into_iter()
            .map(AuditEntry::from)
            .collect())
    }
}

/// One audit log entry as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Row id (`before` of the next page).
    pub id: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// Who (`cli` for the command line).
    pub account: String,
    /// Their role.
    pub role: String,
    /// Client address (`local` for the command line).
    pub address: String,
    /// What (`setting.set`, `ca.create`, ...).
    pub action: String,
    /// On what.
    pub object: String,
    /// `ok` or the error.
    pub outcome: String,
    /// Details (secrets never; credentials in URLs masked).
    pub detail: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at: r.at,
            account: r.account,
            role: r.role,
            address: r.address,
            action: r.action,
            object: r.object,
            outcome: r.outcome,
            detail: r.detail,
        }
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// A well-formed hash of a random password nobody knows: checked when the account does not
/// exist, so the answer takes as long as for a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0P4S2kJd0ZcvE2oM4q3mBf3jW8r2c8Zt3Kx1B8m9HkA";
