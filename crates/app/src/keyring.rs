//! The key-encryption key on disk, and sealing keys with it.
//!
//! Two ways to hold the KEK, chosen at `init`:
//! - `master.key`: 32 random bytes in the data directory, mode 0600 (default);
//! - `kek.json`: Argon2id parameters and salt; the KEK is derived from the passphrase in
//!   the environment variable [`PASSPHRASE_ENV`] at every start, and nothing secret is on disk.
//!
//! The database keeps a check value (a sealed constant) so a wrong passphrase or a master
//! key from another installation is refused at open, before any key is touched.

use std::io::Write;
use std::path::Path;

use certmail_crypto::{KdfParams, Kek, PrivateKey};
use certmail_store::{NewKey, Store, StoredKey};

use crate::error::{AppError, FileError};

/// The environment variable holding the KEK passphrase.
pub const PASSPHRASE_ENV: &str = "CERTMAIL_PASSPHRASE";

const MASTER_KEY_FILE: &str = "master.key";
const KDF_FILE: &str = "kek.json";
const CHECK_NAME: &str = "kek_check";
const CHECK_PLAINTEXT: &[u8] = b"certmail key-encryption key check v1";

/// Creates the data directory and a new KEK. Returns a description of where it lives.
pub(crate) fn create(dir: &Path, passphrase: Option<&[u8]>) -> Result<String, AppError> {
    std::fs::create_dir_all(dir).map_err(|e| AppError::io(dir, e))?;
    // Private to certmail's user whatever made the directory (ARCHITECTURE.md, trust
    // boundaries): keys, held mail and password hashes live here.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| AppError::io(dir, e))?;
    }
    let master = dir.join(MASTER_KEY_FILE);
    let kdf = dir.join(KDF_FILE);
    if master.exists() || kdf.exists() {
        return Err(AppError::AlreadyInitialised(dir.display().to_string()));
    }
    match passphrase {
        Some(_) => {
            let p = KdfParams::recommended()?;
            let json = serde_json::json!({
                "kdf": "argon2id",
                "salt": hex::encode(&p.salt),
                "m_kib": p.m_kib,
                "t": p.t,
                "p": p.p,
            });
            write_new(&kdf, json.to_string().as_bytes(), 0o644)?;
            Ok(format!(
                "passphrase from {PASSPHRASE_ENV} (Argon2id, {} MiB, t={}), parameters in {}",
                p.m_kib / 1024,
                p.t,
                kdf.display()
            ))
        }
        None => {
            let key = Kek::generate_master_key()?;
            write_new(&master, &key, 0o600)?;
            Ok(format!(
                "random master key in {} (mode 0600)",
                master.display()
            ))
        }
    }
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), AppError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| AppError::io(path, e))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| AppError::io(path, e))
}

/// How a data directory holds its KEK, as a backup carries it.
pub(crate) enum KekFiles {
    /// `master.key`: the 32 key bytes.
    Master(zeroize::Zeroizing<Vec<u8>>),
    /// `kek.json`: the Argon2id parameters (nothing secret).
    Passphrase(String),
}

/// Reads the KEK's files of an initialised data directory.
pub(crate) fn read_files(dir: &Path) -> Result<KekFiles, AppError> {
    let kdf = dir.join(KDF_FILE);
    if kdf.exists() {
        return Ok(KekFiles::Passphrase(
            std::fs::read_to_string(&kdf).map_err(|e| AppError::io(&kdf, e))?,
        ));
    }
    let master = dir.join(MASTER_KEY_FILE);
    if master.exists() {
        return Ok(KekFiles::Master(zeroize::Zeroizing::new(
            std::fs::read(&master).map_err(|e| AppError::io(&master, e))?,
        )));
    }
    Err(AppError::NotInitialised(dir.display().to_string()))
}

/// Writes the KEK's files into a new data directory (restore).
pub(crate) fn write_files(dir: &Path, files: &KekFiles) -> Result<(), AppError> {
    match files {
        KekFiles::Master(key) => write_new(&dir.join(MASTER_KEY_FILE), key, 0o600),
        KekFiles::Passphrase(json) => write_new(&dir.join(KDF_FILE), json.as_bytes(), 0o644),
    }
}

