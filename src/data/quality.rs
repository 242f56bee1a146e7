//! Data quality of scored rows, judged against the model's training data: missing values,
//! categories training never saw, numbers outside the training range, and values that arrived
//! as another type and were read as this one (a number sent as text). A request with Age
//! `200-300` is still answered; this is how it leaves a trace.
//!
//! One `Checker` per model (built from its spec and reference profile); the findings of a row are
//! logged with its prediction and counted per window by `monitor`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::frame::{ColumnData, Frame};
use super::profile::{ColumnProfile, Profile};
use super::spec::{DatasetSpec, ValueType};

/// What is wrong with a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Missing,
    Unseen,
    OutOfRange,
    Coerced,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Missing, Kind::Unseen, Kind::OutOfRange, Kind::Coerced];

    /// The name in reports, JSON and Prometheus labels.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Unseen => "unseen",
            Kind::OutOfRange => "out_of_range",
            Kind::Coerced => "coerced",
        }
    }
}

/// A value kept with a finding is cut to this many characters: a hostile request cannot make the
/// log hold its megabyte string twice.
const VALUE_CHARS: usize = 64;

/// One finding in one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub column: String,
    pub kind: Kind,
    /// The unseen label or the out-of-range number, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Issue {
    fn new(column: &str, kind: Kind, value: Option<String>) -> Issue {
        Issue {
            column: column.to_string(),
            kind,
            value: value.map(|v| v.chars().take(VALUE_CHARS).collect()),
        }
    }
}

enum Expect {
    Labels(HashSet<String>),
    Range(f64, f64),
    Anything,
}

struct Check {
    name: String,
    value: ValueType,
    expect: Expect,
}

/// Checks rows against one model's training data.
pub struct Checker {
    columns: Vec<Check>,
}

impl Checker {
    /// The model's feature columns, each with what training saw of it.
    pub fn new(spec: &DatasetSpec, profile: &Profile) -> Checker {
        let by_name: HashMap<&str, &ColumnProfile> =
            profile.columns.iter().map(|c| (c.name(), c)).collect();
        let columns = spec
            .features()
            .map(|c| {
                let expect = match by_name.get(c.name.as_str()) {
                    Some(ColumnProfile::Categorical { counts, .. }) => {
                        Expect::Labels(counts.keys().cloned().collect())
                    }
                    Some(p @ ColumnProfile::Numeric { .. }) => match p.range() {
                        Some((lo, hi)) => Expect::Range(lo, hi),
                        None => Expect::Anything,
                    },
                    None => Expect::Anything,
                };
                Check {
                    name: c.name.clone(),
                    value: c.value,
                    expect,
                }
            })
            .collect();
        Checker { columns }
    }

    /// The names of the columns checked, in spec order: the bounded set of `/metrics` series.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// The findings of each row of `frame` (empty for a clean row).
    pub fn frame(&self, frame: &Frame) -> Vec<Vec<Issue>> {
        let mut rows: Vec<Vec<Issue>> = vec![Vec::new(); frame.n_rows()];
        for check in &self.columns {
            let Some(data) = frame.column(&check.name) else {
                continue;
            };
            match (data, &check.expect) {
                (ColumnData::Numeric(v), expect) => {
                    for (row, &x) in v.iter().enumerate() {
                        if x.is_nan() {
                            rows[row].push(Issue::new(&check.name, Kind::Missing, None));
                        } else if let Expect::Range(lo, hi) = expect {
                            if x < *lo || x > *hi {
                                rows[row].push(Issue::new(
                                    &check.name,
                                    Kind::OutOfRange,
                                    Some(super::frame::canonical_number(x)),
                                ));
                            }
                        }
                    }
                }
                (ColumnData::Categorical(c), expect) => {
                    // Judge each level once, not each row.
                    let unseen: Vec<bool> = c
                        .levels
                        .iter()
                        .map(|l| matches!(expect, Expect::Labels(seen) if !seen.contains(l)))
                        .collect();
                    for (found, &code) in rows.iter_mut().zip(&c.codes) {
                        match code {
                            super::frame::MISSING_CODE => {
                                found.push(Issue::new(&check.name, Kind::Missing, None))
                            }
                            code if unseen[code as usize] => found.push(Issue::new(
                                &check.name,
                                Kind::Unseen,
                                Some(c.levels[code as usize].clone()),
                            )),
                            _ => {}
                        }
                    }
                }
                (ColumnData::Id(_), _) => {}
            }
        }
        rows
    }

