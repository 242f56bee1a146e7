//! The documents a bucket holds, and their rows in the store: finished runs as self-contained
//! documents, alias events keyed by run (version numbers are local to a store), their validation,
//! and the bookkeeping of what has been pushed or applied where.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::util::now_ms;

pub const RUN_DOC_FORMAT: u32 = 1;

/// What the sync bookkeeping records, per bucket and prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// A local alias event is in the bucket (key `<remote>#<event id>`).
    PushedEvent,
    /// A bucket's alias event is in this store (key `<remote>#<object key>`).
    AppliedEvent,
}

impl SyncKind {
    fn as_str(self) -> &'static str {
        match self {
            SyncKind::PushedEvent => "pushed_event",
            SyncKind::AppliedEvent => "applied_event",
        }
    }
}

/// The largest run document a pull reads; a larger object is refused before it is fetched.
pub const MAX_RUN_DOC_BYTES: u64 = 64 * 1024 * 1024;
/// The largest alias event a pull reads.
pub const MAX_EVENT_BYTES: u64 = 64 * 1024;
/// The largest artifact a pull downloads.
pub const MAX_ARTIFACT_BYTES: i64 = 4 * 1024 * 1024 * 1024;
/// Bounds on a document's parts, far above what training writes.
const MAX_PARAMS: usize = 1_000;
const MAX_METRICS: usize = 1_000_000;
const MAX_CURVES: usize = 64;
const MAX_ARTIFACTS: usize = 64;
const MAX_TEXT: usize = 4_096;

/// Why a document from a bucket was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct DocError {
    pub field: String,
    pub problem: String,
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> DocError {
    DocError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Run ids are file names and SQL keys: ASCII letters, digits and '-', 1 to 64 of them.
pub fn valid_run_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The longest run name a pull takes, in bytes (training refuses longer ones up front).
pub const MAX_RUN_NAME: usize = 256;

/// Text from a bucket that ends up in tables and terminals: bounded, no control characters.
fn check_text(field: &str, s: &str, max: usize, empty_ok: bool) -> Result<(), DocError> {
    if s.len() > max {
        return Err(bad(field, format!("longer than {max} bytes")));
    }
    if !empty_ok && s.is_empty() {
        return Err(bad(field, "is empty"));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(field, "holds control characters"));
    }
    Ok(())
}

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

impl ArtifactRef {
    /// The file's extension inside the content-addressed folder (`<sha256>.<ext>`, never a path).
    pub fn extension(&self) -> Result<&str, DocError> {
        if self.file.is_empty() {
            return Ok("bundle");
        }
        self.file
            .strip_prefix(self.sha256.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .filter(|e| (1..=16).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| {
                bad(
                    format!("artifacts.{}.file", self.name),
                    format!("'{}' is not <sha256>.<extension>", self.file.escape_debug()),
                )
            })
    }
}

impl RunDoc {
    /// Checks everything a pull would write to the disk or the store, before it does.
    ///
    /// A checklist of every field a pull would write, in document order.
    pub fn validate(&self) -> Result<(), DocError> {
        if self.format != RUN_DOC_FORMAT {
            return Err(bad(
                "format",
                format!(
                    "{} is not {RUN_DOC_FORMAT}, the format this staytrack reads",
                    self.format
                ),
            ));
        }
        if !valid_run_id(&self.id) {
            return Err(bad("id", "use 1 to 64 ASCII letters, digits or '-'"));
        }
        check_text("experiment", &self.experiment, 256, false)?;
        check_text("name", &self.name, MAX_RUN_NAME, true)?;
        // `external`: a run logged through the MLflow API (its tags and inputs stay behind).
        if crate::models::Family::from_stored(&self.family).is_none() {
            return Err(bad(
                "family",
                format!("'{}' is not a model family", self.family.escape_debug()),
            ));
        }
        if self.status != "finished" {
            return Err(bad("status", "only finished runs are shared"));
        }
        for (field, t) in [
            ("created_at", Some(self.created_at)),
            ("started_at", self.started_at),
            ("finished_at", self.finished_at),
        ] {
            if t.is_some_and(|t| t < 0) {
                return Err(bad(field, "is negative"));
            }
        }
        for (field, t) in [
            ("status_reason", &self.status_reason),
            ("data_path", &self.data_path),
            ("data_sha256", &self.data_sha256),
            ("host", &self.host),
        ] {
            if let Some(t) = t {
                check_text(field, t, MAX_TEXT, true)?;
            }
        }
        if self.params.len() > MAX_PARAMS {
            return Err(bad("params", format!("more than {MAX_PARAMS}")));
        }
        let mut seen = std::collections::HashSet::new();
        for (k, v) in &self.params {
            check_text("params key", k, 128, false)?;
            check_text(&format!("params.{k}"), v, MAX_TEXT, true)?;
            if !seen.insert(k) {
                return Err(bad(format!("params.{k}"), "appears twice"));
            }
        }
        if self.metrics.len() > MAX_METRICS {
            return Err(bad("metrics", format!("more than {MAX_METRICS}")));
        }
        let mut seen = std::collections::HashSet::new();
        for (k, step, v, _) in &self.metrics {
            check_text("metrics key", k, 128, false)?;
            if !v.is_finite() {
                return Err(bad(format!("metrics.{k}"), "is not a finite number"));
            }
            if !seen.insert((k, step)) {
                return Err(bad(
                    format!("metrics.{k}"),
                    format!("step {step} appears twice"),
                ));
            }
        }
        if self.curves.len() > MAX_CURVES {
            return Err(bad("curves", format!("more than {MAX_CURVES}")));
        }
        let mut seen = std::collections::HashSet::new();
        for (kind, points) in &self.curves {
            check_text("curves kind", kind, 64, false)?;
            if serde_json::from_str::<serde_json::Value>(points).is_err() {
                return Err(bad(format!("curves.{kind}"), "is not JSON"));
            }
            if !seen.insert(kind) {
                return Err(bad(format!("curves.{kind}"), "appears twice"));
            }
        }
        if self.artifacts.len() > MAX_ARTIFACTS {
            return Err(bad("artifacts", format!("more than {MAX_ARTIFACTS}")));
        }
        let mut seen = std::collections::HashSet::new();
        for a in &self.artifacts {
            if a.name.is_empty()
                || a.name.len() > 64
                || !a
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(bad(
                    "artifacts.name",
                    format!("'{}' is not a plain name", a.name.escape_debug()),
                ));
            }
            if !seen.insert(&a.name) {
                return Err(bad(format!("artifacts.{}", a.name), "appears twice"));
            }
            if !is_sha256(&a.sha256) {
                return Err(bad(
                    format!("artifacts.{}.sha256", a.name),
                    "is not 64 lowercase hex digits",
                ));
            }
            if !(0..=MAX_ARTIFACT_BYTES).contains(&a.bytes) {
                return Err(bad(
                    format!("artifacts.{}.bytes", a.name),
                    format!("{} is outside 0..={MAX_ARTIFACT_BYTES}", a.bytes),
                ));
            }
            a.extension()?;
        }
        Ok(())
    }
}

