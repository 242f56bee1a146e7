//! Why a model gave a row its probability: exact SHAP values for every family staytrack fits.
//!
//! - Trees, forests and boosting: exact path-dependent TreeSHAP (`treeshap.rs`), the unknown
//!   side of each split weighed by its training cover. Values are in the model's margin: the
//!   probability for the tree and the forest (the mean of its trees), log-odds for boosting.
//! - Logistic regression (staytrack's and linfa's): exact linear SHAP with independent features,
//!   `weight × (x − training mean)` in log-odds, the means kept in the bundle.
//! - linfa's tree: TreeSHAP on the tree it was copied into (leaves hold positive shares).
//!
//! Each row's values plus the expected value add up to its margin (to rounding, far below
//! 1e-9). Values are per encoded feature; `by_column` sums a spec column's slots (a one-hot
//! group, a quantity and its missing indicator), which is how every front end reports them.
//!
//! An `Explainer` is made once per bundle and shared; a `Workspace` is one thread's scratch.

pub mod export;
pub mod file;
pub mod global;
mod rows;
mod treeshap;

use serde::Serialize;

use crate::bundle::Bundle;
use crate::features::{Encoded, FeaturePipeline, Values};
use crate::models::Model;

pub use rows::{explain_frame, top_from_json, Contribution, RowExplanation};
use treeshap::PathElement;
pub use treeshap::MAX_DEPTH;

/// The most columns a row's explanation lists, on every front end: it bounds an answer's size
/// (a served row's explanation is at most this many entries) whatever a caller asks for.
pub const MAX_TOP: usize = 64;
/// Columns a row's explanation lists when not told.
pub const DEFAULT_TOP: usize = 5;
/// Why a requested number of columns cannot be listed: the field's name, what it got and the
/// bounds. Front ends answer it as a 4xx or a usage error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} must be a whole number from 1 to {max} (got {got})")]
pub struct TopError {
    pub field: &'static str,
    pub got: String,
    pub max: usize,
}

/// Checks a requested number of columns `raw` (as the caller wrote it) for the field `field`.
pub fn parse_top(field: &'static str, raw: &str) -> Result<usize, TopError> {
    let err = || TopError {
        field,
        got: crate::util::clip(raw.trim(), 40).into_owned(),
        max: MAX_TOP,
    };
    match raw.trim().parse::<usize>() {
        Ok(k) if (1..=MAX_TOP).contains(&k) => Ok(k),
        _ => Err(err()),
    }
}

/// Why a model cannot be explained: the part that is missing or wrong, and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExplainError {
    #[error(
        "tree {tree} keeps no training cover (the bundle was written before explanations \
         existed); train the run again to explain it"
    )]
    NoCover { tree: usize },
    #[error("tree {tree}, node {node}: the training cover is not a finite, positive weight")]
    Cover { tree: usize, node: usize },
    #[error("tree {tree} is {depth} levels deep; explanations follow at most {max}")]
    TooDeep {
        tree: usize,
        depth: usize,
        max: usize,
    },
    #[error(
        "the bundle keeps no training means of its features (it was written before \
         explanations existed); train the run again to explain it"
    )]
    NoMeans,
    #[error("{got} feature means or weights for {expected} features")]
    Width { got: usize, expected: usize },
}

/// The scale an explanation adds up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Margin {
    /// The probability itself (a tree, a forest).
    Probability,
    /// The log-odds the probability is the sigmoid of (boosting, logistic regression).
    LogOdds,
}

