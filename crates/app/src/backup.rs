//! `certmail backup` and `restore`: one file holds an installation's whole database (every
//! store, the keys still sealed, settings, CA state, CRLs, the hold queue, accounts, the
//! audit log) and, with a passphrase, its master key, so one file restores a machine.
//!
//! The file is text, one JSON value per line:
//! 1. a header object: `{"format": "certmail-backup", "version": 1, "schema_version": ...,
//!    "source_backend": ..., "created_at": ..., "key": {...}}`, where `key` is the master key
//!    sealed under the backup passphrase (Argon2id + AES-256-GCM), the `kek.json` parameters of
//!    a passphrase-derived key (nothing secret), or a note that the key is not included;
//! 2. per table an object `{"table": NAME, "columns": [[NAME, TYPE], ...]}` followed by its
//!    rows, each an array (integers as numbers, text as strings, bytes in base64, NULL as
//!    null);
//! 3. a trailer `{"end": {"tables": N, "rows": N, "sha256": HEX}}` with the SHA-256 of every
//!    byte before it, so a truncated or altered file is refused before anything is committed.
//!
//! The rows are read by the store in one snapshot ([`certmail_store::Store::dump`]) and the
//! file appears under its name only when complete (written beside it, then renamed).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use certmail_crypto::{KdfParams, Kek, Sha256};
use certmail_store::{Column, ColumnType, DumpSink, Store, Value};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::keyring::{self, KekFiles};
use crate::{App, AppError, Config, Result};

const FORMAT: &str = "certmail-backup";
const VERSION: u64 = 1;
/// The associated data of the sealed master key.
const MASTER_AAD: &[u8] = b"certmail backup: master.key";

/// What a backup wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The file.
    pub path: PathBuf,
    /// Tables written.
    pub tables: usize,
    /// Rows written.
    pub rows: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Schema version of the database.
    pub schema_version: i64,
    /// What the file holds of the key-encryption key.
    pub key: &'static str,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The data directory made.
    pub data_dir: PathBuf,
    /// The database written (without credentials).
    pub database: String,
    /// Tables restored.
    pub tables: usize,
    /// Rows restored.
    pub rows: u64,
    /// Schema version of the backup (the database is then migrated to this certmail's).
    pub schema_version: i64,
    /// When the backup was made, Unix seconds.
    pub created_at: i64,
    /// Where the key-encryption key came from.
    pub key: &'static str,
}

/// Writes lines and hashes them.
struct Sink<W: Write> {
    out: W,
    hash: Sha256,
    bytes: u64,
    tables: usize,
    columns: Vec<ColumnType>,
}

impl<W: Write> Sink<W> {
    fn line(&mut self, v: &serde_json::Value) -> std::io::Result<()> {
        let mut s = serde_json::to_vec(v)?;
        s.push(b'\n');
        self.hash.update(&s);
        self.bytes += s.len() as u64;
        self.out.write_all(&s)
    }
}

impl<W: Write + Send> DumpSink for Sink<W> {
    fn table(&mut self, name: &str, columns: &[Column]) -> std::io::Result<()> {
        self.tables += 1;
        self.columns = columns.iter().map(|c| c.ty).collect();
        let cols: Vec<_> = columns
            .iter()
            .map(|c| json!([c.name, c.ty.as_str()]))
            .collect();
        self.line(&json!({ "table": name, "columns": cols }))
    }

    fn row(&mut self, values: &[Value]) -> std::io::Result<()> {
        let row: Vec<serde_json::Value> = values
            .iter()
            .map(|v| match v {
                Value::Null => serde_json::Value::Null,
                Value::Int(i) => json!(i),
                Value::Text(s) => json!(s),
                Value::Blob(b) => json!(Base64::encode_string(b)),
            })
            .collect();
        self.line(&serde_json::Value::Array(row))
    }
}

