//! An ensemble of small trees scored by crossing out leaves instead of walking paths.
//!
//! Number each tree's leaves left to right. A split whose test fails (`x <= threshold` is false,
//! so the row goes right) rules out every leaf of its left side; the leaf a row reaches is the
//! leftmost one no failed split ruled out. With at most 64 leaves, a tree's possible leaves are
//! one `u64`. The splits a value fails are those with a threshold below it: for each feature,
//! the distinct thresholds are sorted, and for each count of them a row's value can exceed, the
//! leaves every tree keeps are stored, so a feature costs a row one search and, when the value
//! fails any split, one AND across the trees (which the compiler does two or four at a time).
//! Most features of a one-hot row are 0 and fail nothing. A walk instead takes a dependent step
//! per level of every tree.
//!
//! Each row reaches the leaf `Tree::predict_row` reaches, and the leaf values are added tree by
//! tree in order, so the sums are those of `Walker::add_block` to the bit.

use super::tree::Walker;

/// The most memory the tables of kept leaves may take; a larger ensemble is walked.
const MAX_TABLE_BYTES: usize = 32 << 20;

/// One feature some tree splits on.
#[derive(Debug, Clone)]
struct Feature {
    column: usize,
    /// Its distinct split thresholds, ascending.
    thresholds: Vec<f64>,
    /// The first of them, kept at hand.
    lowest: f64,
    /// Where its table starts in `LeafMasks::table`: for `r` in `1..=thresholds.len()`, the
    /// leaves each tree keeps when a value exceeds the lowest `r` thresholds are the masks
    /// (one per tree) from `at + (r - 1) * trees`.
    at: usize,
}

/// A set of a tree's leaves, one bit per leaf: `u32` when every tree has at most 32 leaves
/// (boosting's default is 31), so an AND covers twice the trees.
pub trait LeafSet: Copy + std::ops::BitAndAssign + Send + Sync {
    /// The leftmost leaf in the set.
    fn first(self) -> usize;
}

impl LeafSet for u32 {
    fn first(self) -> usize {
        self.trailing_zeros() as usize
    }
}

impl LeafSet for u64 {
    fn first(self) -> usize {
        self.trailing_zeros() as usize
    }
}

/// The trees of an ensemble, each with at most 64 leaves, as tables of kept leaves per feature.
#[derive(Debug, Clone)]
pub struct LeafMasks<M = u64> {
    /// Each tree's leaves before any value is read: all, less those ruled out by splits that
    /// fail for every value (a NaN threshold).
    start: Vec<M>,
    /// Leaf values, each tree's left to right; tree `t`'s start at `value_at[t]`.
    values: Vec<f64>,
    value_at: Vec<usize>,
    features: Vec<Feature>,
    table: Vec<M>,
    /// The most leaves of any tree.
    most_leaves: usize,
}

/// Rows whose sums are added side by side, so their chains of additions overlap.
const ROWS: usize = 4;

