//! The outbox's bookkeeping: sealing waiting predictions and outcomes into segments, what was
//! shipped, and importing segments from the bucket exactly once. What a segment's bytes look like
//! and where it goes belong to `capture`; this file only moves rows.
//!
//! Sealing claims rows in one transaction, so two processes on one workspace (a server and a
//! `sync push`) never seal the same row twice. A segment keeps its key from the moment it is
//! sealed, so a retry after a crash rebuilds and sends the same object under the same key.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::predictions::{INSERT_PREDICTION, PREDICTION_COLUMNS};
use super::{PredictionRow, Store, StoreError};

/// What a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    Predictions,
    Outcomes,
}

impl SegmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKind::Predictions => "predictions",
            SegmentKind::Outcomes => "outcomes",
        }
    }
}

/// What a new segment's key is made of: the rows' replica, model and hour (or day), and the
/// replica's next sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct SealParts<'a> {
    pub kind: SegmentKind,
    pub replica: &'a str,
    pub model: &'a str,
    /// The start of the rows' hour (predictions) or day (outcomes), in ms.
    pub period_ms: i64,
    pub seq: i64,
}

/// A sealed segment waiting to be shipped (or shipped).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub id: i64,
    pub kind: SegmentKind,
    /// The key below the sync prefix.
    pub key: String,
    pub replica: String,
    pub seq: i64,
    pub rows: usize,
    pub first_at: Option<i64>,
    pub attempts: i64,
    /// The logged rows it was sealed from: ids in `first_id..=last_id` of its replica, model
    /// and period (`None` for segments sealed before segments kept them).
    pub span: Option<Span>,
}

/// Where a predictions segment's rows lie in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub first_id: i64,
    pub last_id: i64,
    pub model: String,
    pub period_ms: i64,
}

/// A captured outcome: a label for a case id or a prediction id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutcomeRow {
    pub case_id: Option<String>,
    pub prediction_id: Option<String>,
    pub label: u8,
    pub raw: String,
    pub source: String,
    pub at: i64,
    pub replica: String,
}

/// What the outbox holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pending {
    /// Predictions not yet in the bucket (waiting for a segment, or sealed and not shipped).
    pub rows: u64,
    /// The waiting rows' input bytes (`u64::MAX` when not counted).
    pub bytes: u64,
    /// When the oldest of them was logged.
    pub oldest_at: Option<i64>,
    pub outcomes: u64,
    /// Ids past the last sealed one that are not waiting rows (see `capture_pending`).
    pub gap: u64,
}

/// What importing one segment did.
#[derive(Debug, Clone, PartialEq)]
pub enum Imported {
    /// Rows stored, and rows already held with the same content.
    Rows { new: usize, duplicates: usize },
    /// The key was imported before: nothing done.
    AlreadyImported,
    /// A row's id is held with other content: nothing from the segment was stored.
    Conflict { prediction_id: String },
}

/// The period a predictions segment covers: an hour, as its key's `hour=` says.
pub const PERIOD_HOUR: i64 = 3_600_000;
/// The last prediction id sealed into a segment of this workspace: later rows that no segment
/// holds (imported ones carry theirs) are the ones waiting. Ids only grow, since pruning keeps
/// the newest row.
pub(super) const SEALED_THROUGH: &str = "(SELECT COALESCE(MAX(last_id), 0) FROM capture_segments
    WHERE kind = 'predictions' AND direction = 'out')";
const PERIOD_DAY: i64 = 86_400_000;

impl Store {
    /// A stable id for this workspace's own captures (batch scores, feedback from the CLI),
    /// made once: a UUIDv7.
    pub fn workspace_replica(&mut self) -> Result<String, StoreError> {
        let new = crate::util::new_run_id();
        self.write(|c| {
            c.execute(
                "INSERT OR IGNORE INTO workspace_facts (key, value) VALUES ('replica', ?1)",
                [&new],
            )?;
            c.query_row(
                "SELECT value FROM workspace_facts WHERE key = 'replica'",
                [],
                |r| r.get(0),
            )
        })
    }