/// Whether `kek` opens the check value `hex_value` of a database (restore).
pub(crate) fn check_value_opens(kek: &Kek, hex_value: &str) -> Result<(), AppError> {
    open_check_value(kek, hex_value)
}

/// The name of the check value in the `meta` table.
pub(crate) const CHECK_VALUE_NAME: &str = CHECK_NAME;

/// Loads the KEK of an initialised data directory.
pub(crate) fn load(dir: &Path, passphrase: Option<&[u8]>) -> Result<Kek, AppError> {
    let master = dir.join(MASTER_KEY_FILE);
    let kdf = dir.join(KDF_FILE);
    if kdf.exists() {
        let text = std::fs::read_to_string(&kdf).map_err(|e| AppError::io(&kdf, e))?;
        let corrupt = |reason: String| AppError::Corrupt {
            what: "kek.json",
            reason,
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let num = |k: &str| {
            v[k].as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| corrupt(format!("missing {k}")))
        };
        let params = KdfParams {
            salt: hex::decode(v["salt"].as_str().unwrap_or_default())
                .map_err(|e| corrupt(e.to_string()))?,
            m_kib: num("m_kib")?,
            t: num("t")?,
            p: num("p")?,
        };
        let pass = passphrase.ok_or(AppError::PassphraseRequired)?;
        return Ok(Kek::from_passphrase(pass, &params)?);
    }
    if master.exists() {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&master).map_err(|e| AppError::io(&master, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(AppError::Corrupt {
                what: "master.key",
                reason: format!(
                    "{} is readable by group or others; run `chmod 600 {}`",
                    master.display(),
                    master.display()
                ),
            });
        }
        let bytes =
            zeroize::Zeroizing::new(std::fs::read(&master).map_err(|e| AppError::io(&master, e))?);
        return Ok(Kek::from_bytes(&bytes)?);
    }
    Err(AppError::NotInitialised(dir.display().to_string()))
}

/// Verifies the KEK against the database's check value, or records one on first use.
pub(crate) async fn check_or_set(store: &Store, kek: &Kek) -> Result<(), AppError> {
    match store.meta_get(CHECK_NAME).await? {
        Some(h) => open_check_value(kek, &h),
        None => {
            let sealed = kek.seal(CHECK_PLAINTEXT, CHECK_NAME.as_bytes())?;
            store.meta_set(CHECK_NAME, &hex::encode(sealed)).await?;
            Ok(())
        }
    }
}

impl crate::App {
    /// Whether the key store can be used now: the database's check value opens under the
    /// key-encryption key this process holds (a changed or lost key shows here).
    pub async fn key_store_ready(&self) -> Result<(), AppError> {
        let h = self
            .store
            .meta_get(CHECK_NAME)
            .await?
            .ok_or_else(|| AppError::Corrupt {
                what: "key-encryption key check value",
                reason: "missing".into(),
            })?;
        open_check_value(&self.kek, &h)
    }
}

/// Opens the stored check value (hex) under `kek`: fails for another key.
fn open_check_value(kek: &Kek, hex_value: &str) -> Result<(), AppError> {
    let sealed = hex::decode(hex_value).map_err(|e| AppError::Corrupt {
        what: "key-encryption key check value",
        reason: e.to_string(),
    })?;
    kek.open(&sealed, CHECK_NAME.as_bytes())?;
    Ok(())
}

/// Seals a key for the store; the key id is the associated data.
pub(crate) fn seal(kek: &Kek, k: &PrivateKey) -> Result<NewKey, FileError> {
    Ok(NewKey {
        key_id: k.key_id().to_owned(),
        algorithm: k.algorithm().to_string(),
        sealed: kek.seal(k.pkcs8_der(), k.key_id().as_bytes())?,
    })
}

/// Opens a stored key.
pub(crate) fn unseal(kek: &Kek, s: &StoredKey) -> Result<PrivateKey, AppError> {
    let der = kek.open(&s.sealed, s.key_id.as_bytes())?;
    let k = PrivateKey::from_pkcs8(&der)?;
    if k.key_id() != s.key_id {
        return Err(AppError::Corrupt {
            what: "stored private key",
            reason: format!("key {} does not match its id", s.key_id),
        });
    }
    Ok(k)
}
