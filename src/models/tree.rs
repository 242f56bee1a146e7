//! The histogram tree engine behind the decision tree, random forest and gradient boosting.
//!
//! Features are binned once (quantile edges for quantities; one bin per slot for a one-hot
//! column, whose slots are mutually exclusive), so finding a split is a scan over bin sums instead
//! of a sort. Trees grow best-first. Both criteria fit one scheme, every row carrying a pair
//! (g, h): Gini impurity with g = weight × label and h = weight, and second-order boosting with
//! the gradient and hessian of the log loss. A fitted tree splits on the pipeline's dense columns
//! (`x[feature] <= threshold` goes left), so prediction needs no binning.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use crate::data::rng::Rng;
use crate::features::FeatureGroup;

#[cfg(test)]
use super::binning::quantile_edges;
pub use super::binning::{predict_binned, split_lookup, Binned, BinnedGroup};

pub(crate) const LEAF: u32 = u32::MAX;

/// What makes a tree read from a file unsafe to walk, by node: a bundle names it instead of
/// looping or indexing out of bounds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TreeError {
    #[error("a tree has no nodes")]
    NoNodes,
    #[error("a tree's node arrays differ in length")]
    Ragged,
    #[error("node {node}: the leaf value is not a finite number")]
    LeafValue { node: usize },
    #[error("node {node}: splits on feature {feature} of {n_features}")]
    Feature {
        node: usize,
        feature: u32,
        n_features: usize,
    },
    #[error("node {node}: the threshold is not a number")]
    Threshold { node: usize },
    #[error("node {node}: child {child} is not a later node of {nodes}")]
    Child {
        node: usize,
        child: usize,
        nodes: usize,
    },
    #[error("node {node} has more than one parent")]
    Parents { node: usize },
}

/// Rows an ensemble walks through each tree side by side (`Walker::add_block`).
pub const BLOCK: usize = 8;

/// One node of a `Walker`: 16 bytes. A split's children sit side by side, the right one at
/// `left + 1`; a leaf's threshold is NaN (no number is at most NaN, so every row "goes right")
/// and its `left` is its own index minus one, so a row at a leaf stays there.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Step {
    threshold: f64,
    feature: u32,
    left: u32,
}

/// A tree laid out for prediction (`Tree::walker`).
#[derive(Debug, Clone, PartialEq)]
pub struct Walker {
    nodes: Vec<Step>,
    value: Vec<f64>,
    depth: u32,
}

impl Walker {
    pub(super) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Node `i`'s threshold, feature and left child (the right one follows it), if it splits.
    pub(super) fn split(&self, i: usize) -> Option<(f64, u32, u32)> {
        let n = self.nodes[i];
        // A leaf's `left` is its own index minus one; a split's children come after it.
        (n.left != (i as u32).wrapping_sub(1)).then_some((n.threshold, n.feature, n.left))
    }

    pub(super) fn value(&self, i: usize) -> f64 {
        self.value[i]
    }

    /// The root's value: what every row gets when the tree has no split.
    pub fn root_value(&self) -> f64 {
        self.value.first().copied().unwrap_or(0.0)
    }

    /// The leaf value `row` reaches: the comparisons of `add_block`, for one row.
    #[inline]
    pub fn leaf_value(&self, row: &[f64]) -> f64 {
        let mut at = 0u32;
        for _ in 0..self.depth {
            let n = self.nodes[at as usize];
            let go_left = row[n.feature as usize] <= n.threshold;
            at = n.left.wrapping_add(u32::from(!go_left));
        }
        self.value[at as usize]
    }

    /// Adds the leaf value each of `rows` reaches to its entry of `sums`. The rows walk side by
    /// side for exactly `depth` steps (a row at a leaf stays there), each step a choice the
    /// processor makes without guessing; each row makes `Tree::predict_row`'s comparisons, so
    /// it reaches the same leaf. A missing value (NaN) goes right at a split, as there.
    #[inline]
    pub fn add_block(&self, rows: &[&[f64]; BLOCK], sums: &mut [f64; BLOCK]) {
        let mut at = [0u32; BLOCK];
        for _ in 0..self.depth {
            for k in 0..BLOCK {
                let n = self.nodes[at[k] as usize];
                let go_left = rows[k][n.feature as usize] <= n.threshold;
                at[k] = n.left.wrapping_add(u32::from(!go_left));
            }
        }
        for k in 0..BLOCK {
            sums[k] += self.value[at[k] as usize];
        }
    }
}

