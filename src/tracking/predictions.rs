//! The prediction log: what the server (or a batch score) predicted, for audit and drift.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::{Store, StoreError};

/// One logged prediction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PredictionRow {
    pub at: i64,
    pub model_version: Option<i64>,
    pub case_id: Option<String>,
    /// The record as received, as JSON.
    pub inputs: String,
    pub probability: f64,
    pub class: i64,
    /// Which route or command produced it (`/predict`, `/invocations`, `score`, ...).
    pub source: String,
    /// The row's data-quality findings (`data::quality`), as JSON; `None` for a clean row.
    pub quality: Option<String>,
    /// The id the answer carried (a UUIDv7); outcomes may join by it.
    pub prediction_id: Option<String>,
    /// The client's `X-Request-Id`, when it sent one.
    pub request_id: Option<String>,
    /// The server process (or workspace) that answered.
    pub replica: Option<String>,
    /// The model's name in capture keys, the alias it was served under and its run.
    pub model_name: Option<String>,
    pub alias: Option<String>,
    pub run_id: Option<String>,
    /// The probability at or above which `class` is 1.
    pub threshold: Option<f64>,
}

/// Which logged predictions a scan reads: since a time, and optionally one replica or model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub since_ms: i64,
    pub replica: Option<String>,
    pub model: Option<String>,
}

impl LogFilter {
    pub fn since(since_ms: i64) -> LogFilter {
        LogFilter {
            since_ms,
            ..LogFilter::default()
        }
    }

    /// The SQL condition on `predictions` aliased `p`, with its parameters from `?1`.
    fn clause(&self) -> (String, Vec<rusqlite::types::Value>) {
        use rusqlite::types::Value;
        let mut sql = "p.at >= ?1".to_string();
        let mut args = vec![Value::Integer(self.since_ms)];
        if let Some(r) = &self.replica {
            args.push(Value::Text(r.clone()));
            sql.push_str(&format!(" AND p.replica = ?{}", args.len()));
        }
        if let Some(m) = &self.model {
            args.push(Value::Text(m.clone()));
            sql.push_str(&format!(" AND p.model_name = ?{}", args.len()));
        }
        (sql, args)
    }
}

/// A logged prediction as monitoring reads it: with its outcome when one has arrived and this
/// is the latest prediction for the case by this model version.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRow {
    pub at: i64,
    pub model_version: Option<i64>,
    pub inputs: String,
    pub probability: f64,
    pub class: i64,
    pub quality: Option<String>,
    pub outcome: Option<u8>,
}

/// A logged prediction's columns, in the order `PredictionRow::bind` and
/// `PredictionRow::from_row` take them: one list for the writer, the importer and the shipper.
pub(super) const PREDICTION_COLUMNS: &str = "at, model_version, case_id, inputs, probability, \
     class, source, quality, prediction_id, request_id, replica, model_name, alias, run_id, \
     threshold";

/// Appends a row: `PREDICTION_COLUMNS` then its segment (NULL: waiting for one).
pub(super) const INSERT_PREDICTION: &str = "INSERT INTO predictions
       (at, model_version, case_id, inputs, probability, class, source, quality, prediction_id,
        request_id, replica, model_name, alias, run_id, threshold, segment)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

impl PredictionRow {
    /// The values of `INSERT_PREDICTION`, with the segment that holds the row.
    pub(super) fn bind<'a>(&'a self, segment: &'a Option<i64>) -> [&'a dyn rusqlite::ToSql; 16] {
        [
            &self.at,
            &self.model_version,
            &self.case_id,
            &self.inputs,
            &self.probability,
            &self.class,
            &self.source,
            &self.quality,
            &self.prediction_id,
            &self.request_id,
            &self.replica,
            &self.model_name,
            &self.alias,
            &self.run_id,
            &self.threshold,
            segment,
        ]
    }

    /// A row read as `SELECT {PREDICTION_COLUMNS}`.
    pub(super) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PredictionRow> {
        Ok(PredictionRow {
            at: r.get(0)?,
            model_version: r.get(1)?,
            case_id: r.get(2)?,
            inputs: r.get(3)?,
            probability: r.get(4)?,
            class: r.get(5)?,
            source: r.get(6)?,
            quality: r.get(7)?,
            prediction_id: r.get(8)?,
            request_id: r.get(9)?,
            replica: r.get(10)?,
            model_name: r.get(11)?,
            alias: r.get(12)?,
            run_id: r.get(13)?,
            threshold: r.get(14)?,
        })
    }
}

