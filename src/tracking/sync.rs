//! What sync reads from and writes to the store: finished runs as self-contained documents,
//! alias events keyed by run (version numbers are local to a store), and the bookkeeping of what
//! has been pushed or applied.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::util::now_ms;

pub const RUN_DOC_FORMAT: u32 = 1;

/// A finished run, everything it recorded, and references to its artifacts by digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDoc {
    pub format: u32,
    pub id: String,
    pub experiment: String,
    pub name: String,
    pub family: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub seed: Option<i64>,
    pub data_path: Option<String>,
    pub data_sha256: Option<String>,
    pub data_rows: Option<i64>,
    pub host: Option<String>,
    pub params: Vec<(String, String)>,
    /// (key, step, value, logged_at)
    pub metrics: Vec<(String, i64, f64, i64)>,
    /// (kind, JSON points)
    pub curves: Vec<(String, String)>,
    pub artifacts: Vec<ArtifactRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub name: String,
    pub sha256: String,
    pub bytes: i64,
    /// The file name inside the content-addressed folder (`<sha>.bundle`, say).
    pub file: String,
}

/// An alias move as the bucket keeps it: by run id, not by this store's version number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDoc {
    pub alias: String,
    pub run_id: String,
    pub actor: String,
    pub reason: Option<String>,
    pub at: i64,
}

impl Store {
    /// Ids of finished runs, oldest first.
    pub fn finished_run_ids(&self) -> Result<Vec<String>, StoreError> {
        let res = (|| {
            let mut st = self
                .conn
                .prepare("SELECT id FROM runs WHERE status = 'finished' ORDER BY created_at, id")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })();
        res.map_err(|e| self.err(e))
    }

