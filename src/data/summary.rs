//! A summary of a loaded frame, for `staytrack data check`.

use serde::Serialize;

use super::frame::{ColumnData, Frame};

#[derive(Debug, Clone, Serialize)]
pub struct ColumnSummary {
    pub name: String,
    pub kind: &'static str,
    pub missing: usize,
    pub distinct: usize,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// The most frequent categories with their counts (categorical columns).
    pub top: Vec<(String, usize)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub source: String,
    pub rows: usize,
    pub columns: Vec<ColumnSummary>,
    /// Rows per target label, when the file is labelled.
    pub labels: Option<Vec<(String, usize)>>,
    pub positive: Option<usize>,
}

pub fn summarise(frame: &Frame) -> Summary {
    let columns = frame
        .columns()
        .map(|(name, col)| match col {
            ColumnData::Numeric(v) => numeric_summary(name, "numeric", v.iter().copied()),
            // Ids are text: their count of distinct values and of rows without one.
            ColumnData::Id(v) => {
                let distinct: std::collections::HashSet<&str> = v.iter().collect();
                ColumnSummary {
                    name: name.to_string(),
                    kind: "id",
                    missing: v.iter().filter(|s| s.is_empty()).count(),
                    distinct: distinct.len() - usize::from(distinct.contains("")),
                    min: None,
                    max: None,
                    mean: None,
                    top: Vec::new(),
                }
            }
            ColumnData::Categorical(c) => {
                let mut counts = vec![0usize; c.levels.len()];
                let mut missing = 0;
                for &code in &c.codes {
                    match counts.get_mut(code as usize) {
                        Some(n) => *n += 1,
                        None => missing += 1,
                    }
                }
                let mut top: Vec<(String, usize)> = c
                    .levels
                    .iter()
                    .cloned()
                    .zip(counts)
                    .filter(|(_, n)| *n > 0)
                    .collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                ColumnSummary {
                    name: name.to_string(),
                    kind: "categorical",
                    missing,
                    distinct: top.len(),
                    min: None,
                    max: None,
                    mean: None,
                    top,
                }
            }
        })
        .collect();
    let labels = frame.labels.as_ref().map(|l| {
        let mut counts = vec![0usize; frame.spec.target.labels.len()];
        for &i in l {
            counts[i as usize] += 1;
        }
        frame
            .spec
            .target
            .labels
            .iter()
            .cloned()
            .zip(counts)
            .collect()
    });
    Summary {
        source: frame.source.clone(),
        rows: frame.n_rows(),
        columns,
        labels,
        positive: frame
            .target
            .as_ref()
            .map(|t| t.iter().map(|&x| x as usize).sum()),
    }
}

fn numeric_summary(name: &str, kind: &'static str, v: impl Iterator<Item = f64>) -> ColumnSummary {
    let (mut min, mut max, mut sum, mut n, mut missing) =
        (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize, 0usize);
    let mut distinct = std::collections::HashSet::new();
    for x in v {
        if x.is_nan() {
            missing += 1;
            continue;
        }
        min = min.min(x);
        max = max.max(x);
        sum += x;
        n += 1;
        if distinct.len() <= 100_000 {
            distinct.insert(x.to_bits());
        }
    }
    ColumnSummary {
        name: name.to_string(),
        kind,
        missing,
        distinct: distinct.len(),
        min: (n > 0).then_some(min),
        max: (n > 0).then_some(max),
        mean: (n > 0).then(|| sum / n as f64),
        top: Vec::new(),
    }
}
