//! `[monitor]` in `staytrack.toml`: when a window raises an alert, and where alerts go.

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// Alert thresholds. A drop is measured against the model's own ROC AUC on its validation rows;
/// shares are of a window's rows. Windows with fewer than `min_rows` predictions raise no
/// alert (their estimate is flagged as thin instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Estimated ROC AUC more than this below validation.
    pub max_estimated_drop: f64,
    /// Realized ROC AUC more than this below validation.
    pub max_realized_drop: f64,
    /// Absolute floors, off unless set.
    pub min_estimated_roc_auc: Option<f64>,
    pub min_realized_roc_auc: Option<f64>,
    /// Share of drifted columns (the drift engine over the window).
    pub max_drift_share: f64,
    /// Worst column's share of rows with an unseen category, a missing value, an out-of-range
    /// number.
    pub max_unseen_share: f64,
    pub max_missing_share: f64,
    pub max_out_of_range_share: f64,
    /// Fewest predictions for an alert and for an estimate without a warning.
    pub min_rows: usize,
    /// Fewest labelled predictions (both classes present) for a realized-performance alert.
    pub min_labelled: usize,
    /// Most rows of a window the drift engine reads (an even sample beyond it), so a large
    /// window costs bounded memory.
    pub drift_rows: usize,
    /// Where alerts are POSTed as JSON (http or https), if anywhere.
    pub webhook: Option<String>,
    pub webhook_timeout_secs: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_estimated_drop: 0.05,
            max_realized_drop: 0.05,
            min_estimated_roc_auc: None,
            min_realized_roc_auc: None,
            max_drift_share: 0.5,
            max_unseen_share: 0.05,
            max_missing_share: 0.10,
            max_out_of_range_share: 0.05,
            min_rows: 500,
            min_labelled: 200,
            drift_rows: 20_000,
            webhook: None,
            webhook_timeout_secs: 10,
        }
    }
}

impl Thresholds {
    /// The `[monitor]` table of the workspace's settings file; the defaults without one.
    pub fn load(cfg: &Config) -> anyhow::Result<Thresholds> {
        let t: Thresholds = cfg.section("monitor")?;
        t.check()
            .map_err(|e| anyhow::anyhow!("{} [monitor] {e}", cfg.settings_file().display()))?;
        Ok(t)
    }

    /// Every value in its range, so a typo cannot silence every alert.
    pub fn check(&self) -> Result<(), ThresholdError> {
        for (key, value) in [
            ("max_estimated_drop", self.max_estimated_drop),
            ("max_realized_drop", self.max_realized_drop),
            ("max_drift_share", self.max_drift_share),
            ("max_unseen_share", self.max_unseen_share),
            ("max_missing_share", self.max_missing_share),
            ("max_out_of_range_share", self.max_out_of_range_share),
        ]
        .into_iter()
        .chain(
            [
                ("min_estimated_roc_auc", self.min_estimated_roc_auc),
                ("min_realized_roc_auc", self.min_realized_roc_auc),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?))),
        ) {
            if !(0.0..=1.0).contains(&value) {
                return Err(ThresholdError::Share { key, value });
            }
        }
        if self.min_rows == 0 || self.min_labelled == 0 {
            return Err(ThresholdError::NoRows);
        }
        if self.drift_rows < 100 {
            return Err(ThresholdError::DriftRows(self.drift_rows));
        }
        if !(1..=300).contains(&self.webhook_timeout_secs) {
            return Err(ThresholdError::Timeout(self.webhook_timeout_secs));
        }
        if let Some(url) = &self.webhook {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
                return Err(ThresholdError::Webhook(url.clone()));
            }
        }
        Ok(())
    }
}

/// A `[monitor]` value out of its range, named by its key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error("{key}: {value} is not between 0 and 1")]
    Share { key: &'static str, value: f64 },
    #[error("min_rows and min_labelled must be at least 1")]
    NoRows,
    #[error("drift_rows: {0} is too few for a drift test (at least 100)")]
    DriftRows(usize),
    #[error("webhook_timeout_secs: {0} is not between 1 and 300")]
    Timeout(u64),
    #[error("webhook: '{0}' is not an http:// or https:// address")]
    Webhook(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_out_of_range_name_their_key() {
        let mut t = Thresholds {
            max_unseen_share: 1.5,
            ..Thresholds::default()
        };
        assert!(t
            .check()
            .unwrap_err()
            .to_string()
            .starts_with("max_unseen_share"));
        t.max_unseen_share = 0.1;
        t.min_estimated_roc_auc = Some(-0.1);
        assert_eq!(
            t.check(),
            Err(ThresholdError::Share {
                key: "min_estimated_roc_auc",
                value: -0.1
            })
        );
        t.min_estimated_roc_auc = None;
        t.webhook = Some("file:///etc/passwd".into());
        assert!(t.check().unwrap_err().to_string().starts_with("webhook"));
        t.webhook = Some("https://hooks.example.org/x".into());
        assert!(t.check().is_ok());
        let parsed: Result<Thresholds, _> = toml::from_str("max_unseen_shar = 0.1");
        assert!(parsed.unwrap_err().to_string().contains("max_unseen_shar"));
    }
}
