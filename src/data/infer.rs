//! A dataset spec inferred from a CSV file (`staytrack data init`), with a note for every
//! inference that could be wrong, and the `[dataset]` table that records it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::frame::is_missing_token;
use super::spec::{ColumnSpec, DatasetSpec, Role, TargetRule, ValueType};

/// What the user said; everything else is inferred.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    pub target: String,
    pub positive: Vec<String>,
    pub ids: Vec<String>,
    pub name: Option<String>,
}

/// Integer columns with at most this many distinct values are read as categories.
pub const MAX_INT_CATEGORIES: usize = 20;

/// The spec of `path`, and one note per inference worth a second look.
pub fn infer_spec(path: &Path, o: &InitOptions) -> anyhow::Result<(DatasetSpec, Vec<String>)> {
    let p = path.display();
    let table = super::load::read_text_columns(path)?;
    anyhow::ensure!(
        table.rows() > 0,
        "{p}: a header and no rows; a spec needs data to read"
    );
    let names: Vec<String> = table.header.clone();
    let mut seen = BTreeSet::new();
    if let Some(d) = names.iter().find(|n| !seen.insert(n.as_str())) {
        anyhow::bail!("{p}: the column '{d}' appears twice in the header");
    }
    for (flag, want) in
        std::iter::once(("--target", &o.target)).chain(o.ids.iter().map(|i| ("--id", i)))
    {
        anyhow::ensure!(
            names.contains(want),
            "{p}: {flag} {want}: no such column (the columns are {})",
            names.join(", ")
        );
    }
    let mut notes = Vec::new();
    let mut columns = Vec::new();
    let mut target = None;
    // By position, not by name: a lookup by name per column is quadratic in a wide file.
    for (at, name) in names.iter().enumerate() {
        let values: Vec<&str> = table
            .columns
            .get(at)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|v| v.as_deref().unwrap_or(""))
            .collect();
        let present: Vec<&str> = values
            .iter()
            .copied()
            .filter(|v| !is_missing_token(v.trim()))
            .collect();
        let missing = values.len() - present.len();
        let ints = present.iter().all(|v| v.trim().parse::<i64>().is_ok());
        let floats = present
            .iter()
            .all(|v| v.trim().parse::<f64>().is_ok_and(f64::is_finite));
        let distinct: BTreeSet<&str> = present.iter().map(|v| v.trim()).collect();
        let value = if present.is_empty() {
            notes.push(format!("'{name}' is empty in every row; read as text"));
            ValueType::Text
        } else if ints {
            ValueType::Int
        } else if floats {
            ValueType::Float
        } else {
            ValueType::Text
        };
        if *name == o.target {
            anyhow::ensure!(
                missing == 0,
                "{p}: the target '{name}' is missing in {missing} row(s); every row needs a label"
            );
            target = Some(target_rule(
                name,
                &distinct,
                &present,
                value,
                o,
                &mut notes,
                &p.to_string(),
            )?);
            columns.push(ColumnSpec {
                name: name.clone(),
                role: Role::Target,
                value,
                nullable: false,
            });
            continue;
        }
        let unique = distinct.len() == present.len() && missing == 0;
        let looks_like_id = {
            let l = name.to_ascii_lowercase();
            l == "id"
                || l.ends_with("_id")
                || l.ends_with("id") && l.len() > 2 && !l.ends_with("aid")
        };
        // Ids are any text within a bound; a column that has one that is not is refused here,
        // naming the value, rather than on every later read.
        let bad_id = || {
            present
                .iter()
                .find(|v| crate::data::frame::parse_id(v.trim(), value == ValueType::Int).is_err())
        };
        let role = if o.ids.contains(name) {
            if let Some(v) = bad_id() {
                anyhow::bail!(
                    "{p}: --id {name}: '{}' is not an id: ids are text of at most {} characters without control characters",
                    crate::util::shown(v),
                    crate::data::frame::MAX_ID_CHARS
                );
            }
            Role::Id
        } else if (value == ValueType::Int && (unique || looks_like_id)
            // Text different in every row (past a handful of rows) names rows; it never helps a
            // model as a category.
            || value == ValueType::Text && unique && (looks_like_id || present.len() > 20))
            && missing == 0
            && bad_id().is_none()
        {
            notes.push(format!(
                "'{name}' read as an id ({}); give --id for every id column to choose yourself",
                match (value, unique) {
                    (ValueType::Text, _) => "text different in every row",
                    (_, true) => "a different whole number in every row",
                    _ => "named like one",
                }
            ));
            Role::Id
        } else if value == ValueType::Text {
            if distinct.len() > present.len() / 2 && present.len() > 20 {
                notes.push(format!(
                    "'{name}' is text with {} distinct values in {} rows: a category this varied \
                     seldom helps a model; drop the column from the spec if it is free text",
                    distinct.len(),
                    present.len()
                ));
            }
            Role::Categorical
        } else if value == ValueType::Int && distinct.len() <= MAX_INT_CATEGORIES {
            notes.push(format!(
                "'{name}' read as a category: whole numbers with {} distinct values; set its role \
                 to numeric if they are quantities",
                distinct.len()
            ));
            Role::Categorical
        } else {
            Role::Numeric
        };
        if missing > 0 {
            notes.push(format!(
                "'{name}' is nullable: {missing} of {} rows have no value",
                values.len()
            ));
        }
        columns.push(ColumnSpec {
            name: name.clone(),
            role,
            value,
            nullable: missing > 0,
        });
    }
    let spec = DatasetSpec {
        name: o.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or("dataset".into(), |s| s.to_string_lossy().to_string())
        }),
        columns,
        target: target.expect("the target column was checked to be in the header"),
    };
    spec.validate().map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
    Ok((spec, notes))
}

