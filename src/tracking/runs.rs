//! Runs: creation, status changes, params and metrics, listing.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::{Store, StoreError};
use crate::models::Family;
use crate::util::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Finished,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        Some(match s {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "finished" => RunStatus::Finished,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// What a caller knows about a run before it starts.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub name: String,
    pub family: String,
    pub params: Vec<(String, String)>,
    pub seed: Option<u64>,
    pub data_path: Option<String>,
    pub data_sha256: Option<String>,
    pub data_rows: Option<usize>,
}

/// A run as listed: its record plus the latest value of each metric.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub experiment: String,
    pub name: String,
    pub family: Family,
    pub status: RunStatus,
    pub status_reason: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub seed: Option<i64>,
    pub data_rows: Option<i64>,
    /// Who recorded it: `staytrack`, or `mlflow` for a run logged through the MLflow API.
    pub source: String,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
}

impl RunSummary {
    /// Wall time, for finished runs and for running ones up to `now`.
    pub fn duration_ms(&self, now: i64) -> Option<i64> {
        let start = self.started_at?;
        Some(self.finished_at.unwrap_or(now) - start)
    }
}

impl Store {
    /// Records a new queued run with its params, in one transaction; returns its id.
    pub fn create_run(&mut self, run: &NewRun) -> Result<String, StoreError> {
        let id = crate::util::new_run_id();
        let now = now_ms();
        let host = std::env::var("HOSTNAME").ok();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO runs (id, experiment_id, name, family, status, created_at, seed,
                                   data_path, data_sha256, data_rows, pid, host)
                 VALUES (?1, (SELECT id FROM experiments WHERE name = 'default'), ?2, ?3, 'queued',
                         ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    id,
                    run.name,
                    run.family,
                    now,
                    run.seed.map(|s| s as i64),
                    run.data_path,
                    run.data_sha256,
                    run.data_rows.map(|r| r as i64),
                    std::process::id(),
                    host
                ],
            )?;
            {
                let mut st =
                    tx.prepare("INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)")?;
                for (k, v) in &run.params {
                    st.execute(params![id, k, v])?;
                }
            }
            tx.commit()
        })?;
        Ok(id)
    }

    /// Moves a run to `status`, stamping start or finish times.
    pub fn set_status(
        &mut self,
        id: &str,
        status: RunStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let n = self.write(|c| c
            .execute(
                "UPDATE runs SET status = ?2, status_reason = ?3,
                    started_at = CASE WHEN ?2 = 'running' THEN ?4 ELSE started_at END,
                    finished_at = CASE WHEN ?2 IN ('finished','failed','cancelled') THEN ?4 ELSE finished_at END
                 WHERE id = ?1",
                params![id, status.as_str(), reason, now],
            )
            )?;
        if n == 0 {
            return Err(StoreError::NoSuchRun(id.to_string()));
        }
        Ok(())
    }

    /// Logs metric values `(key, step, value)` in one transaction; a repeated key and step
    /// replaces the earlier value.
    pub fn log_metrics(&mut self, id: &str, values: &[(&str, i64, f64)]) -> Result<(), StoreError> {
        let now = now_ms();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            insert_metrics(&tx, id, now, values.iter().map(|(k, s, v)| (*k, *s, *v)))?;
            tx.commit()
        })
    }

    /// Every run, newest first, with params and latest metrics.
    pub fn list_runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        self.query_runs("", &[], None, None)
    }

    /// Every run with only the named metrics and no params: what a long list shows, read in a
    /// fraction of the time of `list_runs` on a large store. Metric names are plain identifiers.
    pub fn list_runs_brief(&self, metrics: &[&str]) -> Result<Vec<RunSummary>, StoreError> {
        self.query_runs("", &[], Some(metrics), None)
    }

    /// The newest `limit` runs, brief (see `list_runs_brief`): what a first screen shows, read
    /// in a time that does not grow with the store.
    pub fn list_runs_page(
        &self,
        metrics: &[&str],
        limit: usize,
    ) -> Result<Vec<RunSummary>, StoreError> {
        self.query_runs("", &[], Some(metrics), Some(limit))
    }

    /// The run `id` names: its whole id, its name when no other run has it, or a unique start
    /// or end of its id. Ids begin with their creation time, so runs of one batch share a
    /// prefix; the random end tells them apart. More than one match is an error listing them.
    pub fn get_run(&self, id: &str) -> Result<RunSummary, StoreError> {
        // A whole id is a primary-key lookup; only a fragment needs the LIKE scan.
        let exact = self.query_runs("WHERE r.id = ?1", &[id.to_string()], None, None)?;
        if let Some(run) = exact.into_iter().next() {
            return Ok(run);
        }
        let mut named = self.query_runs("WHERE r.name = ?1", &[id.to_string()], None, None)?;
        match named.len() {
            0 => {}
            1 => return Ok(named.remove(0)),
            _ => return Err(ambiguous(id, &named)),
        }
        let clean = id.replace(['%', '_'], "");
        if clean.is_empty() {
            return Err(StoreError::NoSuchRun(id.to_string()));
        }
        let mut found = self.query_runs(
            "WHERE r.id LIKE ?1 OR r.id LIKE ?2",
            &[format!("{clean}%"), format!("%{clean}")],
            None,
            None,
        )?;
        if let Some(i) = found.iter().position(|r| r.id == clean) {
            return Ok(found.swap_remove(i));
        }
        match found.len() {
            0 => Err(StoreError::NoSuchRun(id.to_string())),
            1 => Ok(found.remove(0)),
            _ => Err(ambiguous(id, &found)),
        }
    }

    /// Runs matching `filter` (a WHERE clause over `runs r`, with `args`), newest first, with
    /// their params and the latest step of each metric; with `brief`, only those metrics and no
    /// params. Params and metrics are read for the matching runs only.
    ///
    /// One query and the two passes that attach params and metrics to its rows. `limit` keeps
    /// the newest runs only, and the passes read those runs' rows only.
    fn query_runs(
        &self,
        filter: &str,
        args: &[String],
        brief: Option<&[&str]>,
        limit: Option<usize>,
    ) -> Result<Vec<RunSummary>, StoreError> {
        self.read(|conn| {
            const NEWEST: &str = "ORDER BY r.created_at DESC, r.id DESC";
            let limit = limit.map_or(String::new(), |n| format!("LIMIT {n}"));
            let sql = format!(
                "SELECT r.id, e.name, r.name, r.family, r.status, r.status_reason, r.created_at,
                    r.started_at, r.finished_at, r.seed, r.data_rows, r.source, r.deleted_at
             FROM runs r JOIN experiments e ON e.id = r.experiment_id {filter}
             {NEWEST} {limit}"
            );
            let mut st = conn.prepare_cached(&sql)?;
            // A run deleted through the MLflow API stays restorable there but is gone here.
            let mut runs: Vec<RunSummary> = st
                .query_map(rusqlite::params_from_iter(args), |r| {
                    if r.get::<_, Option<i64>>(12)?.is_some() {
                        return Ok(None);
                    }
                    let status: String = r.get(4)?;
                    Ok(Some(RunSummary {
                        id: r.get(0)?,
                        experiment: r.get(1)?,
                        name: r.get(2)?,
                        family: {
                            let f: String = r.get(3)?;
                            Family::from_stored(&f).ok_or_else(|| {
                                rusqlite::Error::FromSqlConversionFailure(
                                    3,
                                    rusqlite::types::Type::Text,
                                    format!("unknown model family '{f}'").into(),
                                )
                            })?
                        },
                        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
                        status_reason: r.get(5)?,
                        created_at: r.get(6)?,
                        started_at: r.get(7)?,
                        finished_at: r.get(8)?,
                        seed: r.get(9)?,
                        data_rows: r.get(10)?,
                        source: r.get(11)?,
                        params: BTreeMap::new(),
                        metrics: BTreeMap::new(),
                    }))
                })?
                .filter_map(Result::transpose)
                .collect::<rusqlite::Result<_>>()?;
            if runs.is_empty() {
                return Ok(runs);
            }
            let index: std::collections::HashMap<String, usize> = runs
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.clone(), i))
                .collect();
            let mut conditions = Vec::new();
            if !filter.is_empty() || !limit.is_empty() {
                conditions.push(format!(
                    "run_id IN (SELECT r.id FROM runs r {filter} {NEWEST} {limit})"
                ));
            }
            let scope = |extra: &[String]| {
                let all: Vec<&String> = conditions.iter().chain(extra).collect();
                if all.is_empty() {
                    String::new()
                } else {
                    format!(
                        "WHERE {}",
                        all.iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join(" AND ")
                    )
                }
            };
            if brief.is_none() {
                let mut st = conn.prepare_cached(&format!(
                    "SELECT run_id, key, value FROM params {}",
                    scope(&[])
                ))?;
                let mut rows = st.query(rusqlite::params_from_iter(args))?;
                while let Some(row) = rows.next()? {
                    if let Some(&i) = index.get(row.get_ref(0)?.as_str()?) {
                        runs[i].params.insert(row.get(1)?, row.get(2)?);
                    }
                }
            }
            let keys = brief.map(|keys| {
                let quoted: Vec<String> = keys
                    .iter()
                    .filter(|k| k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                    .map(|k| format!("'{k}'"))
                    .collect();
                format!("key IN ({})", quoted.join(", "))
            });
            // The latest step of each metric: SQLite takes the bare columns of a MAX() aggregate
            // from the row that holds the maximum.
            let mut st = conn.prepare_cached(&format!(
                "SELECT run_id, key, value, MAX(step) FROM metrics {} GROUP BY run_id, key",
                scope(keys.as_slice())
            ))?;
            let mut rows = st.query(rusqlite::params_from_iter(args))?;
            while let Some(row) = rows.next()? {
                if let Some(&i) = index.get(row.get_ref(0)?.as_str()?) {
                    runs[i].metrics.insert(row.get(1)?, row.get(2)?);
                }
            }
            Ok(runs)
        })
    }

    /// Number of runs, cheaply.
    pub fn count_runs(&self) -> Result<usize, StoreError> {
        self.read(|c| {
            c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0))
                .map(|n| n as usize)
        })
    }

    /// A number that changes when another connection commits, so a viewer reloads only then.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.read(|c| c.query_row("PRAGMA data_version", [], |r| r.get(0)))
    }

    /// Deletes a run with its params, metrics, curves and artifact rows, in one transaction.
    /// A queued or running run, or one registered as a model version, stays (the registry's
    /// history must keep pointing at something). Returns the artifact files no other run
    /// references, for the caller to remove after the commit.
    pub fn delete_run(&mut self, id: &str) -> Result<Vec<std::path::PathBuf>, StoreError> {
        self.write(
            |conn| -> rusqlite::Result<Result<Vec<std::path::PathBuf>, StoreError>> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let status: Option<String> = tx
                    .query_row("SELECT status FROM runs WHERE id = ?1", [id], |r| r.get(0))
                    .optional()?;
                let Some(status) = status else {
                    return Ok(Err(StoreError::NoSuchRun(id.to_string())));
                };
                if status == "queued" || status == "running" {
                    return Ok(Err(StoreError::Undeletable {
                        id: id.to_string(),
                        why: format!("it is {status}; cancel it first"),
                    }));
                }
                let version: Option<i64> = tx
                    .query_row(
                        "SELECT version FROM model_versions WHERE run_id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(v) = version {
                    return Ok(Err(StoreError::Undeletable {
                        id: id.to_string(),
                        why: format!(
                            "it is model version {v} in the registry, whose audit log refers to it"
                        ),
                    }));
                }
                let orphans: Vec<std::path::PathBuf> = {
                    let mut st = tx.prepare(
                        "SELECT path FROM artifacts a WHERE run_id = ?1 AND NOT EXISTS
                       (SELECT 1 FROM artifacts b WHERE b.sha256 = a.sha256 AND b.run_id <> ?1)",
                    )?;
                    let rows = st.query_map([id], |r| r.get::<_, String>(0))?;
                    rows.map(|r| r.map(std::path::PathBuf::from))
                        .collect::<rusqlite::Result<_>>()?
                };
                for table in ["params", "metrics", "curves", "artifacts"] {
                    tx.execute(&format!("DELETE FROM {table} WHERE run_id = ?1"), [id])?;
                }
                tx.execute("DELETE FROM runs WHERE id = ?1", [id])?;
                tx.commit()?;
                Ok(Ok(orphans))
            },
        )?
    }

    /// Whether a run id exists (exact match).
    pub fn run_exists(&self, id: &str) -> Result<bool, StoreError> {
        self.read(|c| {
            c.query_row("SELECT 1 FROM runs WHERE id = ?1", [id], |_| Ok(()))
                .optional()
                .map(|o| o.is_some())
        })
    }
}

