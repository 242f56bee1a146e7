//! The `Metric` type: each metric a run records, its stored name, its label, how it is written
//! and which way is better.

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
    /// A setting rather than a score (the F1-best threshold): never ranked.
    Unranked,
}

/// A metric a run records: its stored name, its label, how it is written and which way is
/// better. Every table, sort, comparison and promotion asks this type, so they cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    RocAuc,
    PrAuc,
    LogLoss,
    Brier,
    F1,
    Accuracy,
    Precision,
    Recall,
    BestF1,
    BestThreshold,
    FitSeconds,
    PredictSeconds,
}

impl Metric {
    /// In the order tables show them.
    pub const ALL: [Metric; 12] = [
        Metric::RocAuc,
        Metric::PrAuc,
        Metric::LogLoss,
        Metric::Brier,
        Metric::F1,
        Metric::Accuracy,
        Metric::Precision,
        Metric::Recall,
        Metric::BestF1,
        Metric::BestThreshold,
        Metric::FitSeconds,
        Metric::PredictSeconds,
    ];

    /// The scores between 0 and 1, higher better: what bar charts show.
    pub const SCORES: [Metric; 6] = [
        Metric::RocAuc,
        Metric::PrAuc,
        Metric::F1,
        Metric::Accuracy,
        Metric::Precision,
        Metric::Recall,
    ];

    /// What a promotion shows against the model it replaces.
    pub const HEADLINE: [Metric; 4] = [Metric::RocAuc, Metric::PrAuc, Metric::F1, Metric::LogLoss];

    /// The name the store keeps it under.
    pub fn key(self) -> &'static str {
        match self {
            Metric::RocAuc => "roc_auc",
            Metric::PrAuc => "pr_auc",
            Metric::LogLoss => "log_loss",
            Metric::Brier => "brier",
            Metric::F1 => "f1",
            Metric::Accuracy => "accuracy",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::BestF1 => "best_f1",
            Metric::BestThreshold => "best_threshold",
            Metric::FitSeconds => "fit_seconds",
            Metric::PredictSeconds => "predict_seconds",
        }
    }

    /// How people call it.
    pub fn label(self) -> &'static str {
        match self {
            Metric::RocAuc => "ROC AUC",
            Metric::PrAuc => "PR AUC",
            Metric::LogLoss => "log loss",
            Metric::Brier => "Brier",
            Metric::F1 => "F1",
            Metric::Accuracy => "accuracy",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::BestF1 => "best F1",
            Metric::BestThreshold => "F1-best threshold",
            Metric::FitSeconds => "fit seconds",
            Metric::PredictSeconds => "predict seconds",
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            Metric::LogLoss | Metric::Brier | Metric::FitSeconds | Metric::PredictSeconds => {
                Direction::LowerIsBetter
            }
            Metric::BestThreshold => Direction::Unranked,
            _ => Direction::HigherIsBetter,
        }
    }

    /// A value as tables write it.
    pub fn format(self, v: f64) -> String {
        format!("{v:.4}")
    }

    pub fn parse(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// The metric named `key`, or an error listing the names there are.
    pub fn parse_or_list(key: &str, flag: &str) -> Result<Metric, UnknownMetric> {
        Metric::parse(key).ok_or_else(|| UnknownMetric {
            flag: flag.to_string(),
            key: key.to_string(),
        })
    }

    /// Orders two values best first (for an unranked metric, as they come).
    pub fn best_first(self, a: f64, b: f64) -> std::cmp::Ordering {
        match self.direction() {
            Direction::HigherIsBetter => b.total_cmp(&a),
            Direction::LowerIsBetter => a.total_cmp(&b),
            Direction::Unranked => std::cmp::Ordering::Equal,
        }
    }

    /// The best of some values; None when there are none or the metric is unranked.
    pub fn best(self, values: impl IntoIterator<Item = f64>) -> Option<f64> {
        if self.direction() == Direction::Unranked {
            return None;
        }
        values
            .into_iter()
            .filter(|v| !v.is_nan())
            .min_by(|a, b| self.best_first(*a, *b))
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// A metric name that is none of `Metric::ALL`, with the option it was given to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{flag} '{key}': use {}", Metric::ALL.map(Metric::key).join(", "))]
pub struct UnknownMetric {
    pub flag: String,
    pub key: String,
}