/// The target's labels in their natural order (numbers by value), and the positive ones.
fn target_rule(
    name: &str,
    distinct: &BTreeSet<&str>,
    present: &[&str],
    value: ValueType,
    o: &InitOptions,
    notes: &mut Vec<String>,
    p: &str,
) -> anyhow::Result<TargetRule> {
    let mut labels: Vec<String> = distinct.iter().map(|s| s.to_string()).collect();
    if value != ValueType::Text {
        labels.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        });
    }
    anyhow::ensure!(
        labels.len() >= 2,
        "{p}: the target '{name}' has one label ('{}'); a model needs two",
        labels.first().map_or("", String::as_str)
    );
    let positive = if !o.positive.is_empty() {
        for l in &o.positive {
            anyhow::ensure!(
                labels.contains(l),
                "{p}: --positive {l}: not a label of '{name}' (its labels are {})",
                labels.join(", ")
            );
        }
        o.positive.clone()
    } else {
        anyhow::ensure!(
            labels.len() == 2,
            "{p}: the target '{name}' has {} labels ({}); say which make the target 1 with \
             --positive LABEL,...",
            labels.len(),
            labels.join(", ")
        );
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for v in present {
            *counts.entry(v.trim()).or_default() += 1;
        }
        let minority = labels
            .iter()
            .min_by_key(|l| counts.get(l.as_str()).copied().unwrap_or(0))
            .cloned()
            .unwrap_or_default();
        notes.push(format!(
            "the positive label is '{minority}', the rarer one ({} of {} rows); give --positive to \
             choose",
            counts.get(minority.as_str()).copied().unwrap_or(0),
            present.len()
        ));
        vec![minority]
    };
    let mut rule = TargetRule {
        column: name.to_string(),
        description: format!("{name} is {}", positive.join(" or ")),
        labels,
        positive,
        class_column: None,
        positive_name: None,
        negative_name: None,
    };
    // Written out, so the names every chart and table uses are there to edit.
    rule.positive_name = Some(rule.positive_name());
    rule.negative_name = Some(rule.negative_name());
    Ok(rule)
}

/// The `[dataset]` table for `spec`, as `staytrack.toml` keeps it.
pub fn to_toml(spec: &DatasetSpec) -> String {
    // JSON strings are valid TOML basic strings (the same escapes).
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let list = |v: &[String]| v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ");
    let role = |r: Role| match r {
        Role::Id => "id",
        Role::Categorical => "categorical",
        Role::Numeric => "numeric",
        Role::Target => "target",
    };
    let value = |v: ValueType| match v {
        ValueType::Int => "int",
        ValueType::Float => "float",
        ValueType::Text => "text",
    };
    let mut out = format!("[dataset]\nname = {}\n\n[dataset.target]\n", q(&spec.name));
    out += &format!(
        "column = {}\nlabels = [{}]\npositive = [{}]\ndescription = {}\n",
        q(&spec.target.column),
        list(&spec.target.labels),
        list(&spec.target.positive),
        q(&spec.target.description)
    );
    for (key, name) in [
        ("positive_name", &spec.target.positive_name),
        ("negative_name", &spec.target.negative_name),
    ] {
        if let Some(n) = name {
            out += &format!("{key} = {}\n", q(n));
        }
    }
    for c in &spec.columns {
        out += &format!(
            "\n[[dataset.columns]]\nname = {}\nrole = \"{}\"\nvalue = \"{}\"\nnullable = {}\n",
            q(&c.name),
            role(c.role),
            value(c.value),
            c.nullable
        );
    }
    out
}

/// `settings` (the settings file's text) with its `[dataset]` tables replaced by `table`:
/// every other table and comment kept as it was.
pub fn replace_dataset(settings: &str, table: &str) -> String {
    let mut out = String::new();
    let mut in_dataset = false;
    for line in settings.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            let header = t.trim_start_matches('[').trim_start();
            in_dataset = header.starts_with("dataset]") || header.starts_with("dataset.");
        }
        if !in_dataset {
            out.push_str(line);
            out.push('\n');
        }
    }
    let trimmed = out.trim_end();
    let mut out = trimmed.to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(table);
    out
}
