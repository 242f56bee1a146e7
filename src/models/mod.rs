//! Model families behind one `Model` type: logistic regression (L-BFGS), and a decision tree, a
//! random forest and gradient-boosted trees on staytrack's histogram tree engine.

pub mod binning;
pub mod ensemble;
pub mod leaves;
pub mod linfa;
pub mod logistic;
pub mod params;
pub mod tree;

use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::features::Encoded;
pub use params::{Family, ParamError, Params};

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("cancelled")]
    Cancelled,
    #[error("the training rows hold only class {0}; a classifier needs both")]
    SingleClass(u8),
    #[error("no training rows")]
    NoRows,
    /// A library the family wraps refused the data.
    #[error("{0}")]
    Engine(String),
}

/// Why a model read from a file cannot predict: what a bundle reports instead of a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("the model has no trees")]
    NoTrees,
    #[error("tree {index}: {problem}")]
    Tree {
        index: usize,
        problem: tree::TreeError,
    },
    #[error("{weights} weights for {n_features} features")]
    Weights { weights: usize, n_features: usize },
    #[error("a weight is not a finite number")]
    NotFiniteWeight,
    #[error("the base score is not a finite number")]
    NotFiniteBase,
}

/// A fitted model of any family. Predicts the probability of the positive class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "lowercase")]
pub enum Model {
    Lr {
        weights: Vec<f64>,
        intercept: f64,
    },
    Tree {
        tree: tree::Tree,
    },
    Forest {
        trees: Vec<tree::Tree>,
    },
    Gbdt {
        base_score: f64,
        trees: Vec<tree::Tree>,
    },
    /// linfa-logistic's fit, as weights and an intercept towards the positive class.
    #[serde(rename = "linfa-lr")]
    LinfaLr {
        weights: Vec<f64>,
        intercept: f64,
    },
    /// linfa-trees' fit, leaves holding the share of positive training rows.
    #[serde(rename = "linfa-tree")]
    LinfaTree {
        tree: tree::Tree,
    },
}

/// Progress of a fit: `done` of `total` steps (rounds, trees, or 1 for single-step families),
/// with a metric when the family tracks one (the boosting hold-out log loss).
#[derive(Debug, Clone, Copy)]
pub struct FitProgress {
    pub done: usize,
    pub total: usize,
    pub metric: Option<(&'static str, f64)>,
}

/// What a fit may look at besides the data.
pub struct FitContext<'a> {
    pub seed: u64,
    pub cancel: &'a AtomicBool,
    pub progress: &'a (dyn Fn(FitProgress) + Sync),
}