impl Margin {
    pub fn name(self) -> &'static str {
        match self {
            Margin::Probability => "probability",
            Margin::LogOdds => "log_odds",
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Linear {
        weights: Vec<f64>,
        means: Vec<f64>,
        intercept: f64,
    },
    Trees {
        trees: Vec<treeshap::ShapTree>,
        /// Each tree's share of the output (1 / trees for a forest, 1 otherwise).
        scale: f64,
        /// Added to the trees' sum (boosting's base score).
        base: f64,
    },
}

/// A model laid out for explaining, with the spec column of each encoded feature.
#[derive(Debug, Clone)]
pub struct Explainer {
    kind: Kind,
    margin: Margin,
    expected: f64,
    n_features: usize,
    /// The spec column (index into `columns`) each encoded feature came from.
    column_of: Vec<usize>,
    columns: Vec<String>,
    feature_names: Vec<String>,
    path_len: usize,
}

/// One thread's scratch for `Explainer::explain_row`: the path buffer TreeSHAP walks with.
#[derive(Debug, Clone)]
pub struct Workspace {
    path: Vec<PathElement>,
}

impl Explainer {
    /// The explainer of a bundle's model. Bundles written before explanations existed lack the
    /// tree covers or feature means they need, and say so.
    pub fn new(bundle: &Bundle) -> Result<Explainer, ExplainError> {
        Explainer::of_model(
            &bundle.model,
            bundle.feature_means.as_deref(),
            &bundle.pipeline,
        )
    }

    /// The explainer of `model` over `pipeline`'s features; `means` are the training means of
    /// the encoded features (needed by the linear families only).
    pub fn of_model(
        model: &Model,
        means: Option<&[f64]>,
        pipeline: &FeaturePipeline,
    ) -> Result<Explainer, ExplainError> {
        let n_features = pipeline.n_features();
        let mut columns: Vec<String> = Vec::new();
        let mut column_of = Vec::with_capacity(n_features);
        for c in pipeline.feature_columns() {
            if columns.last() != Some(&c) {
                columns.push(c);
            }
            column_of.push(columns.len() - 1);
        }
        let trees = |ts: &[crate::models::tree::Tree]| -> Result<Vec<_>, ExplainError> {
            ts.iter()
                .enumerate()
                .map(|(i, t)| treeshap::ShapTree::new(t, i))
                .collect()
        };
        let (kind, margin) = match model {
            Model::Lr { weights, intercept } | Model::LinfaLr { weights, intercept } => {
                let means = means.ok_or(ExplainError::NoMeans)?;
                for got in [weights.len(), means.len()] {
                    if got != n_features {
                        return Err(ExplainError::Width {
                            got,
                            expected: n_features,
                        });
                    }
                }
                let kind = Kind::Linear {
                    weights: weights.clone(),
                    means: means.to_vec(),
                    intercept: *intercept,
                };
                (kind, Margin::LogOdds)
            }
            Model::Tree { tree } | Model::LinfaTree { tree } => {
                let trees = trees(std::slice::from_ref(tree))?;
                let kind = Kind::Trees {
                    trees,
                    scale: 1.0,
                    base: 0.0,
                };
                (kind, Margin::Probability)
            }
            Model::Forest { trees: ts } => {
                let kind = Kind::Trees {
                    trees: trees(ts)?,
                    scale: 1.0 / ts.len().max(1) as f64,
                    base: 0.0,
                };
                (kind, Margin::Probability)
            }
            Model::Gbdt {
                base_score,
                trees: ts,
            } => {
                let kind = Kind::Trees {
                    trees: trees(ts)?,
                    scale: 1.0,
                    base: *base_score,
                };
                (kind, Margin::LogOdds)
            }
        };
        let (expected, path_len) = match &kind {
            Kind::Linear {
                weights,
                means,
                intercept,
            } => (
                intercept + weights.iter().zip(means).map(|(w, m)| w * m).sum::<f64>(),
                0,
            ),
            Kind::Trees { trees, scale, base } => (
                base + scale * trees.iter().map(|t| t.expected).sum::<f64>(),
                trees.iter().map(|t| t.path_len()).max().unwrap_or(0),
            ),
        };
        Ok(Explainer {
            kind,
            margin,
            expected,
            n_features,
            column_of,
            columns,
            feature_names: pipeline.feature_names(),
            path_len,
        })
    }

    /// The margin of a row nothing is known about: what every row's values start from.
    pub fn expected_value(&self) -> f64 {
        self.expected
    }

