//! Decision tree, random forest and gradient boosting on the histogram tree engine.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::tree::{self, Binned, Criterion, GrowParams};
use super::{normalise, sigmoid, FitContext, FitError, Fitted, Model, Params};
use crate::data::rng::Rng;
use crate::features::Encoded;

/// Importance per dense feature: the split gains credited to it, normalised.
fn importance<'a>(
    n_features: usize,
    gains: impl IntoIterator<Item = &'a (usize, f64)>,
) -> Vec<f64> {
    let mut v = vec![0.0; n_features];
    for &(f, g) in gains {
        v[f] += g.max(0.0);
    }
    normalise(v)
}

/// Growth settings shared by the Gini families.
fn gini_params(p: &Params, groups_per_node: Option<usize>) -> GrowParams {
    GrowParams {
        criterion: Criterion::Gini,
        max_depth: p.usize("max_depth"),
        max_leaves: p.usize("max_leaves"),
        min_samples_leaf: p.usize("min_samples_leaf"),
        min_child_weight: 0.0,
        min_gain: 1e-12,
        groups_per_node,
        shrinkage: 1.0,
    }
}

/// What every tree family fits on: its params, the encoded rows, the labels, and the context
/// (seed, progress, cancel).
#[derive(Clone, Copy)]
pub struct TrainingSet<'a, 'c> {
    pub p: &'a Params,
    pub x: &'a Encoded,
    pub y: &'a [u8],
    pub ctx: &'a FitContext<'c>,
}

pub fn fit_tree(t: &TrainingSet<'_, '_>) -> Result<Fitted, FitError> {
    let TrainingSet { p, x, y, ctx } = *t;
    ctx.report(0, 1, None);
    let b = Binned::new(x, p.usize("max_bins"));
    let g: Vec<f64> = y.iter().map(|&t| t as f64).collect();
    let h = vec![1.0; y.len()];
    let mut rows: Vec<u32> = (0..y.len() as u32).collect();
    let gp = gini_params(p, None);
    let grown = tree::grow(&b, &mut rows, &g, &h, &gp, &mut Rng::new(ctx.seed));
    ctx.check_cancel()?;
    ctx.report(1, 1, None);
    Ok(Fitted {
        importance: importance(x.n_features(), &grown.gains),
        model: Model::Tree { tree: grown.tree },
        history: Vec::new(),
    })
}

pub fn fit_forest(t: &TrainingSet<'_, '_>) -> Result<Fitted, FitError> {
    let TrainingSet { p, x, y, ctx } = *t;
    use rayon::prelude::*;
    let n_trees = p.usize("n_trees");
    ctx.report(0, n_trees, None);
    let b = Binned::new(x, p.usize("max_bins"));
    let n = y.len();
    let per_node = match p.usize("max_features") {
        0 => ((x.columns().len() as f64).sqrt().round() as usize).max(1),
        k => k,
    };
    let gp = gini_params(p, Some(per_node));
    let draws = ((n as f64) * p.get("sample_fraction")).round().max(1.0) as usize;
    let done = AtomicUsize::new(0);
    // Each tree has its own seeded stream, so the forest is the same whatever the thread count.
    type TreeAndGains = (tree::Tree, Vec<(usize, f64)>);
    let results: Vec<Result<TreeAndGains, FitError>> = (0..n_trees)
        .into_par_iter()
        .map(|t| {
            ctx.check_cancel()?;
            let mut rng = Rng::derive(ctx.seed, 10_000 + t as u64);
            let mut weight = vec![0u32; n];
            for _ in 0..draws {
                weight[rng.below(n as u64) as usize] += 1;
            }
            let g: Vec<f64> = (0..n).map(|i| weight[i] as f64 * y[i] as f64).collect();
            let h: Vec<f64> = weight.iter().map(|&w| w as f64).collect();
            let mut rows: Vec<u32> = (0..n as u32).filter(|&i| weight[i as usize] > 0).collect();
            let grown = tree::grow(&b, &mut rows, &g, &h, &gp, &mut rng);
            let k = done.fetch_add(1, Ordering::Relaxed) + 1;
            ctx.report(k, n_trees, None);
            Ok((grown.tree, grown.gains))
        })
        .collect();
    let (trees, gains): (Vec<tree::Tree>, Vec<Vec<(usize, f64)>>) = results
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    Ok(Fitted {
        model: Model::Forest { trees },
        importance: importance(x.n_features(), gains.iter().flatten()),
        history: Vec::new(),
    })
}

