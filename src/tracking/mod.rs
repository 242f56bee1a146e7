//! The tracking store: one SQLite file holding experiments, runs, params, metrics, curves,
//! artifacts, the model registry, predictions and drift reports.

pub mod captures;
pub mod documents;
pub mod drift;
pub mod external;
pub mod external_models;
pub mod external_search;
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

/// A temporary file is left alone until it has gone this long unwritten, even when its process
/// is not running here: a process in another PID namespace (another container on the same
/// volume) is invisible in `/proc`, and every live writer writes far more often than this.
const TEMP_GRACE: Duration = Duration::from_secs(10 * 60);

/// Removes the temporary files that ended processes left in the workspace: an interrupted pull's
/// download in `artifacts/<xx>/`, an interrupted score's output in `predictions/`. Only names
/// `util::TempFile` writes (`.<name>.tmp-<pid>-<n>`), only regular files, only when no process
/// `<pid>` runs here and the file has gone `TEMP_GRACE` unwritten; a running pull or score keeps
/// its own. Once per workspace and process; a file that cannot be removed stays for next time.
fn remove_ended_temp_files(workspace: &Path) {
    static DONE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    {
        let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
        if done.iter().any(|d| d == workspace) {
            return;
        }
        done.push(workspace.to_path_buf());
    }
    let artifacts = workspace.join("artifacts");
    // `bundle::addressed_path`'s folders: two hex digits, or `__`.
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&artifacts)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            e.file_type().is_ok_and(|t| t.is_dir())
                && name.len() == 2
                && name
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'_')
        })
        .map(|e| e.path())
        .collect();
    // `score::default_output`'s folder.
    dirs.push(workspace.join("predictions"));
    let me = std::process::id();
    for dir in dirs {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Some(pid) = temp_file_pid(&e.file_name().to_string_lossy()) else {
                continue;
            };
            let stale = e.metadata().is_ok_and(|m| {
                m.is_file()
                    && m.modified()
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age >= TEMP_GRACE)
            });
            if stale && pid != me && !process_runs(pid) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The process id in a name `util::TempFile` gives: `.<name>.tmp-<pid>-<n>`; None for any other.
fn temp_file_pid(name: &str) -> Option<u32> {
    let (head, tail) = name.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if head.len() < 2 || !head.starts_with('.') || !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok().filter(|p| *p > 0)
}

/// Whether process `pid` runs on this machine (a zombie has ended); anywhere without `/proc`,
/// every process is taken to run, so nothing is removed.
fn process_runs(pid: u32) -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Temporary-file sweeps still running (see `Store::open`).
static SWEEPS: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

impl Drop for Store {
    fn drop(&mut self) {
        let running = std::mem::take(&mut *SWEEPS.lock().unwrap_or_else(|e| e.into_inner()));
        for h in running {
            let _ = h.join();
        }
    }
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
        let workspace = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // Off the opening thread: a workspace of 10,000 artifacts takes about 10 ms to look
        // through, which the TUI's first frame must not wait for. The first store dropped waits
        // for it, so a command that ends has finished the sweep.
        let workspace = workspace.to_path_buf();
        if let Ok(h) = std::thread::Builder::new()
            .name("temp-sweep".into())
            .spawn(move || remove_ended_temp_files(&workspace))
        {
            SWEEPS.lock().unwrap_or_else(|e| e.into_inner()).push(h);
        }
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

#[cfg(test)]
mod tests {
    use super::temp_file_pid;

    #[test]
    fn a_pid_is_read_only_from_the_names_temp_files_are_given() {
        assert_eq!(temp_file_pid(".ab12.bundle.tmp-4242-0"), Some(4242));
        assert_eq!(temp_file_pid(".test.v3.csv.tmp-7-12"), Some(7));
        assert_eq!(temp_file_pid(".a.tmp-b.tmp-9-1"), Some(9));
        for other in [
            "ab12.bundle.tmp-4242-0",
            ".tmp-4242-0",
            ".x.tmp-4242",
            ".x.tmp-4242-",
            ".x.tmp--0",
            ".x.tmp-42a-0",
            ".x.tmp-0-0",
            ".x.tmp-4242-0-1",
            ".x.tmp-99999999999-0",
            ".x.bundle",
        ] {
            assert_eq!(temp_file_pid(other), None, "{other}");
        }
    }
}