    pub fn margin(&self) -> Margin {
        self.margin
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The spec columns values roll up to, in the pipeline's order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The encoded features' names (`Department=surgery`, `Bed Grade (missing)`).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// What explaining one row costs, in steps of TreeSHAP's inner loops: leaves × depth² over
    /// the trees (a weight per feature for the linear families). About 1.5 ns a step on one
    /// core (`bench/explain.sh`): 0.36 M for the default boosting, 90 M for the default forest.
    pub fn work_per_row(&self) -> u64 {
        match &self.kind {
            Kind::Linear { weights, .. } => weights.len() as u64,
            Kind::Trees { trees, .. } => trees.iter().map(|t| t.work()).sum(),
        }
    }

    pub fn workspace(&self) -> Workspace {
        Workspace {
            path: vec![PathElement::default(); self.path_len],
        }
    }

    /// Writes the SHAP value of each encoded feature of the dense row `x` into `phi` (both
    /// `n_features` long) and returns the row's margin: `expected_value() + Σ phi`.
    pub fn explain_row(&self, x: &[f64], ws: &mut Workspace, phi: &mut [f64]) -> f64 {
        phi.iter_mut().for_each(|p| *p = 0.0);
        match &self.kind {
            Kind::Linear {
                weights,
                means,
                intercept,
            } => {
                let mut z = *intercept;
                for (((p, &w), &m), &v) in phi.iter_mut().zip(weights).zip(means).zip(x) {
                    *p = w * (v - m);
                    z += w * v;
                }
                z
            }
            Kind::Trees { trees, scale, base } => {
                if ws.path.len() < self.path_len {
                    ws.path.resize(self.path_len, PathElement::default());
                }
                let mut sum = 0.0;
                for t in trees {
                    t.add_shap(x, phi, &mut ws.path);
                    sum += t.predict(x);
                }
                if *scale != 1.0 {
                    phi.iter_mut().for_each(|p| *p *= scale);
                }
                base + scale * sum
            }
        }
    }

    /// Sums the encoded features' values `phi` into one per spec column (`out`, `columns()`
    /// long): a one-hot group's slots, a quantity and its missing indicator.
    pub fn by_column(&self, phi: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for (&c, &p) in self.column_of.iter().zip(phi) {
            out[c] += p;
        }
    }
}

/// The indices of the `k` largest values by magnitude, largest first; ties keep column order,
/// and zeros are left out (a column that moved nothing explains nothing).
pub fn top_k(values: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).filter(|&i| values[i] != 0.0).collect();
    idx.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Each encoded feature's mean over the rows of `x`: the reference linear SHAP explains a
/// logistic regression against, kept in the bundle at training time.
pub fn feature_means(x: &Encoded) -> Vec<f64> {
    let mut sums = vec![0.0; x.n_features()];
    let n = x.n_rows().max(1) as f64;
    for c in x.columns() {
        match (&c.values, c.group) {
            (Values::Slots(v), crate::features::FeatureGroup::OneHot { offset, width }) => {
                let mut counts = vec![0u64; width];
                for &s in v {
                    if let Some(k) = counts.get_mut(s as usize) {
                        *k += 1;
                    }
                }
                for (k, count) in counts.into_iter().enumerate() {
                    sums[offset + k] = count as f64;
                }
            }
            (Values::Scaled(v), crate::features::FeatureGroup::Numeric { index }) => {
                sums[index] = v.iter().sum();
            }
            _ => {}
        }
    }
    sums.iter_mut().for_each(|s| *s /= n);
    sums
}

/// A row's value of a spec column as JSON: a number, a label, or null when missing.
pub fn cell_value(frame: &crate::data::Frame, column: &str, row: usize) -> serde_json::Value {
    use crate::data::ColumnData;
    match frame.column(column) {
        Some(ColumnData::Numeric(v)) => serde_json::Number::from_f64(v[row])
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Some(ColumnData::Categorical(c)) => c
            .get(row)
            .map_or(serde_json::Value::Null, serde_json::Value::from),
        Some(ColumnData::Id(v)) => serde_json::Value::from(v.get(row)),
        None => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests;