    /// The document of a run, `None` when there is no such run.
    pub fn export_run(&self, id: &str) -> Result<Option<RunDoc>, StoreError> {
        let res = (|| {
            let doc = self
                .conn
                .query_row(
                    "SELECT r.id, e.name, r.name, r.family, r.status, r.status_reason, r.created_at,
                            r.started_at, r.finished_at, r.seed, r.data_path, r.data_sha256,
                            r.data_rows, r.host
                     FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.id = ?1",
                    [id],
                    |r| {
                        Ok(RunDoc {
                            format: RUN_DOC_FORMAT,
                            id: r.get(0)?,
                            experiment: r.get(1)?,
                            name: r.get(2)?,
                            family: r.get(3)?,
                            status: r.get(4)?,
                            status_reason: r.get(5)?,
                            created_at: r.get(6)?,
                            started_at: r.get(7)?,
                            finished_at: r.get(8)?,
                            seed: r.get(9)?,
                            data_path: r.get(10)?,
                            data_sha256: r.get(11)?,
                            data_rows: r.get(12)?,
                            host: r.get(13)?,
                            params: Vec::new(),
                            metrics: Vec::new(),
                            curves: Vec::new(),
                            artifacts: Vec::new(),
                        })
                    },
                )
                .optional()?;
            let Some(mut doc) = doc else {
                return Ok(None);
            };
            let mut st = self
                .conn
                .prepare("SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key")?;
            doc.params = st
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = self.conn.prepare(
                "SELECT key, step, value, logged_at FROM metrics WHERE run_id = ?1 ORDER BY key, step",
            )?;
            doc.metrics = st
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = self
                .conn
                .prepare("SELECT kind, points FROM curves WHERE run_id = ?1 ORDER BY kind")?;
            doc.curves = st
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = self.conn.prepare(
                "SELECT name, sha256, bytes, path FROM artifacts WHERE run_id = ?1 ORDER BY name",
            )?;
            doc.artifacts = st
                .query_map([id], |r| {
                    let path: String = r.get(3)?;
                    let file = std::path::Path::new(&path)
                        .file_name()
                        .map(|f| f.to_string_lossy().to_string())
                        .unwrap_or_default();
                    Ok(ArtifactRef {
                        name: r.get(0)?,
                        sha256: r.get(1)?,
                        bytes: r.get(2)?,
                        file,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Some(doc))
        })();
        res.map_err(|e| self.err(e))
    }

    /// Inserts a pulled run with its results, in one transaction. A run that exists locally is
    /// left as it is (returns false). `artifact_path` maps a reference to its local file.
    pub fn import_run(
        &mut self,
        doc: &RunDoc,
        artifact_path: impl Fn(&ArtifactRef) -> String,
    ) -> Result<bool, StoreError> {
        let res = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = tx
                .query_row("SELECT 1 FROM runs WHERE id = ?1", [&doc.id], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                return Ok(false);
            }
            tx.execute(
                "INSERT OR IGNORE INTO experiments (name, created_at) VALUES (?1, ?2)",
                params![doc.experiment, now_ms()],
            )?;
            tx.execute(
                "INSERT INTO runs (id, experiment_id, name, family, status, status_reason,
                    created_at, started_at, finished_at, seed, data_path, data_sha256, data_rows, host)
                 VALUES (?1, (SELECT id FROM experiments WHERE name = ?2), ?3, ?4, ?5, ?6, ?7, ?8,
                         ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    doc.id,
                    doc.experiment,
                    doc.name,
                    doc.family,
                    doc.status,
                    doc.status_reason,
                    doc.created_at,
                    doc.started_at,
                    doc.finished_at,
                    doc.seed,
                    doc.data_path,
                    doc.data_sha256,
                    doc.data_rows,
                    doc.host
                ],
            )?;
            for (k, v) in &doc.params {
                tx.execute(
                    "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)",
                    params![doc.id, k, v],
                )?;
            }
            for (k, step, v, at) in &doc.metrics {
                tx.execute(
                    "INSERT INTO metrics (run_id, key, step, value, logged_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![doc.id, k, step, v, at],
                )?;
            }
            for (kind, points) in &doc.curves {
                tx.execute(
                    "INSERT INTO curves (run_id, kind, points) VALUES (?1, ?2, ?3)",
                    params![doc.id, kind, points],
                )?;
            }
            for a in &doc.artifacts {
                tx.execute(
                    "INSERT INTO artifacts (run_id, name, path, sha256, bytes, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        doc.id,
                        a.name,
                        artifact_path(a),
                        a.sha256,
                        a.bytes,
                        now_ms()
                    ],
                )?;
            }
            tx.execute(
                "INSERT OR IGNORE INTO sync_state (kind, key, at) VALUES ('pushed_run', ?1, ?2)",
                params![doc.id, now_ms()],
            )?;
            tx.commit()?;
            Ok(true)
        })();
        res.map_err(|e| self.err(e))
    }

    pub fn sync_marked(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT 1 FROM sync_state WHERE kind = ?1 AND key = ?2",
                [kind, key],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.err(e))
    }

    pub fn sync_mark(&mut self, kind: &str, key: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO sync_state (kind, key, at) VALUES (?1, ?2, ?3)",
                params![kind, key, now_ms()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Local alias events not pushed yet, oldest first, as (local id, document).
    pub fn unpushed_events(&self) -> Result<Vec<(i64, EventDoc)>, StoreError> {
        let res = (|| {
            let mut st = self.conn.prepare(
                "SELECT e.id, e.alias, v.run_id, e.actor, e.reason, e.at
                 FROM alias_events e JOIN model_versions v ON v.version = e.to_version
                 WHERE NOT EXISTS (SELECT 1 FROM sync_state s
                                   WHERE s.kind = 'pushed_event' AND s.key = CAST(e.id AS TEXT))
                 ORDER BY e.id",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    EventDoc {
                        alias: r.get(1)?,
                        run_id: r.get(2)?,
                        actor: r.get(3)?,
                        reason: r.get(4)?,
                        at: r.get(5)?,
                    },
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        res.map_err(|e| self.err(e))
    }

    /// The newest alias event id, to mark events that replaying a pulled event created.
    pub fn last_event_id(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT MAX(id) FROM alias_events", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}
