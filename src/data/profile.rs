//! A reference profile of training data: per-column distributions, kept in the Bundle so that
//! drift can be measured at serving time without the training file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::frame::{ColumnData, Frame};

/// Numeric columns with at most this many distinct values keep exact counts; beyond it, a
/// histogram with `HISTOGRAM_BINS` equal-frequency bins.
const EXACT_LIMIT: usize = 20_000;
const HISTOGRAM_BINS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ColumnProfile {
    Numeric {
        name: String,
        rows: u64,
        missing: u64,
        mean: f64,
        std: f64,
        /// The smallest value (absent from older bundles, whose histograms keep upper edges only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Exact (value, count) pairs, ascending, when the values are few enough.
        values: Option<Vec<(f64, u64)>>,
        /// Otherwise bin upper edges (ascending) and the count in each bin.
        edges: Option<Vec<f64>>,
        counts: Option<Vec<u64>>,
    },
    Categorical {
        name: String,
        rows: u64,
        missing: u64,
        counts: BTreeMap<String, u64>,
    },
}

/// The name prediction drift reports the predicted probability under.
pub const PREDICTION_COLUMN: &str = "predicted probability";

impl ColumnProfile {
    /// The profile of one numeric column.
    pub fn numeric(name: &str, values: &[f64]) -> ColumnProfile {
        numeric(name, values)
    }

    pub fn name(&self) -> &str {
        match self {
            ColumnProfile::Numeric { name, .. } | ColumnProfile::Categorical { name, .. } => name,
        }
    }

    /// The training range of a numeric column, `None` for a categorical one. An older profile
    /// kept as a histogram knows only its upper edge, so its lower bound is open.
    pub fn range(&self) -> Option<(f64, f64)> {
        let ColumnProfile::Numeric {
            min, values, edges, ..
        } = self
        else {
            return None;
        };
        let (lo, hi) = match (values, edges) {
            (Some(v), _) => (v.first()?.0, v.last()?.0),
            (None, Some(e)) => (f64::NEG_INFINITY, *e.last()?),
            (None, None) => return None,
        };
        Some((min.unwrap_or(lo), hi))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

impl Profile {
    /// Profiles the model-input columns of `frame`.
    pub fn of(frame: &Frame) -> Profile {
        let features: Vec<&str> = frame.spec.features().map(|c| c.name.as_str()).collect();
        let columns = frame
            .columns()
            .filter(|(n, _)| features.contains(n))
            .filter_map(|(name, col)| match col {
                ColumnData::Numeric(v) => Some(numeric(name, v)),
                ColumnData::Categorical(c) => {
                    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                    let mut missing = 0;
                    for row in 0..c.codes.len() {
                        match c.get(row) {
                            Some(l) => *counts.entry(l.to_string()).or_default() += 1,
                            None => missing += 1,
                        }
                    }
                    Some(ColumnProfile::Categorical {
                        name: name.to_string(),
                        rows: c.codes.len() as u64,
                        missing,
                        counts,
                    })
                }
                ColumnData::Id(_) => None,
            })
            .collect();
        Profile {
            rows: frame.n_rows() as u64,
            columns,
        }
    }
}

fn numeric(name: &str, v: &[f64]) -> ColumnProfile {
    let mut present: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    present.sort_by(f64::total_cmp);
    let n = present.len().max(1) as f64;
    let mean = present.iter().sum::<f64>() / n;
    let std = (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let mut values: Vec<(f64, u64)> = Vec::new();
    for &x in &present {
        match values.last_mut() {
            Some((last, c)) if *last == x => *c += 1,
            _ => values.push((x, 1)),
        }
    }
    let (values, edges, counts) = if values.len() <= EXACT_LIMIT {
        (Some(values), None, None)
    } else {
        let mut edges = Vec::new();
        let mut counts = Vec::new();
        let mut start = 0;
        for k in 1..=HISTOGRAM_BINS {
            let end = (k * present.len() / HISTOGRAM_BINS).max(start);
            if end == start {
                continue;
            }
            // Keep equal values in one bin.
            let edge = present[end - 1];
            let end = present.partition_point(|&x| x <= edge);
            if end > start {
                edges.push(edge);
                counts.push((end - start) as u64);
                start = end;
            }
        }
        (None, Some(edges), Some(counts))
    };
    ColumnProfile::Numeric {
        name: name.to_string(),
        rows: v.len() as u64,
        missing: (v.len() - present.len()) as u64,
        mean,
        std,
        min: present.first().copied(),
        values,
        edges,
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_hold_every_value_once() {
        let v: Vec<f64> = (0..50_000).map(|i| (i as f64).sqrt()).collect();
        match numeric("x", &v) {
            ColumnProfile::Numeric {
                values: None,
                edges: Some(e),
                counts: Some(c),
                ..
            } => {
                assert_eq!(c.iter().sum::<u64>(), 50_000);
                assert!(e.windows(2).all(|w| w[0] < w[1]));
                assert_eq!(*e.last().unwrap(), v[49_999]);
            }
            other => panic!("{other:?}"),
        }
        match numeric("y", &[1.0, 1.0, f64::NAN, 3.0]) {
            ColumnProfile::Numeric {
                values: Some(vals),
                missing,
                ..
            } => {
                assert_eq!(vals, vec![(1.0, 2), (3.0, 1)]);
                assert_eq!(missing, 1);
            }
            other => panic!("{other:?}"),
        }
    }
}