    /// Adds a `coerced` finding for each value of `records` that arrived as another JSON type
    /// than its column's and was read as the column's: a number sent as text (`"5"`), or a
    /// whole number sent with a fraction (`3.0`) for an integer column. The records are the ones
    /// `frame` was built from, so every value here already parsed.
    pub fn coerced(
        &self,
        records: &[serde_json::Map<String, serde_json::Value>],
        rows: &mut [Vec<Issue>],
    ) {
        for (rec, found) in records.iter().zip(rows.iter_mut()) {
            for check in &self.columns {
                let coerced = match (rec.get(&check.name), check.value) {
                    (Some(serde_json::Value::String(s)), ValueType::Int | ValueType::Float) => {
                        !super::frame::is_missing_token(s.trim())
                    }
                    (Some(serde_json::Value::Number(n)), ValueType::Int) => n.is_f64(),
                    _ => false,
                };
                if coerced {
                    found.push(Issue::new(&check.name, Kind::Coerced, None));
                }
            }
        }
    }
}

/// How many of the top unseen values a summary keeps per column.
pub const TOP_UNSEEN: usize = 5;
/// How many distinct unseen values are tallied per column, so a stream of random labels cannot
/// grow the tally without bound. Beyond it the top values are still found, with counts that may
/// fall short by the number of values displaced; the totals per column stay exact.
const TALLY_LIMIT: usize = 1000;

/// Findings counted over many rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub rows: usize,
    counts: BTreeMap<(String, Kind), u64>,
    unseen: BTreeMap<String, HashMap<String, u64>>,
}

impl Tally {
    pub fn add_row(&mut self, issues: &[Issue]) {
        self.rows += 1;
        for i in issues {
            *self.counts.entry((i.column.clone(), i.kind)).or_default() += 1;
            if let (Kind::Unseen, Some(v)) = (i.kind, &i.value) {
                let t = self.unseen.entry(i.column.clone()).or_default();
                if let Some(n) = t.get_mut(v) {
                    *n += 1;
                } else if t.len() < TALLY_LIMIT {
                    t.insert(v.clone(), 1);
                } else {
                    // Misra-Gries: a full tally pays for a newcomer by taking one from every
                    // value, so a frequent value always gets in however late it comes, and the
                    // work stays constant per row.
                    t.retain(|_, n| {
                        *n -= 1;
                        *n > 0
                    });
                }
            }
        }
    }

    /// Adds a clean row.
    pub fn add_clean(&mut self) {
        self.rows += 1;
    }

    pub fn count(&self, column: &str, kind: Kind) -> u64 {
        self.counts
            .get(&(column.to_string(), kind))
            .copied()
            .unwrap_or(0)
    }