/// Appends predictions inside `Store::log_in_one_transaction`.
pub struct PredictionSink<'a> {
    st: rusqlite::CachedStatement<'a>,
    written: usize,
    path: std::path::PathBuf,
}

impl PredictionSink<'_> {
    /// Appends `rows`; a row whose probability is not a finite number is never stored.
    pub fn push(&mut self, rows: &[PredictionRow]) -> Result<(), StoreError> {
        self.insert(rows).map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn insert(&mut self, rows: &[PredictionRow]) -> rusqlite::Result<()> {
        self.insert_with(rows, |_, _| {})
    }

    /// `insert`, telling `each` every stored row's position in `rows` and its id.
    fn insert_with(
        &mut self,
        rows: &[PredictionRow],
        mut each: impl FnMut(usize, i64),
    ) -> rusqlite::Result<()> {
        for (i, r) in rows.iter().enumerate() {
            if r.probability.is_finite() {
                each(i, self.st.insert(&r.bind(&None)[..])?);
                self.written += 1;
            }
        }
        Ok(())
    }

    /// Rows appended so far.
    pub fn written(&self) -> usize {
        self.written
    }
}

impl Store {
    /// Appends `rows` in one transaction: all of them or none. A row whose probability is not a
    /// finite number is never stored; returns how many rows were written.
    pub fn log_predictions(&mut self, rows: &[PredictionRow]) -> Result<usize, StoreError> {
        let path = self.path.clone();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let written = {
                let mut sink = PredictionSink {
                    st: tx.prepare_cached(INSERT_PREDICTION)?,
                    written: 0,
                    path,
                };
                sink.insert(rows)?;
                sink.written
            };
            tx.commit()?;
            Ok(written)
        })
    }

    /// `log_predictions`, returning each stored row's id beside its position in `rows` (rows
    /// whose probability is not finite are not stored and not listed).
    pub fn log_predictions_ids(
        &mut self,
        rows: &[PredictionRow],
    ) -> Result<Vec<(usize, i64)>, StoreError> {
        let path = self.path.clone();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut ids = Vec::with_capacity(rows.len());
            {
                let mut sink = PredictionSink {
                    st: tx.prepare_cached(INSERT_PREDICTION)?,
                    written: 0,
                    path,
                };
                sink.insert_with(rows, |i, id| ids.push((i, id)))?;
            }
            tx.commit()?;
            Ok(ids)
        })
    }

    /// Runs `body` with a sink that appends predictions, all in one transaction: committed when
    /// `body` succeeds, rolled back when it fails, so a batch that stops half way logs nothing.
    pub fn log_in_one_transaction<T>(
        &mut self,
        body: impl FnOnce(&mut PredictionSink<'_>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let out = {
            let st = tx.prepare_cached(INSERT_PREDICTION).map_err(err)?;
            let mut sink = PredictionSink {
                st,
                written: 0,
                path: path.clone(),
            };
            body(&mut sink)?
        };
        tx.commit().map_err(err)?;
        Ok(out)
    }

    /// Deletes predictions logged before `before_ms`, in short transactions so a server writing
    /// the log is never held up for long; returns how many went. With `shipped_only`, a row
    /// still waiting for its segment to reach the bucket is kept, whatever its age.
    pub fn prune_predictions(
        &mut self,
        before_ms: i64,
        shipped_only: bool,
    ) -> Result<usize, StoreError> {
        // The newest row always stays, so ids only grow and a row past the last sealed id is
        // always one waiting for its segment (`captures::SEALED_THROUGH`). A row of this
        // workspace is shipped when every segment sealed from its id down is.
        let sql = if shipped_only {
            format!(
                "DELETE FROM predictions WHERE id IN
                   (SELECT p.id FROM predictions p
                     WHERE p.at < ?1 AND p.id < (SELECT MAX(id) FROM predictions)
                       AND ((p.segment IS NULL AND p.id <= COALESCE(
                               (SELECT MIN(first_id) - 1 FROM capture_segments
                                 WHERE kind = 'predictions' AND direction = 'out'
                                   AND shipped_at IS NULL),
                               {}))
                            OR p.segment = 0
                            OR EXISTS (SELECT 1 FROM capture_segments s
                                WHERE s.id = p.segment
                                  AND (s.direction = 'in' OR s.shipped_at IS NOT NULL)))
                    ORDER BY p.at LIMIT 10000)",
                super::captures::SEALED_THROUGH
            )
        } else {
            "DELETE FROM predictions WHERE id IN
               (SELECT id FROM predictions
                 WHERE at < ?1 AND id < (SELECT MAX(id) FROM predictions)
                 ORDER BY at LIMIT 10000)"
                .to_string()
        };
        let mut total = 0;
        loop {
            let n = self.write(|c| c.execute(&sql, [before_ms]))?;
            total += n;
            if n < 10_000 {
                return Ok(total);
            }
        }
    }

    pub fn count_predictions(&self) -> Result<usize, StoreError> {
        self.read(|c| {
            c.query_row("SELECT COUNT(*) FROM predictions", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as usize)
        })
    }

    /// The newest `limit` predictions logged at or after `since_ms`, oldest first.
    pub fn recent_predictions(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<PredictionRow>, StoreError> {
        self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT at, model_version, case_id, inputs, probability, class, source, quality FROM
                   (SELECT * FROM predictions WHERE at >= ?1 ORDER BY id DESC LIMIT ?2)
                 ORDER BY at, id",
            )?;
            let rows = st.query_map(params![since_ms, limit as i64], |r| {
                Ok(PredictionRow {
                    at: r.get(0)?,
                    model_version: r.get(1)?,
                    case_id: r.get(2)?,
                    inputs: r.get(3)?,
                    probability: r.get(4)?,
                    class: r.get(5)?,
                    source: r.get(6)?,
                    quality: r.get(7)?,
                    ..Default::default()
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Calls `f` with every prediction logged at or after `since_ms`, oldest first, each with
    /// its outcome if one has arrived and it is the latest prediction of its case by its model
    /// version (an earlier prediction of a case that was scored again is not labelled twice).
    /// Rows stream from the database: memory does not grow with the log.
    pub fn scan_predictions(
        &self,
        filter: &LogFilter,
        f: &mut dyn FnMut(LoggedRow),
    ) -> Result<usize, StoreError> {
        let (cond, args) = filter.clause();
        self.read(|conn| {
            // An outcome that names the prediction wins over one that names only the case.
            let mut st = conn.prepare(&format!(
                "SELECT p.at, p.model_version, p.inputs, p.probability, p.class, p.quality,
                        COALESCE(po.label,
                          CASE WHEN o.label IS NOT NULL AND p.id =
                                 (SELECT MAX(q.id) FROM predictions q
                                   WHERE q.case_id = p.case_id AND q.model_version IS p.model_version)
                               THEN o.label END)
                   FROM predictions p LEFT JOIN outcomes o ON o.case_id = p.case_id
                        LEFT JOIN prediction_outcomes po ON po.prediction_id = p.prediction_id
                  WHERE {cond}
                  ORDER BY p.at, p.id"
            ))?;
            let mut rows = st.query(rusqlite::params_from_iter(args))?;
            let mut n = 0;
            while let Some(r) = rows.next()? {
                let outcome: Option<i64> = r.get(6)?;
                f(LoggedRow {
                    at: r.get(0)?,
                    model_version: r.get(1)?,
                    inputs: r.get(2)?,
                    probability: r.get(3)?,
                    class: r.get(4)?,
                    quality: r.get(5)?,
                    outcome: outcome
                        .and_then(|v| u8::try_from(v).ok())
                        .filter(|v| *v <= 1),
                });
                n += 1;
            }
            Ok(n)
        })
    }

    /// Calls `f` with the time and model version of every prediction logged at or after
    /// `since_ms`, oldest first: what sizing windows needs, without reading any inputs.
    pub fn scan_predictions_light(
        &self,
        filter: &LogFilter,
        f: &mut dyn FnMut(i64, Option<i64>),
    ) -> Result<(), StoreError> {
        let (cond, args) = filter.clause();
        self.read(|conn| {
            let mut st = conn.prepare(&format!(
                "SELECT p.at, p.model_version FROM predictions p WHERE {cond} ORDER BY p.at, p.id"
            ))?;
            let mut rows = st.query(rusqlite::params_from_iter(args))?;
            while let Some(r) = rows.next()? {
                f(r.get(0)?, r.get(1)?);
            }
            Ok(())
        })
    }

    /// Records outcomes `(case id, 0/1 label, the label as given)` from `source` in one
    /// transaction. An outcome the store already holds with the same label changes nothing; a
    /// different label replaces it. Returns (new, unchanged, changed).
    pub fn upsert_outcomes(
        &mut self,
        rows: &[(String, u8, String)],
        source: &str,
    ) -> Result<(usize, usize, usize), StoreError> {
        self.upsert_labels(
            "SELECT label FROM outcomes WHERE case_id = ?1",
            "INSERT INTO outcomes (case_id, label, raw, source, at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(case_id) DO UPDATE SET label = excluded.label, raw = excluded.raw,
                 source = excluded.source, at = excluded.at",
            rows,
            source,
        )
    }

    /// Records labels keyed by `K` with `get` (the label held) and `put` (an upsert) in one
    /// transaction; the same label changes nothing. Returns (new, unchanged, changed).
    pub(super) fn upsert_labels<K: rusqlite::ToSql>(
        &mut self,
        get: &str,
        put: &str,
        rows: &[(K, u8, String)],
        source: &str,
    ) -> Result<(usize, usize, usize), StoreError> {
        let now = crate::util::now_ms();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (mut new, mut same, mut changed) = (0, 0, 0);
            {
                let mut get = tx.prepare_cached(get)?;
                let mut put = tx.prepare_cached(put)?;
                for (id, label, raw) in rows {
                    let had: Option<u8> = get.query_row([id], |r| r.get(0)).optional()?;
                    match had {
                        Some(l) if l == *label => {
                            same += 1;
                            continue;
                        }
                        Some(_) => changed += 1,
                        None => new += 1,
                    }
                    put.execute(params![id, label, raw, source, now])?;
                }
            }
            tx.commit()?;
            Ok((new, same, changed))
        })
    }

    /// How many of `ids` have a logged prediction.
    pub fn predicted_ids(&self, ids: &[&str]) -> Result<usize, StoreError> {
        self.read(|conn| {
            let mut st =
                conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM predictions WHERE case_id = ?1)")?;
            let mut n = 0;
            for id in ids {
                if st.query_row([id], |r| r.get::<_, bool>(0))? {
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// How many outcomes the store holds.
    pub fn count_outcomes(&self) -> Result<usize, StoreError> {
        self.read(|c| c.query_row("SELECT COUNT(*) FROM outcomes", [], |r| r.get::<_, i64>(0)))
            .map(|n| n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: i64, p: f64) -> PredictionRow {
        PredictionRow {
            at,
            model_version: Some(1),
            case_id: Some("1".into()),
            inputs: "{}".into(),
            probability: p,
            class: (p >= 0.5) as i64,
            source: "test".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_row_that_is_not_a_number_never_costs_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let rows = [
            row(1, 0.2),
            row(2, f64::NAN),
            row(3, f64::INFINITY),
            row(4, 0.9),
        ];
        assert_eq!(store.log_predictions(&rows).unwrap(), 2);
        assert_eq!(store.count_predictions().unwrap(), 2);
        let kept = store.recent_predictions(0, 10).unwrap();
        assert!(kept.iter().all(|r| r.probability.is_finite()));
    }

    #[test]
    fn pruning_deletes_only_rows_older_than_the_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let rows: Vec<_> = (0..25_000).map(|i| row(i, 0.5)).collect();
        store.log_predictions(&rows).unwrap();
        assert_eq!(store.prune_predictions(20_000, false).unwrap(), 20_000);
        assert_eq!(store.count_predictions().unwrap(), 5_000);
        assert_eq!(store.prune_predictions(20_000, false).unwrap(), 0);
        // Everything is old: the newest row stays, so ids keep growing.
        assert_eq!(store.prune_predictions(i64::MAX, false).unwrap(), 4_999);
        assert_eq!(store.count_predictions().unwrap(), 1);
    }
}