/// A fitted tree as parallel arrays (compact when serialised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Tree {
    /// Dense feature index of each split; `u32::MAX` marks a leaf.
    pub feature: Vec<u32>,
    pub threshold: Vec<f64>,
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    /// Leaf value (a probability for Gini trees, a log-odds step for boosting).
    pub value: Vec<f64>,
    /// The training weight that reached each node (the rows' bootstrap weights for Gini trees,
    /// the rows for boosting): what exact TreeSHAP weighs the unknown side of a split by
    /// (`explain`). Empty in bundles written before it was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cover: Vec<f64>,
}

impl Tree {
    /// The index of the leaf `x` falls in.
    pub fn leaf_of(&self, x: ArrayView1<f64>) -> usize {
        let mut i = 0usize;
        while self.feature[i] != LEAF {
            i = if x[self.feature[i] as usize] <= self.threshold[i] {
                self.left[i]
            } else {
                self.right[i]
            } as usize;
        }
        i
    }

    pub fn predict_row(&self, x: ArrayView1<f64>) -> f64 {
        let mut i = 0usize;
        loop {
            let f = self.feature[i];
            if f == LEAF {
                return self.value[i];
            }
            i = if x[f as usize] <= self.threshold[i] {
                self.left[i]
            } else {
                self.right[i]
            } as usize;
        }
    }

    /// The tree laid out for walking many rows without a branch the processor must guess: one
    /// 16-byte node per entry (see `Step`), and the depth of the deepest leaf, so every row
    /// takes exactly `depth` steps.
    pub fn walker(&self) -> Walker {
        // Breadth first from the root, so each split's children get adjacent places. A child
        // out of range or reached twice (a tree never validated) ends its branch as a leaf.
        let n = self.feature.len();
        let mut order: Vec<usize> = if n == 0 { Vec::new() } else { vec![0] };
        let mut place = vec![u32::MAX; n];
        let mut depth = vec![0u32; n.min(1)];
        if n > 0 {
            place[0] = 0;
        }
        let mut nodes = Vec::with_capacity(n);
        let mut value = Vec::with_capacity(n);
        let mut deepest = 0;
        let mut i = 0;
        while i < order.len() {
            let old = order[i];
            let children = [self.left[old] as usize, self.right[old] as usize];
            let split = self.feature[old] != LEAF
                && children
                    .iter()
                    .all(|&c| c < n && place[c] == u32::MAX && c != old)
                && children[0] != children[1];
            if split {
                let first = order.len() as u32;
                for (k, &c) in children.iter().enumerate() {
                    place[c] = first + k as u32;
                    order.push(c);
                    depth.push(depth[i] + 1);
                }
                deepest = deepest.max(depth[i] + 1);
                nodes.push(Step {
                    threshold: self.threshold[old],
                    feature: self.feature[old],
                    left: first,
                });
            } else {
                nodes.push(Step {
                    threshold: f64::NAN,
                    feature: 0,
                    left: (i as u32).wrapping_sub(1),
                });
            }
            value.push(self.value[old]);
            i += 1;
        }
        Walker {
            nodes,
            value,
            depth: deepest,
        }
    }

    /// Checks a tree read from a file before it predicts: parallel arrays of one length, every
    /// split's children after it and each node with one parent (so a walk from the root ends
    /// within `len` steps), split features inside `n_features`, finite leaf values.
    pub fn validate(&self, n_features: usize) -> Result<(), TreeError> {
        let n = self.feature.len();
        if n == 0 {
            return Err(TreeError::NoNodes);
        }
        if [
            self.threshold.len(),
            self.left.len(),
            self.right.len(),
            self.value.len(),
        ]
        .iter()
        .any(|&l| l != n)
        {
            return Err(TreeError::Ragged);
        }
        let mut parents = vec![0u8; n];
        for node in 0..n {
            if self.feature[node] == LEAF {
                if !self.value[node].is_finite() {
                    return Err(TreeError::LeafValue { node });
                }
                continue;
            }
            if self.feature[node] as usize >= n_features {
                return Err(TreeError::Feature {
                    node,
                    feature: self.feature[node],
                    n_features,
                });
            }
            if self.threshold[node].is_nan() {
                return Err(TreeError::Threshold { node });
            }
            for child in [self.left[node] as usize, self.right[node] as usize] {
                if child <= node || child >= n {
                    return Err(TreeError::Child {
                        node,
                        child,
                        nodes: n,
                    });
                }
                parents[child] += 1;
                if parents[child] > 1 {
                    return Err(TreeError::Parents { node: child });
                }
            }
        }
        Ok(())
    }

