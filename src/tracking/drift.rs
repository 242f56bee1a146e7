//! Stored drift reports.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{Store, StoreError};

/// One stored report: what was compared, the verdict, and the whole report as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftRow {
    pub id: i64,
    pub created_at: i64,
    pub model_version: Option<i64>,
    pub reference: String,
    pub current: String,
    pub rows: i64,
    pub drifted_share: f64,
    pub dataset_drift: bool,
    pub report: String,
}

impl Store {
    /// Saves a report; returns its id.
    pub fn save_drift_report(&mut self, r: &DriftRow) -> Result<i64, StoreError> {
        self.write(|c| {
            c.execute(
                "INSERT INTO drift_reports (created_at, model_version, reference, current, rows,
                    drifted_share, dataset_drift, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    r.created_at,
                    r.model_version,
                    r.reference,
                    r.current,
                    r.rows,
                    r.drifted_share,
                    r.dataset_drift,
                    r.report
                ],
            )
        })?;
        Ok(self.conn.last_insert_rowid())
    }

    /// A report by id, or the newest when `id` is None.
    pub fn drift_report(&self, id: Option<i64>) -> Result<Option<DriftRow>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT id, created_at, model_version, reference, current, rows, drifted_share,
                        dataset_drift, report FROM drift_reports
                 WHERE ?1 IS NULL OR id = ?1 ORDER BY id DESC LIMIT 1",
                [id],
                |r| {
                    Ok(DriftRow {
                        id: r.get(0)?,
                        created_at: r.get(1)?,
                        model_version: r.get(2)?,
                        reference: r.get(3)?,
                        current: r.get(4)?,
                        rows: r.get(5)?,
                        drifted_share: r.get(6)?,
                        dataset_drift: r.get(7)?,
                        report: r.get(8)?,
                    })
                },
            )
            .optional()
        })
    }
}
