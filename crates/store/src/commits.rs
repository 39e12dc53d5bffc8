//! "Has anything been committed since?" for the embedded SQLite store, without a query.
//!
//! The gateway asks for the stores' generations ([`crate::Store::generations`]) before every
//! transaction and again at the end of its data, so that a change made anywhere (this process,
//! the CLI, a web admin) applies from the next message. Through sqlx, each of those queries is
//! a hand-off to the connection's worker thread and back: two context switches and a futex
//! wake each way, about a fifth of the gateway's CPU per signed and encrypted message.
//!
//! In WAL mode SQLite keeps, at the start of the database's `-shm` file, the wal-index header
//! (<https://www.sqlite.org/walformat.html>, section 2.2): written twice, by every commit of
//! any process, with a counter incremented per transaction (`iChange`), the last committed
//! frame (`mxFrame`), the WAL's salts and checksums. Any commit changes those 48 bytes, and a
//! commit is visible to readers exactly when they change. So: read the header (one `pread`),
//! and when it is the header read just before the last generations query, nothing has been
//! committed since that query began, and its answer still holds.
//!
//! Whenever the header cannot be trusted, the caller queries as before: no `-shm` file (an
//! in-memory database, or every connection closed), a short read, a header not initialised,
//! of another version, or caught between its two copies (a commit in progress). A value is
//! also never reused after [`MAX_AGE`], which bounds what a writer that bypasses the WAL
//! (something other than certmail switching the file's journal mode) could hide.
//! PostgreSQL has no such file, and queries every time.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Size of one copy of the wal-index header.
const HEADER: usize = 48;
/// `iVersion` of the wal-index format SQLite has written since 3.7.0.
const WALINDEX_VERSION: u32 = 3_007_000;
/// Offset of `isInit` in the header.
const IS_INIT: usize = 12;
/// The longest a value is reused without a query, whatever the header says.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// The wal-index header of one SQLite database, and the last value read under it.
#[derive(Debug, Default)]
pub(crate) struct CommitProbe {
    shm: Option<PathBuf>,
    file: Mutex<Option<Arc<File>>>,
    last: Mutex<Option<Remembered>>,
    queries: AtomicU64,
    reuses: AtomicU64,
}

#[derive(Debug)]
struct Remembered {
    header: [u8; HEADER],
    at: Instant,
    value: String,
}

/// A header read before a query, to remember the query's answer under.
pub(crate) struct Mark(Option<[u8; HEADER]>);

impl CommitProbe {
    /// A probe of the SQLite database file `db` (its `-shm` file beside it).
    pub(crate) fn sqlite(db: PathBuf) -> CommitProbe {
        let mut shm = db.into_os_string();
        shm.push("-shm");
        CommitProbe {
            shm: Some(PathBuf::from(shm)),
            ..CommitProbe::default()
        }
    }

    /// No probe: every ask is a query.
    pub(crate) fn none() -> CommitProbe {
        CommitProbe::default()
    }

    /// The header now, or `None` when it cannot be trusted.
    fn header(&self) -> Option<[u8; HEADER]> {
        let path = self.shm.as_ref()?;
        let mut both = [0u8; 2 * HEADER];
        let cached = crate::lock(&self.file).clone();
        let file = match cached {
            Some(f) => f,
            None => self.reopen(path)?,
        };
        file.read_exact_at(&mut both, 0).ok()?;
        // SQLite deletes the file when the last connection to the database closes, and the
        // next one creates a new file: a handle to the deleted one would go on reading a
        // header nobody writes. Checked after the read, so a read that passes came from the
        // file in use; otherwise the file is opened again by name and read again.
        if file.metadata().ok()?.nlink() == 0 {
            self.reopen(path)?.read_exact_at(&mut both, 0).ok()?;
        }
        let (a, b) = both.split_at(HEADER);
        // A writer updates the second copy, then the first: different copies mean a commit
        // is being published.
        if a != b || a[IS_INIT] != 1 {
            return None;
        }
        let version = u32::from_ne_bytes(a[0..4].try_into().ok()?);
        if version != WALINDEX_VERSION {
            return None;
        }
        a.try_into().ok()
    }

    /// Opens the `-shm` file by name and keeps the handle (none is kept when it is missing).
    fn reopen(&self, path: &Path) -> Option<Arc<File>> {
        let f = File::open(path).ok().map(Arc::new);
        {
            let mut slot = crate::lock(&self.file);
            slot.clone_from(&f);
        }
        f
    }

    /// The value remembered under the current header, if nothing has been committed since
    /// it was read; otherwise a mark to remember the coming query's answer under.
    pub(crate) fn check(&self) -> Result<String, Mark> {
        let Some(now) = self.header() else {
            self.queries.fetch_add(1, Ordering::Relaxed);
            return Err(Mark(None));
        };
        {
            let last = crate::lock(&self.last);
            if let Some(r) = last.as_ref()
                && r.header == now
                && r.at.elapsed() < MAX_AGE
            {
                self.reuses.fetch_add(1, Ordering::Relaxed);
                return Ok(r.value.clone());
            }
        }
        self.queries.fetch_add(1, Ordering::Relaxed);
        Err(Mark(Some(now)))
    }

    /// Remembers `value`, the answer of a query begun after `mark` was read.
    pub(crate) fn remember(&self, mark: Mark, value: &str) {
        let Mark(Some(header)) = mark else { return };
        {
            let mut last = crate::lock(&self.last);
            *last = Some(Remembered {
                header,
                at: Instant::now(),
                value: value.to_owned(),
            });
        }
    }

    /// (queries made, answers reused) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.queries.load(Ordering::Relaxed),
            self.reuses.load(Ordering::Relaxed),
        )
    }
}