impl FitContext<'_> {
    pub fn report(&self, done: usize, total: usize, metric: Option<(&'static str, f64)>) {
        (self.progress)(FitProgress {
            done,
            total,
            metric,
        });
    }

    pub fn check_cancel(&self) -> Result<(), FitError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(FitError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A fitted model with its importances and per-step history.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub model: Model,
    /// One value per dense feature, summing to 1 (all zero when nothing was learnt).
    pub importance: Vec<f64>,
    /// (metric, step, value) recorded during the fit.
    pub history: Vec<(&'static str, i64, f64)>,
}

/// A model laid out for scoring: the trees of a forest or a boosted ensemble as leaf masks when
/// every tree is small enough, else as walkers. Built once, when a bundle is first asked to predict
/// (the server does it at load, so no request pays for it), and shared by every call after.
#[derive(Debug, Clone)]
pub struct Layout {
    walkers: Vec<tree::Walker>,
    masks: Option<Masks>,
}

#[derive(Debug, Clone)]
enum Masks {
    M64(leaves::LeafMasks<u64>),
    M32(leaves::LeafMasks<u32>),
}

impl Layout {
    fn new(trees: &[tree::Tree]) -> Layout {
        let walkers: Vec<tree::Walker> = trees.iter().map(tree::Tree::walker).collect();
        let masks = leaves::LeafMasks::new(&walkers).map(|m| {
            if m.fits_32() {
                Masks::M32(m.narrow())
            } else {
                Masks::M64(m)
            }
        });
        Layout { walkers, masks }
    }

    /// Each row's sum of leaf values over the trees, added tree by tree in order (the sum
    /// `trees.iter().map(predict_row).sum()` gives).
    fn sums(&self, x: ArrayView2<f64>) -> Vec<f64> {
        let owned = x.as_standard_layout();
        let width = x.ncols();
        let flat = owned.as_slice().expect("standard layout");
        // Made once, the masks beat the walk from one row on (0.7 against 3.2 µs for a
        // 96-tree ensemble, `cargo bench --bench serve`); trees too large for them walk.
        match &self.masks {
            Some(Masks::M64(m)) => m.sums(flat, width, x.nrows()),
            Some(Masks::M32(m)) => m.sums(flat, width, x.nrows()),
            None => walk_sums(&self.walkers, flat, width, x.nrows()),
        }
    }
}

/// `Layout::sums` by walking, `tree::BLOCK` rows side by side.
fn walk_sums(walkers: &[tree::Walker], flat: &[f64], width: usize, n: usize) -> Vec<f64> {
    use tree::BLOCK;
    let mut sums = vec![0.0; n];
    if width == 0 {
        // No features: every walk ends at the root.
        for s in &mut sums {
            for w in walkers {
                *s += w.root_value();
            }
        }
        return sums;
    }
    let mut start = 0;
    // Rows short of a block walk one by one, not as a block padded with copies of the last.
    if n < BLOCK {
        for (r, s) in sums.iter_mut().enumerate() {
            let row = &flat[r * width..(r + 1) * width];
            for w in walkers {
                *s += w.leaf_value(row);
            }
        }
        start = n;
    }
    while start < n {
        let take = BLOCK.min(n - start);
        // A short last block repeats its last row; only the rows it holds are kept.
        let rows: [&[f64]; BLOCK] = std::array::from_fn(|k| {
            let r = start + k.min(take - 1);
            &flat[r * width..(r + 1) * width]
        });
        let mut block = [0.0; BLOCK];
        for w in walkers {
            w.add_block(&rows, &mut block);
        }
        sums[start..start + take].copy_from_slice(&block[..take]);
        start += take;
    }
    sums
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Model {
    pub fn family(&self) -> Family {
        match self {
            Model::Lr { .. } => Family::Lr,
            Model::Tree { .. } => Family::Tree,
            Model::Forest { .. } => Family::Forest,
            Model::Gbdt { .. } => Family::Gbdt,
            Model::LinfaLr { .. } => Family::LinfaLr,
            Model::LinfaTree { .. } => Family::LinfaTree,
        }
    }

    /// The model laid out for scoring, for the families that have trees to lay out.
    pub fn layout(&self) -> Option<Layout> {
        match self {
            Model::Forest { trees } | Model::Gbdt { trees, .. } => Some(Layout::new(trees)),
            _ => None,
        }
    }

    /// `predict_encoded_with` a layout made for this one call (training and tests; a bundle
    /// keeps its layout).
    pub fn predict_encoded(&self, x: &Encoded) -> Vec<f64> {
        self.predict_encoded_with(x, self.layout().as_ref())
    }

    /// Probability of the positive class for each encoded row, a block of rows made dense at a
    /// time: a block (256 rows, about 270 KB) stays in the cache while the trees walk it, and the
    /// allocator reuses its memory instead of the kernel zeroing fresh pages for a whole matrix.
    /// `layout` is `self.layout()`, made once by the caller. Up to one block stays on the
    /// calling thread: the pool's hop would cost more than the block.
    pub fn predict_encoded_with(&self, x: &Encoded, layout: Option<&Layout>) -> Vec<f64> {
        use rayon::prelude::*;
        const BLOCK: usize = crate::util::POOL_FROM_ROWS;
        let n = x.n_rows();
        if n <= BLOCK {
            return self.predict_chunk(x.dense(0..n).view(), layout);
        }
        (0..n.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let rows = b * BLOCK..((b + 1) * BLOCK).min(n);
                self.predict_chunk(x.dense(rows).view(), layout)
            })
            .collect::<Vec<_>>()
            .concat()
    }

    /// Probability of the positive class for each row of `x`.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Vec<f64> {
        use rayon::prelude::*;
        const CHUNK: usize = 4096;
        let layout = self.layout();
        if x.nrows() <= CHUNK {
            return self.predict_chunk(x, layout.as_ref());
        }
        let chunks: Vec<ArrayView2<f64>> = x.axis_chunks_iter(Axis(0), CHUNK).collect();
        chunks
            .into_par_iter()
            .map(|c| self.predict_chunk(c, layout.as_ref()))
            .collect::<Vec<_>>()
            .concat()
    }

    /// `layout`: the ensemble's trees laid out, for the forest and boosting.
    fn predict_chunk(&self, x: ArrayView2<f64>, layout: Option<&Layout>) -> Vec<f64> {
        // An ensemble is never scored without its trees, whatever a caller passed.
        let own;
        let layout = match layout {
            None => {
                own = self.layout();
                own.as_ref()
            }
            given => given,
        };
        let sums = || layout.map_or_else(|| vec![0.0; x.nrows()], |p| p.sums(x));
        match self {
            Model::Lr { weights, intercept } | Model::LinfaLr { weights, intercept } => x
                .rows()
                .into_iter()
                .map(|r| {
                    let z: f64 = r.iter().zip(weights).map(|(a, w)| a * w).sum::<f64>() + intercept;
                    sigmoid(z)
                })
                .collect(),
            Model::Tree { tree } | Model::LinfaTree { tree } => x
                .rows()
                .into_iter()
                .map(|r| tree.predict_row(r).clamp(0.0, 1.0))
                .collect(),
            Model::Forest { trees } => sums()
                .into_iter()
                .map(|s| (s / trees.len().max(1) as f64).clamp(0.0, 1.0))
                .collect(),
            Model::Gbdt { base_score, .. } => sums()
                .into_iter()
                .map(|s| sigmoid(base_score + s))
                .collect(),
        }
    }

    /// Checks a model read from a file against the number of features its pipeline makes.
    pub fn validate(&self, n_features: usize) -> Result<(), ModelError> {
        let trees = |trees: &[tree::Tree]| -> Result<(), ModelError> {
            if trees.is_empty() {
                return Err(ModelError::NoTrees);
            }
            for (index, t) in trees.iter().enumerate() {
                t.validate(n_features)
                    .map_err(|problem| ModelError::Tree { index, problem })?;
            }
            Ok(())
        };
        match self {
            Model::Lr { weights, intercept } | Model::LinfaLr { weights, intercept } => {
                if weights.len() != n_features {
                    return Err(ModelError::Weights {
                        weights: weights.len(),
                        n_features,
                    });
                }
                if !intercept.is_finite() || weights.iter().any(|w| !w.is_finite()) {
                    return Err(ModelError::NotFiniteWeight);
                }
                Ok(())
            }
            Model::Tree { tree } | Model::LinfaTree { tree } => trees(std::slice::from_ref(tree)),
            Model::Forest { trees: t } => trees(t),
            Model::Gbdt {
                base_score,
                trees: t,
            } => {
                if !base_score.is_finite() {
                    return Err(ModelError::NotFiniteBase);
                }
                trees(t)
            }
        }
    }

    /// A one-line description of the fitted model's size.
    pub fn describe(&self) -> String {
        match self {
            Model::Lr { weights, .. } | Model::LinfaLr { weights, .. } => {
                format!("{} coefficients", weights.len())
            }
            Model::Tree { tree } | Model::LinfaTree { tree } => {
                format!("{} leaves, depth {}", tree.n_leaves(), tree.depth())
            }
            Model::Forest { trees } => format!(
                "{} trees, {} leaves",
                trees.len(),
                trees.iter().map(|t| t.n_leaves()).sum::<usize>()
            ),
            Model::Gbdt { trees, .. } => format!("{} rounds", trees.len()),
        }
    }
}

fn check_classes(y: &[u8]) -> Result<(), FitError> {
    if y.is_empty() {
        return Err(FitError::NoRows);
    }
    let pos = y.iter().filter(|&&t| t == 1).count();
    if pos == 0 {
        return Err(FitError::SingleClass(0));
    }
    if pos == y.len() {
        return Err(FitError::SingleClass(1));
    }
    Ok(())
}

/// Normalises raw importances to sum to 1.
fn normalise(mut v: Vec<f64>) -> Vec<f64> {
    let s: f64 = v.iter().sum();
    if s > 0.0 {
        v.iter_mut().for_each(|x| *x /= s);
    }
    v
}

/// Fits `family` with `params` on the encoded rows `x` and binary labels `y`.
pub fn fit(params: &Params, x: &Encoded, y: &[u8], ctx: &FitContext) -> Result<Fitted, FitError> {
    check_classes(y)?;
    ctx.check_cancel()?;
    let t = ensemble::TrainingSet {
        p: params,
        x,
        y,
        ctx,
    };
    match params.family {
        Family::Lr => fit_logistic(params, x, y, ctx),
        Family::Tree => ensemble::fit_tree(&t),
        Family::Forest => ensemble::fit_forest(&t),
        Family::Gbdt => ensemble::fit_gbdt(&t),
        // linfa reads a dense matrix; these families are references, not the engines.
        Family::LinfaLr => linfa::fit_lr(params, x.dense(0..x.n_rows()).view(), y, ctx),
        Family::LinfaTree => linfa::fit_tree(params, x.dense(0..x.n_rows()).view(), y, ctx),
        Family::External => Err(FitError::Engine(
            "an external run was trained elsewhere; staytrack cannot fit it".into(),
        )),
    }
}

fn fit_logistic(
    params: &Params,
    x: &Encoded,
    y: &[u8],
    ctx: &FitContext,
) -> Result<Fitted, FitError> {
    let (weights, intercept, iterations) = logistic::fit(
        x,
        y,
        params.get("c"),
        params.usize("max_iter"),
        params.get("tol"),
        ctx,
    )?;
    // Features are standardised, so |w| compares their influence.
    let importance = normalise(weights.iter().map(|w| w.abs()).collect());
    Ok(Fitted {
        model: Model::Lr { weights, intercept },
        importance,
        history: vec![("iterations", 0, iterations as f64)],
    })
}