impl App {
    /// Writes a backup of this installation to `out` (replacing it only when the new file
    /// is complete). With `passphrase`, the master key goes in, sealed under it.
    pub async fn backup(
        &self,
        cfg: &Config,
        out: &Path,
        passphrase: Option<Zeroizing<String>>,
    ) -> Result<BackupReport> {
        let (key, key_note) = match keyring::read_files(&cfg.data_dir)? {
            KekFiles::Passphrase(json) => {
                let params: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| AppError::Corrupt {
                        what: "kek.json",
                        reason: e.to_string(),
                    })?;
                (
                    json!({ "kind": "passphrase", "kek": params }),
                    "passphrase-derived key: its parameters (the passphrase itself is not in the file)",
                )
            }
            KekFiles::Master(master) => {
                // The file must be this database's key: a backup that cannot be opened
                // later is worse than none.
                let kek = Kek::from_bytes(&master)?;
                let check = self
                    .store
                    .meta_get(keyring::CHECK_VALUE_NAME)
                    .await?
                    .unwrap_or_default();
                keyring::check_value_opens(&kek, &check)?;
                match passphrase {
                    Some(p) => {
                        let params = tokio::task::spawn_blocking(KdfParams::recommended)
                            .await
                            .map_err(|e| AppError::Invalid(e.to_string()))??;
                        let p2 = params.clone();
                        let wrap = tokio::task::spawn_blocking(move || {
                            Kek::from_passphrase(p.as_bytes(), &p2)
                        })
                        .await
                        .map_err(|e| AppError::Invalid(e.to_string()))??;
                        let sealed = wrap.seal(&master, MASTER_AAD)?;
                        (
                            json!({
                                "kind": "sealed-master-key",
                                "kdf": "argon2id",
                                "salt": hex::encode(&params.salt),
                                "m_kib": params.m_kib,
                                "t": params.t,
                                "p": params.p,
                                "sealed": Base64::encode_string(&sealed),
                            }),
                            "master key sealed under the backup passphrase (Argon2id + AES-256-GCM)",
                        )
                    }
                    None => (
                        json!({ "kind": "not-included" }),
                        "master key not included: keep master.key safe, or back up with --passphrase-file",
                    ),
                }
            }
        };
        let schema_version = self.store.schema_version().await?;
        let backend = match self.store.backend() {
            certmail_store::Backend::Sqlite => "sqlite",
            certmail_store::Backend::Postgres => "postgres",
        };
        let header = json!({
            "format": FORMAT,
            "version": VERSION,
            "schema_version": schema_version,
            "source_backend": backend,
            "created_at": crate::now(),
            "certmail": env!("CARGO_PKG_VERSION"),
            "key": key,
        });

        let partial = partial_path(out);
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)
                .map_err(|e| AppError::io(&partial, e))?
        };
        let mut sink = Sink {
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
            bytes: 0,
            tables: 0,
            columns: Vec::new(),
        };
        let written = async {
            sink.line(&header).map_err(|e| AppError::io(&partial, e))?;
            let rows = self.store.dump(&mut sink).await?;
            let end = json!({ "end": {
                "tables": sink.tables,
                "rows": rows,
                "sha256": std::mem::take(&mut sink.hash).finish_hex(),
            }});
            let mut s = serde_json::to_vec(&end).map_err(|e| AppError::Invalid(e.to_string()))?;
            s.push(b'\n');
            sink.out
                .write_all(&s)
                .map_err(|e| AppError::io(&partial, e))?;
            sink.bytes += s.len() as u64;
            let file = sink
                .out
                .into_inner()
                .map_err(|e| AppError::io(&partial, e.into_error()))?;
            file.sync_all().map_err(|e| AppError::io(&partial, e))?;
            std::fs::rename(&partial, out).map_err(|e| AppError::io(out, e))?;
            Ok::<_, AppError>((rows, sink.tables, sink.bytes))
        }
        .await;
        match written {
            Ok((rows, tables, bytes)) => Ok(BackupReport {
                path: out.to_owned(),
                tables,
                rows,
                bytes,
                schema_version,
                key: key_note,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }
}

/// `DIR/.NAME.partial` beside `out`.
fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.partial"))
}

