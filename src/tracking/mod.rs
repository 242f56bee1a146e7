//! The tracking store: one SQLite file holding experiments, runs, params, metrics, curves,
//! artifacts, the model registry, predictions and drift reports.

pub mod captures;
pub mod documents;
pub mod drift;
pub mod predictions;
pub mod registry;
pub mod runs;
pub mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use drift::DriftRow;
pub use predictions::{LogFilter, LoggedRow, PredictionRow, PredictionSink};
pub use registry::{AliasEvent, AliasMove, AliasTarget, ModelVersion, RegistryError, Replayed};
pub use runs::{ArtifactRow, CurveKind, NewRun, RunRecord, RunStatus, RunSummary};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{}: {source}", .path.display())]
    Migrate {
        path: PathBuf,
        source: schema::MigrateError,
    },
    #[error("no run with the id or name '{0}'")]
    NoSuchRun(String),
    #[error("'{given}' matches {} runs: {}; give more of the id", .candidates.len(), .candidates.join(", "))]
    AmbiguousRun {
        given: String,
        /// Each run that matched, as `id (name, family)`.
        candidates: Vec<String>,
    },
    #[error("run {id} cannot be deleted: {why}")]
    Undeletable { id: String, why: String },
}

impl StoreError {
    /// Whether the store was locked by another process (the write may be tried again).
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(f, _),
                ..
            } if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
        )
    }
}

/// How long a writer waits for another process's write transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Switches to WAL. Changing the journal mode needs a moment alone with the file and does not
/// wait on the busy handler, so a process racing another one through `open` retries here.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        // journal_mode returns a row, so it is read rather than executed.
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates the database file owner-only before SQLite opens it (SQLite gives its WAL and shared
/// memory files the database's mode), and narrows the mode of files made before.
fn private_files(path: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(crate::util::FILE_MODE)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        crate::util::make_private(Path::new(&p)).map_err(io)?;
    }
    Ok(())
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let wrap = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::util::create_private_dir(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        private_files(path)?;
        let mut conn = Connection::open(path).map_err(wrap)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
        set_wal(&conn).map_err(wrap)?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(wrap)?;
        schema::migrate(&mut conn).map_err(|source| StoreError::Migrate {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SQLite's page cache for this connection, in KiB: an import of millions of rows into five
    /// indexes rereads far less with 64 MiB than with the default 2 MiB.
    pub fn set_cache_kib(&mut self, kib: u32) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.conn
            .pragma_update(None, "cache_size", -i64::from(kib))
            .map_err(|source| StoreError::Sqlite { path, source })
    }

    /// How long a write waits for another process's transaction before it is `is_busy`.
    pub fn set_busy_timeout(&mut self, d: Duration) -> Result<(), StoreError> {
        self.conn.busy_timeout(d).map_err(|e| self.err(e))
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(schema::user_version)
    }

    /// Runs `f` on the connection; an error names the store's file. Every read goes through here.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&self.conn).map_err(|e| self.err(e))
    }

    /// `read` for writes: the connection is mutable, for transactions.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        f(&mut self.conn).map_err(|source| StoreError::Sqlite { path, source })
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// A consistent copy of the whole store at `path`, through SQLite's online backup, while
    /// other connections keep writing.
    pub fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        private_files(path)?;
        let mut dst = Connection::open(path).map_err(|e| self.err(e))?;
        let b = rusqlite::backup::Backup::new(&self.conn, &mut dst).map_err(|e| self.err(e))?;
        b.run_to_completion(256, std::time::Duration::from_millis(5), None)
            .map_err(|e| self.err(e))
    }

    /// `PRAGMA integrity_check`, `"ok"` when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.read(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
    }
}