    /// Cells found per kind, over every column.
    pub fn total(&self, kind: Kind) -> u64 {
        self.counts
            .iter()
            .filter(|((_, k), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// The summary per column, columns with a finding only, in name order.
    pub fn summary(&self) -> QualitySummary {
        let mut columns: BTreeMap<&str, ColumnQuality> = BTreeMap::new();
        for ((col, kind), &n) in &self.counts {
            let c = columns.entry(col).or_insert_with(|| ColumnQuality {
                column: col.clone(),
                ..ColumnQuality::default()
            });
            match kind {
                Kind::Missing => c.missing = n,
                Kind::Unseen => c.unseen = n,
                Kind::OutOfRange => c.out_of_range = n,
                Kind::Coerced => c.coerced = n,
            }
        }
        for (col, values) in &self.unseen {
            if let Some(c) = columns.get_mut(col.as_str()) {
                let mut top: Vec<(String, u64)> =
                    values.iter().map(|(v, n)| (v.clone(), *n)).collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                top.truncate(TOP_UNSEEN);
                c.top_unseen = top;
            }
        }
        let share = |n: u64| n as f64 / self.rows.max(1) as f64;
        let worst = |k: Kind| {
            columns
                .values()
                .map(|c| share(c.count(k)))
                .fold(0.0_f64, f64::max)
        };
        QualitySummary {
            rows: self.rows,
            missing: self.total(Kind::Missing),
            unseen: self.total(Kind::Unseen),
            out_of_range: self.total(Kind::OutOfRange),
            coerced: self.total(Kind::Coerced),
            max_missing_share: worst(Kind::Missing),
            max_unseen_share: worst(Kind::Unseen),
            max_out_of_range_share: worst(Kind::OutOfRange),
            columns: columns.into_values().collect(),
        }
    }
}

/// Data quality of one column over a set of rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnQuality {
    pub column: String,
    pub missing: u64,
    pub unseen: u64,
    pub out_of_range: u64,
    pub coerced: u64,
    /// The most frequent unseen values with their counts, most frequent first.
    pub top_unseen: Vec<(String, u64)>,
}

impl ColumnQuality {
    pub fn count(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Missing => self.missing,
            Kind::Unseen => self.unseen,
            Kind::OutOfRange => self.out_of_range,
            Kind::Coerced => self.coerced,
        }
    }
}

/// Data quality over a set of rows: cells found per kind, the worst column's share of rows per
/// kind, and the columns with findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualitySummary {
    pub rows: usize,
    pub missing: u64,
    pub unseen: u64,
    pub out_of_range: u64,
    pub coerced: u64,
    pub max_missing_share: f64,
    pub max_unseen_share: f64,
    pub max_out_of_range_share: f64,
    pub columns: Vec<ColumnQuality>,
}

impl QualitySummary {
    /// One line: `2 missing, 5 unseen (Age: 200-300 ×5), 1 out of range`.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.missing, "missing"),
            (self.unseen, "unseen"),
            (self.out_of_range, "out of range"),
            (self.coerced, "coerced"),
        ] {
            if n > 0 {
                parts.push(format!("{} {what}", crate::util::thousands(n as usize)));
            }
        }
        if parts.is_empty() {
            return "clean".into();
        }
        let mut line = parts.join(", ");
        let top: Vec<String> = self
            .columns
            .iter()
            .filter_map(|c| {
                let (v, n) = c.top_unseen.first()?;
                Some(format!("{}: {v} ×{n}", c.column))
            })
            .take(3)
            .collect();
        if !top.is_empty() {
            line.push_str(&format!(" ({})", top.join("; ")));
        }
        line
    }
}

/// A row's findings as stored with its prediction: `None` for a clean row.
pub fn to_stored(issues: &[Issue]) -> Option<String> {
    if issues.is_empty() {
        None
    } else {
        serde_json::to_string(issues).ok()
    }
}

/// A stored row's findings; a value that does not parse (another version's, or damaged) counts
/// as clean rather than failing the window.
pub fn from_stored(text: Option<&str>) -> Vec<Issue> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_keeps_the_most_frequent_unseen_values_and_bounded_state() {
        let mut t = Tally::default();
        for i in 0..3000 {
            t.add_row(&[Issue::new(
                "Age",
                Kind::Unseen,
                Some(format!("v{}", i % 1500)),
            )]);
        }
        for _ in 0..10 {
            t.add_row(&[Issue::new("Age", Kind::Unseen, Some("200-300".into()))]);
        }
        t.add_clean();
        let s = t.summary();
        assert_eq!(s.rows, 3011);
        assert_eq!(s.unseen, 3010);
        assert_eq!(s.columns[0].top_unseen[0].0, "200-300");
        assert!(t.unseen["Age"].len() <= TALLY_LIMIT);
        assert!(s.line().contains("Age: 200-300 ×10"), "{}", s.line());
    }

    #[test]
    fn long_values_are_cut_and_stored_findings_round_trip() {
        let i = Issue::new("Ward_Type", Kind::Unseen, Some("x".repeat(10_000)));
        assert_eq!(i.value.as_ref().unwrap().len(), VALUE_CHARS);
        let stored = to_stored(std::slice::from_ref(&i));
        assert_eq!(from_stored(stored.as_deref()), vec![i]);
        assert_eq!(to_stored(&[]), None);
        assert!(from_stored(Some("not json")).is_empty());
    }
}
