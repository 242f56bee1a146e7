//! Real outcomes, fed back when they arrive: an id and a label per row, from a CSV file
//! (`staytrack feedback`) or JSON records (`POST /v1/feedback`), stored once per case and joined
//! to logged predictions by the case id.
//!
//! A bad row (no id, an id that is not a whole number, a label the dataset does not have, more
//! fields than the header) is skipped and reported with its row; the others are kept. Loading
//! the same outcomes twice changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::DatasetSpec;
use crate::tracking::captures::OutcomeRow;
use crate::tracking::{Store, StoreError};

/// What loading outcomes did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FeedbackSummary {
    /// Rows read.
    pub rows: usize,
    /// Outcomes stored for the first time.
    pub new: usize,
    /// Outcomes the store already held with the same label.
    pub unchanged: usize,
    /// Outcomes whose label replaced a different one.
    pub changed: usize,
    /// Rows that repeat an earlier row's id with the same label (stored once).
    pub repeated: usize,
    /// Rows whose id has different labels within this load, as (row number from 1, why): none
    /// of that id's rows is stored, since nothing says which label is true.
    pub conflicting: Vec<(usize, String)>,
    /// Good rows whose id has no logged prediction (kept: the prediction may be logged later,
    /// or on another server).
    pub unknown_ids: usize,
    /// Rows skipped, as (row number from 1, why).
    pub rejected: Vec<(usize, String)>,
}

impl FeedbackSummary {
    /// Whether every row read is counted once: new, unchanged, changed, repeated, conflicting
    /// or skipped.
    pub fn adds_up(&self) -> bool {
        self.new
            + self.unchanged
            + self.changed
            + self.repeated
            + self.conflicting.len()
            + self.rejected.len()
            == self.rows
    }

    /// The one-line count `staytrack feedback` prints for `file`, so every front end says the
    /// same thing.
    pub fn describe(&self, file: &Path) -> String {
        use crate::util::thousands;
        format!(
            "{}: {} rows: {} new, {} unchanged, {} changed, {} repeated, {} conflicting, {} skipped; {} with no logged prediction yet",
            file.display(),
            thousands(self.rows),
            thousands(self.new),
            thousands(self.unchanged),
            thousands(self.changed),
            thousands(self.repeated),
            thousands(self.conflicting.len()),
            thousands(self.rejected.len()),
            thousands(self.unknown_ids)
        )
    }
}

