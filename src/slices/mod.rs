//! Slices: how a model does for each value of a column the workspace names in `[slices]` of
//! `staytrack.toml`, and the fairness gaps between those values, as fairlearn reports them.
//!
//! ```toml
//! [slices]
//! columns = ["region", "deposit"]   # the spec's categorical or numeric columns
//! max_values = 10    # a categorical column's most frequent values kept, the rest "(other)"
//! min_rows = 30      # slices with fewer rows are shown but neither gapped nor gated
//! [slices.bins]
//! deposit = [3000, 5000]            # numeric columns need edges: < 3000, [3000, 5000), ≥ 5000
//! ```
//!
//! A categorical column slices by its values. When it has more than `max_values` of them in the
//! rows measured, the `max_values − 1` most frequent are kept (ties by name) and the rest share
//! the slice `(other)`. A numeric column slices by its bins. Missing values are the slice
//! `(missing)`. Each column is sliced on its own (no crossing).
//!
//! Grouping (`Grouping`) happens where the rows are (training's validation split, a monitor
//! window's labelled rows); measuring (`measure`) needs only labels, probabilities and groups.

pub mod compare;
pub mod init;
mod measure;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::data::frame::MISSING_CODE;
use crate::data::spec::{DatasetSpec, Role};
use crate::data::ColumnData;

pub use measure::{measure, ColumnSlices, GroupMetrics, SliceReport};

/// The slice of rows whose value is missing.
pub const MISSING: &str = "(missing)";
/// The slice of a categorical column's rarer values, past `max_values`.
pub const OTHER: &str = "(other)";
/// The store's curve kinds: the report, and each validation row's slice (for paired tests).
pub const REPORT_CURVE: &str = "slices";
pub const ROWS_CURVE: &str = "slice_rows";

/// Most columns `[slices]` may name, and most bin edges per column: a report stays readable.
const MAX_COLUMNS: usize = 16;
const MAX_EDGES: usize = 32;
/// The largest `max_values`: slices are looked at by people, and stored per run.
const MAX_VALUES: usize = 50;

/// The `[slices]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceSettings {
    /// The spec's columns to slice by, in the order reports show them.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Bin edges of each numeric column, increasing.
    #[serde(default)]
    pub bins: BTreeMap<String, Vec<f64>>,
    /// Slices a categorical column keeps before grouping the rest as `(other)`.
    #[serde(default = "default_max_values")]
    pub max_values: usize,
    /// Rows a slice needs to count in the gaps and the promotion gates.
    #[serde(default = "default_min_rows")]
    pub min_rows: usize,
}

fn default_max_values() -> usize {
    10
}

fn default_min_rows() -> usize {
    30
}

impl Default for SliceSettings {
    fn default() -> SliceSettings {
        SliceSettings {
            columns: Vec::new(),
            bins: BTreeMap::new(),
            max_values: default_max_values(),
            min_rows: default_min_rows(),
        }
    }
}

/// Why `[slices]` cannot be used, naming the key and the column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SliceError {
    #[error("columns: '{column}' is not a column of the dataset spec")]
    UnknownColumn { column: String },
    #[error("columns: '{column}' is the {role}; slice by a categorical or numeric column")]
    NotAFeature { column: String, role: &'static str },
    #[error("columns: '{column}' appears twice")]
    Duplicate { column: String },
    #[error("columns: {count} columns; at most {MAX_COLUMNS}")]
    TooManyColumns { count: usize },
    #[error("bins.{column}: '{column}' is numeric and needs bin edges (bins.{column} = [40, 60])")]
    NoBins { column: String },
    #[error("bins.{column}: '{column}' is not in columns")]
    BinsUnused { column: String },
    #[error("bins.{column}: '{column}' is categorical and slices by its values; drop its bins")]
    BinsOnCategorical { column: String },
    #[error("bins.{column}: {problem}")]
    BadBins { column: String, problem: String },
    #[error("max_values: {value} is out of range (2 to {MAX_VALUES})")]
    MaxValues { value: usize },
    #[error("min_rows: 0 rows cannot be measured; use 1 or more")]
    MinRows,
}

/// Why the settings cannot be read: the file, or a value (the message names the file).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0:#}")]
    Settings(anyhow::Error),
    #[error("{file} [slices] {problem}")]
    Invalid { file: String, problem: SliceError },
}

