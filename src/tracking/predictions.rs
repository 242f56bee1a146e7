//! The prediction log: what the server (or a batch score) predicted, for audit and drift.

use rusqlite::{params, TransactionBehavior};
use serde::Serialize;

use super::{Store, StoreError};

/// One logged prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionRow {
    pub at: i64,
    pub model_version: Option<i64>,
    pub case_id: Option<i64>,
    /// The record as received, as JSON.
    pub inputs: String,
    pub probability: f64,
    pub class: i64,
    /// Which route or command produced it (`/predict`, `/invocations`, `score`, ...).
    pub source: String,
}

impl Store {
    /// Appends `rows` in one transaction: all of them or none.
    pub fn log_predictions(&mut self, rows: &[PredictionRow]) -> Result<(), StoreError> {
        let res = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO predictions (at, model_version, case_id, inputs, probability, class, source)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for r in rows {
                    st.execute(params![
                        r.at,
                        r.model_version,
                        r.case_id,
                        r.inputs,
                        r.probability,
                        r.class,
                        r.source
                    ])?;
                }
            }
            tx.commit()
        })();
        res.map_err(|e| self.err(e))
    }

    pub fn count_predictions(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM predictions", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }

    /// The newest `limit` predictions logged at or after `since_ms`, oldest first.
    pub fn recent_predictions(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<PredictionRow>, StoreError> {
        let res = (|| {
            let mut st = self.conn.prepare(
                "SELECT at, model_version, case_id, inputs, probability, class, source FROM
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
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        res.map_err(|e| self.err(e))
    }
}