/// An alias move as the bucket keeps it: by run id, not by this store's version number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDoc {
    pub alias: String,
    pub run_id: String,
    pub actor: String,
    pub reason: Option<String>,
    pub at: i64,
    /// What a promotion policy weighed; absent (and so out of the key's digest) otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<serde_json::Value>,
}

/// The largest evidence document a pulled move may carry, serialised.
const MAX_EVIDENCE: usize = 64 * 1024;

/// The latest time an event may carry (year 2286), so its key keeps 13 digits.
const MAX_EVENT_AT: i64 = 9_999_999_999_999;

impl EventDoc {
    /// The object key under the prefix: the move's time, then a digest of its content, so keys
    /// sort by time and one move has one key whichever store pushes it.
    pub fn key(&self) -> String {
        let body = serde_json::to_vec(self).unwrap_or_default();
        format!(
            "registry/events/{:013}-{}.json",
            self.at,
            &crate::bundle::sha256_hex(&body)[..12]
        )
    }

    /// The move as a bucket takes it: a control character in the reason or actor (a line
    /// break, an escape sequence) is written out as its escape, and text past the bounds
    /// (`registry::MAX_REASON`, `MAX_ACTOR`) is cut with "…", so every move this store holds
    /// can be pushed and every workspace that pulls it ends on the same model.
    pub fn bounded(mut self) -> EventDoc {
        use crate::tracking::registry::{MAX_ACTOR, MAX_REASON};
        let printable = |s: &str, max: usize| {
            let mut out = String::with_capacity(s.len());
            for c in s.chars() {
                if c.is_control() {
                    out.extend(c.escape_debug());
                } else {
                    out.push(c);
                }
            }
            crate::util::clip(&out, max).into_owned()
        };
        if let Some(r) = &self.reason {
            self.reason = Some(printable(r, MAX_REASON));
        }
        self.actor = printable(&self.actor, MAX_ACTOR);
        self
    }

