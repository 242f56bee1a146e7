//! The rows the server's log has just written, kept in memory for its shipper, so a segment is
//! encoded from them rather than read back from SQLite (which cost about as much as writing
//! them). SQLite stays the outbox: a segment is used from here only when every one of its rows
//! is, and is otherwise read back as before, so a restart, another process's rows or a full
//! cache cost time, never a row.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::tracking::captures::{Logged, Span};
use crate::tracking::PredictionRow;

/// The most bytes of rows kept (by `PredictionRow`'s rough size); rows past it are not kept
/// and their segment is read back. The shipper seals once half is held (`SEAL_AT`), so at any
/// rate segments are cut before the cache fills.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Held bytes at which the shipper seals without waiting for the interval or the row bound.
pub const SEAL_AT: usize = MAX_BYTES / 2;

/// Rows in the order written (so by id); a taken row leaves an empty slot until the front is let
/// go, so nothing is moved twice.
#[derive(Debug, Default)]
struct Held {
    rows: VecDeque<(i64, Option<PredictionRow>)>,
    bytes: usize,
}

/// Written rows by id, bounded by `MAX_BYTES`.
#[derive(Debug, Default)]
pub struct Recent {
    held: Mutex<Held>,
}

/// What a kept row costs, roughly.
pub fn row_bytes(r: &PredictionRow) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    std::mem::size_of::<PredictionRow>()
        + r.inputs.len()
        + r.source.len()
        + opt(&r.quality)
        + opt(&r.prediction_id)
        + opt(&r.request_id)
        + opt(&r.replica)
        + opt(&r.model_name)
        + opt(&r.alias)
        + opt(&r.run_id)
}

impl Recent {
    /// Keeps rows just written under their ids, while there is room.
    pub fn keep(&self, rows: impl IntoIterator<Item = (i64, PredictionRow)>) {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for (id, r) in rows {
            let b = row_bytes(&r);
            // Ids only grow; one that does not is not the log's next row, so not kept.
            if h.bytes + b > MAX_BYTES || h.rows.back().is_some_and(|(last, _)| *last >= id) {
                break;
            }
            h.bytes += b;
            h.rows.push_back((id, Some(r)));
        }
    }

    /// Takes a segment's rows, in id order, when every one of its `rows` is held; otherwise
    /// takes nothing. The rows are those sealing grouped: ids in the span of `replica`, of the
    /// span's model (rows without one are `default_model`'s), logged within its hour.
    pub fn take(
        &self,
        span: &Span,
        replica: &str,
        rows: usize,
        default_model: &str,
    ) -> Option<Vec<PredictionRow>> {
        if span.first_id > span.last_id {
            return None;
        }
        let hour = span.period_ms..span.period_ms + crate::tracking::captures::PERIOD_HOUR;
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let from = h.rows.partition_point(|(id, _)| *id < span.first_id);
        let to = h.rows.partition_point(|(id, _)| *id <= span.last_id);
        let belongs = |r: &PredictionRow| {
            r.replica.as_deref().unwrap_or("") == replica
                && r.model_name.as_deref().unwrap_or(default_model) == span.model
                && hour.contains(&r.at)
        };
        let found = h
            .rows
            .range(from..to)
            .filter(|(_, r)| r.as_ref().is_some_and(belongs))
            .count();
        if found != rows {
            return None;
        }
        let mut out = Vec::with_capacity(rows);
        let mut bytes = 0;
        for (_, slot) in h.rows.range_mut(from..to) {
            if slot.as_ref().is_some_and(belongs) {
                let r = slot.take().expect("checked above");
                bytes += row_bytes(&r);
                out.push(r);
            }
        }
        h.bytes -= bytes;
        Some(out)
    }

    /// Calls `f` with the rows not yet taken, in id order, at most `max`, as sealing groups
    /// them (rows without a model are `default_model`'s), so sealing need not read them back.
    /// The log's thread waits to keep new rows meanwhile; requests do not.
    pub fn with_untaken<R>(
        &self,
        max: usize,
        default_model: &str,
        f: impl FnOnce(&[Logged]) -> R,
    ) -> R {
        let h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let listed: Vec<Logged> = h
            .rows
            .iter()
            .filter_map(|(id, r)| {
                r.as_ref().map(|r| Logged {
                    id: *id,
                    at: r.at,
                    replica: r.replica.as_deref().unwrap_or(""),
                    model: r.model_name.as_deref().unwrap_or(default_model),
                })
            })
            .take(max)
            .collect();
        f(&listed)
    }

    /// Lets go of every row up to `id`: sealed and shipped, or read back instead.
    pub fn forget_through(&self, id: i64) {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while h.rows.front().is_some_and(|(first, _)| *first <= id) {
            if let Some((_, Some(r))) = h.rows.pop_front() {
                h.bytes -= row_bytes(&r);
            }
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }

    /// Rows held now (not yet taken).
    pub fn len(&self) -> usize {
        let h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        h.rows.iter().filter(|(_, r)| r.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: i64, replica: &str, model: Option<&str>) -> PredictionRow {
        PredictionRow {
            at,
            inputs: "{}".into(),
            probability: 0.5,
            source: "/predict".into(),
            replica: Some(replica.into()),
            model_name: model.map(str::to_string),
            ..Default::default()
        }
    }

    fn span(first_id: i64, last_id: i64, model: &str, period_ms: i64) -> Span {
        Span {
            first_id,
            last_id,
            model: model.into(),
            period_ms,
        }
    }

    #[test]
    fn a_segment_is_taken_only_when_every_row_is_held() {
        let r = Recent::default();
        let hour = crate::tracking::captures::PERIOD_HOUR;
        // Ids 1..=4 in hour 0, id 5 in hour 1, id 6 of another replica, id 7 another model.
        r.keep((1..=4).map(|id| (id, row(id, "a", None))));
        r.keep([
            (5, row(hour + 5, "a", None)),
            (6, row(6, "b", None)),
            (7, row(7, "a", Some("other"))),
        ]);
        // Sealing counted 5 rows where 4 are held: not taken, nothing lost from the cache.
        assert!(r.take(&span(1, 7, "m", 0), "a", 5, "m").is_none());
        assert_eq!(r.len(), 7);
        let got = r.take(&span(1, 7, "m", 0), "a", 4, "m").expect("held");
        assert_eq!(got.iter().map(|r| r.at).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(
            r.take(&span(1, 7, "other", 0), "a", 1, "m").unwrap()[0].at,
            7
        );
        assert_eq!(
            r.take(&span(5, 5, "m", hour), "a", 1, "m").unwrap()[0].at,
            hour + 5
        );
        assert_eq!(r.len(), 1);
        r.forget_through(6);
        assert!(r.is_empty());
        assert_eq!(r.held.lock().unwrap().bytes, 0);
    }

    #[test]
    fn the_cache_stops_at_its_bound() {
        let r = Recent::default();
        let big = PredictionRow {
            inputs: "x".repeat(MAX_BYTES / 3),
            ..row(0, "a", None)
        };
        r.keep((1..=5).map(|id| (id, big.clone())));
        assert_eq!(r.len(), 2);
        assert!(r.held.lock().unwrap().bytes <= MAX_BYTES);
    }
}
