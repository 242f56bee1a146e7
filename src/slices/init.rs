//! The `[slices]` table `data init --slices COL,...` writes: the columns asked for, numeric ones
//! cut at their quartiles in the file (rounded to three significant digits), so the table is
//! there to edit rather than to write from nothing.

use super::{SliceError, SliceSettings};
use crate::data::spec::{DatasetSpec, Role};
use crate::data::{ColumnData, Frame};

/// `[slices]` for `columns` of `spec`, numeric columns binned at their quartiles in `frame`.
pub fn settings_for(
    spec: &DatasetSpec,
    columns: &[String],
    frame: &Frame,
) -> Result<SliceSettings, SliceError> {
    let mut s = SliceSettings {
        columns: columns.to_vec(),
        ..Default::default()
    };
    for c in columns {
        let numeric = spec.column(c).is_some_and(|col| col.role == Role::Numeric);
        if let (true, Some(ColumnData::Numeric(v))) = (numeric, frame.column(c)) {
            s.bins.insert(c.clone(), quartiles(c, v)?);
        }
    }
    s.check(spec)?;
    Ok(s)
}

/// The distinct quartiles of a column's values, rounded.
fn quartiles(column: &str, values: &[f64]) -> Result<Vec<f64>, SliceError> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = Vec::new();
    if !v.is_empty() {
        for q in [0.25, 0.5, 0.75] {
            let e = round3(v[((v.len() - 1) as f64 * q).round() as usize]);
            // An edge at the smallest value would leave its bin below empty.
            if e > v[0] && edges.last().is_none_or(|l| e > *l) {
                edges.push(e);
            }
        }
    }
    if edges.is_empty() {
        return Err(SliceError::BadBins {
            column: column.to_string(),
            problem: "too few distinct values to cut at quartiles; give edges".into(),
        });
    }
    Ok(edges)
}

/// `x` to three significant digits.
fn round3(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(2 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// The table as `staytrack.toml` keeps it.
pub fn to_toml(s: &SliceSettings) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let cols: Vec<String> = s.columns.iter().map(|c| q(c)).collect();
    let mut out = format!(
        "[slices]\n# Numeric columns are cut at their bins; a categorical column keeps its \
         max_values - 1 most\n# frequent values past max_values (the rest are \"(other)\"); \
         slices under min_rows are\n# shown but left out of the gaps and the promotion gates.\n\
         columns = [{}]\nmax_values = {}\nmin_rows = {}\n",
        cols.join(", "),
        s.max_values,
        s.min_rows
    );
    if !s.bins.is_empty() {
        out.push_str("\n[slices.bins]\n");
        for (c, edges) in &s.bins {
            let e: Vec<String> = edges.iter().map(|e| format!("{e:?}")).collect();
            out.push_str(&format!("{} = [{}]\n", q(c), e.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_are_rounded_distinct_and_above_the_smallest_value() {
        let v: Vec<f64> = (0..=100).map(|i| 1000.0 + i as f64 * 12.345).collect();
        assert_eq!(quartiles("c", &v).unwrap(), [1310.0, 1620.0, 1930.0]);
        let e = quartiles("c", &[5.0; 10]).unwrap_err().to_string();
        assert!(e.contains("bins.c") && e.contains("too few"), "{e}");
        assert!(quartiles("c", &[0.0, 0.0, 0.0, 1.0]).is_err());
    }

    #[test]
    fn the_table_reads_back_as_the_same_settings() {
        let s = SliceSettings {
            columns: vec!["A b".into(), "n".into()],
            bins: [("n".to_string(), vec![1.5, 40.0])].into(),
            ..Default::default()
        };
        let text = to_toml(&s);
        let table: toml::Table = text.parse().unwrap();
        let back: SliceSettings = table["slices"].clone().try_into().unwrap();
        assert_eq!(back, s);
    }
}