impl SliceSettings {
    /// `[slices]` of the workspace, checked against `spec`; no columns when there is none.
    pub fn load(cfg: &Config, spec: &DatasetSpec) -> Result<SliceSettings, SettingsError> {
        let s: SliceSettings = cfg.section("slices").map_err(SettingsError::Settings)?;
        s.check(spec).map_err(|problem| SettingsError::Invalid {
            file: cfg.settings_file().display().to_string(),
            problem,
        })?;
        Ok(s)
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Every column a feature of `spec`, numeric ones binned, edges finite and increasing.
    pub fn check(&self, spec: &DatasetSpec) -> Result<(), SliceError> {
        if self.columns.len() > MAX_COLUMNS {
            return Err(SliceError::TooManyColumns {
                count: self.columns.len(),
            });
        }
        if !(2..=MAX_VALUES).contains(&self.max_values) {
            return Err(SliceError::MaxValues {
                value: self.max_values,
            });
        }
        if self.min_rows == 0 {
            return Err(SliceError::MinRows);
        }
        for (i, name) in self.columns.iter().enumerate() {
            if self.columns[..i].contains(name) {
                return Err(SliceError::Duplicate {
                    column: name.clone(),
                });
            }
            let col = spec.column(name).ok_or_else(|| SliceError::UnknownColumn {
                column: name.clone(),
            })?;
            let bins = self.bins.get(name);
            match (col.role, bins) {
                (Role::Id, _) | (Role::Target, _) => {
                    return Err(SliceError::NotAFeature {
                        column: name.clone(),
                        role: if col.role == Role::Id {
                            "id column"
                        } else {
                            "target"
                        },
                    })
                }
                (Role::Numeric, None) => {
                    return Err(SliceError::NoBins {
                        column: name.clone(),
                    })
                }
                (Role::Categorical, Some(_)) => {
                    return Err(SliceError::BinsOnCategorical {
                        column: name.clone(),
                    })
                }
                (Role::Numeric, Some(edges)) => check_edges(name, edges)?,
                (Role::Categorical, None) => {}
            }
        }
        if let Some(c) = self.bins.keys().find(|c| !self.columns.contains(c)) {
            return Err(SliceError::BinsUnused { column: c.clone() });
        }
        Ok(())
    }

    /// How `column` is cut: by its bins, or by its values.
    fn cut(&self, column: &str) -> Cut<'_> {
        match self.bins.get(column) {
            Some(edges) => Cut::Bins(edges),
            None => Cut::Values(self.max_values),
        }
    }

    /// The groups of `rows` of a frame's columns; columns the frame lacks are skipped.
    pub fn group_frame(&self, frame: &crate::data::Frame, rows: &[usize]) -> Vec<Grouping> {
        self.columns
            .iter()
            .filter_map(|name| {
                let values: Vec<Value> = match frame.column(name)? {
                    ColumnData::Numeric(v) => rows
                        .iter()
                        .map(|&i| Value::Number(v.get(i).copied().unwrap_or(f64::NAN)))
                        .collect(),
                    ColumnData::Categorical(c) => {
                        let codes = rows
                            .iter()
                            .map(|&i| c.codes.get(i).copied().unwrap_or(MISSING_CODE));
                        return Some(match self.cut(name) {
                            Cut::Values(max) => by_codes(name, max, codes, &c.levels),
                            // `check` refuses bins on a categorical column.
                            Cut::Bins(_) => by_codes(name, self.max_values, codes, &c.levels),
                        });
                    }
                    ColumnData::Id(_) => return None,
                };
                Some(Grouping::of(name, &self.cut(name), &values))
            })
            .collect()
    }