/// Where the key of a restore comes from.
#[derive(Debug, Default)]
pub struct RestoreKey {
    /// The backup passphrase (opens a sealed master key).
    pub passphrase: Option<Zeroizing<String>>,
    /// The installation's `master.key`, for a backup made without a passphrase.
    pub master_key: Option<PathBuf>,
    /// The key-store passphrase ([`crate::PASSPHRASE_ENV`]) of a passphrase-derived key,
    /// to check it against the backup before anything is written.
    pub kek_passphrase: Option<Zeroizing<String>>,
}

fn bad(file: &Path, line: u64, reason: impl std::fmt::Display) -> AppError {
    AppError::Invalid(format!(
        "{} is not a usable certmail backup (line {line}): {reason}",
        file.display()
    ))
}

/// The backup file read line by line, each line's bytes added to the running SHA-256 that
/// the end line must match.
struct Lines<'f> {
    file: &'f Path,
    reader: std::io::BufReader<std::fs::File>,
    buf: Vec<u8>,
    hash: Sha256,
    line_no: u64,
}

impl<'f> Lines<'f> {
    fn open(file: &'f Path) -> Result<Lines<'f>> {
        let f = std::fs::File::open(file).map_err(|e| AppError::io(file, e))?;
        Ok(Lines {
            file,
            reader: std::io::BufReader::with_capacity(1 << 20, f),
            buf: Vec::new(),
            hash: Sha256::new(),
            line_no: 0,
        })
    }

    /// The next line as JSON, or `None` at the end of the file. The line is not hashed yet:
    /// [`Lines::hash_line`] adds it (the end line itself is not part of the sum).
    fn next(&mut self) -> Result<Option<serde_json::Value>> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| AppError::io(self.file, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if self.buf.last() != Some(&b'\n') {
            return Err(self.bad("the file ends early, in the middle of a line"));
        }
        serde_json::from_slice(&self.buf)
            .map(Some)
            .map_err(|e| self.bad(e))
    }

    fn hash_line(&mut self) {
        self.hash.update(&self.buf);
    }

    fn bad(&self, reason: impl std::fmt::Display) -> AppError {
        bad(self.file, self.line_no, reason)
    }
}

/// What the header of a backup says.
struct Header {
    schema_version: i64,
    created_at: i64,
    key: serde_json::Value,
}

fn read_header(lines: &mut Lines<'_>) -> Result<Header> {
    let header = lines
        .next()?
        .ok_or_else(|| lines.bad("the file is empty"))?;
    lines.hash_line();
    if header["format"] != FORMAT {
        return Err(lines.bad("no certmail-backup header"));
    }
    if header["version"].as_u64() != Some(VERSION) {
        return Err(lines.bad(format!(
            "format version {} is not {VERSION}",
            header["version"]
        )));
    }
    Ok(Header {
        schema_version: header["schema_version"]
            .as_i64()
            .ok_or_else(|| lines.bad("no schema_version"))?,
        created_at: header["created_at"].as_i64().unwrap_or(0),
        key: header["key"].clone(),
    })
}

/// Refuses a data directory that exists and holds anything; says whether it exists.
fn check_empty_dir(dir: &Path) -> Result<bool> {
    if !dir.exists() {
        return Ok(false);
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| AppError::io(dir, e))?;
    if entries.next().is_some() {
        return Err(AppError::Conflict(format!(
            "{} is not empty: restore makes a new data directory and never overwrites one",
            dir.display()
        )));
    }
    Ok(true)
}

/// Removes what a failed restore wrote into `dir` (the directory too, unless it existed).
fn undo_dir(dir: &Path, existed: bool, e: AppError) -> AppError {
    let cleaned = if existed {
        std::fs::read_dir(dir).and_then(|entries| {
            for entry in entries {
                let p = entry?.path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p)?;
                } else {
                    std::fs::remove_file(&p)?;
                }
            }
            Ok(())
        })
    } else {
        std::fs::remove_dir_all(dir)
    };
    match cleaned {
        Ok(()) => e,
        Err(c) => AppError::Invalid(format!(
            "{e}; and removing what was written in {} failed: {c}",
            dir.display()
        )),
    }
}