    /// Claims up to `max_rows` waiting predictions into segments, one per replica, model and
    /// hour, all in one transaction; `key` names each from its parts. Rows with no model name
    /// take `default_model`. Returns the new segments.
    pub fn seal_predictions(
        &mut self,
        max_rows: usize,
        default_model: &str,
        key: &dyn Fn(&SealParts) -> String,
    ) -> Result<Vec<Segment>, StoreError> {
        self.seal(
            SegmentKind::Predictions,
            max_rows,
            &format!(
                "SELECT id, at, COALESCE(replica, ''), COALESCE(model_name, ?2) FROM predictions
                  WHERE id > {SEALED_THROUGH} AND segment IS NULL ORDER BY id LIMIT ?1"
            ),
            // A prediction is not written again: its segment's id range, replica, model and hour
            // find it (`segment_predictions`).
            None,
            default_model,
            key,
        )
    }

    /// `seal_predictions` for outcomes: one segment per replica and day.
    pub fn seal_outcomes(
        &mut self,
        max_rows: usize,
        key: &dyn Fn(&SealParts) -> String,
    ) -> Result<Vec<Segment>, StoreError> {
        self.seal(
            SegmentKind::Outcomes,
            max_rows,
            "SELECT id, at, replica, ?2 FROM outcome_outbox
              WHERE segment IS NULL ORDER BY id LIMIT ?1",
            Some(
                "UPDATE outcome_outbox SET segment = ?1
                  WHERE segment IS NULL AND id BETWEEN ?2 AND ?3 AND replica = ?4 AND ?5 = ?6
                    AND at >= ?7 AND at < ?8",
            ),
            "",
            key,
        )
    }