    /// The groups of JSON records (logged inputs): a number or its text for a numeric column,
    /// any scalar's text for a categorical one; absent, null or unreadable is missing.
    pub fn group_records(
        &self,
        records: &[Option<serde_json::Map<String, serde_json::Value>>],
    ) -> Vec<Grouping> {
        self.columns
            .iter()
            .map(|name| {
                let cut = self.cut(name);
                let values: Vec<Value> = records
                    .iter()
                    .map(|r| {
                        let v = r.as_ref().and_then(|r| r.get(name));
                        match (&cut, v) {
                            (Cut::Bins(_), Some(serde_json::Value::Number(n))) => {
                                Value::Number(n.as_f64().unwrap_or(f64::NAN))
                            }
                            (Cut::Bins(_), Some(serde_json::Value::String(s))) => {
                                Value::Number(s.trim().parse().unwrap_or(f64::NAN))
                            }
                            (Cut::Bins(_), _) => Value::Number(f64::NAN),
                            (Cut::Values(_), Some(serde_json::Value::String(s))) => {
                                Value::Text(Some(s.clone()))
                            }
                            (Cut::Values(_), Some(serde_json::Value::Number(n))) => {
                                Value::Text(Some(n.to_string()))
                            }
                            (Cut::Values(_), Some(serde_json::Value::Bool(b))) => {
                                Value::Text(Some(b.to_string()))
                            }
                            (Cut::Values(_), _) => Value::Text(None),
                        }
                    })
                    .collect();
                Grouping::of(name, &cut, &values)
            })
            .collect()
    }
}

/// The slices of the rows a run is validated on, kept from loading to each fit's evaluation.
#[derive(Debug, Clone, Default)]
pub struct Sliced {
    pub groupings: Vec<Grouping>,
    pub min_rows: usize,
}

impl Sliced {
    /// `rows` of `frame` sliced by `settings`.
    pub fn of_frame(
        settings: &SliceSettings,
        frame: &crate::data::Frame,
        rows: &[usize],
    ) -> Sliced {
        Sliced {
            groupings: settings.group_frame(frame, rows),
            min_rows: settings.min_rows,
        }
    }

    /// The slices of predictions `p` of the rows, labelled `y`; `None` when nothing is sliced.
    pub fn measure(
        &self,
        y: &[u8],
        p: &[f64],
        threshold: f64,
    ) -> Option<Result<SliceReport, crate::metrics::MetricsError>> {
        (!self.groupings.is_empty())
            .then(|| measure(y, p, &self.groupings, threshold, self.min_rows.max(1)))
    }
}

/// The slice columns' values of rows arriving one at a time as logged inputs (JSON text), kept
/// without the rest of each row until they are measured.
#[derive(Debug, Clone, Default)]
pub struct Collector {
    settings: SliceSettings,
    rows: Vec<Option<serde_json::Map<String, serde_json::Value>>>,
}

impl Collector {
    pub fn new(settings: &SliceSettings) -> Collector {
        Collector {
            settings: settings.clone(),
            rows: Vec::new(),
        }
    }

    /// Keeps a row's slice values; unreadable inputs make every value missing.
    pub fn push(&mut self, inputs: &str) {
        if self.settings.is_empty() {
            return;
        }
        let row = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(inputs)
            .ok()
            .map(|mut all| {
                let cols = &self.settings.columns;
                all.retain(|k, _| cols.contains(k));
                all
            });
        self.rows.push(row);
    }

    /// The slices of the rows pushed, labelled `y` with probabilities `p` in the same order;
    /// `None` when nothing is sliced or no row was pushed.
    pub fn measure(
        &self,
        y: &[u8],
        p: &[f64],
        threshold: f64,
    ) -> Option<Result<SliceReport, crate::metrics::MetricsError>> {
        if self.settings.is_empty() || self.rows.is_empty() {
            return None;
        }
        let g = self.settings.group_records(&self.rows);
        Some(measure(y, p, &g, threshold, self.settings.min_rows.max(1)))
    }
}

fn check_edges(column: &str, edges: &[f64]) -> Result<(), SliceError> {
    let bad = |problem: String| SliceError::BadBins {
        column: column.to_string(),
        problem,
    };
    if edges.is_empty() {
        return Err(bad("no edges; give at least one".into()));
    }
    if edges.len() > MAX_EDGES {
        return Err(bad(format!("{} edges; at most {MAX_EDGES}", edges.len())));
    }
    if let Some(e) = edges.iter().find(|e| !e.is_finite()) {
        return Err(bad(format!("{e} is not a finite number")));
    }
    if let Some(w) = edges.windows(2).find(|w| w[0] >= w[1]) {
        return Err(bad(format!("edges must increase ({} then {})", w[0], w[1])));
    }
    Ok(())
}

/// How a column is cut into slices.
enum Cut<'a> {
    Bins(&'a [f64]),
    Values(usize),
}

/// One row's value of a slice column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `NaN` is missing.
    Number(f64),
    Text(Option<String>),
}