/// Streams the tables and rows after the header into `restore`, up to the end line, whose
/// check sum and counts must match. Returns the tables read and the key-store check value
/// found in `meta`.
async fn load_rows(
    lines: &mut Lines<'_>,
    restore: &mut certmail_store::Restore,
) -> Result<(usize, Option<String>)> {
    let mut tables = 0usize;
    let mut columns: Vec<Column> = Vec::new();
    let mut in_meta = false;
    let mut check_value: Option<String> = None;
    loop {
        let v = lines
            .next()?
            .ok_or_else(|| lines.bad("the file ends early (no end line)"))?;
        if let Some(end) = v.get("end") {
            let sum = std::mem::take(&mut lines.hash).finish_hex();
            if end["sha256"].as_str() != Some(sum.as_str()) {
                return Err(
                    lines.bad("the check sum does not match: the file was changed or damaged")
                );
            }
            if end["rows"].as_u64() != Some(restore.rows())
                || end["tables"].as_u64() != Some(tables as u64)
            {
                return Err(lines.bad("the row or table count does not match"));
            }
            return Ok((tables, check_value));
        }
        lines.hash_line();
        if let serde_json::Value::Array(items) = v {
            let values = row_values(&columns, items).map_err(|r| lines.bad(r))?;
            if in_meta && let Some(c) = meta_check_value(&columns, &values) {
                check_value = Some(c);
            }
            restore.row(values).await?;
            continue;
        }
        let name = v["table"]
            .as_str()
            .ok_or_else(|| lines.bad("neither a table, a row nor the end"))?;
        columns = table_columns(&v).map_err(|r| lines.bad(r))?;
        in_meta = name == "meta";
        restore.table(name, &columns).await?;
        tables += 1;
    }
}

/// The columns of a table line.
fn table_columns(v: &serde_json::Value) -> std::result::Result<Vec<Column>, String> {
    v["columns"]
        .as_array()
        .ok_or("a table without columns")?
        .iter()
        .map(|c| {
            let name = c[0].as_str();
            let ty = c[1].as_str().and_then(ColumnType::parse);
            match (name, ty) {
                (Some(n), Some(ty)) => Ok(Column {
                    name: n.to_owned(),
                    ty,
                }),
                _ => Err(format!("column {c} is not [name, type]")),
            }
        })
        .collect()
}

/// The key-store check value, when this `meta` row is it.
fn meta_check_value(columns: &[Column], values: &[Value]) -> Option<String> {
    let name = columns.iter().position(|c| c.name == "name")?;
    let value = columns.iter().position(|c| c.name == "value")?;
    match (&values[name], &values[value]) {
        (Value::Text(n), Value::Text(v)) if n == keyring::CHECK_VALUE_NAME => Some(v.clone()),
        _ => None,
    }
}

/// Restores the backup `file` into the new data directory of `cfg` (and its database: the
/// embedded SQLite file, or the empty database of `cfg.database_url`). Refuses a data
/// directory that is not empty and a database that holds data; on any failure, the data
/// directory is removed again and nothing is committed to the database.
pub async fn restore(cfg: &Config, file: &Path, key: RestoreKey) -> Result<RestoreReport> {
    let dir = &cfg.data_dir;
    let existed = check_empty_dir(dir)?;
    let mut lines = Lines::open(file)?;
    let header = read_header(&mut lines)?;
    // The key, before anything is written.
    let (files, key_note) = restore_key(file, &header.key, &key)?;
    std::fs::create_dir_all(dir).map_err(|e| AppError::io(dir, e))?;
    let written = async {
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| AppError::io(dir, e))?;
        }
        keyring::write_files(dir, &files)?;
        let kek = match &files {
            KekFiles::Master(_) => Some(keyring::load(dir, None)?),
            KekFiles::Passphrase(_) => match &key.kek_passphrase {
                Some(p) => Some(keyring::load(dir, Some(p.as_bytes()))?),
                None => None,
            },
        };
        let url = cfg.database_url()?;
        let mut restore = Store::open_for_restore(&url, header.schema_version).await?;
        let (tables, check_value) = load_rows(&mut lines, &mut restore).await?;
        // The key must open this database's check value before anything is committed.
        if let (Some(kek), Some(check)) = (&kek, &check_value) {
            keyring::check_value_opens(kek, check).map_err(|_| {
                AppError::Invalid(
                    "the key-encryption key does not open this backup's key store: wrong --master-key or passphrase"
                        .into(),
                )
            })?;
        }
        let rows = restore.rows();
        restore.finish().await?.close().await;
        Ok::<_, AppError>((tables, rows, url))
    }
    .await;
    let (tables, rows, url) = written.map_err(|e| undo_dir(dir, existed, e))?;
    Ok(RestoreReport {
        data_dir: dir.clone(),
        database: crate::redact_url(&url),
        tables,
        rows,
        schema_version: header.schema_version,
        created_at: header.created_at,
        key: key_note,
    })
}