    pub fn n_leaves(&self) -> usize {
        self.feature.iter().filter(|&&f| f == LEAF).count()
    }

    pub fn depth(&self) -> usize {
        // Children come after their parent, so one pass from the end knows both subtrees.
        let n = self.feature.len();
        let mut depth = vec![0usize; n];
        for i in (0..n).rev() {
            if self.feature[i] != LEAF {
                let (l, r) = (self.left[i] as usize, self.right[i] as usize);
                let dl = depth.get(l).copied().unwrap_or(0);
                let dr = depth.get(r).copied().unwrap_or(0);
                depth[i] = 1 + dl.max(dr);
            }
        }
        depth.first().copied().unwrap_or(0)
    }
}

/// How splits are scored and leaves valued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    /// Gini impurity; leaf value = weighted positive share.
    Gini,
    /// Second-order boosting step with L2 penalty `lambda`; leaf value = −G / (H + λ).
    Newton { lambda: f64 },
}

#[derive(Debug, Clone)]
pub struct GrowParams {
    pub criterion: Criterion,
    pub max_depth: usize,
    pub max_leaves: usize,
    pub min_samples_leaf: usize,
    /// Minimum hessian sum in a leaf (boosting) or weight (Gini).
    pub min_child_weight: f64,
    pub min_gain: f64,
    /// Feature groups tried at each node (random forest); `None` tries all.
    pub groups_per_node: Option<usize>,
    /// Multiplies leaf values (the boosting learning rate).
    pub shrinkage: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    g: f64,
    h: f64,
    n: u32,
}

#[derive(Debug, Clone, Copy)]
struct Split {
    gain: f64,
    group: usize,
    /// Numeric: bins ≤ `bin` go left. One-hot: rows in bin `bin` go right.
    bin: usize,
    left: Bin,
}

struct Node {
    start: usize,
    end: usize,
    depth: usize,
    sum: Bin,
    hist: Vec<Bin>,
    best: Option<Split>,
    /// Index of this node in the output tree.
    id: usize,
}

