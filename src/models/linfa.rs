//! staytrack's models as linfa algorithms, and linfa's own logistic regression and decision tree
//! as two reference families (`linfa-lr`, `linfa-tree`) that train and track like any other.
//!
//! - `Params` implements linfa's `Fit` over a `Dataset` of `f64` records and `bool` targets, so
//!   every family (staytrack's engines and linfa's) fits from a linfa dataset; the `Model` it
//!   returns implements `PredictInplace`, so `model.predict(&x)` gives the probability of `true`.
//! - linfa's fitted models are copied into staytrack's own serialisable forms: the logistic
//!   regression as weights and an intercept, the tree as a flat `tree::Tree` whose leaves hold the
//!   share of positive training rows that reach them (linfa's leaves hold only a class).

use std::sync::atomic::AtomicBool;

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use linfa_trees::{DecisionTree, DecisionTreeParams, TreeNode};
use ndarray::{Array1, Array2, ArrayBase, ArrayView2, Data, Ix2};

use super::{normalise, tree, FitContext, FitError, Fitted, Model, Params};
use crate::features::FeatureGroup;

/// Why a linfa-driven fit failed: staytrack's reasons and linfa's.
#[derive(Debug, thiserror::Error)]
pub enum LinfaFitError {
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error("linfa: {0}")]
    Linfa(#[from] linfa::error::Error),
}

/// Fits `Params` on a linfa dataset: every input column its own feature group, seed 0, no
/// cancel.
impl<D: Data<Elem = f64>> Fit<ArrayBase<D, Ix2>, Array1<bool>, LinfaFitError> for Params {
    type Object = Model;

    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, Array1<bool>>,
    ) -> Result<Model, LinfaFitError> {
        let x = dataset.records().view();
        let y: Vec<u8> = dataset.targets().iter().map(|t| u8::from(*t)).collect();
        let groups: Vec<FeatureGroup> = (0..x.ncols())
            .map(|i| FeatureGroup::Numeric { index: i })
            .collect();
        let cancel = AtomicBool::new(false);
        let progress = |_| {};
        let ctx = FitContext {
            seed: 0,
            cancel: &cancel,
            progress: &progress,
        };
        let x = crate::features::Encoded::from_dense(x, &groups);
        Ok(super::fit(self, &x, &y, &ctx)?.model)
    }
}

