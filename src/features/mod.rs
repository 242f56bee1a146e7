//! `FeaturePipeline`: turns a `Frame` into the numeric matrix a model reads.
//!
//! It is fitted once, on training rows only, and stored with the model, so serving never refits
//! anything. Rules:
//! - categorical columns are one-hot encoded over the levels seen in training (sorted); a level
//!   never seen in training encodes as all zeros for that column;
//! - numeric columns are standardised with the training mean and standard deviation;
//! - a missing value is explicit: a categorical column that may be empty gets a `(missing)` slot,
//!   a numeric one is filled with the training median and gets a `(missing)` indicator.

use std::collections::HashMap;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::data::frame::MISSING_CODE;
use crate::data::{ColumnData, DatasetSpec, Frame, RecordError, Role};

mod encoded;
pub use encoded::{Encoded, EncodedColumn, Values};

#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("column '{0}' is not in the data")]
    MissingColumn(String),
    #[error("column '{column}' holds {found} values but the pipeline expects {expected} values")]
    WrongKind {
        column: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("no rows to fit the feature pipeline on")]
    NoRows,
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Why a pipeline read from a file cannot encode rows of its spec, by column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelineError {
    #[error("pipeline: column '{column}' is not in the spec")]
    NotInSpec { column: String },
    #[error("pipeline: the scaling of '{column}' is not finite and positive")]
    Scaling { column: String },
}

/// The largest standardised value a feature takes: a billion standard deviations, far past any
/// real value, small enough that sums of them stay finite.
const SCALED_LIMIT: f64 = 1e9;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encoder {
    OneHot {
        column: String,
        levels: Vec<String>,
        missing_slot: bool,
    },
    Scaled {
        column: String,
        mean: f64,
        std: f64,
        /// Training median, used for missing values before scaling.
        fill: f64,
        missing_slot: bool,
    },
}

impl Encoder {
    fn width(&self) -> usize {
        match self {
            Encoder::OneHot {
                levels,
                missing_slot,
                ..
            } => levels.len() + *missing_slot as usize,
            Encoder::Scaled { missing_slot, .. } => 1 + *missing_slot as usize,
        }
    }

    fn column(&self) -> &str {
        match self {
            Encoder::OneHot { column, .. } | Encoder::Scaled { column, .. } => column,
        }
    }
}