struct Candidate(f64, usize);
impl PartialEq for Candidate {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Candidate {
    fn cmp(&self, o: &Self) -> Ordering {
        // Higher gain first; on ties the earlier node, so growth is deterministic.
        self.0.total_cmp(&o.0).then(o.1.cmp(&self.1))
    }
}

/// A grown tree plus what training needs from it.
pub struct Grown {
    pub tree: Tree,
    /// Gain credited to each dense feature.
    pub gains: Vec<(usize, f64)>,
    /// (start, end, value) of each leaf in the reordered `rows`.
    pub leaves: Vec<(usize, usize, f64)>,
}

/// Offsets of each group's bins in a flat histogram.
fn offsets(b: &Binned) -> (Vec<usize>, usize) {
    let mut off = Vec::with_capacity(b.groups.len());
    let mut total = 0;
    for g in &b.groups {
        off.push(total);
        total += g.n_bins;
    }
    (off, total)
}

fn build_hist(b: &Binned, rows: &[u32], g: &[f64], h: &[f64]) -> Vec<Bin> {
    let n_groups = b.groups.len();
    let fill = |rows: &[u32]| {
        let mut hist = vec![Bin::default(); b.total_bins];
        for &r in rows {
            let r = r as usize;
            let (gr, hr) = (g[r], h[r]);
            for &slot in &b.slots[r * n_groups..(r + 1) * n_groups] {
                let e = &mut hist[slot as usize];
                e.g += gr;
                e.h += hr;
                e.n += 1;
            }
        }
        hist
    };
    if rows.len() < 20_000 {
        return fill(rows);
    }
    // Two halves in parallel, summed in a fixed order so the result does not depend on timing.
    let (a, c) = rows.split_at(rows.len() / 2);
    let (mut ha, hc) = rayon::join(|| fill(a), || fill(c));
    for (x, y) in ha.iter_mut().zip(&hc) {
        *x = add(*x, *y);
    }
    ha
}

fn score(c: Criterion, s: Bin) -> f64 {
    match c {
        // Weighted Gini impurity, negated so that larger is better: −2G(H−G)/H.
        Criterion::Gini => {
            if s.h <= 0.0 {
                0.0
            } else {
                -2.0 * s.g * (s.h - s.g) / s.h
            }
        }
        Criterion::Newton { lambda } => s.g * s.g / (s.h + lambda),
    }
}

fn leaf_value(c: Criterion, s: Bin) -> f64 {
    match c {
        Criterion::Gini => {
            if s.h > 0.0 {
                s.g / s.h
            } else {
                0.0
            }
        }
        Criterion::Newton { lambda } => -s.g / (s.h + lambda),
    }
}

fn sub(a: Bin, b: Bin) -> Bin {
    Bin {
        g: a.g - b.g,
        h: a.h - b.h,
        n: a.n - b.n,
    }
}

fn add(a: Bin, b: Bin) -> Bin {
    Bin {
        g: a.g + b.g,
        h: a.h + b.h,
        n: a.n + b.n,
    }
}

fn best_split(
    b: &Binned,
    off: &[usize],
    node: &Node,
    p: &GrowParams,
    allowed: &[usize],
) -> Option<Split> {
    if node.depth >= p.max_depth || (node.sum.n as usize) < 2 * p.min_samples_leaf {
        return None;
    }
    let parent = score(p.criterion, node.sum);
    let ok = |l: Bin, r: Bin| {
        l.n as usize >= p.min_samples_leaf
            && r.n as usize >= p.min_samples_leaf
            && l.h >= p.min_child_weight
            && r.h >= p.min_child_weight
    };
    let mut best: Option<Split> = None;
    for &gi in allowed {
        let grp = &b.groups[gi];
        let hist = &node.hist[off[gi]..off[gi] + grp.n_bins];
        let mut consider = |bin: usize, left: Bin| {
            let right = sub(node.sum, left);
            if !ok(left, right) {
                return;
            }
            let gain = score(p.criterion, left) + score(p.criterion, right) - parent;
            if gain > p.min_gain && best.is_none_or(|s| gain > s.gain) {
                best = Some(Split {
                    gain,
                    group: gi,
                    bin,
                    left,
                });
            }
        };
        match grp.group {
            FeatureGroup::Numeric { .. } => {
                let mut acc = Bin::default();
                for (bin, e) in hist.iter().enumerate().take(grp.n_bins - 1) {
                    acc = add(acc, *e);
                    consider(bin, acc);
                }
            }
            FeatureGroup::OneHot { width, .. } => {
                // One slot against the rest; the last bin (no slot hot) is not a column to split on.
                for (bin, e) in hist.iter().enumerate().take(width) {
                    if e.n > 0 {
                        consider(bin, sub(node.sum, *e));
                    }
                }
            }
        }
    }
    best
}

fn goes_left(grp: &BinnedGroup, split_bin: usize, row: usize) -> bool {
    let code = grp.codes[row] as usize;
    match grp.group {
        FeatureGroup::Numeric { .. } => code <= split_bin,
        FeatureGroup::OneHot { .. } => code != split_bin,
    }
}

/// Grows one tree on `rows` (each row once; weights go into `g` and `h`).
///
/// One best-first loop: split, partition the rows, subtract histograms; kept whole so the hot path is visible.
pub fn grow(
    b: &Binned,
    rows: &mut [u32],
    g: &[f64],
    h: &[f64],
    p: &GrowParams,
    rng: &mut Rng,
) -> Grown {
    let (off, _) = offsets(b);
    let all_groups: Vec<usize> = (0..b.groups.len()).collect();
    let pick = |rng: &mut Rng| -> Vec<usize> {
        match p.groups_per_node {
            Some(k) if k < all_groups.len() => {
                let mut s = rng.sample_indices(all_groups.len(), k.max(1));
                s.sort_unstable();
                s
            }
            _ => all_groups.clone(),
        }
    };
    let mut tree = Tree::default();
    let push_node = |tree: &mut Tree| {
        tree.feature.push(LEAF);
        tree.threshold.push(0.0);
        tree.left.push(0);
        tree.right.push(0);
        tree.value.push(0.0);
        tree.cover.push(0.0);
        tree.feature.len() - 1
    };
    let cover = |s: Bin| match p.criterion {
        Criterion::Gini => s.h,
        Criterion::Newton { .. } => f64::from(s.n),
    };
    let root_hist = build_hist(b, rows, g, h);
    let sum = root_hist[..b.groups[0].n_bins]
        .iter()
        .fold(Bin::default(), |a, e| add(a, *e));
    let mut nodes: Vec<Node> = Vec::new();
    let id = push_node(&mut tree);
    tree.cover[id] = cover(sum);
    let mut root = Node {
        start: 0,
        end: rows.len(),
        depth: 0,
        sum,
        hist: root_hist,
        best: None,
        id,
    };
    root.best = best_split(b, &off, &root, p, &pick(rng));
    nodes.push(root);
    let mut heap = BinaryHeap::new();
    let mut leaves_open = vec![0usize];
    if let Some(s) = nodes[0].best {
        heap.push(Candidate(s.gain, 0));
    }
    let mut n_leaves = 1;
    let mut gains = Vec::new();
    while let Some(Candidate(_, ni)) = heap.pop() {
        if n_leaves >= p.max_leaves {
            break;
        }
        let split = nodes[ni].best.expect("candidate has a split");
        let (start, end, depth, sum, node_id) = {
            let n = &nodes[ni];
            (n.start, n.end, n.depth, n.sum, n.id)
        };
        let grp = &b.groups[split.group];
        // Partition the node's rows: left first.
        let slice = &mut rows[start..end];
        let mut i = 0;
        let mut j = slice.len();
        while i < j {
            if goes_left(grp, split.bin, slice[i] as usize) {
                i += 1;
            } else {
                j -= 1;
                slice.swap(i, j);
            }
        }
        let mid = start + i;
        let right_sum = sub(sum, split.left);
        // Build the smaller child's histogram, derive the larger by subtraction.
        let left_small = split.left.n <= right_sum.n;
        let small_rows = if left_small {
            &rows[start..mid]
        } else {
            &rows[mid..end]
        };
        let small = build_hist(b, small_rows, g, h);
        let parent_hist = std::mem::take(&mut nodes[ni].hist);
        let large: Vec<Bin> = parent_hist
            .iter()
            .zip(&small)
            .map(|(a, s)| sub(*a, *s))
            .collect();
        let (lh, rh) = if left_small {
            (small, large)
        } else {
            (large, small)
        };
        let (feature, threshold) = match grp.group {
            FeatureGroup::Numeric { index } => (index, grp.edges[split.bin]),
            FeatureGroup::OneHot { offset, .. } => {
                // Left keeps the rows where the slot is 0.
                (offset + split.bin, 0.5)
            }
        };
        gains.push((feature, split.gain));
        let lid = push_node(&mut tree);
        let rid = push_node(&mut tree);
        tree.feature[node_id] = feature as u32;
        tree.threshold[node_id] = threshold;
        tree.left[node_id] = lid as u32;
        tree.right[node_id] = rid as u32;
        tree.cover[lid] = cover(split.left);
        tree.cover[rid] = cover(right_sum);
        for (s, e, hs, bs, id) in [
            (start, mid, lh, split.left, lid),
            (mid, end, rh, right_sum, rid),
        ] {
            let mut child = Node {
                start: s,
                end: e,
                depth: depth + 1,
                sum: bs,
                hist: hs,
                best: None,
                id,
            };
            child.best = best_split(b, &off, &child, p, &pick(rng));
            let ci = nodes.len();
            if let Some(sp) = child.best {
                heap.push(Candidate(sp.gain, ci));
            } else {
                child.hist = Vec::new();
            }
            nodes.push(child);
            leaves_open.push(ci);
        }
        leaves_open.retain(|&x| x != ni);
        n_leaves += 1;
    }
    let mut leaves = Vec::with_capacity(leaves_open.len());
    for &li in &leaves_open {
        let n = &nodes[li];
        let v = leaf_value(p.criterion, n.sum) * p.shrinkage;
        tree.value[n.id] = v;
        leaves.push((n.start, n.end, v));
    }
    Grown {
        tree,
        gains,
        leaves,
    }
}

#[cfg(test)]
mod tests;
