//! Binning for the tree engine: each feature group's rows as small bin codes (quantile edges for
//! quantities, one bin per slot for one-hot groups), laid out row-major for histogram building,
//! and predicting on binned rows.

use super::tree::{Tree, LEAF};
use crate::features::{Encoded, FeatureGroup, Values};

/// One feature group, binned.
#[derive(Debug, Clone)]
pub struct BinnedGroup {
    pub group: FeatureGroup,
    /// Bin per row.
    pub codes: Vec<u16>,
    pub n_bins: usize,
    /// Numeric groups: upper edge of each bin but the last (bin b holds edges[b-1] < x <= edges[b]).
    pub edges: Vec<f64>,
}

/// The training matrix, binned per feature group.
#[derive(Debug, Clone)]
pub struct Binned {
    pub n_rows: usize,
    pub groups: Vec<BinnedGroup>,
    /// Row-major copy of the codes as flat histogram slots (`row × groups`), so that building a
    /// histogram reads each row's gradient once and its slots from one cache line.
    pub(super) slots: Vec<u32>,
    pub(super) total_bins: usize,
}

impl Binned {
    /// Bins the encoded rows `x` with at most `max_bins` bins per quantity.
    pub fn new(x: &Encoded, max_bins: usize) -> Binned {
        let n = x.n_rows();
        let max_bins = max_bins.clamp(2, u16::MAX as usize);
        let binned = x
            .columns()
            .iter()
            .map(|c| match (&c.values, c.group) {
                (Values::Slots(slots), FeatureGroup::OneHot { width, .. }) => {
                    // Bin k: slot k is hot; bin `width`: no slot is (an unseen category).
                    BinnedGroup {
                        group: c.group,
                        codes: slots.iter().map(|&s| s as u16).collect(),
                        n_bins: width + 1,
                        edges: Vec::new(),
                    }
                }
                (values, group) => {
                    let col: &[f64] = match values {
                        Values::Scaled(v) => v,
                        Values::Slots(_) => unreachable!("a quantity is scaled, not slotted"),
                    };
                    let edges = quantile_edges(col.iter().copied(), max_bins);
                    let codes = col
                        .iter()
                        .map(|&v| edges.partition_point(|&e| e < v) as u16)
                        .collect();
                    BinnedGroup {
                        group,
                        codes,
                        n_bins: edges.len() + 1,
                        edges,
                    }
                }
            })
            .collect::<Vec<BinnedGroup>>();
        let n_groups = binned.len();
        let mut slots = vec![0u32; n * n_groups];
        let mut offset = 0u32;
        for (gi, grp) in binned.iter().enumerate() {
            for (r, &c) in grp.codes.iter().enumerate() {
                slots[r * n_groups + gi] = offset + c as u32;
            }
            offset += grp.n_bins as u32;
        }
        Binned {
            n_rows: n,
            groups: binned,
            slots,
            total_bins: offset as usize,
        }
    }
}

/// Bin edges: one bin per distinct value when they are few, else quantiles.
pub(super) fn quantile_edges(values: impl Iterator<Item = f64>, max_bins: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    let mut distinct: Vec<f64> = v.clone();
    distinct.dedup();
    if distinct.len() <= max_bins {
        return distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
    }
    let mut edges = Vec::with_capacity(max_bins);
    for k in 1..max_bins {
        let q = v[(k * v.len()) / max_bins];
        // The edge sits between q and the next larger value, so equal values share a bin.
        let next = v.partition_point(|&x| x <= q);
        if next < v.len() {
            let e = (q + v[next]) / 2.0;
            if edges.last().is_none_or(|&l| e > l) {
                edges.push(e);
            }
        }
    }
    edges
}

/// Predicts a tree on binned rows (for rows not in the training sample).
pub fn predict_binned(t: &Tree, b: &Binned, feature_group: &[(usize, usize)], row: usize) -> f64 {
    // feature_group maps a dense feature to (group index, bin): see `split_lookup`.
    let mut i = 0usize;
    loop {
        let f = t.feature[i];
        if f == LEAF {
            return t.value[i];
        }
        let (gi, bin) = feature_group[f as usize];
        let grp = &b.groups[gi];
        let code = grp.codes[row] as usize;
        let left = match grp.group {
            FeatureGroup::Numeric { .. } => {
                // The threshold is one of the edges; find its bin once per node.
                let edge_bin = grp.edges.partition_point(|&e| e < t.threshold[i]);
                code <= edge_bin
            }
            FeatureGroup::OneHot { .. } => code != bin,
        };
        i = if left { t.left[i] } else { t.right[i] } as usize;
    }
}

/// For each dense feature: its group and, for one-hot slots, the slot's bin.
pub fn split_lookup(b: &Binned, n_features: usize) -> Vec<(usize, usize)> {
    let mut out = vec![(0, 0); n_features];
    for (gi, grp) in b.groups.iter().enumerate() {
        match grp.group {
            FeatureGroup::Numeric { index } => out[index] = (gi, 0),
            FeatureGroup::OneHot { offset, width } => {
                for k in 0..width {
                    out[offset + k] = (gi, k);
                }
            }
        }
    }
    out
}