/// Why outcomes cannot be loaded at all (a bad row is skipped and reported instead): the file
/// or the columns the caller named, or the store.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error(
        "the dataset '{dataset}' has no id column; name the one that matches logged predictions \
         with --id"
    )]
    NoIdColumn { dataset: String },
    /// The file cannot be read as a table, or holds no rows (its message names the file).
    #[error("{0:#}")]
    File(anyhow::Error),
    /// The columns are listed cut, and only the first few: a header may hold 10,000 of them,
    /// or a name a megabyte long.
    #[error("{}: no column '{}' (the columns are {})", .path.display(), crate::util::shown(.column), crate::data::load::quote_list(.columns))]
    NoColumn {
        path: PathBuf,
        column: String,
        columns: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The columns outcomes come in: the spec's first id column and its label column unless told.
pub fn columns(
    spec: &DatasetSpec,
    id: Option<&str>,
    label: Option<&str>,
) -> Result<(String, String), FeedbackError> {
    let id = match id {
        Some(i) => i.to_string(),
        None => spec
            .id_columns()
            .next()
            .map(|c| c.name.clone())
            .ok_or_else(|| FeedbackError::NoIdColumn {
                dataset: spec.name.clone(),
            })?,
    };
    Ok((id, label.unwrap_or(&spec.target.column).to_string()))
}

/// A label as the target rule reads it: one of the spec's labels, or `0`/`1`.
fn label_of(spec: &DatasetSpec, raw: &str) -> Result<u8, String> {
    let t = raw.trim();
    if spec.label_index(t).is_some() {
        return Ok(u8::from(spec.is_positive(t)));
    }
    match t {
        "0" => Ok(0),
        "1" => Ok(1),
        // The value is cut: a row may hold a megabyte of label.
        _ => Err(format!(
            "'{}' is not a label of '{}' (its labels are {}, or 0/1)",
            crate::util::shown(t),
            spec.target.column,
            spec.target.labels.join(", ")
        )),
    }
}

/// What an outcome in the bucket says of where it came from: the route or the command, never a
/// local path.
fn outbox_source(source: &str) -> String {
    if source == "api" { "api" } else { "feedback" }.to_string()
}

/// The id column that names a served answer's `prediction_id` instead of a case.
pub const PREDICTION_ID_COLUMN: &str = "prediction_id";

/// Stores `(row, id, label)` cells that passed their reading, and reports. With `outbox` (the
/// replica's name, when captures go to a bucket), the outcomes also wait in the outbox to ship.
fn store_rows(
    store: &mut Store,
    spec: &DatasetSpec,
    cells: Vec<(usize, Option<String>, Option<String>)>,
    id_col: &str,
    source: &str,
    outbox: Option<&str>,
) -> Result<FeedbackSummary, FeedbackError> {
    let mut out = FeedbackSummary {
        rows: cells.len(),
        ..Default::default()
    };
    let by_prediction = id_col == PREDICTION_ID_COLUMN && spec.column(id_col).is_none();
    let queued: Vec<(Option<String>, Option<String>, u8, String)> = if by_prediction {
        let rows = read_cells(spec, cells, id_col, &mut out, |s| {
            if crate::capture::valid_name(s) {
                Ok(s.to_string())
            } else {
                Err(format!(
                    "'{}' is not a prediction id",
                    crate::util::short_id(s, 80).escape_debug()
                ))
            }
        });
        (out.new, out.unchanged, out.changed) = store.upsert_prediction_outcomes(&rows, source)?;
        rows.into_iter()
            .map(|(id, l, raw)| (None, Some(id), l, raw))
            .collect()
    } else {
        // Ids are text as the table wrote them; one the spec declares whole must be whole.
        // A column the spec does not name as an id (an outcomes file's own name for it) takes
        // the case id's rule, since that is what it joins.
        let whole = spec
            .column(id_col)
            .filter(|c| c.role == crate::data::Role::Id)
            .or(spec.case_id())
            .is_some_and(|c| c.value == crate::data::spec::ValueType::Int);
        let rows = read_cells(spec, cells, id_col, &mut out, |s| {
            crate::data::frame::parse_id(s.trim(), whole)
                .map(|id| id.into_owned())
                .map_err(|rule| {
                    format!(
                        "'{}' is '{}', not {}",
                        crate::util::shown(id_col),
                        crate::util::shown(s),
                        if whole { "a whole number" } else { rule }
                    )
                })
        });
        let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        out.unknown_ids = ids.len() - store.predicted_ids(&ids)?;
        (out.new, out.unchanged, out.changed) = store.upsert_outcomes(&rows, source)?;
        rows.into_iter()
            .map(|(id, l, raw)| (Some(id), None, l, raw))
            .collect()
    };
    if let Some(replica) = outbox {
        let at = crate::util::now_ms();
        let rows: Vec<OutcomeRow> = queued
            .into_iter()
            .map(|(case_id, prediction_id, label, raw)| OutcomeRow {
                case_id,
                prediction_id,
                label,
                raw,
                source: outbox_source(source),
                at,
                replica: replica.to_string(),
            })
            .collect();
        store.queue_outcomes(&rows)?;
    }
    Ok(out)
}

/// One outcome per id, each id read by `parse`. An id given again with the same label counts
/// in `out.repeated`; an id given different labels in one load is stored not at all and each of
/// its rows goes to `out.conflicting`, naming the others. A row with no id, an id `parse`
/// refuses or a label the dataset does not have is put in `out.rejected` with why.
fn read_cells<K: Ord + std::fmt::Display>(
    spec: &DatasetSpec,
    cells: Vec<(usize, Option<String>, Option<String>)>,
    id_col: &str,
    out: &mut FeedbackSummary,
    parse: impl Fn(&str) -> Result<K, String>,
) -> Vec<(K, u8, String)> {
    let mut seen: BTreeMap<K, Vec<(usize, u8, String)>> = BTreeMap::new();
    for (row, id, label) in cells {
        let id = match id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => {
                out.rejected
                    .push((row, format!("no '{}'", crate::util::shown(id_col))));
                continue;
            }
            Some(s) => match parse(s) {
                Ok(v) => v,
                Err(why) => {
                    out.rejected.push((row, why));
                    continue;
                }
            },
        };
        let raw = label.unwrap_or_default();
        match label_of(spec, &raw) {
            Ok(l) => seen
                .entry(id)
                .or_default()
                .push((row, l, raw.trim().to_string())),
            Err(e) => out.rejected.push((row, e)),
        }
    }
    let mut good = Vec::with_capacity(seen.len());
    for (id, rows) in seen {
        let (_, first, raw) = &rows[0];
        if rows.iter().all(|(_, l, _)| l == first) {
            out.repeated += rows.len() - 1;
            good.push((id, *first, raw.clone()));
            continue;
        }
        let all = rows
            .iter()
            .map(|(r, _, raw)| format!("'{}' in row {r}", crate::util::clip(raw, 40)))
            .collect::<Vec<_>>();
        for (row, _, _) in &rows {
            out.conflicting.push((
                *row,
                format!(
                    "'{}' {} has different labels in one load ({}); none of them is stored",
                    crate::util::shown(id_col),
                    crate::util::clip(&id.to_string(), 80),
                    crate::util::listing(
                        &all[..all.len().min(crate::util::MAX_LISTED)],
                        all.len().saturating_sub(crate::util::MAX_LISTED),
                        "rows"
                    )
                ),
            ));
        }
    }
    out.conflicting.sort_by_key(|c| c.0);
    good
}

