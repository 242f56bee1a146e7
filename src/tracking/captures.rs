//! The outbox's bookkeeping: sealing waiting predictions and outcomes into segments, what was
//! shipped, and importing segments from the bucket exactly once. What a segment's bytes look like
//! and where it goes belong to `capture`; this file only moves rows.
//!
//! Sealing claims rows in one transaction, so two processes on one workspace (a server and a
//! `sync push`) never seal the same row twice. A segment keeps its key from the moment it is
//! sealed, so a retry after a crash rebuilds and sends the same object under the same key.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::predictions::PREDICTION_COLUMNS;
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

/// A logged prediction as sealing groups it, from rows the server's log still holds in memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logged<'a> {
    pub id: i64,
    pub at: i64,
    pub replica: &'a str,
    pub model: &'a str,
}

/// Where sealing learns which rows wait: the log itself, or rows in memory known to be its next.
enum Waiting<'a> {
    Select(&'a str),
    Listed(&'a [Logged<'a>]),
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
        let select = format!(
            "SELECT id, at, COALESCE(replica, ''), COALESCE(model_name, ?2) FROM predictions
              WHERE id > {SEALED_THROUGH} AND segment IS NULL ORDER BY id LIMIT ?1"
        );
        let sealed = self.seal(
            SegmentKind::Predictions,
            max_rows,
            Waiting::Select(&select),
            // A prediction is not written again: its segment's id range, replica, model and hour
            // find it (`segment_predictions`).
            None,
            default_model,
            key,
        )?;
        Ok(sealed.unwrap_or_default())
    }

    /// `seal_predictions` from rows the caller holds in memory, in id order, so the log's wide
    /// rows are not read back to be grouped. Used only when they are exactly the next rows
    /// waiting: the first waiting id leads and the ids run without a gap (ids are whole
    /// numbers, so no other row lies between). Otherwise `None`, and `seal_predictions` reads
    /// the log as before.
    pub fn seal_predictions_listed(
        &mut self,
        listed: &[Logged],
        max_rows: usize,
        key: &dyn Fn(&SealParts) -> String,
    ) -> Result<Option<Vec<Segment>>, StoreError> {
        self.seal(
            SegmentKind::Predictions,
            max_rows,
            Waiting::Listed(listed),
            None,
            "",
            key,
        )
    }

    /// `seal_predictions` for outcomes: one segment per replica and day.
    pub fn seal_outcomes(
        &mut self,
        max_rows: usize,
        key: &dyn Fn(&SealParts) -> String,
    ) -> Result<Vec<Segment>, StoreError> {
        let sealed = self.seal(
            SegmentKind::Outcomes,
            max_rows,
            Waiting::Select(
                "SELECT id, at, replica, ?2 FROM outcome_outbox
                  WHERE segment IS NULL ORDER BY id LIMIT ?1",
            ),
            Some(
                "UPDATE outcome_outbox SET segment = ?1
                  WHERE segment IS NULL AND id BETWEEN ?2 AND ?3 AND replica = ?4 AND ?5 = ?6
                    AND at >= ?7 AND at < ?8",
            ),
            "",
            key,
        )?;
        Ok(sealed.unwrap_or_default())
    }

    /// Groups the waiting rows by replica, model and period and seals each group; `None` when
    /// `Listed` rows are not the next waiting ones.
    fn seal(
        &mut self,
        kind: SegmentKind,
        max_rows: usize,
        waiting: Waiting,
        claim: Option<&str>,
        default_model: &str,
        key: &dyn Fn(&SealParts) -> String,
    ) -> Result<Option<Vec<Segment>>, StoreError> {
        let period = match kind {
            SegmentKind::Predictions => PERIOD_HOUR,
            SegmentKind::Outcomes => PERIOD_DAY,
        };
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Groups by (replica, model, period), each with its ids and first time: a few at
            // most, so a list searched without allocating beats a map keyed by owned text.
            type Group = ((String, String, i64), (Vec<i64>, i64));
            let mut groups: Vec<Group> = Vec::new();
            let mut add = |id: i64, at: i64, replica: &str, model: &str| {
                let period_ms = at.div_euclid(period) * period;
                let found = groups
                    .iter()
                    .position(|(k, _)| k.2 == period_ms && k.0 == replica && k.1 == model);
                let i = found.unwrap_or_else(|| {
                    let k = (replica.to_string(), model.to_string(), period_ms);
                    groups.push((k, (Vec::new(), at)));
                    groups.len() - 1
                });
                let g = &mut groups[i].1;
                g.0.push(id);
                g.1 = g.1.min(at);
            };
            match waiting {
                Waiting::Select(select) => {
                    let mut st = tx.prepare(select)?;
                    let mut rows = st.query(params![max_rows as i64, default_model])?;
                    while let Some(r) = rows.next()? {
                        let (replica, model): (String, String) = (r.get(2)?, r.get(3)?);
                        add(r.get(0)?, r.get(1)?, &replica, &model);
                    }
                }
                Waiting::Listed(listed) => {
                    let through: i64 =
                        tx.query_row(&format!("SELECT {SEALED_THROUGH}"), [], |r| r.get(0))?;
                    let next: Option<i64> = tx.query_row(
                        "SELECT MIN(id) FROM predictions WHERE id > ?1",
                        [through],
                        |r| r.get(0),
                    )?;
                    let from = listed.partition_point(|l| l.id <= through);
                    let rows = &listed[from..listed.len().min(from + max_rows)];
                    let gapless = rows.windows(2).all(|w| w[1].id == w[0].id + 1);
                    if rows.is_empty() || next != Some(rows[0].id) || !gapless {
                        return Ok(None);
                    }
                    for l in rows {
                        add(l.id, l.at, l.replica, l.model);
                    }
                }
            }
            groups.sort_by(|a, b| a.0.cmp(&b.0));
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
            Ok(Some(out))
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

mod import;

#[cfg(test)]
mod tests;