/// The probability of `true` for each record.
impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for Model {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        let p = self.predict_proba(x.view());
        y.iter_mut().zip(p).for_each(|(a, b)| *a = b);
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

fn dataset(x: ArrayView2<f64>, y: &[u8]) -> DatasetBase<Array2<f64>, Array1<bool>> {
    DatasetBase::new(
        x.to_owned(),
        y.iter().map(|v| *v == 1).collect::<Array1<bool>>(),
    )
}

/// linfa-logistic's settings from the family's params.
fn lr_params(p: &Params) -> LogisticRegression<f64> {
    LogisticRegression::default()
        .alpha(p.get("alpha"))
        .max_iterations(p.usize("max_iterations") as u64)
        .gradient_tolerance(p.get("gradient_tolerance"))
}

/// linfa-trees' settings from the family's params (`max_depth` 0: no limit).
fn tree_params(p: &Params) -> DecisionTreeParams<f64, bool> {
    let depth = p.usize("max_depth");
    DecisionTree::params()
        .max_depth((depth > 0).then_some(depth))
        .min_weight_split(p.get("min_weight_split") as f32)
        .min_weight_leaf(p.get("min_weight_leaf") as f32)
        .min_impurity_decrease(p.get("min_impurity_decrease"))
}

/// linfa-logistic's L2-penalised logistic regression, kept as weights and an intercept.
pub(super) fn fit_lr(
    p: &Params,
    x: ArrayView2<f64>,
    y: &[u8],
    ctx: &FitContext,
) -> Result<Fitted, FitError> {
    ctx.check_cancel()?;
    let fitted = lr_params(p)
        .fit(&dataset(x, y))
        .map_err(|e| FitError::Engine(format!("linfa-logistic: {e}")))?;
    // linfa fits in one call without a cancel flag: a cancel meanwhile ends the fit here.
    ctx.check_cancel()?;
    // linfa's sigmoid gives the probability of its positive class; turn it towards `true`.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let weights: Vec<f64> = fitted.params().iter().map(|w| sign * w).collect();
    let intercept = sign * fitted.intercept();
    let importance = normalise(weights.iter().map(|w| w.abs()).collect());
    Ok(Fitted {
        model: Model::LinfaLr { weights, intercept },
        importance,
        history: Vec::new(),
    })
}

/// The steps of a linfa-tree fit, as its progress reports them: grow the tree, copy it, count
/// its leaves.
const TREE_STEPS: usize = 3;

/// linfa-trees' CART tree (Gini), copied into a flat tree whose leaves hold the share of
/// positive training rows that reach them.
///
/// linfa grows the whole tree in one call that takes no cancel flag, so cancel is checked
/// between the steps around it: a cancel while the tree grows ends the fit as cancelled when
/// linfa returns, instead of the run going on to finish.
pub(super) fn fit_tree(
    p: &Params,
    x: ArrayView2<f64>,
    y: &[u8],
    ctx: &FitContext,
) -> Result<Fitted, FitError> {
    ctx.check_cancel()?;
    ctx.report(0, TREE_STEPS, None);
    let data = dataset(x, y);
    ctx.check_cancel()?;
    let fitted = tree_params(p)
        .fit(&data)
        .map_err(|e| FitError::Engine(format!("linfa-trees: {e}")))?;
    drop(data);
    ctx.check_cancel()?;
    ctx.report(1, TREE_STEPS, None);
    let mut t = tree::Tree {
        feature: Vec::new(),
        threshold: Vec::new(),
        left: Vec::new(),
        right: Vec::new(),
        value: Vec::new(),
        cover: Vec::new(),
    };
    copy(fitted.root_node(), &mut t);
    ctx.check_cancel()?;
    ctx.report(2, TREE_STEPS, None);
    // Each leaf's share of positive training rows (linfa keeps only the majority class).
    let mut pos = vec![0.0; t.feature.len()];
    let mut all = vec![0.0; t.feature.len()];
    for (row, label) in x.rows().into_iter().zip(y) {
        let leaf = t.leaf_of(row);
        all[leaf] += 1.0;
        pos[leaf] += f64::from(*label);
    }
    for i in 0..t.value.len() {
        if t.feature[i] == tree::LEAF {
            t.value[i] = if all[i] > 0.0 { pos[i] / all[i] } else { 0.5 };
        }
    }
    // The training rows through each node, for exact TreeSHAP: children come after their
    // parent, so one pass from the end adds up both subtrees.
    t.cover = all;
    for i in (0..t.cover.len()).rev() {
        if t.feature[i] != tree::LEAF {
            t.cover[i] = t.cover[t.left[i] as usize] + t.cover[t.right[i] as usize];
        }
    }
    let mut importance = vec![0.0; x.ncols()];
    for (i, v) in fitted.feature_importance().into_iter().enumerate() {
        if let Some(slot) = importance.get_mut(i) {
            *slot = v;
        }
    }
    ctx.check_cancel()?;
    ctx.report(TREE_STEPS, TREE_STEPS, None);
    Ok(Fitted {
        model: Model::LinfaTree { tree: t },
        importance: normalise(importance),
        history: Vec::new(),
    })
}

/// Copies `node` and its subtree, parents before children, into `t`; returns its index.
fn copy(node: &TreeNode<f64, bool>, t: &mut tree::Tree) -> u32 {
    let i = t.feature.len();
    t.feature.push(tree::LEAF);
    t.threshold.push(0.0);
    t.left.push(0);
    t.right.push(0);
    t.value.push(0.0);
    let children = node.children();
    if let (false, [Some(l), Some(r)]) = (node.is_leaf(), children.as_slice()) {
        let (feature, split, _) = node.split();
        // linfa goes left when the value is below the split; staytrack's trees when it is at
        // most the threshold: the float just below the split keeps every row on its side.
        t.feature[i] = feature as u32;
        t.threshold[i] = below(split);
        t.left[i] = copy(l, t);
        t.right[i] = copy(r, t);
    }
    i as u32
}

/// The largest float below `x`.
fn below(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return x;
    }
    if x == 0.0 {
        return -f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits - 1 } else { bits + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_the_next_float_down() {
        for x in [1.0, -1.0, 0.5, 1e-300, -3.25, 123456.789] {
            let b = below(x);
            assert!(b < x, "{x}");
            let mid = b + (x - b) / 2.0;
            assert!(mid == b || mid == x, "{x}: a float between");
        }
        assert!(below(0.0) < 0.0);
    }

    /// Two informative columns and a noise one.
    fn data(n: usize) -> (Array2<f64>, Vec<u8>) {
        let mut rng = crate::data::rng::Rng::new(5);
        let x = Array2::from_shape_fn((n, 3), |_| rng.normal());
        let y = x
            .rows()
            .into_iter()
            .map(|r| u8::from(r[0] - 0.7 * r[1] + 0.3 * rng.normal() > 0.0))
            .collect();
        (x, y)
    }

    #[test]
    fn every_family_fits_and_predicts_through_linfa_traits() {
        let (x, y) = data(600);
        let ds = DatasetBase::new(
            x.clone(),
            y.iter().map(|v| *v == 1).collect::<Array1<bool>>(),
        );
        for f in crate::models::Family::ALL {
            let model: Model = Params::defaults(f).fit(&ds).unwrap();
            let p: Array1<f64> = model.predict(&x);
            let auc = crate::metrics::roc_auc(&y, p.as_slice().unwrap()).unwrap();
            assert!(auc > 0.85, "{f}: {auc}");
            assert_eq!(p.to_vec(), model.predict_proba(x.view()), "{f}");
        }
    }

    /// A cancel that comes while linfa grows the tree (here: at the first progress report,
    /// after the check before the fit) ends the fit as cancelled, not as a finished model.
    #[test]
    fn a_cancel_while_the_tree_grows_ends_the_fit_as_cancelled() {
        use std::sync::atomic::Ordering;
        let (x, y) = data(400);
        let cancel = AtomicBool::new(false);
        let progress = |_| cancel.store(true, Ordering::Relaxed);
        let ctx = FitContext {
            seed: 0,
            cancel: &cancel,
            progress: &progress,
        };
        let p = Params::defaults(crate::models::Family::LinfaTree);
        let res = fit_tree(&p, x.view(), &y, &ctx);
        assert!(
            matches!(res, Err(FitError::Cancelled)),
            "{:?}",
            res.map(|_| ())
        );
        // Left alone, the same fit reports every step and finishes.
        let steps = std::sync::Mutex::new(Vec::new());
        let never = AtomicBool::new(false);
        let progress = |p: crate::models::FitProgress| steps.lock().unwrap().push(p.done);
        let ctx = FitContext {
            seed: 0,
            cancel: &never,
            progress: &progress,
        };
        assert!(fit_tree(&p, x.view(), &y, &ctx).is_ok());
        assert_eq!(*steps.lock().unwrap(), vec![0, 1, 2, TREE_STEPS]);
    }

    #[test]
    fn the_linfa_families_agree_with_linfa_s_own_predictions() {
        let (x, y) = data(800);
        let ds = DatasetBase::new(
            x.clone(),
            y.iter().map(|v| *v == 1).collect::<Array1<bool>>(),
        );
        // The logistic regression: the same probabilities as linfa's own.
        let p = Params::defaults(crate::models::Family::LinfaLr);
        let ours = p.fit(&ds).unwrap().predict_proba(x.view());
        let theirs = lr_params(&p).fit(&ds).unwrap();
        let pos = theirs.labels().pos.class;
        let probs = theirs.predict_probabilities(&x);
        for (a, b) in ours.iter().zip(probs.iter()) {
            let b = if pos { *b } else { 1.0 - b };
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // The tree: every row in a leaf whose majority is linfa's predicted class.
        let p = Params::defaults(crate::models::Family::LinfaTree);
        let ours = p.fit(&ds).unwrap().predict_proba(x.view());
        let theirs = tree_params(&p).fit(&ds).unwrap();
        let classes = theirs.predict(&x);
        for (prob, class) in ours.iter().zip(classes.iter()) {
            if *prob != 0.5 {
                assert_eq!(
                    *prob > 0.5,
                    *class,
                    "leaf share {prob} against class {class}"
                );
            }
        }
    }
}