/// What a stored curve (or matrix, or list) of a run holds; its name is the `kind` it is stored
/// under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveKind {
    Roc,
    Pr,
    Calibration,
    /// The confusion matrix at 0.5.
    Confusion,
    /// The confusion matrix at the F1-best threshold.
    ConfusionBest,
    /// (feature, importance) pairs.
    Importance,
}

impl CurveKind {
    pub fn key(self) -> &'static str {
        match self {
            CurveKind::Roc => "roc",
            CurveKind::Pr => "pr",
            CurveKind::Calibration => "calibration",
            CurveKind::Confusion => "confusion",
            CurveKind::ConfusionBest => "confusion_best",
            CurveKind::Importance => "importance",
        }
    }
}

/// A file recorded for a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtifactRow {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub bytes: i64,
}

/// Everything a finished run records at once.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    /// (key, step, value)
    pub metrics: Vec<(String, i64, f64)>,
    /// (kind, JSON)
    pub curves: Vec<(String, String)>,
    pub artifacts: Vec<ArtifactRow>,
}

impl Store {
    /// Records a run's results and marks it finished, in one transaction: a reader sees a
    /// finished run with all of its results, or a running one with none.
    pub fn finish_run(&mut self, id: &str, rec: &RunRecord) -> Result<(), StoreError> {
        let now = now_ms();
        self.write(|conn| -> rusqlite::Result<Result<(), StoreError>> {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            insert_metrics(
                &tx,
                id,
                now,
                rec.metrics.iter().map(|(k, s, v)| (k.as_str(), *s, *v)),
            )?;
            {
                let mut st = tx.prepare(
                    "INSERT OR REPLACE INTO curves (run_id, kind, points) VALUES (?1, ?2, ?3)",
                )?;
                for (kind, json) in &rec.curves {
                    st.execute(params![id, kind, json])?;
                }
                let mut st = tx.prepare(
                    "INSERT OR REPLACE INTO artifacts (run_id, name, path, sha256, bytes, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for a in &rec.artifacts {
                    st.execute(params![id, a.name, a.path, a.sha256, a.bytes, now])?;
                }
            }
            let n = tx.execute(
                "UPDATE runs SET status = 'finished', status_reason = NULL, finished_at = ?2
                 WHERE id = ?1",
                params![id, now],
            )?;
            if n == 0 {
                return Ok(Err(StoreError::NoSuchRun(id.to_string())));
            }
            tx.commit()?;
            Ok(Ok(()))
        })?
    }