/// The slices of one column over some rows: their names, and each row's slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grouping {
    pub column: String,
    /// The slices, in the order reports show them: bins in order, values by name, then
    /// `(other)` and `(missing)`.
    pub labels: Vec<String>,
    /// Each row's slice, an index into `labels`.
    pub members: Vec<u16>,
}

impl Grouping {
    fn of(column: &str, cut: &Cut<'_>, values: &[Value]) -> Grouping {
        match cut {
            Cut::Bins(edges) => by_bins(column, edges, values),
            Cut::Values(max) => by_values(column, *max, values),
        }
    }

    /// The rows of slice `g`.
    pub fn rows_of(&self, g: usize) -> Vec<usize> {
        self.members
            .iter()
            .enumerate()
            .filter(|(_, &m)| m as usize == g)
            .map(|(i, _)| i)
            .collect()
    }
}

/// The name of bin `k` of `edges`: `< a`, `[a, b)` or `≥ z`.
pub fn bin_label(edges: &[f64], k: usize) -> String {
    match k {
        0 => format!("< {}", edges[0]),
        k if k == edges.len() => format!("≥ {}", edges[k - 1]),
        k => format!("[{}, {})", edges[k - 1], edges[k]),
    }
}

fn by_bins(column: &str, edges: &[f64], values: &[Value]) -> Grouping {
    let missing = edges.len() + 1;
    let raw: Vec<usize> = values
        .iter()
        .map(|v| match v {
            Value::Number(x) if !x.is_nan() => edges.partition_point(|e| e <= x),
            _ => missing,
        })
        .collect();
    let mut used = vec![false; missing + 1];
    for &r in &raw {
        used[r] = true;
    }
    // Only slices with rows are named, so indexes are renumbered over the used ones.
    let mut index = vec![0u16; missing + 1];
    let mut labels = Vec::new();
    for k in 0..=missing {
        if used[k] {
            index[k] = labels.len() as u16;
            labels.push(if k == missing {
                MISSING.to_string()
            } else {
                bin_label(edges, k)
            });
        }
    }
    Grouping {
        column: column.to_string(),
        labels,
        members: raw.into_iter().map(|r| index[r]).collect(),
    }
}

fn by_values(column: &str, max: usize, values: &[Value]) -> Grouping {
    // Interned first, so the values are counted and looked up as codes.
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut levels: Vec<String> = Vec::new();
    let codes: Vec<u32> = values
        .iter()
        .map(|v| {
            let text = match v {
                Value::Text(Some(t)) => t.clone(),
                Value::Number(x) if !x.is_nan() => x.to_string(),
                _ => return MISSING_CODE,
            };
            *index.entry(text).or_insert_with_key(|t| {
                levels.push(t.clone());
                (levels.len() - 1) as u32
            })
        })
        .collect();
    by_codes(column, max, codes.into_iter(), &levels)
}

