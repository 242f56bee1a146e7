//! The columns a table must have: its header against the spec, with hints for the usual
//! mistakes. One check for every reader (CSV and Parquet), so a file's columns are refused in
//! the same words whatever its format.

use std::path::Path;

use super::load::{Labels, LoadError};
use super::spec::{DatasetSpec, Role};

/// Refuses a header (names already distinct) that lacks a column the spec needs or has one it
/// does not know, naming each.
pub fn check_header(
    header: &[String],
    spec: &DatasetSpec,
    labels: Labels,
    path: &Path,
) -> Result<(), LoadError> {
    // Names are distinct: both readers refuse a name twice.
    let missing: Vec<String> = spec
        .columns
        .iter()
        .filter(|c| !(c.role == Role::Target && labels == Labels::Optional))
        .filter(|c| !header.contains(&c.name))
        .map(|c| c.name.clone())
        .collect();
    let unexpected: Vec<String> = header
        .iter()
        .filter(|h| spec.column(h).is_none())
        .cloned()
        .collect();
    if missing.is_empty() && unexpected.is_empty() {
        return Ok(());
    }
    let mut hints = Vec::new();
    if header.len() == 1 {
        for (sep, name) in [(';', "semicolons"), ('\t', "tabs"), ('|', "pipes")] {
            if header[0].matches(sep).count() >= 2 {
                hints.push(format!(
                    "the header has a single column and looks separated by {name}; \
                     staytrack reads comma-separated files"
                ));
                break;
            }
        }
    }
    for u in &unexpected {
        if hints.len() >= crate::util::MAX_LISTED {
            break;
        }
        if let Some(m) = missing.iter().find(|m| similar(m, u)) {
            hints.push(format!(
                "'{}' looks like a misspelling of '{m}'",
                crate::util::shown(u)
            ));
        }
    }
    if missing.len() == 1 && missing[0] == spec.target.column && unexpected.is_empty() {
        hints.push(format!(
            "training data needs the target column '{}'",
            spec.target.column
        ));
    }
    Err(LoadError::Columns {
        path: path.to_path_buf(),
        missing,
        unexpected,
        hints,
    })
}

/// Case and separator differences, or at most two edits apart.
fn similar(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    norm(a) == norm(b) || edit_distance(a, b) <= 2
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_are_recognised() {
        assert!(similar("Hospital_code", "Hospital_Code"));
        assert!(similar("Bed Grade", "Bed_Grade"));
        assert!(similar("Age", "Ages"));
        assert!(!similar("Age", "Department"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