impl LeafMasks<u64> {
    /// The trees' leaf masks, or `None` when a tree has more than 64 leaves or the tables
    /// would pass `MAX_TABLE_BYTES`.
    pub fn new(walkers: &[Walker]) -> Option<LeafMasks> {
        let trees = walkers.len();
        let mut start = Vec::with_capacity(trees);
        let mut values = Vec::new();
        let mut value_at = Vec::with_capacity(trees);
        let mut most_leaves = 0;
        // (feature, threshold, tree, leaves kept when the test fails)
        let mut splits: Vec<(u32, f64, usize, u64)> = Vec::new();
        for (t, w) in walkers.iter().enumerate() {
            let n = w.len();
            // Leaves numbered left to right: depth first, the left child first.
            let mut leaf_no = vec![u32::MAX; n];
            let mut leaves = Vec::new();
            let mut stack = vec![0usize];
            while let Some(i) = stack.pop() {
                match w.split(i) {
                    Some((_, _, left)) => {
                        stack.push(left as usize + 1);
                        stack.push(left as usize);
                    }
                    None => {
                        leaf_no[i] = leaves.len() as u32;
                        leaves.push(w.value(i));
                    }
                }
                if leaves.len() > 64 {
                    return None;
                }
            }
            // Each node's leaves are a run `lo..hi`; children come after their parent, so a
            // pass from the last node up has both children's runs at hand.
            let mut run = vec![(0u32, 0u32); n];
            let mut always = u64::MAX;
            for i in (0..n).rev() {
                match w.split(i) {
                    None => run[i] = (leaf_no[i], leaf_no[i] + 1),
                    Some((threshold, feature, left)) => {
                        let (l, r) = (run[left as usize], run[left as usize + 1]);
                        run[i] = (l.0, r.1);
                        // The left side holds fewer than 64 leaves: the right holds one.
                        let keep = !(((1u64 << (l.1 - l.0)) - 1) << l.0);
                        if threshold.is_nan() {
                            always &= keep;
                        } else {
                            splits.push((feature, threshold, t, keep));
                        }
                    }
                }
            }
            start.push(always);
            most_leaves = most_leaves.max(leaves.len());
            value_at.push(values.len());
            values.extend(leaves);
        }
        splits.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut features: Vec<Feature> = Vec::new();
        let mut table: Vec<u64> = Vec::new();
        for group in splits.chunk_by(|a, b| a.0 == b.0) {
            let mut f = Feature {
                column: group[0].0 as usize,
                thresholds: Vec::new(),
                lowest: group[0].1,
                at: table.len(),
            };
            for &(_, threshold, tree, keep) in group {
                // -0 and 0 are one threshold: no value lies between them.
                if f.thresholds.last() != Some(&threshold) {
                    if (table.len() + trees) * 8 > MAX_TABLE_BYTES {
                        return None;
                    }
                    // A value above this threshold also exceeds every lower one.
                    let row = if f.thresholds.is_empty() {
                        vec![u64::MAX; trees]
                    } else {
                        table[table.len() - trees..].to_vec()
                    };
                    table.extend(row);
                    f.thresholds.push(threshold);
                }
                let at = table.len() - trees + tree;
                table[at] &= keep;
            }
            features.push(f);
        }
        Some(LeafMasks {
            start,
            values,
            value_at,
            features,
            table,
            most_leaves,
        })
    }

    /// Whether every tree has at most 32 leaves, so `narrow` keeps every leaf.
    pub fn fits_32(&self) -> bool {
        self.most_leaves <= 32
    }

    /// The same masks in 32 bits; for masks that `fits_32`.
    pub fn narrow(self) -> LeafMasks<u32> {
        debug_assert!(self.fits_32());
        // Bits past a tree's leaves are never the first one left, so they may go.
        let low = |v: Vec<u64>| v.into_iter().map(|m| m as u32).collect();
        LeafMasks {
            start: low(self.start),
            values: self.values,
            value_at: self.value_at,
            features: self.features,
            table: low(self.table),
            most_leaves: self.most_leaves,
        }
    }
}

impl<M: LeafSet> LeafMasks<M> {
    /// Each row's sum of the leaf values it reaches, tree by tree in order. `x` holds `rows`
    /// rows of `width` columns, row after row; every split's feature is below `width` (as a
    /// validated model's are).
    pub fn sums(&self, x: &[f64], width: usize, rows: usize) -> Vec<f64> {
        let trees = self.start.len();
        let mut masks = self.start.repeat(ROWS);
        let mut out = Vec::with_capacity(rows);
        let mut first = 0;
        while first < rows {
            let take = ROWS.min(rows - first);
            for (k, m) in masks.chunks_exact_mut(trees.max(1)).take(take).enumerate() {
                let row = &x[(first + k) * width..(first + k + 1) * width];
                self.cross_out(row, m);
            }
            let mut sums = [0.0; ROWS];
            for t in 0..trees {
                let at = self.value_at[t];
                for (k, s) in sums.iter_mut().enumerate().take(take) {
                    *s += self.values[at + masks[k * trees + t].first()];
                }
            }
            out.extend_from_slice(&sums[..take]);
            first += take;
        }
        out
    }

