//! Runs logged through the MLflow tracking API, kept in the same tables as staytrack's own:
//! experiments with their artifact location and tags, runs (family `external`, source
//! `mlflow`) with tags, params, metric steps with the client's timestamps, dataset inputs, soft
//! deletion, and search. The wire format lives in `crate::mlflow`; the SQL lives here.

use rusqlite::{params, params_from_iter, OptionalExtension, TransactionBehavior};

pub use super::external_search::{
    like_to_glob, Attr, Clause, Field, Op, OrderKey, RunQuery, Value, View,
};
use super::{Store, StoreError};
use crate::util::now_ms;

/// Why an MLflow API call cannot be carried out; the API maps each to MLflow's error code.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Res<T> = Result<T, ExternalError>;

/// An experiment as the store keeps it (staytrack's own id).
#[derive(Debug, Clone)]
pub struct Experiment {
    pub id: i64,
    pub name: String,
    pub artifact_location: Option<String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub deleted: bool,
    pub tags: Vec<(String, String)>,
}

/// A run as the MLflow API shows it.
#[derive(Debug, Clone)]
pub struct ExternalRun {
    pub id: String,
    pub experiment_id: i64,
    pub name: String,
    pub status: String,
    pub user_id: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub deleted: bool,
    pub params: Vec<(String, String)>,
    /// The latest step of each metric: (key, value, timestamp, step).
    pub metrics: Vec<(String, f64, i64, i64)>,
    pub tags: Vec<(String, String)>,
    pub inputs: Vec<DatasetInput>,
}

/// A dataset a run read, with the tags of that use (`mlflow.data.context`).
#[derive(Debug, Clone, Default)]
pub struct DatasetInput {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    pub schema: Option<String>,
    pub profile: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// One metric value as logged: (key, value, timestamp, step).
pub type MetricPoint = (String, f64, i64, i64);

/// MLflow's run statuses and the store's, one to one.
pub const STATUSES: [(&str, &str); 5] = [
    ("RUNNING", "running"),
    ("SCHEDULED", "queued"),
    ("FINISHED", "finished"),
    ("FAILED", "failed"),
    ("KILLED", "cancelled"),
];

pub fn status_to_store(s: &str) -> Option<&'static str> {
    STATUSES.iter().find(|(m, _)| *m == s).map(|(_, t)| *t)
}

pub fn status_from_store(s: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(_, t)| *t == s)
        .map_or("FAILED", |(m, _)| *m)
}

/// What creating a run needs.
#[derive(Debug, Clone, Default)]
pub struct NewExternalRun {
    pub experiment_id: i64,
    pub name: Option<String>,
    pub user_id: Option<String>,
    pub start_time: Option<i64>,
    pub tags: Vec<(String, String)>,
}

const RUN_TAG_NAME: &str = "mlflow.runName";
const PARENT_TAG: &str = "mlflow.parentRunId";

impl Store {
    /// Creates an experiment; `location` names its artifact location from its id.
    pub fn create_experiment(
        &mut self,
        name: &str,
        location: impl Fn(i64) -> String,
        tags: &[(String, String)],
    ) -> Res<i64> {
        let now = now_ms();
        let made = self.write(|conn| -> rusqlite::Result<Option<i64>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: Option<i64> = tx
                .query_row("SELECT id FROM experiments WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?;
            if exists.is_some() {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO experiments (name, created_at, updated_at) VALUES (?1, ?2, ?2)",
                params![name, now],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE experiments SET artifact_location = ?2 WHERE id = ?1",
                params![id, location(id)],
            )?;
            for (k, v) in tags {
                tx.execute(
                    "INSERT OR REPLACE INTO experiment_tags (experiment_id, key, value)
                     VALUES (?1, ?2, ?3)",
                    params![id, k, v],
                )?;
            }
            tx.commit()?;
            Ok(Some(id))
        })?;
        made.ok_or_else(|| {
            ExternalError::AlreadyExists(format!("experiment '{name}' already exists"))
        })
    }

    /// An experiment by id, deleted or not.
    pub fn experiment(&self, id: i64) -> Res<Option<Experiment>> {
        Ok(self.experiments_where("WHERE id = ?1", &[&id], None)?.pop())
    }

    pub fn experiment_by_name(&self, name: &str) -> Res<Option<Experiment>> {
        Ok(self
            .experiments_where("WHERE name = ?1", &[&name], None)?
            .pop())
    }