fn log_loss_of(margins: &[f64], y: &[u8], rows: &[u32]) -> f64 {
    let eps = f64::EPSILON;
    let s: f64 = rows
        .iter()
        .map(|&r| {
            let p = sigmoid(margins[r as usize]).clamp(eps, 1.0 - eps);
            if y[r as usize] == 1 {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    s / rows.len().max(1) as f64
}

/// The boosting loop with its early stopping, kept whole.
pub fn fit_gbdt(t: &TrainingSet<'_, '_>) -> Result<Fitted, FitError> {
    let TrainingSet { p, x, y, ctx } = *t;
    let n_rounds = p.usize("n_rounds");
    ctx.report(0, n_rounds, None);
    let n = y.len();
    let b = Binned::new(x, p.usize("max_bins"));
    let lookup = tree::split_lookup(&b, x.n_features());
    let mut rng = Rng::derive(ctx.seed, 77);

    // Early stopping watches a slice of the training rows, stratified, never the validation split.
    let patience = p.usize("early_stopping_rounds");
    let holdout_fraction = if patience > 0 {
        p.get("holdout_fraction")
    } else {
        0.0
    };
    let split = crate::data::split::stratified_split(y, holdout_fraction, ctx.seed ^ 0xB005);
    let (train_rows, holdout): (Vec<u32>, Vec<u32>) = (
        split.train.iter().map(|&i| i as u32).collect(),
        split.valid.iter().map(|&i| i as u32).collect(),
    );
    let pos = train_rows.iter().filter(|&&r| y[r as usize] == 1).count() as f64;
    let rate = (pos / train_rows.len() as f64).clamp(1e-6, 1.0 - 1e-6);
    let base_score = (rate / (1.0 - rate)).ln();

    let gp = GrowParams {
        criterion: Criterion::Newton {
            lambda: p.get("lambda"),
        },
        max_depth: p.usize("max_depth"),
        max_leaves: p.usize("max_leaves"),
        min_samples_leaf: p.usize("min_samples_leaf"),
        min_child_weight: p.get("min_child_weight"),
        min_gain: 1e-12,
        groups_per_node: None,
        shrinkage: p.get("learning_rate"),
    };
    let subsample = p.get("subsample");
    let mut margins = vec![base_score; n];
    let mut g = vec![0.0; n];
    let mut h = vec![0.0; n];
    let mut trees: Vec<tree::Tree> = Vec::new();
    let mut gains_per_tree: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut history = Vec::new();
    let mut best = (f64::INFINITY, 0usize);
    let mut in_sample = vec![false; n];
    for round in 0..n_rounds {
        ctx.check_cancel()?;
        for &r in &train_rows {
            let r = r as usize;
            let pr = sigmoid(margins[r]);
            g[r] = pr - y[r] as f64;
            h[r] = (pr * (1.0 - pr)).max(1e-16);
        }
        let mut rows: Vec<u32> = if subsample < 1.0 {
            let k = ((train_rows.len() as f64) * subsample).round().max(1.0) as usize;
            let mut idx = rng.sample_indices(train_rows.len(), k);
            idx.iter_mut().for_each(|i| *i = train_rows[*i] as usize);
            idx.into_iter().map(|i| i as u32).collect()
        } else {
            train_rows.clone()
        };
        let grown = tree::grow(&b, &mut rows, &g, &h, &gp, &mut rng);
        if grown.tree.n_leaves() < 2 {
            break; // nothing left to learn
        }
        // Rows in the sample get their leaf value directly; the others walk the tree.
        for &(s, e, v) in &grown.leaves {
            for &r in &rows[s..e] {
                margins[r as usize] += v;
                in_sample[r as usize] = true;
            }
        }
        for &r in train_rows.iter().chain(&holdout) {
            let r = r as usize;
            if !in_sample[r] {
                margins[r] += tree::predict_binned(&grown.tree, &b, &lookup, r);
            }
        }
        for &r in &rows {
            in_sample[r as usize] = false;
        }
        trees.push(grown.tree);
        gains_per_tree.push(grown.gains);
        let (metric, value) = if holdout.is_empty() {
            ("train_log_loss", log_loss_of(&margins, y, &train_rows))
        } else {
            ("holdout_log_loss", log_loss_of(&margins, y, &holdout))
        };
        history.push((metric, round as i64 + 1, value));
        ctx.report(round + 1, n_rounds, Some((metric, value)));
        if value < best.0 - 1e-7 {
            best = (value, trees.len());
        } else if patience > 0 && trees.len() - best.1 >= patience {
            break;
        }
    }
    if patience > 0 && best.1 > 0 {
        trees.truncate(best.1);
        gains_per_tree.truncate(best.1);
    }
    Ok(Fitted {
        importance: importance(x.n_features(), gains_per_tree.iter().flatten()),
        model: Model::Gbdt { base_score, trees },
        history,
    })
}