    /// Checks a pulled move before it is replayed; `key` is where it was found (under the
    /// prefix), which must be the key its content gives.
    pub fn validate(&self, key: &str) -> Result<(), DocError> {
        if !crate::tracking::registry::valid_alias(&self.alias) {
            return Err(bad(
                "alias",
                format!(
                    "'{}' is not valid: 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter",
                    self.alias.escape_debug()
                ),
            ));
        }
        if !valid_run_id(&self.run_id) {
            return Err(bad("run_id", "use 1 to 64 ASCII letters, digits or '-'"));
        }
        // What the registry takes in characters always fits these bytes (4 a character).
        check_text(
            "actor",
            &self.actor,
            4 * crate::tracking::registry::MAX_ACTOR,
            false,
        )?;
        if let Some(r) = &self.reason {
            check_text("reason", r, 4 * crate::tracking::registry::MAX_REASON, true)?;
        }
        if let Some(e) = &self.evidence {
            if !e.is_object() {
                return Err(bad("evidence", "is not a JSON object"));
            }
            if e.to_string().len() > MAX_EVIDENCE {
                return Err(bad("evidence", format!("longer than {MAX_EVIDENCE} bytes")));
            }
        }
        if !(0..=MAX_EVENT_AT).contains(&self.at) {
            return Err(bad(
                "at",
                format!("{} is not a time staytrack writes", self.at),
            ));
        }
        if self.key() != key {
            return Err(bad("key", format!("the content belongs at {}", self.key())));
        }
        Ok(())
    }
}

impl Store {
    /// Ids of finished runs, oldest first.
    pub fn finished_run_ids(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut st = conn
                .prepare("SELECT id FROM runs WHERE status = 'finished' ORDER BY created_at, id")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })
    }

    /// The document of a run, `None` when there is no such run.
    pub fn export_run(&self, id: &str) -> Result<Option<RunDoc>, StoreError> {
        self.read(|conn| {
            let doc = conn
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
            let mut st = conn
                .prepare("SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key")?;
            doc.params = st
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = conn.prepare(
                "SELECT key, step, value, logged_at FROM metrics WHERE run_id = ?1 ORDER BY key, step",
            )?;
            doc.metrics = st
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = conn
                .prepare("SELECT kind, points FROM curves WHERE run_id = ?1 ORDER BY kind")?;
            doc.curves = st
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = conn.prepare(
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
        })
    }

    /// Inserts a pulled run with its results, in one transaction. A run that exists locally is
    /// left as it is (returns false). `artifact_path` maps a reference to its local file.
    pub fn import_run(
        &mut self,
        doc: &RunDoc,
        artifact_path: impl Fn(&ArtifactRef) -> String,
    ) -> Result<bool, StoreError> {
        self.write(|conn| {
            let tx = conn
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
                    created_at, started_at, finished_at, seed, data_path, data_sha256, data_rows, host,
                    source)
                 VALUES (?1, (SELECT id FROM experiments WHERE name = ?2), ?3, ?4, ?5, ?6, ?7, ?8,
                         ?9, ?10, ?11, ?12, ?13, ?14,
                         CASE WHEN ?4 = 'external' THEN 'mlflow' ELSE 'staytrack' END)",
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
            tx.commit()?;
            Ok(true)
        })
    }

    pub fn sync_marked(&self, kind: SyncKind, key: &str) -> Result<bool, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT 1 FROM sync_state WHERE kind = ?1 AND key = ?2",
                [kind.as_str(), key],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
        })
    }

    pub fn sync_mark(&mut self, kind: SyncKind, key: &str) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "INSERT OR IGNORE INTO sync_state (kind, key, at) VALUES (?1, ?2, ?3)",
                params![kind.as_str(), key, now_ms()],
            )
            .map(|_| ())
        })
    }

    /// Alias events not pushed to `remote` yet (moves made here and moves pulled from other
    /// buckets alike), oldest first, as (local id, document with the original actor).
    pub fn unpushed_events(&self, remote: &str) -> Result<Vec<(i64, EventDoc)>, StoreError> {
        self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT e.id, e.alias, v.run_id, e.actor, e.reason, e.at, e.evidence
                 FROM alias_events e JOIN model_versions v ON v.version = e.to_version
                 WHERE NOT EXISTS (SELECT 1 FROM sync_state s
                                   WHERE s.kind = 'pushed_event' AND s.key = ?1 || '#' || e.id)
                 ORDER BY e.at, e.id",
            )?;
            let rows = st.query_map([remote], |r| {
                Ok((
                    r.get(0)?,
                    EventDoc {
                        alias: r.get(1)?,
                        run_id: r.get(2)?,
                        actor: r.get(3)?,
                        reason: r.get(4)?,
                        at: r.get(5)?,
                        // Evidence that is not JSON (a store edited by hand) stays home.
                        evidence: r
                            .get::<_, Option<String>>(6)?
                            .and_then(|t| serde_json::from_str(&t).ok()),
                    },
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Records that event `local_id` is in `remote`, under `key`: never pushed there again, and
    /// never replayed from there.
    pub fn mark_event_synced(
        &mut self,
        remote: &str,
        local_id: i64,
        key: &str,
    ) -> Result<(), StoreError> {
        self.sync_mark(SyncKind::PushedEvent, &format!("{remote}#{local_id}"))?;
        self.sync_mark(SyncKind::AppliedEvent, &format!("{remote}#{key}"))
    }
}