/// A set of output columns that a tree model treats as one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureGroup {
    /// `width` indicator columns starting at `offset`, at most one of them 1 in a row.
    OneHot { offset: usize, width: usize },
    /// One quantity column.
    Numeric { index: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturePipeline {
    pub encoders: Vec<Encoder>,
}

impl FeaturePipeline {
    /// Fits encoders on `frame`, which must hold training rows only.
    pub fn fit(frame: &Frame) -> Result<FeaturePipeline, FeatureError> {
        if frame.n_rows() == 0 {
            return Err(FeatureError::NoRows);
        }
        let mut encoders = Vec::new();
        for col in frame.spec.features() {
            let data = frame
                .column(&col.name)
                .ok_or_else(|| FeatureError::MissingColumn(col.name.clone()))?;
            let enc = match (col.role, data) {
                (Role::Categorical, ColumnData::Categorical(c)) => {
                    let mut used = vec![false; c.levels.len()];
                    for &code in &c.codes {
                        if code != MISSING_CODE {
                            used[code as usize] = true;
                        }
                    }
                    let mut levels: Vec<String> = c
                        .levels
                        .iter()
                        .zip(&used)
                        .filter(|(_, u)| **u)
                        .map(|(l, _)| l.clone())
                        .collect();
                    sort_levels(&mut levels);
                    Encoder::OneHot {
                        column: col.name.clone(),
                        levels,
                        missing_slot: col.nullable,
                    }
                }
                (Role::Numeric, ColumnData::Numeric(v)) => {
                    let mut present: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
                    let (mean, std, fill) = if present.is_empty() {
                        (0.0, 1.0, 0.0)
                    } else {
                        let n = present.len() as f64;
                        let mean = present.iter().sum::<f64>() / n;
                        let var = present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                        present.sort_by(f64::total_cmp);
                        let mid = present.len() / 2;
                        let median = if present.len() % 2 == 0 {
                            (present[mid - 1] + present[mid]) / 2.0
                        } else {
                            present[mid]
                        };
                        let std = var.sqrt();
                        (mean, if std > 0.0 { std } else { 1.0 }, median)
                    };
                    Encoder::Scaled {
                        column: col.name.clone(),
                        mean,
                        std,
                        fill,
                        missing_slot: col.nullable,
                    }
                }
                (_, other) => {
                    return Err(FeatureError::WrongKind {
                        column: col.name.clone(),
                        expected: if col.role == Role::Numeric {
                            "numeric"
                        } else {
                            "categorical"
                        },
                        found: kind_name(other),
                    })
                }
            };
            encoders.push(enc);
        }
        Ok(FeaturePipeline { encoders })
    }

    /// Checks a pipeline read from a file: every encoder reads a column of the spec, and its
    /// numbers are finite.
    pub fn validate(&self, spec: &DatasetSpec) -> Result<(), PipelineError> {
        for e in &self.encoders {
            if spec.column(e.column()).is_none() {
                return Err(PipelineError::NotInSpec {
                    column: e.column().to_string(),
                });
            }
            if let Encoder::Scaled {
                mean,
                std,
                fill,
                column,
                ..
            } = e
            {
                if !(mean.is_finite() && fill.is_finite() && std.is_finite() && *std > 0.0) {
                    return Err(PipelineError::Scaling {
                        column: column.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn n_features(&self) -> usize {
        self.encoders.iter().map(Encoder::width).sum()
    }

    /// Output column names, such as `Department=surgery` or `Bed Grade (missing)`.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.n_features());
        for e in &self.encoders {
            match e {
                Encoder::OneHot {
                    column,
                    levels,
                    missing_slot,
                } => {
                    names.extend(levels.iter().map(|l| format!("{column}={l}")));
                    if *missing_slot {
                        names.push(format!("{column} (missing)"));
                    }
                }
                Encoder::Scaled {
                    column,
                    missing_slot,
                    ..
                } => {
                    names.push(column.clone());
                    if *missing_slot {
                        names.push(format!("{column} (missing)"));
                    }
                }
            }
        }
        names
    }

    /// The source column of each output feature, for rolling importances up to columns.
    pub fn feature_columns(&self) -> Vec<String> {
        self.encoders
            .iter()
            .flat_map(|e| std::iter::repeat_n(e.column().to_string(), e.width()))
            .collect()
    }

    /// How the output columns group: the slots of one one-hot column are mutually exclusive, so
    /// tree models treat them as one multi-bin feature (one histogram instead of one per slot).
    pub fn groups(&self) -> Vec<FeatureGroup> {
        let mut out = Vec::new();
        let mut offset = 0;
        for e in &self.encoders {
            match e {
                Encoder::OneHot { .. } => out.push(FeatureGroup::OneHot {
                    offset,
                    width: e.width(),
                }),
                Encoder::Scaled { missing_slot, .. } => {
                    out.push(FeatureGroup::Numeric { index: offset });
                    if *missing_slot {
                        out.push(FeatureGroup::OneHot {
                            offset: offset + 1,
                            width: 1,
                        });
                    }
                }
            }
            offset += e.width();
        }
        out
    }

    /// Encodes every row of `frame` as the dense matrix models score.
    pub fn transform(&self, frame: &Frame) -> Result<Array2<f64>, FeatureError> {
        Ok(self.encode(frame)?.dense(0..frame.n_rows()))
    }

    /// Encodes every row of `frame`, a compact column per feature group (see `Encoded`).
    pub fn encode(&self, frame: &Frame) -> Result<Encoded, FeatureError> {
        self.encode_rows(frame, None)
    }

    /// Encodes the rows `rows` of `frame` (all of them when `None`), in that order: a split's
    /// part is encoded straight from the whole frame, never copied out as a frame first.
    pub fn encode_rows(
        &self,
        frame: &Frame,
        rows: Option<&[usize]>,
    ) -> Result<Encoded, FeatureError> {
        use rayon::prelude::*;
        let groups = self.groups();
        let mut offsets = Vec::with_capacity(self.encoders.len());
        let mut offset = 0;
        for e in &self.encoders {
            offsets.push(offset);
            offset += e.width();
        }
        // Columns are independent: one per core, the first error in column order reported. A
        // few rows stay on this thread.
        let n = rows.map_or(frame.n_rows(), <[usize]>::len);
        let per_encoder: Vec<Result<Vec<EncodedColumn>, FeatureError>> =
            if n < crate::util::POOL_FROM_ROWS {
                self.encoders
                    .iter()
                    .zip(offsets)
                    .map(|(e, offset)| encode_column(e, offset, frame, rows))
                    .collect()
            } else {
                self.encoders
                    .par_iter()
                    .zip(offsets)
                    .map(|(e, offset)| encode_column(e, offset, frame, rows))
                    .collect()
            };
        let mut columns = Vec::with_capacity(groups.len());
        for c in per_encoder {
            columns.extend(c?);
        }
        debug_assert_eq!(columns.iter().map(|c| c.group).collect::<Vec<_>>(), groups);
        Ok(Encoded::new(n, self.n_features(), columns))
    }

    /// Encodes JSON records (one per row), through the same parsing as CSV files.
    pub fn transform_records(
        &self,
        spec: &DatasetSpec,
        records: &[serde_json::Map<String, serde_json::Value>],
    ) -> Result<Array2<f64>, FeatureError> {
        let frame = Frame::from_records(spec, records)?;
        self.transform(&frame)
    }
}

/// One encoder's feature groups over every row of `frame`: a one-hot group, or a quantity and,
/// when it may be missing, its indicator.
fn encode_column(
    e: &Encoder,
    offset: usize,
    frame: &Frame,
    rows: Option<&[usize]>,
) -> Result<Vec<EncodedColumn>, FeatureError> {
    let data = frame
        .column(e.column())
        .ok_or_else(|| FeatureError::MissingColumn(e.column().to_string()))?;
    match (e, data) {
        (
            Encoder::OneHot {
                levels,
                missing_slot,
                ..
            },
            ColumnData::Categorical(c),
        ) => {
            // One lookup per level of the frame, not per row. A frame with a few levels (a
            // served request) scans the levels instead of hashing them all.
            let frame_slot: Vec<Option<usize>> = if c.levels.len() <= 4 {
                c.levels
                    .iter()
                    .map(|l| levels.iter().position(|m| m == l))
                    .collect()
            } else {
                let slot_of: HashMap<&str, usize> = levels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (l.as_str(), i))
                    .collect();
                c.levels
                    .iter()
                    .map(|l| slot_of.get(l.as_str()).copied())
                    .collect()
            };
            let width = e.width();
            let slots = gather(&c.codes, rows, |code| {
                let slot = if code == MISSING_CODE {
                    missing_slot.then_some(levels.len())
                } else {
                    frame_slot[code as usize]
                };
                slot.unwrap_or(width) as u32
            });
            Ok(vec![EncodedColumn {
                group: FeatureGroup::OneHot { offset, width },
                values: Values::Slots(slots),
            }])
        }
        (
            Encoder::Scaled {
                mean,
                std,
                fill,
                missing_slot,
                ..
            },
            ColumnData::Numeric(v),
        ) => {
            // Bounded, so an extreme input (±1e308) cannot make a model's sum infinite on both
            // sides and its probability not a number.
            let scaled = gather(v, rows, |x| {
                let value = if x.is_nan() { *fill } else { x };
                ((value - mean) / std).clamp(-SCALED_LIMIT, SCALED_LIMIT)
            });
            let mut out = vec![EncodedColumn {
                group: FeatureGroup::Numeric { index: offset },
                values: Values::Scaled(scaled),
            }];
            if *missing_slot {
                out.push(EncodedColumn {
                    group: FeatureGroup::OneHot {
                        offset: offset + 1,
                        width: 1,
                    },
                    values: Values::Slots(gather(v, rows, |x| u32::from(!x.is_nan()))),
                });
            }
            Ok(out)
        }
        (e, other) => Err(FeatureError::WrongKind {
            column: e.column().to_string(),
            expected: match e {
                Encoder::OneHot { .. } => "categorical",
                Encoder::Scaled { .. } => "numeric",
            },
            found: kind_name(other),
        }),
    }
}

/// `f` of each value at `rows` (every value when `None`).
fn gather<T: Copy, U>(values: &[T], rows: Option<&[usize]>, f: impl Fn(T) -> U) -> Vec<U> {
    match rows {
        None => values.iter().map(|&v| f(v)).collect(),
        Some(rows) => rows.iter().map(|&r| f(values[r])).collect(),
    }
}

fn kind_name(c: &ColumnData) -> &'static str {
    match c {
        ColumnData::Numeric(_) => "numeric",
        ColumnData::Categorical(_) => "categorical",
        ColumnData::Id(_) => "id",
    }
}

/// Numbers in numeric order (`2` before `10`), everything else alphabetically.
fn sort_levels(levels: &mut [String]) {
    levels.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::load::{parse_csv, Labels};
    use std::path::Path;

    const CSV: &str = "case_id,Hospital_code,Hospital_type_code,City_Code_Hospital,Hospital_region_code,Available Extra Rooms in Hospital,Department,Ward_Type,Ward_Facility_Code,Bed Grade,patientid,City_Code_Patient,Type of Admission,Severity of Illness,Visitors with Patient,Age,Admission_Deposit,Stay
1,8,c,3,Z,3,radiotherapy,R,F,2.0,31397,7.0,Emergency,Extreme,2,51-60,4911.0,0-10
2,2,c,5,Z,2,radiotherapy,S,F,,31397,7.0,Trauma,Extreme,2,51-60,5954.0,41-50
3,10,e,1,X,2,anesthesia,S,E,2.0,31397,,Trauma,Extreme,2,51-60,4745.0,31-40
4,26,b,2,Y,2,radiotherapy,R,D,2.0,31397,7.0,Trauma,Extreme,2,51-60,7272.0,41-50
";

    fn frame() -> Frame {
        parse_csv(
            CSV.as_bytes().to_vec(),
            Path::new("t.csv"),
            &DatasetSpec::hospital(),
            Labels::Required,
        )
        .unwrap()
    }

    #[test]
    fn encodes_by_the_documented_rules() {
        let f = frame();
        let p = FeaturePipeline::fit(&f).unwrap();
        let names = p.feature_names();
        assert_eq!(names.len(), p.n_features());
        let x = p.transform(&f).unwrap();
        assert_eq!(x.nrows(), 4);
        let col = |n: &str| names.iter().position(|m| m == n).unwrap();
        // Numeric codes sort numerically.
        assert!(col("Hospital_code=2") < col("Hospital_code=10"));
        assert_eq!(x[[0, col("Hospital_code=8")]], 1.0);
        assert_eq!(x[[0, col("Hospital_code=2")]], 0.0);
        // Missing Bed Grade: median fill (2.0), scaled, and the indicator.
        assert_eq!(x[[1, col("Bed Grade (missing)")]], 1.0);
        assert_eq!(x[[0, col("Bed Grade (missing)")]], 0.0);
        assert_eq!(x[[1, col("Bed Grade")]], x[[0, col("Bed Grade")]]);
        assert_eq!(x[[2, col("City_Code_Patient (missing)")]], 1.0);
        // Deposit is standardised with the training mean and std.
        let d: Vec<f64> = (0..4).map(|r| x[[r, col("Admission_Deposit")]]).collect();
        assert!(d.iter().sum::<f64>().abs() < 1e-12);
        let var = d.iter().map(|v| v * v).sum::<f64>() / 4.0;
        assert!((var - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_compact_encoding_is_the_dense_matrix() {
        let f = frame();
        let p = FeaturePipeline::fit(&f).unwrap();
        let e = p.encode(&f).unwrap();
        let x = p.transform(&f).unwrap();
        assert_eq!(e.groups(), p.groups());
        assert_eq!(Encoded::from_dense(x.view(), &p.groups()), e);
        // A split's rows encode alike from the whole frame or from their own.
        let rows = [3, 1];
        assert_eq!(
            p.encode_rows(&f, Some(&rows)).unwrap(),
            p.encode(&f.take(&rows)).unwrap()
        );
        // Logistic regression's sums read the compact rows to the same bits as the dense ones.
        let w: Vec<f64> = (0..p.n_features())
            .map(|j| ((j * 7919) % 113) as f64 / 17.0 - 3.1)
            .collect();
        for r in 0..x.nrows() {
            let mut z = 0.25;
            for (a, b) in x.row(r).iter().zip(&w) {
                z += a * b;
            }
            assert_eq!(e.dot(r, &w, 0.25).to_bits(), z.to_bits());
            let (mut dense, mut compact) = (vec![0.5; w.len()], vec![0.5; w.len()]);
            for (g, a) in dense.iter_mut().zip(x.row(r)) {
                *g += 0.3 * a;
            }
            e.add_row(r, 0.3, &mut compact);
            assert_eq!(dense, compact);
        }
    }

    #[test]
    fn extreme_inputs_encode_to_finite_values() {
        // A scale this small turns 1e308 into infinity; a model's sum of +∞ and −∞ is NaN.
        let p = FeaturePipeline {
            encoders: vec![Encoder::Scaled {
                column: "Admission_Deposit".into(),
                mean: 0.0,
                std: 1e-3,
                fill: 0.0,
                missing_slot: false,
            }],
        };
        let spec = DatasetSpec::hospital();
        for v in [1e308, -1e308, f64::MAX, -f64::MAX] {
            let mut rec = serde_json::Map::new();
            rec.insert("Admission_Deposit".into(), serde_json::json!(v));
            for c in spec
                .columns
                .iter()
                .filter(|c| c.name != "Admission_Deposit")
            {
                let value = match c.value {
                    crate::data::spec::ValueType::Text => serde_json::json!("x"),
                    _ => serde_json::json!(1),
                };
                rec.insert(c.name.clone(), value);
            }
            rec.remove("Stay");
            let x = p.transform_records(&spec, &[rec]).unwrap();
            assert!(x.iter().all(|v| v.is_finite()), "{v}: {x:?}");
        }
    }

    #[test]
    fn unseen_categories_encode_as_zeros() {
        let p = FeaturePipeline::fit(&frame()).unwrap();
        let names = p.feature_names();
        let mut rec: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"Hospital_code": 99, "Hospital_type_code": "c", "City_Code_Hospital": 3,
                "Hospital_region_code": "Z", "Available Extra Rooms in Hospital": 3,
                "Department": "neurology", "Ward_Type": "R", "Ward_Facility_Code": "F",
                "Bed Grade": 2, "patientid": 1, "City_Code_Patient": 7,
                "Type of Admission": "Emergency", "Severity of Illness": "Minor",
                "Visitors with Patient": 2, "Age": "51-60", "Admission_Deposit": 4911}"#,
        )
        .unwrap();
        let x = p
            .transform_records(&DatasetSpec::hospital(), &[rec.clone()])
            .unwrap();
        for (i, n) in names.iter().enumerate() {
            if n.starts_with("Hospital_code=") || n.starts_with("Department=") {
                assert_eq!(x[[0, i]], 0.0, "{n}");
            }
        }
        rec.insert("Age".into(), serde_json::json!(true));
        let err = p
            .transform_records(&DatasetSpec::hospital(), &[rec])
            .unwrap_err();
        assert!(err.to_string().contains("'Age'"), "{err}");
    }

    #[test]
    fn pipeline_fitted_on_other_kinds_is_rejected() {
        let f = frame();
        let mut p = FeaturePipeline::fit(&f).unwrap();
        p.encoders[0] = Encoder::Scaled {
            column: "Department".into(),
            mean: 0.0,
            std: 1.0,
            fill: 0.0,
            missing_slot: false,
        };
        assert!(matches!(
            p.transform(&f),
            Err(FeatureError::WrongKind { .. })
        ));
    }
}