    /// Leaves `masks` (one per tree) at the leaves `row` can still reach.
    fn cross_out(&self, row: &[f64], masks: &mut [M]) {
        masks.copy_from_slice(&self.start);
        let trees = masks.len();
        for f in &self.features {
            let v = row[f.column];
            // Most values (a one-hot 0) fail no split: one comparison, no search.
            if v <= f.lowest {
                continue;
            }
            // NaN is at most nothing: it fails every threshold.
            let above = if v.is_nan() {
                f.thresholds.len()
            } else {
                f.thresholds.partition_point(|&t| t < v)
            };
            if above > 0 {
                // All trees, not only those splitting on the feature: a plain AND of two
                // arrays, done a vector at a time, costs less than picking the trees out.
                let kept = &self.table[f.at + (above - 1) * trees..f.at + above * trees];
                for (m, &k) in masks.iter_mut().zip(kept) {
                    *m &= k;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::models::tree::{Tree, LEAF};
    use ndarray::Array2;

    /// A random tree of `leaves` leaves over `width` features, grown by splitting a random
    /// leaf; thresholds from a small set so trees share them, with -0, 0 and NaN among them.
    fn random_tree(rng: &mut Rng, leaves: usize, width: usize) -> Tree {
        const THRESHOLDS: [f64; 7] = [-1.5, -0.0, 0.0, 0.5, 2.0, 7.25, f64::NAN];
        let mut t = Tree {
            feature: vec![LEAF],
            threshold: vec![0.0],
            left: vec![0],
            right: vec![0],
            value: vec![rng.normal()],
            cover: Vec::new(),
        };
        while t.feature.len() < 2 * leaves - 1 {
            let open: Vec<usize> = (0..t.feature.len())
                .filter(|&i| t.feature[i] == LEAF)
                .collect();
            let i = open[rng.below(open.len() as u64) as usize];
            let n = t.feature.len() as u32;
            t.feature[i] = rng.below(width as u64) as u32;
            t.threshold[i] = THRESHOLDS[rng.below(THRESHOLDS.len() as u64) as usize];
            t.left[i] = n;
            t.right[i] = n + 1;
            for _ in 0..2 {
                t.feature.push(LEAF);
                t.threshold.push(0.0);
                t.left.push(0);
                t.right.push(0);
                t.value.push(rng.normal());
            }
        }
        // Not validated: a file's trees may not have NaN thresholds, but these rule out the
        // same leaves by either road.
        t
    }

    #[test]
    fn crossing_out_leaves_reaches_the_leaves_a_walk_reaches() {
        let mut rng = Rng::new(7);
        let width = 6;
        let trees: Vec<Tree> = (0..40)
            .map(|k| random_tree(&mut rng, 1 + (k * 13) % 64, width))
            .collect();
        let walkers: Vec<Walker> = trees.iter().map(Tree::walker).collect();
        let masks = LeafMasks::new(&walkers).expect("at most 64 leaves");
        // Values on, between and beyond the thresholds, and NaN.
        const VALUES: [f64; 9] = [-3.0, -1.5, -0.0, 0.0, 0.25, 0.5, 2.0, 1e300, f64::NAN];
        let rows = 203;
        let x = Array2::from_shape_fn((rows, width), |_| {
            VALUES[rng.below(VALUES.len() as u64) as usize]
        });
        let got = masks.sums(x.as_slice().unwrap(), width, rows);
        for (r, row) in x.rows().into_iter().enumerate() {
            let mut want = 0.0;
            for t in &trees {
                want += t.predict_row(row);
            }
            assert_eq!(got[r].to_bits(), want.to_bits(), "row {r}");
        }
        // Trees of at most 32 leaves also score in 32 bits, to the same sums.
        assert!(!masks.fits_32());
        let small: Vec<Walker> = trees
            .iter()
            .filter(|t| t.feature.len() <= 63)
            .map(Tree::walker)
            .collect();
        assert!(small.len() >= 10 && small.len() < trees.len());
        let wide = LeafMasks::new(&small).unwrap();
        assert!(wide.fits_32());
        let narrow = wide.clone().narrow();
        assert_eq!(
            wide.sums(x.as_slice().unwrap(), width, rows),
            narrow.sums(x.as_slice().unwrap(), width, rows)
        );
    }

    #[test]
    fn trees_past_64_leaves_are_walked() {
        let mut rng = Rng::new(3);
        let small = random_tree(&mut rng, 64, 3);
        let big = random_tree(&mut rng, 65, 3);
        assert!(LeafMasks::new(&[small.walker()]).is_some());
        assert!(LeafMasks::new(&[small.walker(), big.walker()]).is_none());
        // A single leaf keeps its value for every row, with no features at all.
        let leaf = Tree {
            feature: vec![LEAF],
            threshold: vec![0.0],
            left: vec![0],
            right: vec![0],
            value: vec![0.625],
            cover: Vec::new(),
        };
        let m = LeafMasks::new(&[leaf.walker(), leaf.walker()]).unwrap();
        assert_eq!(m.sums(&[], 0, 3), vec![1.25; 3]);
    }
}
