//! Logical copies of the whole database for backup and restore: every row of every table as
//! typed values, read in one snapshot, and written back into an empty database of either
//! back end (so a backup of the embedded SQLite file restores into PostgreSQL).
//!
//! The file format around the rows (header, master key, check sum) is the app's; this module
//! only reads and writes rows.

use futures_util::TryStreamExt;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, Result, Store, StoreError, migrate};

/// The tables a backup holds, in an order where every row comes after the rows it refers to
/// (certificates before their e-mail addresses, CAs before what they issued, accounts before
/// their tokens, directories before their look-ups).
pub const TABLES: &[&str] = &[
    "meta",
    "certificates",
    "certificate_emails",
    "private_keys",
    "crls",
    "ctl",
    "parties",
    "settings",
    "selections",
    "cas",
    "issued",
    "pending_requests",
    "renewals",
    "expiry_notices",
    "crl_sources",
    "directories",
    "directory_lookups",
    "held_messages",
    "admin_accounts",
    "admin_tokens",
    "audit_log",
];

/// The tables a backup leaves out, each with the reason: what belongs to the running
/// installation rather than to its data.
pub const LEFT_OUT: &[(&str, &str)] = &[
    (
        "schema_migrations",
        "the schema version is in the backup's header; a restore migrates the new database itself",
    ),
    (
        "job_leases",
        "which node runs a background job now: a restored installation takes its own leases",
    ),
    (
        "admin_sessions",
        "logins of the web admin: a restored installation asks everyone to log in again",
    ),
];

/// A column's type, one of the three both back ends share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// BIGINT / INTEGER.
    Int,
    /// TEXT.
    Text,
    /// BLOB / BYTEA.
    Blob,
}

impl ColumnType {
    /// The short name used in backup files.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Int => "int",
            ColumnType::Text => "text",
            ColumnType::Blob => "blob",
        }
    }

    /// Parses [`ColumnType::as_str`].
    pub fn parse(s: &str) -> Option<ColumnType> {
        match s {
            "int" => Some(ColumnType::Int),
            "text" => Some(ColumnType::Text),
            "blob" => Some(ColumnType::Blob),
            _ => None,
        }
    }

    /// The type of a column declared as `decl` in the schema (SQLite's declared type or
    /// PostgreSQL's `data_type`).
    fn of_declared(decl: &str) -> Option<ColumnType> {
        let d = decl.to_ascii_uppercase();
        if d.contains("INT") {
            Some(ColumnType::Int)
        } else if d.contains("TEXT") || d.contains("CHAR") {
            Some(ColumnType::Text)
        } else if d.contains("BLOB") || d.contains("BYTEA") {
            Some(ColumnType::Blob)
        } else {
            None
        }
    }
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// Bytes this value takes in a statement (for batching).
    fn weight(&self) -> usize {
        match self {
            Value::Null | Value::Int(_) => 8,
            Value::Text(s) => s.len(),
            Value::Blob(b) => b.len(),
        }
    }
}

/// Where a dump goes, table by table.
pub trait DumpSink {
    /// A table starts; its rows follow.
    fn table(&mut self, name: &str, columns: &[Column]) -> std::io::Result<()>;
    /// One row, its values in the order of the columns.
    fn row(&mut self, values: &[Value]) -> std::io::Result<()>;
}

fn sink_error(e: std::io::Error) -> StoreError {
    StoreError::Invalid(format!("cannot write the backup: {e}"))
}

/// Rows per multi-row INSERT, and bytes at most (held messages are large).
const RESTORE_ROWS: usize = 500;
const RESTORE_PARAMS: usize = 5000;
const RESTORE_BYTES: usize = 8 << 20;

impl Store {
    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i64> {
        migrate::current(&self.pool).await
    }

