//! `Encoded`: the feature matrix kept as one compact column per feature group (the hot slot of a
//! one-hot group, the scaled value of a quantity) instead of rows × every one-hot slot in `f64`.
//! Training holds its rows this way: a tenth of the dense matrix's memory, and logistic
//! regression reads one weight per group instead of multiplying every zero. `dense` writes the
//! same rows out in full, bit for bit what the dense encoding always was.

use std::ops::Range;

use ndarray::{Array2, ArrayView2};

use super::FeatureGroup;

/// One feature group's values, a row each.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// The hot slot of a one-hot group; the group's width when no slot is hot (a level not seen
    /// in training, or a value present under a missing indicator).
    Slots(Vec<u32>),
    /// A standardised quantity.
    Scaled(Vec<f64>),
}

/// One feature group and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedColumn {
    pub group: FeatureGroup,
    pub values: Values,
}

/// Rows encoded by a `FeaturePipeline`, a column per feature group in feature order.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    n_rows: usize,
    n_features: usize,
    columns: Vec<EncodedColumn>,
}

impl Encoded {
    /// Builds from columns that each hold `n_rows` values; `n_features` is the dense width.
    pub(crate) fn new(n_rows: usize, n_features: usize, columns: Vec<EncodedColumn>) -> Encoded {
        debug_assert!(columns.iter().all(|c| c.len() == n_rows));
        Encoded {
            n_rows,
            n_features,
            columns,
        }
    }

    /// Reads a dense matrix whose feature groups are `groups`: a one-hot group's hot slot is
    /// its first slot above one half, as the tree engine has always read it.
    pub fn from_dense(x: ArrayView2<f64>, groups: &[FeatureGroup]) -> Encoded {
        let columns = groups
            .iter()
            .map(|&group| EncodedColumn {
                group,
                values: match group {
                    FeatureGroup::OneHot { offset, width } => Values::Slots(
                        x.rows()
                            .into_iter()
                            .map(|r| {
                                (0..width).find(|&k| r[offset + k] > 0.5).unwrap_or(width) as u32
                            })
                            .collect(),
                    ),
                    FeatureGroup::Numeric { index } => {
                        Values::Scaled(x.column(index).iter().copied().collect())
                    }
                },
            })
            .collect();
        Encoded::new(x.nrows(), x.ncols(), columns)
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// The dense matrix's width: every one-hot slot and every quantity.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn columns(&self) -> &[EncodedColumn] {
        &self.columns
    }

    pub fn groups(&self) -> Vec<FeatureGroup> {
        self.columns.iter().map(|c| c.group).collect()
    }

    /// The rows at `rows`, in that order.
    pub fn take(&self, rows: &[usize]) -> Encoded {
        let columns = self
            .columns
            .iter()
            .map(|c| EncodedColumn {
                group: c.group,
                values: match &c.values {
                    Values::Slots(v) => Values::Slots(rows.iter().map(|&r| v[r]).collect()),
                    Values::Scaled(v) => Values::Scaled(rows.iter().map(|&r| v[r]).collect()),
                },
            })
            .collect();
        Encoded::new(rows.len(), self.n_features, columns)
    }

    /// Rows `rows` as the dense matrix models score: one column per one-hot slot and quantity.
    pub fn dense(&self, rows: Range<usize>) -> Array2<f64> {
        let mut out = Array2::<f64>::zeros((rows.len(), self.n_features));
        for c in &self.columns {
            match (&c.values, c.group) {
                (Values::Slots(v), FeatureGroup::OneHot { offset, width }) => {
                    for (mut row, &slot) in out.rows_mut().into_iter().zip(&v[rows.clone()]) {
                        if (slot as usize) < width {
                            row[offset + slot as usize] = 1.0;
                        }
                    }
                }
                (Values::Scaled(v), FeatureGroup::Numeric { index }) => {
                    out.column_mut(index)
                        .iter_mut()
                        .zip(&v[rows.clone()])
                        .for_each(|(o, &x)| *o = x);
                }
                _ => unreachable!("an encoded column always matches its group"),
            }
        }
        out
    }

    /// `z` plus the dot product of row `row` with `w` (one weight per dense feature), adding the
    /// non-zero terms in feature order: the same sum, to the bit, as the dense row gives.
    #[inline]
    pub fn dot(&self, row: usize, w: &[f64], mut z: f64) -> f64 {
        for c in &self.columns {
            match (&c.values, c.group) {
                (Values::Slots(v), FeatureGroup::OneHot { offset, width }) => {
                    let slot = v[row] as usize;
                    if slot < width {
                        z += w[offset + slot];
                    }
                }
                (Values::Scaled(v), FeatureGroup::Numeric { index }) => z += v[row] * w[index],
                _ => {}
            }
        }
        z
    }

    /// Adds `r` times row `row` to `g` (one entry per dense feature).
    #[inline]
    pub fn add_row(&self, row: usize, r: f64, g: &mut [f64]) {
        for c in &self.columns {
            match (&c.values, c.group) {
                (Values::Slots(v), FeatureGroup::OneHot { offset, width }) => {
                    let slot = v[row] as usize;
                    if slot < width {
                        g[offset + slot] += r;
                    }
                }
                (Values::Scaled(v), FeatureGroup::Numeric { index }) => g[index] += r * v[row],
                _ => {}
            }
        }
    }
}

impl EncodedColumn {
    pub fn len(&self) -> usize {
        match &self.values {
            Values::Slots(v) => v.len(),
            Values::Scaled(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
