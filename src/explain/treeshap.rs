//! Exact path-dependent TreeSHAP for one tree: Lundberg et al. 2018 ("Consistent individualized
//! feature attribution for tree ensembles"), Algorithm 2, in the form of shap's C++
//! `tree_shap_recursive` (same path arithmetic, same order of operations), so the values agree
//! with `shap.TreeExplainer(feature_perturbation="tree_path_dependent")` to the last few bits.
//!
//! Why this form and not a faster one (GPUTreeShap's paths, Fast TreeSHAP v2): it needs no
//! per-tree precomputation that grows with 2^depth, it is the reference the fixtures check
//! against operation for operation, and on staytrack's boosted trees (31 leaves, depth ≤ 12) it
//! costs O(leaves × depth²) per tree and row, well under a millisecond for a whole ensemble.
//!
//! The unknown side of a split is weighed by the training cover of each child (`Tree::cover`).
//! A row goes left when `x <= threshold` and right otherwise, so a missing value (NaN) goes
//! right, as every walk of the tree sends it.

use super::ExplainError;
use crate::models::tree::{Tree, LEAF};

/// The deepest tree explained: the recursion keeps one frame per level and a path buffer that
/// grows with depth², so a hostile bundle's chain of a million nodes is refused, not followed.
pub const MAX_DEPTH: usize = 256;

/// One tree, checked and laid out for TreeSHAP: covers of internal nodes are the sums of their
/// children's (so every split's fractions add up to one), and its expected value is the
/// cover-weighted mean of its leaves.
#[derive(Debug, Clone)]
pub(crate) struct ShapTree {
    feature: Vec<u32>,
    threshold: Vec<f64>,
    left: Vec<u32>,
    right: Vec<u32>,
    value: Vec<f64>,
    cover: Vec<f64>,
    pub(crate) expected: f64,
    pub(crate) depth: usize,
}

impl ShapTree {
    /// `tree` must have passed `Tree::validate` (children after parents, one parent each).
    pub(crate) fn new(tree: &Tree, index: usize) -> Result<ShapTree, ExplainError> {
        let n = tree.feature.len();
        if tree.cover.is_empty() {
            return Err(ExplainError::NoCover { tree: index });
        }
        if tree.cover.len() != n {
            return Err(ExplainError::Cover {
                tree: index,
                node: tree.cover.len().min(n),
            });
        }
        let depth = tree.depth();
        if depth > MAX_DEPTH {
            return Err(ExplainError::TooDeep {
                tree: index,
                depth,
                max: MAX_DEPTH,
            });
        }
        // Children come after their parent: one pass from the end sums both subtrees and
        // averages their values the way shap's `compute_expectations` does.
        let mut cover = tree.cover.clone();
        let mut mean = tree.value.clone();
        for i in (0..n).rev() {
            if tree.feature[i] == LEAF {
                if !(cover[i].is_finite() && cover[i] > 0.0) {
                    return Err(ExplainError::Cover {
                        tree: index,
                        node: i,
                    });
                }
            } else {
                let (l, r) = (tree.left[i] as usize, tree.right[i] as usize);
                cover[i] = cover[l] + cover[r];
                if !cover[i].is_finite() {
                    return Err(ExplainError::Cover {
                        tree: index,
                        node: i,
                    });
                }
                mean[i] = (cover[l] * mean[l] + cover[r] * mean[r]) / cover[i];
            }
        }
        Ok(ShapTree {
            feature: tree.feature.clone(),
            threshold: tree.threshold.clone(),
            left: tree.left.clone(),
            right: tree.right.clone(),
            value: tree.value.clone(),
            expected: mean.first().copied().unwrap_or(0.0),
            cover,
            depth,
        })
    }

    /// The training covers as explained (internal nodes summed from their children): what the
    /// export to shap's format carries.
    pub(crate) fn covers(&self) -> &[f64] {
        &self.cover
    }

    /// Steps of a row's explanation: leaves × depth² (each leaf unwinds its path's features).
    pub(crate) fn work(&self) -> u64 {
        let leaves = self.feature.iter().filter(|&&f| f == LEAF).count() as u64;
        let d = self.depth.max(1) as u64;
        leaves * d * d
    }

    /// Path elements a row's walk needs at most (shap's `(d + 2)(d + 3) / 2`).
    pub(crate) fn path_len(&self) -> usize {
        (self.depth + 2) * (self.depth + 3) / 2
    }

    /// The leaf value `x` reaches: the tree's output for the row.
    pub(crate) fn predict(&self, x: &[f64]) -> f64 {
        let mut i = 0;
        while self.feature[i] != LEAF {
            i = if x[self.feature[i] as usize] <= self.threshold[i] {
                self.left[i]
            } else {
                self.right[i]
            } as usize;
        }
        self.value[i]
    }

    /// Adds the row's SHAP value of each feature to `phi` (one entry per encoded feature).
    /// `path` holds at least `path_len()` elements; its contents on entry do not matter.
    pub(crate) fn add_shap(&self, x: &[f64], phi: &mut [f64], path: &mut [PathElement]) {
        self.recurse(x, phi, path, 0, 0, 0, 1.0, 1.0, ROOT);
    }