/// Loads outcomes from a CSV file with (at least) the id and label columns. A file with no rows
/// is refused as `data check` refuses it; a row with more fields than the header is skipped
/// and named, since which of its fields are the id and the label is a guess.
pub fn load_file(
    store: &mut Store,
    spec: &DatasetSpec,
    path: &Path,
    id_col: &str,
    label_col: &str,
    outbox: Option<&str>,
) -> Result<FeedbackSummary, FeedbackError> {
    let p = path.display();
    let table = crate::data::load::read_text_columns(path).map_err(FeedbackError::File)?;
    // Said as `data check` says it, so no file is refused by one and taken by the other.
    if table.header.is_empty() {
        return Err(FeedbackError::File(anyhow::anyhow!(
            "{p}: the file is empty"
        )));
    }
    let col = |name: &str| {
        table.column(name).ok_or_else(|| FeedbackError::NoColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            columns: table.header.clone(),
        })
    };
    let (ids, labels) = (col(id_col)?, col(label_col)?);
    if table.rows() == 0 {
        return Err(FeedbackError::File(anyhow::anyhow!(
            "{p}: the file has a header but no data rows"
        )));
    }
    let mut wide = table.wide.iter().peekable();
    let mut long_rows = Vec::new();
    let mut cells = Vec::with_capacity(table.rows());
    for (i, (id, l)) in ids.iter().zip(labels.iter()).enumerate() {
        let (row, line) = (i + 1, table.lines[i]);
        if let Some((_, found)) = wide.next_if(|w| w.0 == line) {
            long_rows.push((
                row,
                format!(
                    "row {row} (line {line}) has {found} field(s) but the header has {}",
                    table.header.len()
                ),
            ));
            continue;
        }
        cells.push((
            row,
            id.as_deref().map(str::to_string),
            l.as_deref().map(str::to_string),
        ));
    }
    let mut out = store_rows(store, spec, cells, id_col, &p.to_string(), outbox)?;
    out.rows += long_rows.len();
    out.rejected.extend(long_rows);
    out.rejected.sort_by_key(|r| r.0);
    Ok(out)
}

/// Loads outcomes from JSON records (`POST /v1/feedback`): each an object with the id and label
/// fields; numbers and text are both read.
pub fn load_records(
    store: &mut Store,
    spec: &DatasetSpec,
    records: &[serde_json::Value],
    id_col: &str,
    label_col: &str,
    outbox: Option<&str>,
) -> Result<FeedbackSummary, FeedbackError> {
    let text = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    // A boolean is neither an id nor a label: `true` says nothing of which label it means.
    let mut booleans = Vec::new();
    let mut cells = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        match [id_col, label_col]
            .into_iter()
            .find(|k| r.get(*k).is_some_and(serde_json::Value::is_boolean))
        {
            Some(k) => booleans.push((
                i + 1,
                format!("'{k}' is a JSON boolean; give one of the labels, or 0/1"),
            )),
            None => cells.push((i + 1, text(r.get(id_col)), text(r.get(label_col)))),
        }
    }
    let mut out = store_rows(store, spec, cells, id_col, "api", outbox)?;
    out.rows += booleans.len();
    out.rejected.extend(booleans);
    out.rejected.sort_by_key(|r| r.0);
    Ok(out)
}