    fn seal(
        &mut self,
        kind: SegmentKind,
        max_rows: usize,
        select: &str,
        claim: Option<&str>,
        default_model: &str,
        key: &dyn Fn(&SealParts) -> String,
    ) -> Result<Vec<Segment>, StoreError> {
        let period = match kind {
            SegmentKind::Predictions => PERIOD_HOUR,
            SegmentKind::Outcomes => PERIOD_DAY,
        };
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut groups: BTreeMap<(String, String, i64), (Vec<i64>, i64)> = BTreeMap::new();
            {
                let mut st = tx.prepare(select)?;
                let mut rows = st.query(params![max_rows as i64, default_model])?;
                while let Some(r) = rows.next()? {
                    let (id, at): (i64, i64) = (r.get(0)?, r.get(1)?);
                    let (replica, model): (String, String) = (r.get(2)?, r.get(3)?);
                    let g = groups
                        .entry((replica, model, at.div_euclid(period) * period))
                        .or_insert((Vec::new(), at));
                    g.0.push(id);
                    g.1 = g.1.min(at);
                }
            }
            let now = crate::util::now_ms();
            let mut out = Vec::with_capacity(groups.len());
            for ((replica, model, period_ms), (ids, first_at)) in groups {
                let seq = next_seq(&tx, &replica)?;
                let k = key(&SealParts {
                    kind,
                    replica: &replica,
                    model: &model,
                    period_ms,
                    seq,
                });
                tx.execute(
                    "INSERT INTO capture_segments
                       (direction, kind, key, replica, seq, rows, first_at, sealed_at, first_id,
                        last_id, model, period_ms)
                     VALUES ('out', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        kind.as_str(),
                        k,
                        replica,
                        seq,
                        ids.len() as i64,
                        first_at,
                        now,
                        ids[0],
                        ids[ids.len() - 1],
                        model,
                        period_ms
                    ],
                )?;
                let sid = tx.last_insert_rowid();
                // One statement claims the group: every waiting row up to the last one read that
                // shares its replica, model and period is one of the rows read (nothing else
                // writes inside this transaction).
                let (lo, hi) = (ids[0], ids[ids.len() - 1]);
                if let Some(claim) = claim {
                    let claimed = tx.prepare_cached(claim)?.execute(params![
                        sid,
                        lo,
                        hi,
                        replica,
                        default_model,
                        model,
                        period_ms,
                        period_ms + period
                    ])?;
                    if claimed != ids.len() {
                        return Err(rusqlite::Error::StatementChangedRows(claimed));
                    }
                }
                out.push(Segment {
                    id: sid,
                    kind,
                    key: k,
                    replica,
                    seq,
                    rows: ids.len(),
                    first_at: Some(first_at),
                    attempts: 0,
                    span: Some(Span {
                        first_id: lo,
                        last_id: hi,
                        model,
                        period_ms,
                    }),
                });
            }
            tx.commit()?;
            Ok(out)
        })
    }

    /// Sealed segments not yet in the bucket, oldest first.
    pub fn unshipped_segments(&self) -> Result<Vec<Segment>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT id, kind, key, replica, seq, rows, first_at, attempts, first_id, last_id,
                        model, period_ms
                   FROM capture_segments
                  WHERE direction = 'out' AND shipped_at IS NULL ORDER BY id",
            )?;
            let rows = st.query_map([], |r| {
                let kind: String = r.get(1)?;
                Ok(Segment {
                    id: r.get(0)?,
                    kind: if kind == "outcomes" {
                        SegmentKind::Outcomes
                    } else {
                        SegmentKind::Predictions
                    },
                    key: r.get(2)?,
                    replica: r.get(3)?,
                    seq: r.get(4)?,
                    rows: r.get::<_, i64>(5)? as usize,
                    first_at: r.get(6)?,
                    attempts: r.get(7)?,
                    span: match (r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?) {
                        (Some(first_id), Some(last_id), Some(model), Some(period_ms)) => {
                            Some(Span {
                                first_id,
                                last_id,
                                model,
                                period_ms,
                            })
                        }
                        _ => None,
                    },
                })
            })?;
            rows.collect()
        })
    }

    /// The predictions sealed into segment `id`, in the order they were logged.
    /// Rows are found by the segment's id range, replica, model and hour, as sealing grouped
    /// them (rows with no model are `default_model`'s), or, for segments sealed before that, by
    /// the segment written into the row.
    pub fn segment_predictions(
        &self,
        id: i64,
        default_model: &str,
    ) -> Result<Vec<PredictionRow>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {}
                   FROM capture_segments s JOIN predictions p
                     ON p.id BETWEEN s.first_id AND s.last_id
                  WHERE s.id = ?1
                    AND (p.segment = s.id
                         OR (p.segment IS NULL AND s.period_ms IS NOT NULL
                             AND COALESCE(p.replica, '') = s.replica
                             AND COALESCE(p.model_name, ?2) = s.model
                             AND p.at >= s.period_ms AND p.at < s.period_ms + {PERIOD_HOUR}))
                  ORDER BY p.id",
                PREDICTION_COLUMNS
                    .split(',')
                    .map(|c| format!("p.{}", c.trim()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))?;
            let rows = st.query_map(params![id, default_model], PredictionRow::from_row)?;
            rows.collect()
        })
    }

    /// The outcomes sealed into segment `id`.
    pub fn segment_outcomes(&self, id: i64) -> Result<Vec<OutcomeRow>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT case_id, prediction_id, label, raw, source, at, replica FROM outcome_outbox
                  WHERE id BETWEEN (SELECT first_id FROM capture_segments WHERE id = ?1)
                               AND (SELECT last_id FROM capture_segments WHERE id = ?1)
                    AND segment = ?1
                  ORDER BY id",
            )?;
            let rows = st.query_map([id], |r| {
                Ok(OutcomeRow {
                    case_id: r.get(0)?,
                    prediction_id: r.get(1)?,
                    label: r.get(2)?,
                    raw: r.get(3)?,
                    source: r.get(4)?,
                    at: r.get(5)?,
                    replica: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Counts a PUT about to be tried, before it is sent (for the record: how often a segment
    /// had to be sent).
    pub fn segment_attempted(&mut self, id: i64) -> Result<i64, StoreError> {
        self.write(|c| {
            c.execute(
                "UPDATE capture_segments SET attempts = attempts + 1 WHERE id = ?1",
                [id],
            )?;
            c.query_row(
                "SELECT attempts FROM capture_segments WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
        })
    }

    pub fn segment_shipped(&mut self, id: i64, bytes: u64) -> Result<(), StoreError> {
        let now = crate::util::now_ms();
        self.write(|c| {
            c.execute(
                "UPDATE capture_segments SET shipped_at = ?2, bytes = ?3 WHERE id = ?1",
                params![id, now, bytes as i64],
            )
            .map(|_| ())
        })
    }

    /// What is waiting to reach the bucket, for a shipper that asks every second.
    /// Counting the rows no segment holds yet reads each of them (rows are wide: their inputs
    /// are inline), which at a busy server's rate cost more than sealing them; so it is done
    /// only when `gap` is `None`, along with their bytes, and the answer's `gap` is how many
    /// fewer they are than the ids past the last sealed one (ids pruning or an import left
    /// out). Given that `gap`, the rows are estimated from two index lookups instead: exact
    /// while only this log appends, as a serving workspace's does.
    pub fn capture_pending(&self, gap: Option<u64>) -> Result<Pending, StoreError> {
        self.read(|c| {
            let id_span: i64 = c.query_row(
                &format!("SELECT MAX(COALESCE(MAX(id), 0) - {SEALED_THROUGH}, 0) FROM predictions"),
                [],
                |r| r.get(0),
            )?;
            let waiting: i64 = match gap {
                Some(g) => (id_span as u64).saturating_sub(g) as i64,
                None => c.query_row(
                    &format!(
                        "SELECT COUNT(*) FROM predictions WHERE id > {SEALED_THROUGH} AND segment IS NULL"
                    ),
                    [],
                    |r| r.get(0),
                )?,
            };
            let with_bytes = gap.is_none();
            // Rows are logged in time order, so the first waiting one is the oldest.
            let oldest: Option<i64> = c
                .query_row(
                    &format!(
                        "SELECT at FROM predictions WHERE id > {SEALED_THROUGH} AND segment IS NULL
                          ORDER BY id LIMIT 1"
                    ),
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            let bytes: i64 = if with_bytes {
                c.query_row(
                    &format!(
                        "SELECT COALESCE(SUM(LENGTH(inputs)), 0) FROM predictions
                          WHERE id > {SEALED_THROUGH} AND segment IS NULL"
                    ),
                    [],
                    |r| r.get(0),
                )?
            } else {
                0
            };
            let (sealed, sealed_first): (i64, Option<i64>) = c.query_row(
                "SELECT COALESCE(SUM(rows), 0), MIN(first_at) FROM capture_segments
                  WHERE direction = 'out' AND shipped_at IS NULL AND kind = 'predictions'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let waiting_outcomes: i64 = c.query_row(
                "SELECT COUNT(*) FROM outcome_outbox WHERE segment IS NULL",
                [],
                |r| r.get(0),
            )?;
            let sealed_outcomes: i64 = c.query_row(
                "SELECT COALESCE(SUM(rows), 0) FROM capture_segments
                  WHERE direction = 'out' AND shipped_at IS NULL AND kind = 'outcomes'",
                [],
                |r| r.get(0),
            )?;
            Ok(Pending {
                rows: (waiting + sealed) as u64,
                bytes: if with_bytes { bytes as u64 } else { u64::MAX },
                oldest_at: match (oldest, sealed_first) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                outcomes: (waiting_outcomes + sealed_outcomes) as u64,
                gap: (id_span as u64).saturating_sub(waiting as u64),
            })
        })
    }

    /// Deletes outcomes of the outbox that reached the bucket before `before_ms`; returns how
    /// many went. Outcomes still waiting are kept whatever their age.
    pub fn prune_outcome_outbox(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        self.write(|c| {
            c.execute(
                "DELETE FROM outcome_outbox WHERE at < ?1 AND segment IN
                   (SELECT id FROM capture_segments WHERE direction = 'out' AND shipped_at IS NOT NULL)",
                [before_ms],
            )
        })
    }

    /// Puts outcomes in the outbox, in one transaction.
    pub fn queue_outcomes(&mut self, rows: &[OutcomeRow]) -> Result<(), StoreError> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO outcome_outbox (case_id, prediction_id, label, raw, source, at, replica)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for r in rows {
                    st.execute(params![
                        r.case_id,
                        r.prediction_id,
                        r.label,
                        r.raw,
                        r.source,
                        r.at,
                        r.replica
                    ])?;
                }
            }
            tx.commit()
        })
    }

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

    /// Records outcomes that name a prediction id: newer replaces older. Returns (new,
    /// unchanged, changed).
    pub fn upsert_prediction_outcomes(
        &mut self,
        rows: &[(String, u8, String)],
        source: &str,
    ) -> Result<(usize, usize, usize), StoreError> {
        self.upsert_labels(
            "SELECT label FROM prediction_outcomes WHERE prediction_id = ?1",
            "INSERT INTO prediction_outcomes (prediction_id, label, raw, source, at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(prediction_id) DO UPDATE SET label = excluded.label,
                 raw = excluded.raw, source = excluded.source, at = excluded.at",
            rows,
            source,
        )
    }

    /// The registry version of `run_id` in this workspace, if it has one.
    pub fn version_of_run(&self, run_id: &str) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT version FROM model_versions WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

/// The replica's next segment number. An outbox's first number is the time it was made, in
/// thousandths of a millisecond, so a replica name reused on a new disk (a fixed `--replica`
/// on an ephemeral volume) never meets a key it shipped before: an object already at a key is
/// always this segment's own earlier PUT, and retries need never read the bucket.
fn next_seq(tx: &rusqlite::Transaction<'_>, replica: &str) -> rusqlite::Result<i64> {
    tx.query_row(
        "SELECT COALESCE(MAX(seq) + 1, ?2) FROM capture_segments
          WHERE direction = 'out' AND replica = ?1",
        params![replica, crate::util::now_ms().saturating_mul(1000)],
        |r| r.get(0),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: i64, model: Option<&str>) -> PredictionRow {
        PredictionRow {
            at,
            inputs: "{}".into(),
            probability: 0.5,
            source: "test".into(),
            replica: Some("r1".into()),
            model_name: model.map(str::to_string),
            prediction_id: Some(crate::util::new_run_id()),
            ..Default::default()
        }
    }

    fn key(p: &SealParts) -> String {
        format!("{}/{}/{}/{}", p.kind.as_str(), p.model, p.period_ms, p.seq)
    }

    #[test]
    fn sealing_finds_rows_by_range_and_hour_and_shipped_rows_alone_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let hour = PERIOD_HOUR;
        // Two hours interleaved near their boundary, and a row with no model name.
        let rows = [
            row(hour - 2, Some("m")),
            row(hour + 1, Some("m")),
            row(hour - 1, Some("m")),
            row(hour + 2, None),
        ];
        store.log_predictions(&rows).unwrap();
        let segs = store.seal_predictions(1000, "m", &key).unwrap();
        assert_eq!(segs.iter().map(|s| s.rows).collect::<Vec<_>>(), [2, 2]);
        let ats = |id| {
            store
                .segment_predictions(id, "m")
                .unwrap()
                .iter()
                .map(|r| r.at)
                .collect::<Vec<_>>()
        };
        assert_eq!(ats(segs[0].id), [hour - 2, hour - 1]);
        assert_eq!(ats(segs[1].id), [hour + 1, hour + 2]);
        // Nothing waits until a row is logged after the seal.
        assert_eq!(store.capture_pending(None).unwrap().rows, 4);
        assert!(store.seal_predictions(1000, "m", &key).unwrap().is_empty());
        let gap = store.capture_pending(None).unwrap().gap;
        assert_eq!(gap, 0);
        store.log_predictions(&[row(hour + 3, Some("m"))]).unwrap();
        assert_eq!(store.capture_pending(None).unwrap().rows, 5);
        // The estimate from ids agrees with the count while only the log appends.
        assert_eq!(store.capture_pending(Some(gap)).unwrap().rows, 5);
        // Only rows in shipped segments go, and the newest row always stays.
        assert_eq!(store.prune_predictions(i64::MAX, true).unwrap(), 0);
        // A row goes once every segment from its id down is shipped: the first hour's later
        // row waits for the second hour's segment, which began before it.
        store.segment_shipped(segs[0].id, 1).unwrap();
        assert_eq!(store.prune_predictions(i64::MAX, true).unwrap(), 1);
        store.segment_shipped(segs[1].id, 1).unwrap();
        assert_eq!(store.prune_predictions(i64::MAX, true).unwrap(), 3);
        let s = store.seal_predictions(1000, "m", &key).unwrap();
        assert_eq!(s.len(), 1);
        store.segment_shipped(s[0].id, 1).unwrap();
        assert_eq!(store.prune_predictions(i64::MAX, true).unwrap(), 0);
        assert_eq!(store.count_predictions().unwrap(), 1);
        assert_eq!(store.capture_pending(None).unwrap().rows, 0);
        assert_eq!(store.capture_pending(Some(0)).unwrap().rows, 0);
    }
}