    /// The curves of a run, by kind.
    pub fn curves(&self, id: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.read(|conn| {
            let mut st = conn.prepare("SELECT kind, points FROM curves WHERE run_id = ?1")?;
            let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<BTreeMap<String, String>>>()
        })
    }

    pub fn artifacts(&self, id: &str) -> Result<Vec<ArtifactRow>, StoreError> {
        self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT name, path, sha256, bytes FROM artifacts WHERE run_id = ?1 ORDER BY name",
            )?;
            let rows = st.query_map([id], |r| {
                Ok(ArtifactRow {
                    name: r.get(0)?,
                    path: r.get(1)?,
                    sha256: r.get(2)?,
                    bytes: r.get(3)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// All steps of one metric, in step order.
    pub fn metric_history(&self, id: &str, key: &str) -> Result<Vec<(i64, f64)>, StoreError> {
        self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT step, value FROM metrics WHERE run_id = ?1 AND key = ?2 ORDER BY step",
            )?;
            let rows = st.query_map(params![id, key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Marks as failed every queued or running run whose process is gone (killed, crashed, or
    /// the machine restarted), with the reason. Returns their ids.
    pub fn recover_interrupted(&mut self) -> Result<Vec<String>, StoreError> {
        let host = std::env::var("HOSTNAME").ok();
        let me = std::process::id() as i64;
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let candidates: Vec<(String, Option<i64>, Option<String>, String)> = {
                let mut st = tx.prepare(
                    "SELECT id, pid, host, status FROM runs WHERE status IN ('queued', 'running') AND source = 'staytrack'",
                )?;
                let rows =
                    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut failed = Vec::new();
            for (id, pid, run_host, status) in candidates {
                let same_host = run_host == host;
                let alive = match pid {
                    Some(p) if p == me => true,
                    Some(p) if same_host => process_alive(p),
                    // A run started on another host cannot be checked from here.
                    _ => !same_host,
                };
                if alive {
                    continue;
                }
                let reason = format!(
                    "interrupted: its process (pid {}) ended while the run was {status}",
                    pid.unwrap_or(0)
                );
                tx.execute(
                    "UPDATE runs SET status = 'failed', status_reason = ?2,
                         finished_at = COALESCE(finished_at, ?3) WHERE id = ?1",
                    params![id, reason, now_ms()],
                )?;
                failed.push(id);
            }
            tx.commit()?;
            Ok(failed)
        })
    }
}

/// Inserts `(key, step, value)` metrics; a repeated key and step replaces the earlier value.
fn insert_metrics<'a>(
    tx: &rusqlite::Transaction,
    id: &str,
    now: i64,
    values: impl Iterator<Item = (&'a str, i64, f64)>,
) -> rusqlite::Result<()> {
    let mut st = tx.prepare(
        "INSERT OR REPLACE INTO metrics (run_id, key, step, value, logged_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (k, step, v) in values {
        st.execute(params![id, k, step, v, now])?;
    }
    Ok(())
}

/// Whether a process with this id exists on this machine.
fn process_alive(pid: i64) -> bool {
    if cfg!(target_os = "linux") {
        let stat = std::path::Path::new("/proc")
            .join(pid.to_string())
            .join("stat");
        match std::fs::read_to_string(stat) {
            // A zombie has ended; only its parent has not collected it yet.
            Ok(s) => !s
                .rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false),
            Err(_) => false,
        }
    } else {
        true
    }
}

/// The error for `given` matching several runs, naming each (the first ten).
fn ambiguous(given: &str, runs: &[RunSummary]) -> StoreError {
    let mut candidates: Vec<String> = runs
        .iter()
        .take(10)
        .map(|r| format!("{} ({}, {})", r.id, r.name, r.family.name()))
        .collect();
    if runs.len() > 10 {
        candidates.push(format!("and {} more", runs.len() - 10));
    }
    StoreError::AmbiguousRun {
        given: given.to_string(),
        candidates,
    }
}