    /// The tables of the database (without the back end's own), sorted.
    async fn table_names<'e, E>(&self, e: E) -> Result<Vec<String>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
            }
        };
        let rows = sqlx::query(sql).fetch_all(e).await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("name")?))
            .collect()
    }

    /// The columns of `table`, in schema order.
    async fn columns<'e, E>(&self, e: E, table: &str) -> Result<Vec<Column>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
            Backend::Postgres => {
                "SELECT CAST(column_name AS TEXT) AS name, CAST(data_type AS TEXT) AS type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
            }
        };
        let rows = sqlx::query(sql).bind(table).fetch_all(e).await?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("name")?;
                let decl: String = r.try_get("type")?;
                let ty = ColumnType::of_declared(&decl).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "column {table}.{name} has type {decl}, which backups cannot copy"
                    ))
                })?;
                Ok(Column { name, ty })
            })
            .collect()
    }

    /// Checks that the database holds exactly the tables backups know of.
    fn check_tables(names: &[String]) -> Result<()> {
        for n in names {
            let known = TABLES.contains(&n.as_str()) || LEFT_OUT.iter().any(|(t, _)| t == n);
            if !known {
                return Err(StoreError::Invalid(format!(
                    "table {n} is not known to backups of this certmail"
                )));
            }
        }
        if let Some(missing) = TABLES.iter().find(|t| !names.iter().any(|n| n == *t)) {
            return Err(StoreError::Invalid(format!(
                "table {missing} is missing from the database"
            )));
        }
        Ok(())
    }

    /// Writes every row of every table in [`TABLES`] to `sink`, all read in one snapshot
    /// (a read transaction: SQLite's WAL keeps it while the gateway writes; PostgreSQL's
    /// REPEATABLE READ does the same), row by row without holding a table in memory.
    /// Returns the number of rows.
    pub async fn dump(&self, sink: &mut (dyn DumpSink + Send)) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let names = self.table_names(&mut *tx).await?;
        Self::check_tables(&names)?;
        let mut rows = 0u64;
        for table in TABLES {
            let columns = self.columns(&mut *tx, table).await?;
            sink.table(table, &columns).map_err(sink_error)?;
            let list = columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT {list} FROM {table}");
            let mut stream = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
            let mut values = Vec::with_capacity(columns.len());
            while let Some(row) = stream.try_next().await? {
                values.clear();
                for (i, c) in columns.iter().enumerate() {
                    values.push(read_value(&row, i, c.ty)?);
                }
                sink.row(&values).map_err(sink_error)?;
                rows += 1;
            }
        }
        tx.rollback().await?;
        Ok(rows)
    }

    /// Opens the empty database at `url` for a restore of a backup made at schema
    /// `version`: migrated up to that version, and refused when any table holds a row or
    /// the schema is already past the backup's (restore never mixes with existing data).
    pub async fn open_for_restore(url: &str, version: i64) -> Result<Restore> {
        let newest = migrate::newest();
        if version > newest || version < 1 {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: newest,
            });
        }
        let store = Store::connect(url).await?;
        let current = migrate::current(&store.pool).await?;
        if current > version {
            return Err(StoreError::Invalid(format!(
                "the database is at schema version {current}, newer than the backup's ({version}); restore into a new, empty database"
            )));
        }
        for t in store.table_names(&store.pool).await? {
            if t == "schema_migrations" {
                continue;
            }
            let sql = format!("SELECT 1 AS x FROM {t} LIMIT 1");
            if sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_optional(&store.pool)
                .await?
                .is_some()
            {
                return Err(StoreError::Invalid(format!(
                    "the database already holds data (table {t}); restore into a new, empty database"
                )));
            }
        }
        migrate::run(&store.pool, store.backend, Some(version)).await?;
        let tx = store.pool.begin().await?;
        let names = store.table_names(&store.pool).await?;
        Ok(Restore {
            store,
            tx: Some(tx),
            names,
            table: None,
            batch: Vec::new(),
            batch_bytes: 0,
            rows: 0,
        })
    }
}

fn read_value(row: &AnyRow, i: usize, ty: ColumnType) -> Result<Value> {
    Ok(match ty {
        ColumnType::Int => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, Value::Int),
        ColumnType::Text => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Value::Null, Value::Text),
        ColumnType::Blob => row
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map_or(Value::Null, Value::Blob),
    })
}

/// The table being restored: its name, the backup's columns, and each one's type in this
/// database.
#[derive(Debug)]
struct Target {
    name: String,
    columns: Vec<Column>,
}

/// A restore in progress: rows go into one transaction, committed by [`Restore::finish`]
/// (dropped without it, nothing is written).
#[derive(Debug)]
pub struct Restore {
    store: Store,
    tx: Option<sqlx::Transaction<'static, sqlx::Any>>,
    names: Vec<String>,
    table: Option<Target>,
    batch: Vec<Vec<Value>>,
    batch_bytes: usize,
    rows: u64,
}