/// Slices of rows given as codes into `levels` (`MISSING_CODE`: missing), as a frame keeps a
/// categorical column.
fn by_codes(
    column: &str,
    max: usize,
    codes: impl Iterator<Item = u32> + Clone,
    levels: &[String],
) -> Grouping {
    let mut counts = vec![0usize; levels.len()];
    let mut has_missing = false;
    for c in codes.clone() {
        match counts.get_mut(c as usize) {
            Some(n) => *n += 1,
            None => has_missing = true,
        }
    }
    let mut named: Vec<(usize, usize)> = counts
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(i, &n)| (i, n))
        .collect();
    named.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| levels[a.0].cmp(&levels[b.0])));
    let keep = if named.len() > max {
        max - 1
    } else {
        named.len()
    };
    let other = named.len() > keep;
    // The kept values are shown in their natural (text) order, as people scan a table.
    named.truncate(keep);
    named.sort_by(|a, b| levels[a.0].cmp(&levels[b.0]));
    let mut labels: Vec<String> = named.iter().map(|(i, _)| levels[*i].clone()).collect();
    let other_at = labels.len() as u16;
    let mut slot = vec![other_at; levels.len()];
    for (k, (i, _)) in named.iter().enumerate() {
        slot[*i] = k as u16;
    }
    if other {
        labels.push(OTHER.to_string());
    }
    let missing_at = labels.len() as u16;
    if has_missing {
        labels.push(MISSING.to_string());
    }
    let members = codes
        .map(|c| slot.get(c as usize).copied().unwrap_or(missing_at))
        .collect();
    Grouping {
        column: column.to_string(),
        labels,
        members,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: &[&str]) -> Vec<Value> {
        v.iter()
            .map(|s| Value::Text((!s.is_empty()).then(|| s.to_string())))
            .collect()
    }

    #[test]
    fn values_past_the_cap_share_other_and_missing_is_its_own_slice() {
        let g = by_values("c", 3, &texts(&["b", "a", "b", "c", "d", "", "b", "a"]));
        assert_eq!(g.labels, ["a", "b", OTHER, MISSING]);
        assert_eq!(g.members, [1, 0, 1, 2, 2, 3, 1, 0]);
        let g = by_values("c", 3, &texts(&["x", "y", "x"]));
        assert_eq!(g.labels, ["x", "y"]);
    }

    #[test]
    fn bins_are_left_closed_and_only_used_bins_are_named() {
        let edges = [40.0, 60.0];
        let v: Vec<Value> = [10.0, 40.0, 59.9, 60.0, f64::NAN]
            .into_iter()
            .map(Value::Number)
            .collect();
        let g = by_bins("n", &edges, &v);
        assert_eq!(g.labels, ["< 40", "[40, 60)", "≥ 60", MISSING]);
        assert_eq!(g.members, [0, 1, 1, 2, 3]);
        let g = by_bins("n", &edges, &[Value::Number(70.0)]);
        assert_eq!(g.labels, ["≥ 60"]);
        assert_eq!(g.members, [0]);
    }

    #[test]
    fn logged_inputs_keep_only_slice_values_and_unreadable_ones_are_missing() {
        let settings = SliceSettings {
            columns: vec!["c".into(), "n".into()],
            bins: [("n".to_string(), vec![1.0])].into(),
            ..Default::default()
        };
        let mut c = Collector::new(&settings);
        c.push(r#"{"c": "x", "n": 0.5, "other": "drop me"}"#);
        c.push(r#"{"c": 3, "n": "2"}"#);
        c.push("not json");
        assert!(c.rows[0].as_ref().unwrap().get("other").is_none());
        let g = settings.group_records(&c.rows);
        assert_eq!(g[0].labels, ["3", "x", MISSING]);
        assert_eq!(g[0].members, [1, 0, 2]);
        assert_eq!(g[1].labels, ["< 1", "≥ 1", MISSING]);
        assert_eq!(g[1].members, [0, 1, 2]);
        let r = c
            .measure(&[1, 0, 1], &[0.9, 0.2, 0.6], 0.5)
            .unwrap()
            .unwrap();
        assert_eq!(r.columns[0].slices.len(), 3);
        assert!(Collector::new(&SliceSettings::default())
            .measure(&[1], &[0.5], 0.5)
            .is_none());
    }

    #[test]
    fn hostile_settings_name_the_key_and_column() {
        let spec = DatasetSpec::hospital();
        let s = |text: &str| -> Result<(), SliceError> {
            let s: SliceSettings = toml::from_str(text).unwrap();
            s.check(&spec)
        };
        assert!(s("columns = [\"Age\", \"Hospital_region_code\"]").is_ok());
        let e = s("columns = [\"Nope\"]").unwrap_err().to_string();
        assert!(e.contains("'Nope' is not a column"), "{e}");
        let e = s("columns = [\"Admission_Deposit\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bins.Admission_Deposit"), "{e}");
        let e = s("columns = [\"Admission_Deposit\"]\nbins.Admission_Deposit = [5, 5]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("edges must increase"), "{e}");
        assert!(
            s("columns = [\"Admission_Deposit\"]\nbins.Admission_Deposit = [3000, 5000]").is_ok()
        );
        let e = s("columns = [\"Age\"]\nbins.Age = [1]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("categorical"), "{e}");
        let e = s("columns = [\"case_id\"]").unwrap_err().to_string();
        assert!(e.contains("id column"), "{e}");
        let e = s("columns = [\"Age\", \"Age\"]").unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        let e = s("columns = [\"Age\"]\nmax_values = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_values"), "{e}");
        let e = s("columns = [\"Age\"]\nmin_rows = 0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("min_rows"), "{e}");
        let e = s("bins.Admission_Deposit = [1]").unwrap_err().to_string();
        assert!(e.contains("not in columns"), "{e}");
        assert!(toml::from_str::<SliceSettings>("colums = []").is_err());
    }
}