    /// shap's `tree_shap_recursive` without the interaction conditioning.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        x: &[f64],
        phi: &mut [f64],
        path: &mut [PathElement],
        parent: usize,
        node: usize,
        mut depth: usize,
        zero: f64,
        one: f64,
        feature: u32,
    ) {
        let start = parent + depth + 1;
        path.copy_within(parent..parent + depth + 1, start);
        let here = &mut path[start..];
        extend(here, depth, zero, one, feature);
        let split = self.feature[node];
        if split == LEAF {
            let v = self.value[node];
            // A feature the row does not follow here (`one` = 0) has the unwound sum
            // Σ pweight / (zero · (depth − j) / (depth + 1)): one sum over the path for all of
            // them, so only the features the row follows pay the O(depth) unwinding.
            let mut cold: Option<f64> = None;
            for i in 1..=depth {
                let el = here[i];
                if el.one == 0.0 {
                    let s = *cold.get_or_insert_with(|| cold_sum(here, depth));
                    // w · (0 − zero) · v with w = s / zero.
                    phi[el.feature as usize] -= s * v;
                } else {
                    let w = hot_sum(here, depth, el.zero);
                    phi[el.feature as usize] += w * (1.0 - el.zero) * v;
                }
            }
            return;
        }
        let (l, r) = (self.left[node] as usize, self.right[node] as usize);
        let (hot, cold) = if x[split as usize] <= self.threshold[node] {
            (l, r)
        } else {
            (r, l)
        };
        let w = self.cover[node];
        let hot_zero = self.cover[hot] / w;
        let cold_zero = self.cover[cold] / w;
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        // A feature split on higher up the path is undone, to be redone here.
        if let Some(k) = (0..=depth).find(|&k| here[k].feature == split) {
            in_zero = here[k].zero;
            in_one = here[k].one;
            unwind(here, depth, k);
            depth -= 1;
        }
        self.recurse(
            x,
            phi,
            path,
            start,
            hot,
            depth + 1,
            hot_zero * in_zero,
            in_one,
            split,
        );
        self.recurse(
            x,
            phi,
            path,
            start,
            cold,
            depth + 1,
            cold_zero * in_zero,
            0.0,
            split,
        );
    }
}

/// The feature of the path's first element, which stands for no feature.
const ROOT: u32 = LEAF;

/// One feature on the path from the root: the share of cover that follows it when the feature
/// is unknown (`zero`), whether the row follows it when known (`one`), and the weight of the
/// subsets of the path's features it takes part in.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathElement {
    feature: u32,
    zero: f64,
    one: f64,
    pweight: f64,
}

fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: u32) {
    path[depth] = PathElement {
        feature,
        zero,
        one,
        pweight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        path[i + 1].pweight += one * path[i].pweight * (i + 1) as f64 / d1;
        path[i].pweight = zero * path[i].pweight * (depth - i) as f64 / d1;
    }
}

fn unwind(path: &mut [PathElement], depth: usize, k: usize) {
    let one = path[k].one;
    let zero = path[k].zero;
    let mut next = path[depth].pweight;
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].pweight;
            path[i].pweight = next * d1 / ((i + 1) as f64 * one);
            next = tmp - path[i].pweight * zero * (depth - i) as f64 / d1;
        } else {
            path[i].pweight = (path[i].pweight * d1) / (zero * (depth - i) as f64);
        }
    }
    for i in k..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

/// `unwound_sum` of an element the row does not follow, times its `zero`: the same for every
/// such element of the path.
fn cold_sum(path: &[PathElement], depth: usize) -> f64 {
    let d1 = (depth + 1) as f64;
    (0..depth)
        .rev()
        .map(|i| path[i].pweight / ((depth - i) as f64 / d1))
        .sum()
}

/// `unwound_sum` of an element the row follows (`one` = 1) with this `zero`. The divisions
/// by constants are kept out of the chain from one step to the next, so the processor overlaps
/// them: the loop every leaf runs per followed feature, and most of TreeSHAP's time.
fn hot_sum(path: &[PathElement], depth: usize, zero: f64) -> f64 {
    let d1 = (depth + 1) as f64;
    let mut next = path[depth].pweight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        let tmp = next * (d1 / (i + 1) as f64);
        total += tmp;
        next = path[i].pweight - tmp * zero * ((depth - i) as f64 / d1);
    }
    total
}

#[cfg(test)]
fn unwound_sum(path: &[PathElement], depth: usize, k: usize) -> f64 {
    let one = path[k].one;
    let zero = path[k].zero;
    let mut next = path[depth].pweight;
    let mut total = 0.0;
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next * d1 / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].pweight - tmp * zero * ((depth - i) as f64 / d1);
        } else {
            total += (path[i].pweight / zero) / ((depth - i) as f64 / d1);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;

    /// The shortcuts for followed and unfollowed features give shap's unwound sum.
    #[test]
    fn the_leaf_sums_are_shap_s_unwound_sums() {
        let mut rng = Rng::new(11);
        for _ in 0..500 {
            let depth = 1 + rng.below(14) as usize;
            let mut path = vec![PathElement::default(); depth + 1];
            extend(&mut path, 0, 1.0, 1.0, ROOT);
            for d in 1..=depth {
                let zero = 0.05 + 0.9 * rng.f64();
                let one = rng.below(2) as f64;
                extend(&mut path, d, zero, one, d as u32);
            }
            for i in 1..=depth {
                let want = unwound_sum(&path, depth, i);
                let el = path[i];
                let got = if el.one == 0.0 {
                    cold_sum(&path, depth) / el.zero
                } else {
                    hot_sum(&path, depth, el.zero)
                };
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                    "{got} {want}"
                );
            }
        }
    }
}
