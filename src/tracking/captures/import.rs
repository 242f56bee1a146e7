//! Importing segments from the bucket: each exactly once, by key, in one transaction.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{Imported, OutcomeRow, SegmentKind};
use crate::tracking::predictions::INSERT_PREDICTION;
use crate::tracking::{PredictionRow, Store, StoreError};

impl Store {
    /// The keys of segments already imported from the bucket.
    pub fn imported_segments(&self) -> Result<HashSet<String>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare("SELECT key FROM capture_segments WHERE direction = 'in'")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Stores a validated predictions segment from the bucket, all of it or none, once per key.
    /// A row whose prediction id its replica already has counts as a duplicate when its content
    /// is the same, and refuses the whole segment when it differs. Ids are unique per replica,
    /// so a row planted under another replica's name cannot block a real one.
    pub fn import_predictions(
        &mut self,
        key: &str,
        replica: &str,
        seq: i64,
        bytes: u64,
        rows: &[PredictionRow],
    ) -> Result<Imported, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if imported(&tx, SegmentKind::Predictions, key)? {
                return Ok(Imported::AlreadyImported);
            }
            let sid = record_import(
                &tx,
                SegmentKind::Predictions,
                key,
                replica,
                seq,
                rows.len(),
                bytes,
            )?;
            let (mut new, mut duplicates) = (0, 0);
            {
                let mut ins = tx.prepare_cached(&format!(
                    "{INSERT_PREDICTION}
                     ON CONFLICT(prediction_id, replica) WHERE prediction_id IS NOT NULL
                     DO NOTHING"
                ))?;
                // The inputs are left out: a server's own row keeps them as the request had
                // them (`3095`), a segment's as their column's type (`3095.0`).
                let mut same = tx.prepare_cached(
                    "SELECT at = ?2 AND probability = ?3 AND class = ?4 AND run_id IS ?6
                       FROM predictions WHERE prediction_id = ?1 AND replica IS ?5",
                )?;
                for r in rows {
                    let n = ins.execute(&r.bind(&Some(sid))[..])?;
                    if n == 1 {
                        new += 1;
                        continue;
                    }
                    let equal: bool = same
                        .query_row(
                            params![
                                r.prediction_id,
                                r.at,
                                r.probability,
                                r.class,
                                r.replica,
                                r.run_id
                            ],
                            |x| x.get(0),
                        )
                        .optional()?
                        .unwrap_or(false);
                    if !equal {
                        // Dropping the transaction rolls back every row of the segment.
                        return Ok(Imported::Conflict {
                            prediction_id: r.prediction_id.clone().unwrap_or_default(),
                        });
                    }
                    duplicates += 1;
                }
            }
            tx.commit()?;
            Ok(Imported::Rows { new, duplicates })
        })
    }

    /// Stores a validated outcomes segment from the bucket, once per key. An outcome replaces
    /// one held for the same case or prediction only when it is newer.
    pub fn import_outcomes(
        &mut self,
        key: &str,
        replica: &str,
        seq: i64,
        bytes: u64,
        rows: &[(OutcomeRow, Option<i64>)],
    ) -> Result<Imported, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if imported(&tx, SegmentKind::Outcomes, key)? {
                return Ok(Imported::AlreadyImported);
            }
            record_import(&tx, SegmentKind::Outcomes, key, replica, seq, rows.len(), bytes)?;
            let mut new = 0;
            {
                let mut by_case = tx.prepare_cached(
                    "INSERT INTO outcomes (case_id, label, raw, source, at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(case_id) DO UPDATE SET label = excluded.label, raw = excluded.raw,
                         source = excluded.source, at = excluded.at WHERE excluded.at >= outcomes.at",
                )?;
                let mut by_prediction = tx.prepare_cached(
                    "INSERT INTO prediction_outcomes (prediction_id, label, raw, source, at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(prediction_id) DO UPDATE SET label = excluded.label,
                         raw = excluded.raw, source = excluded.source, at = excluded.at
                       WHERE excluded.at >= prediction_outcomes.at",
                )?;
                for (r, case) in rows {
                    let source = format!("capture:{}", r.source);
                    if let Some(p) = &r.prediction_id {
                        new += by_prediction.execute(params![p, r.label, r.raw, source, r.at])?;
                    } else if let Some(c) = case {
                        new += by_case.execute(params![c, r.label, r.raw, source, r.at])?;
                    }
                }
            }
            tx.commit()?;
            Ok(Imported::Rows {
                new,
                duplicates: rows.len() - new,
            })
        })
    }
}

fn imported(
    tx: &rusqlite::Transaction<'_>,
    kind: SegmentKind,
    key: &str,
) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM capture_segments WHERE direction = 'in' AND kind = ?1 AND key = ?2)",
        params![kind.as_str(), key],
        |r| r.get(0),
    )
}

fn record_import(
    tx: &rusqlite::Transaction<'_>,
    kind: SegmentKind,
    key: &str,
    replica: &str,
    seq: i64,
    rows: usize,
    bytes: u64,
) -> rusqlite::Result<i64> {
    let now = crate::util::now_ms();
    tx.execute(
        "INSERT INTO capture_segments
           (direction, kind, key, replica, seq, rows, bytes, sealed_at, shipped_at)
         VALUES ('in', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            kind.as_str(),
            key,
            replica,
            seq,
            rows as i64,
            bytes as i64,
            now
        ],
    )?;
    Ok(tx.last_insert_rowid())
}