impl Restore {
    fn tx(&mut self) -> Result<&mut sqlx::Transaction<'static, sqlx::Any>> {
        self.tx
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("the restore has ended".into()))
    }

    /// A table of the backup starts, with its columns as the backup names them. Each must
    /// exist in this database with the same type: nothing is dropped silently.
    pub async fn table(&mut self, name: &str, columns: &[Column]) -> Result<()> {
        self.flush().await?;
        if !TABLES.contains(&name) || !self.names.iter().any(|n| n == name) {
            return Err(StoreError::Invalid(format!(
                "the backup holds a table {name:?} that this certmail does not restore"
            )));
        }
        let store = self.store.clone();
        let here = store.columns(&mut **self.tx()?, name).await?;
        for c in columns {
            match here.iter().find(|h| h.name == c.name) {
                Some(h) if h.ty == c.ty => {}
                Some(h) => {
                    return Err(StoreError::Invalid(format!(
                        "column {name}.{} is {} in the backup but {} here",
                        c.name,
                        c.ty.as_str(),
                        h.ty.as_str()
                    )));
                }
                None => {
                    return Err(StoreError::Invalid(format!(
                        "the backup's column {name}.{} does not exist here",
                        c.name
                    )));
                }
            }
        }
        self.table = Some(Target {
            name: name.to_owned(),
            columns: columns.to_vec(),
        });
        Ok(())
    }

    /// One row of the current table, its values in the order of the columns given.
    pub async fn row(&mut self, values: Vec<Value>) -> Result<()> {
        let t = self
            .table
            .as_ref()
            .ok_or_else(|| StoreError::Invalid("a row before any table".into()))?;
        if values.len() != t.columns.len() {
            return Err(StoreError::Invalid(format!(
                "a row of {} has {} values for {} columns",
                t.name,
                values.len(),
                t.columns.len()
            )));
        }
        for (v, c) in values.iter().zip(&t.columns) {
            let fits = matches!(
                (v, c.ty),
                (Value::Null, _)
                    | (Value::Int(_), ColumnType::Int)
                    | (Value::Text(_), ColumnType::Text)
                    | (Value::Blob(_), ColumnType::Blob)
            );
            if !fits {
                return Err(StoreError::Invalid(format!(
                    "a value of {}.{} is not of its type ({})",
                    t.name,
                    c.name,
                    c.ty.as_str()
                )));
            }
        }
        self.batch_bytes += values.iter().map(Value::weight).sum::<usize>();
        self.batch.push(values);
        self.rows += 1;
        let per_row = t.columns.len().max(1);
        if self.batch.len() >= RESTORE_ROWS
            || (self.batch.len() + 1) * per_row > RESTORE_PARAMS
            || self.batch_bytes >= RESTORE_BYTES
        {
            self.flush().await?;
        }
        Ok(())
    }

    /// Rows restored so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    async fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let Some(t) = self.table.as_ref() else {
            return Ok(());
        };
        let cols = t
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = format!("INSERT INTO {} ({cols}) VALUES ", t.name);
        let mut n = 0;
        for (i, row) in self.batch.iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row.len() {
                if j > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push_str(&self.store.placeholder(n));
            }
            sql.push(')');
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let types: Vec<ColumnType> = t.columns.iter().map(|c| c.ty).collect();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in batch {
            for (v, ty) in row.into_iter().zip(&types) {
                q = match (v, ty) {
                    (Value::Null, ColumnType::Int) => q.bind(None::<i64>),
                    (Value::Null, ColumnType::Text) => q.bind(None::<String>),
                    (Value::Null, ColumnType::Blob) => q.bind(None::<Vec<u8>>),
                    (Value::Int(i), _) => q.bind(i),
                    (Value::Text(s), _) => q.bind(s),
                    (Value::Blob(b), _) => q.bind(b),
                };
            }
        }
        q.execute(&mut **self.tx()?).await?;
        Ok(())
    }

    /// Writes the last rows, moves PostgreSQL's id sequences past the restored ids, commits,
    /// and brings the schema up to this certmail's newest version.
    pub async fn finish(mut self) -> Result<Store> {
        self.flush().await?;
        if self.store.backend == Backend::Postgres {
            for table in TABLES {
                let store = self.store.clone();
                let has_id = store
                    .columns(&mut **self.tx()?, table)
                    .await?
                    .iter()
                    .any(|c| c.name == "id");
                if has_id {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut **self.tx()?)
                        .await?;
                }
            }
        }
        let tx = self
            .tx
            .take()
            .ok_or_else(|| StoreError::Invalid("the restore has ended".into()))?;
        tx.commit().await?;
        migrate::run(&self.store.pool, self.store.backend, None).await?;
        Ok(self.store.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_to_the_three_shared_ones() {
        assert_eq!(ColumnType::of_declared("BIGINT"), Some(ColumnType::Int));
        assert_eq!(ColumnType::of_declared("INTEGER"), Some(ColumnType::Int));
        assert_eq!(ColumnType::of_declared("bigint"), Some(ColumnType::Int));
        assert_eq!(ColumnType::of_declared("text"), Some(ColumnType::Text));
        assert_eq!(
            ColumnType::of_declared("character varying"),
            Some(ColumnType::Text)
        );
        assert_eq!(ColumnType::of_declared("BLOB"), Some(ColumnType::Blob));
        assert_eq!(ColumnType::of_declared("bytea"), Some(ColumnType::Blob));
        assert_eq!(ColumnType::of_declared("REAL"), None);
        for t in [ColumnType::Int, ColumnType::Text, ColumnType::Blob] {
            assert_eq!(ColumnType::parse(t.as_str()), Some(t));
        }
    }
}