    /// Experiments whose name matches `like` (SQL LIKE, case-sensitive through GLOB when
    /// `glob` is given instead), by id, from `offset`, at most `limit`.
    pub fn search_experiments(
        &self,
        name_glob: Option<&str>,
        view: View,
        offset: usize,
        limit: usize,
    ) -> Res<Vec<Experiment>> {
        let life = match view {
            View::Active => "deleted_at IS NULL",
            View::Deleted => "deleted_at IS NOT NULL",
            View::All => "1",
        };
        let pattern = name_glob.unwrap_or("*");
        self.experiments_where(
            &format!("WHERE {life} AND name GLOB ?1"),
            &[&pattern],
            Some((offset, limit)),
        )
    }

    fn experiments_where(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
        page: Option<(usize, usize)>,
    ) -> Res<Vec<Experiment>> {
        let page = page.map_or(String::new(), |(o, l)| format!("LIMIT {l} OFFSET {o}"));
        Ok(self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT id, name, artifact_location, created_at, updated_at, deleted_at
                 FROM experiments {filter} ORDER BY id {page}"
            ))?;
            let mut out: Vec<Experiment> = st
                .query_map(args, |r| {
                    Ok(Experiment {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        artifact_location: r.get(2)?,
                        created_at: r.get(3)?,
                        updated_at: r.get(4)?,
                        deleted: r.get::<_, Option<i64>>(5)?.is_some(),
                        tags: Vec::new(),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut tags = c.prepare_cached(
                "SELECT key, value FROM experiment_tags WHERE experiment_id = ?1 ORDER BY key",
            )?;
            for e in &mut out {
                e.tags = tags
                    .query_map([e.id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
            }
            Ok(out)
        })?)
    }

    /// Creates a run in a live experiment; its name comes from the call, its `mlflow.runName`
    /// tag, or its id.
    pub fn create_external_run(&mut self, run: &NewExternalRun) -> Res<String> {
        match self.experiment(run.experiment_id)? {
            Some(e) if !e.deleted => {}
            Some(_) => {
                return Err(ExternalError::Invalid(format!(
                    "experiment '{}' is deleted",
                    run.experiment_id
                )))
            }
            None => {
                return Err(ExternalError::NotFound(format!(
                    "no experiment with id '{}'",
                    run.experiment_id
                )))
            }
        }
        let id = crate::util::new_run_id();
        let tag = |k: &str| {
            run.tags
                .iter()
                .find(|(t, _)| t == k)
                .map(|(_, v)| v.clone())
        };
        let name = run
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| tag(RUN_TAG_NAME))
            .unwrap_or_else(|| format!("mlflow-{}", crate::util::short_id(&id, 8)));
        let start = run.start_time.unwrap_or_else(now_ms);
        let parent = tag(PARENT_TAG);
        let host = std::env::var("HOSTNAME").ok();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO runs (id, experiment_id, name, family, status, created_at, started_at,
                                   host, source, user_id, parent_run_id)
                 VALUES (?1, ?2, ?3, 'external', 'running', ?4, ?4, ?5, 'mlflow', ?6, ?7)",
                params![
                    id,
                    run.experiment_id,
                    name,
                    start,
                    host,
                    run.user_id,
                    parent
                ],
            )?;
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO run_tags (run_id, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (k, v) in &run.tags {
                st.execute(params![id, k, v])?;
            }
            st.execute(params![id, RUN_TAG_NAME, name])?;
            drop(st);
            tx.commit()
        })?;
        Ok(id)
    }

    /// A run with everything the API shows of it; deleted runs too.
    pub fn external_run(&self, id: &str) -> Res<ExternalRun> {
        self.read(|c| read_run(c, id))?
            .ok_or_else(|| ExternalError::NotFound(format!("run '{id}' not found")))
    }

    /// Changes a run's status (stamping its end when it is terminal and none is given) and name.
    pub fn update_external_run(
        &mut self,
        id: &str,
        status: Option<&str>,
        end_time: Option<i64>,
        name: Option<&str>,
    ) -> Res<ExternalRun> {
        if self.live_run(id)? != "mlflow" {
            return Err(ExternalError::Invalid(format!(
                "run '{id}' was trained by staytrack; its status and name are its own"
            )));
        }
        let store_status = match status {
            Some(s) => Some(status_to_store(s).ok_or_else(|| {
                ExternalError::Invalid(format!(
                    "status: '{s}' is not one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED"
                ))
            })?),
            None => None,
        };
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(s) = store_status {
                let terminal = matches!(s, "finished" | "failed" | "cancelled");
                let end = end_time.or(terminal.then(now_ms));
                tx.execute(
                    "UPDATE runs SET status = ?2, finished_at = COALESCE(?3, finished_at)
                     WHERE id = ?1",
                    params![id, s, end],
                )?;
            } else if let Some(end) = end_time {
                tx.execute(
                    "UPDATE runs SET finished_at = ?2 WHERE id = ?1",
                    params![id, end],
                )?;
            }
            if let Some(n) = name.filter(|n| !n.is_empty()) {
                tx.execute("UPDATE runs SET name = ?2 WHERE id = ?1", params![id, n])?;
                tx.execute(
                    "INSERT OR REPLACE INTO run_tags (run_id, key, value) VALUES (?1, ?2, ?3)",
                    params![id, RUN_TAG_NAME, n],
                )?;
            }
            tx.commit()
        })?;
        self.external_run(id)
    }

    /// Marks a run deleted (`true`) or restores it. Only runs logged through the API: a run
    /// staytrack trained is deleted with `staytrack runs delete`, which removes its files.
    pub fn set_external_deleted(&mut self, id: &str, deleted: bool) -> Res<()> {
        let source: Option<String> = self.read(|c| {
            c.query_row("SELECT source FROM runs WHERE id = ?1", [id], |r| r.get(0))
                .optional()
        })?;
        match source.as_deref() {
            None => return Err(ExternalError::NotFound(format!("run '{id}' not found"))),
            Some("mlflow") => {}
            Some(_) => {
                return Err(ExternalError::Invalid(format!(
                    "run '{id}' was trained by staytrack; delete it with `staytrack runs delete`"
                )))
            }
        }
        let at = deleted.then(now_ms);
        self.write(|c| {
            c.execute(
                "UPDATE runs SET deleted_at = ?2 WHERE id = ?1",
                params![id, at],
            )
        })?;
        Ok(())
    }

    /// The run, which must exist and not be deleted, and its source.
    fn live_run(&self, id: &str) -> Res<String> {
        let row: Option<(String, Option<i64>)> = self.read(|c| {
            c.query_row(
                "SELECT source, deleted_at FROM runs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        match row {
            None => Err(ExternalError::NotFound(format!("run '{id}' not found"))),
            Some((_, Some(_))) => Err(ExternalError::Invalid(format!(
                "run '{id}' is deleted; restore it before logging to it"
            ))),
            Some((source, None)) => Ok(source),
        }
    }

    /// Logs metrics, params and tags in one transaction. A param keeps its first value: logging
    /// another value under the same key is refused, as MLflow does.
    pub fn log_external_batch(
        &mut self,
        id: &str,
        metrics: &[MetricPoint],
        params_in: &[(String, String)],
        tags: &[(String, String)],
    ) -> Res<()> {
        if self.live_run(id)? != "mlflow" && !(metrics.is_empty() && params_in.is_empty()) {
            return Err(ExternalError::Invalid(format!(
                "run '{id}' was trained by staytrack; its params and metrics are its own"
            )));
        }
        let clash = self.write(|conn| -> rusqlite::Result<Option<String>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut old =
                    tx.prepare("SELECT value FROM params WHERE run_id = ?1 AND key = ?2")?;
                let mut put =
                    tx.prepare("INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)")?;
                for (k, v) in params_in {
                    let before: Option<String> =
                        old.query_row(params![id, k], |r| r.get(0)).optional()?;
                    match before {
                        Some(b) if &b == v => {}
                        Some(b) => {
                            return Ok(Some(format!(
                                "param '{k}' of run '{id}' is '{b}'; changing it to '{v}' is not allowed"
                            )))
                        }
                        None => {
                            put.execute(params![id, k, v])?;
                        }
                    }
                }
                let mut put = tx.prepare(
                    "INSERT OR REPLACE INTO metrics (run_id, key, step, value, logged_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (k, v, ts, step) in metrics {
                    put.execute(params![id, k, step, v, ts])?;
                }
                let mut put = tx.prepare(
                    "INSERT OR REPLACE INTO run_tags (run_id, key, value) VALUES (?1, ?2, ?3)",
                )?;
                for (k, v) in tags {
                    put.execute(params![id, k, v])?;
                    if k == RUN_TAG_NAME && !v.is_empty() {
                        tx.execute("UPDATE runs SET name = ?2 WHERE id = ?1", params![id, v])?;
                    }
                }
            }
            tx.commit()?;
            Ok(None)
        })?;
        match clash {
            Some(why) => Err(ExternalError::Invalid(why)),
            None => Ok(()),
        }
    }

    pub fn delete_external_tag(&mut self, id: &str, key: &str) -> Res<()> {
        self.live_run(id)?;
        let n = self.write(|c| {
            c.execute(
                "DELETE FROM run_tags WHERE run_id = ?1 AND key = ?2",
                params![id, key],
            )
        })?;
        if n == 0 {
            return Err(ExternalError::NotFound(format!(
                "no tag '{key}' on run '{id}'"
            )));
        }
        Ok(())
    }

    /// Records the datasets a run read; the same dataset (name and digest) twice is kept once.
    pub fn log_external_inputs(&mut self, id: &str, inputs: &[DatasetInput]) -> Res<()> {
        self.live_run(id)?;
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut put = tx.prepare(
                    "INSERT OR REPLACE INTO run_inputs
                     (run_id, name, digest, source_type, source, schema, profile, tags)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for d in inputs {
                    let tags = serde_json::to_string(&d.tags).unwrap_or_else(|_| "[]".into());
                    put.execute(params![
                        id,
                        d.name,
                        d.digest,
                        d.source_type,
                        d.source,
                        d.schema,
                        d.profile,
                        tags
                    ])?;
                }
            }
            tx.commit()
        })?;
        Ok(())
    }

    /// Every logged value of one metric, by step: (value, timestamp, step).
    pub fn external_metric_history(&self, id: &str, key: &str) -> Res<Vec<(f64, i64, i64)>> {
        self.external_run(id)?;
        Ok(self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT value, logged_at, step FROM metrics WHERE run_id = ?1 AND key = ?2
                 ORDER BY step",
            )?;
            let rows = st.query_map(params![id, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })?)
    }

    /// The experiment a live run belongs to (for checking an artifact path names both).
    pub fn run_experiment(&self, id: &str) -> Res<i64> {
        self.live_run(id)?;
        Ok(self.read(|c| {
            c.query_row("SELECT experiment_id FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
        })?)
    }

    /// Records a file logged to a run under `name` (its path within the run's artifacts); a
    /// second file under the same name replaces the first.
    pub fn record_external_artifact(&mut self, id: &str, a: &super::ArtifactRow) -> Res<()> {
        self.live_run(id)?;
        let now = now_ms();
        self.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO artifacts (run_id, name, path, sha256, bytes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, a.name, a.path, a.sha256, a.bytes, now],
            )
        })?;
        Ok(())
    }

    /// The runs a search matches, one page, and whether more follow.
    pub fn search_external_runs(&self, q: &RunQuery) -> Res<(Vec<ExternalRun>, bool)> {
        let (sql, args) = super::external_search::search_sql(q)?;
        Ok(self.read(|c| {
            let ids: Vec<String> = {
                let mut st = c.prepare_cached(&sql)?;
                let rows = st.query_map(params_from_iter(args.iter()), |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let more = ids.len() > q.limit;
            let mut runs = Vec::with_capacity(ids.len().min(q.limit));
            for id in ids.iter().take(q.limit) {
                if let Some(r) = read_run(c, id)? {
                    runs.push(r);
                }
            }
            Ok((runs, more))
        })?)
    }
}

/// One run with its params, latest metrics, tags and inputs.
fn read_run(c: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<ExternalRun>> {
    let mut st = c.prepare_cached(
        "SELECT id, experiment_id, name, status, user_id, COALESCE(started_at, created_at),
                finished_at, deleted_at
         FROM runs WHERE id = ?1",
    )?;
    let run = st
        .query_row([id], |r| {
            Ok(ExternalRun {
                id: r.get(0)?,
                experiment_id: r.get(1)?,
                name: r.get(2)?,
                status: status_from_store(&r.get::<_, String>(3)?).to_string(),
                user_id: r.get(4)?,
                start_time: r.get(5)?,
                end_time: r.get(6)?,
                deleted: r.get::<_, Option<i64>>(7)?.is_some(),
                params: Vec::new(),
                metrics: Vec::new(),
                tags: Vec::new(),
                inputs: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut run) = run else {
        return Ok(None);
    };
    let mut st =
        c.prepare_cached("SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key")?;
    run.params = st
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum.
    let mut st = c.prepare_cached(
        "SELECT key, value, logged_at, MAX(step) FROM metrics WHERE run_id = ?1
         GROUP BY key ORDER BY key",
    )?;
    run.metrics = st
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st =
        c.prepare_cached("SELECT key, value FROM run_tags WHERE run_id = ?1 ORDER BY key")?;
    run.tags = st
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = c.prepare_cached(
        "SELECT name, digest, source_type, source, schema, profile, tags FROM run_inputs
         WHERE run_id = ?1 ORDER BY name, digest",
    )?;
    run.inputs = st
        .query_map([id], |r| {
            let tags: String = r.get(6)?;
            Ok(DatasetInput {
                name: r.get(0)?,
                digest: r.get(1)?,
                source_type: r.get(2)?,
                source: r.get(3)?,
                schema: r.get(4)?,
                profile: r.get(5)?,
                tags: serde_json::from_str(&tags).unwrap_or_default(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_one_to_one() {
        for (m, s) in STATUSES {
            assert_eq!(status_to_store(m), Some(s));
            assert_eq!(status_from_store(s), m);
        }
        assert_eq!(status_to_store("finished"), None);
    }
}