/// The key files a restore writes, from the backup's `key` object and what was given.
fn restore_key(
    file: &Path,
    k: &serde_json::Value,
    given: &RestoreKey,
) -> Result<(KekFiles, &'static str)> {
    match k["kind"].as_str() {
        Some("sealed-master-key") => {
            let pass = given.passphrase.as_ref().ok_or_else(|| {
                AppError::Invalid(
                    "this backup holds the master key sealed under a passphrase: give it with --passphrase-file"
                        .into(),
                )
            })?;
            let num = |f: &str| {
                k[f].as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad(file, 1, format!("key.{f} missing")))
            };
            let params = KdfParams {
                salt: hex::decode(k["salt"].as_str().unwrap_or_default())
                    .map_err(|e| bad(file, 1, e))?,
                m_kib: num("m_kib")?,
                t: num("t")?,
                p: num("p")?,
            };
            let sealed = Base64::decode_vec(k["sealed"].as_str().unwrap_or_default())
                .map_err(|e| bad(file, 1, e))?;
            let wrap = Kek::from_passphrase(pass.as_bytes(), &params)?;
            let master = wrap.open(&sealed, MASTER_AAD).map_err(|_| {
                AppError::Invalid("the passphrase does not open this backup's master key".into())
            })?;
            Ok((
                KekFiles::Master(master),
                "master key from the backup (opened with the passphrase)",
            ))
        }
        Some("passphrase") => Ok((
            KekFiles::Passphrase(k["kek"].to_string()),
            "passphrase-derived key: set CERTMAIL_PASSPHRASE as before",
        )),
        Some("not-included") => {
            let path = given.master_key.as_ref().ok_or_else(|| {
                AppError::Invalid(
                    "this backup does not hold the master key: give the installation's master.key with --master-key FILE"
                        .into(),
                )
            })?;
            let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| AppError::io(path, e))?);
            Ok((KekFiles::Master(bytes), "master key from --master-key"))
        }
        _ => Err(bad(file, 1, "the key section names no known kind")),
    }
}

/// A row's values, typed by the table's columns.
fn row_values(
    columns: &[Column],
    items: Vec<serde_json::Value>,
) -> std::result::Result<Vec<Value>, String> {
    if items.len() != columns.len() {
        return Err(format!(
            "a row has {} values for {} columns",
            items.len(),
            columns.len()
        ));
    }
    items
        .into_iter()
        .zip(columns)
        .map(|(v, c)| match (v, c.ty) {
            (serde_json::Value::Null, _) => Ok(Value::Null),
            (serde_json::Value::Number(n), ColumnType::Int) => n
                .as_i64()
                .map(Value::Int)
                .ok_or_else(|| format!("{} is not an integer", c.name)),
            (serde_json::Value::String(s), ColumnType::Text) => Ok(Value::Text(s)),
            (serde_json::Value::String(s), ColumnType::Blob) => Base64::decode_vec(&s)
                .map(Value::Blob)
                .map_err(|e| format!("{} is not base64: {e}", c.name)),
            (_, ty) => Err(format!("{} is not of its type ({})", c.name, ty.as_str())),
        })
        .collect()
}
