//! The Score screen's "why": the first rows of the scored file with their probabilities, and
//! the selected row's SHAP contributions (`crate::explain`). Rows are read and the model laid
//! out on a worker thread, which then explains one row per request: a gbdt row costs under a
//! millisecond but a forest row about 87 ms, so nothing is explained on the event loop, and the
//! newest request replaces any queued one (moving fast over rows explains only where it stops).

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::Receiver;

use anyhow::Context;

use crate::bundle::Bundle;
use crate::config::Config;
use crate::data::frame::ColumnData;
use crate::data::{Frame, Labels};
use crate::explain::{top_k, Explainer, Margin, MAX_TOP};
use crate::features::Encoded;
use crate::tracking::Store;

/// Rows of the scored file listed and explainable: the first this many. It bounds what the
/// worker keeps (their encoded features) whatever the file's size.
pub const MAX_ROWS: usize = 1000;

/// The rows listed: each row's id and probability, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRows {
    /// The id column's name (the spec's first id column), or `row` for rows without one.
    pub id_column: String,
    pub ids: Vec<String>,
    pub probabilities: Vec<f64>,
    pub model_version: i64,
}

impl ScoredRows {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// One row's explanation as the chart draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowWhy {
    pub margin: Margin,
    /// What every row's contributions start from.
    pub expected: f64,
    /// The row's margin: `expected` plus every contribution.
    pub output: f64,
    pub probability: f64,
    /// Every column that moved the row: (column, the row's value as text, contribution),
    /// largest |contribution| first.
    pub columns: Vec<(String, String, f64)>,
}

/// The Score screen's rows and explanations.
#[derive(Debug, Clone, Default)]
pub struct WhyState {
    pub rows: Option<ScoredRows>,
    /// Rows in the scored file, for the list's title.
    pub total: usize,
    /// The rows are being read.
    pub loading: bool,
    /// Why there are no explanations (an old bundle, an unreadable file).
    pub error: Option<String>,
    /// The row under the cursor.
    pub cursor: usize,
    /// The first row on screen; the view keeps the cursor visible.
    pub offset: std::cell::Cell<usize>,
    /// Rows explained so far (at most `MAX_ROWS`).
    pub explained: HashMap<usize, RowWhy>,
    /// The row last asked for and not answered yet.
    pub pending: Option<usize>,
    /// Which reading the rows and answers belong to: answers for an earlier file are dropped.
    pub generation: u64,
}

impl WhyState {
    /// The row under the cursor when it still needs asking for; marks it asked.
    pub fn want(&mut self) -> Option<usize> {
        let n = self.rows.as_ref().map_or(0, |r| r.len());
        let row = self.cursor;
        if row >= n || self.explained.contains_key(&row) || self.pending == Some(row) {
            return None;
        }
        self.pending = Some(row);
        Some(row)
    }

    /// Keeps an answer of reading `generation`; answers for an earlier file are dropped.
    pub fn answered(&mut self, generation: u64, row: usize, why: RowWhy) {
        if generation != self.generation {
            return;
        }
        if self.pending == Some(row) {
            self.pending = None;
        }
        self.explained.insert(row, why);
    }
}

/// What the worker keeps: the model laid out for explaining and the listed rows, read and
/// encoded once.
pub struct Session {
    explainer: Explainer,
    frame: Frame,
    x: Encoded,
    probabilities: Vec<f64>,
}

impl Session {
    /// A session over `frame`, encoded as `x`, with the model's `probabilities` of its rows.
    pub fn new(explainer: Explainer, frame: Frame, x: Encoded, probabilities: Vec<f64>) -> Self {
        Session {
            explainer,
            frame,
            x,
            probabilities,
        }
    }

    /// Reads the first `MAX_ROWS` rows of `input` and lays out version `version`'s model (the
    /// one that scored the file) for explaining them.
    pub fn load(cfg: &Config, input: &Path, version: i64) -> anyhow::Result<(ScoredRows, Self)> {
        let store = Store::open(&cfg.db_path)?;
        let target = store
            .version_target(version)?
            .with_context(|| format!("version {version} is no longer in the registry"))?;
        let bundle =
            Bundle::load_registered(&cfg.artifacts_dir, &target.sha256, target.path.as_deref())
                .map_err(|e| anyhow::anyhow!("version {version}: {e}"))?;
        let explainer = Explainer::new(&bundle)
            .map_err(|e| anyhow::anyhow!("version {version} cannot be explained: {e}"))?;
        let chunk = crate::data::chunks::CsvChunks::open(input, MAX_ROWS)?
            .next()
            .with_context(|| format!("{}: no rows", input.display()))??;
        let frame = chunk.parse(input, &bundle.spec, Labels::Optional)?;
        let x = bundle
            .pipeline
            .encode(&frame)
            .with_context(|| format!("{}: encoding its first rows", input.display()))?;
        let probabilities = bundle.model.predict_encoded_with(&x, bundle.prepare());
        let id = bundle.spec.id_columns().next().map(|c| c.name.clone());
        let session = Session::new(explainer, frame, x, probabilities);
        Ok((session.rows(id.as_deref(), version), session))
    }

    /// The listed rows: ids from the column `id` (the row's place in the file, from 1, when
    /// there is none or a row has no id).
    pub fn rows(&self, id: Option<&str>, model_version: i64) -> ScoredRows {
        let ids_of = match id.and_then(|c| self.frame.column(c)) {
            Some(ColumnData::Id(v)) => Some(v),
            _ => None,
        };
        let ids = (0..self.frame.n_rows())
            .map(|i| {
                ids_of
                    .and_then(|v| v.id(i))
                    .map_or_else(|| (i + 1).to_string(), str::to_string)
            })
            .collect();
        ScoredRows {
            id_column: id.filter(|_| ids_of.is_some()).unwrap_or("row").to_string(),
            ids,
            probabilities: self.probabilities.clone(),
            model_version,
        }
    }

    /// Row `row`'s explanation, or None past the listed rows.
    pub fn explain(&self, row: usize) -> Option<RowWhy> {
        if row >= self.x.n_rows() {
            return None;
        }
        let e = &self.explainer;
        let dense = self.x.dense(row..row + 1);
        let x: Vec<f64> = dense.iter().copied().collect();
        let mut phi = vec![0.0; e.n_features()];
        let mut by = vec![0.0; e.columns().len()];
        let output = e.explain_row(&x, &mut e.workspace(), &mut phi);
        e.by_column(&phi, &mut by);
        let columns = top_k(&by, MAX_TOP)
            .into_iter()
            .map(|c| {
                let name = e.columns()[c].clone();
                let value = crate::explain::file::cell_text(&self.frame, &name, row);
                (name, value, by[c])
            })
            .collect();
        Some(RowWhy {
            margin: e.margin(),
            expected: e.expected_value(),
            output,
            probability: self.probabilities.get(row).copied().unwrap_or(f64::NAN),
            columns,
        })
    }

    /// Answers requests for rows until the screen stops asking (the sender is dropped when
    /// another file is scored), the newest request replacing any queued one.
    pub fn serve(&self, requests: &Receiver<usize>, mut answer: impl FnMut(usize, RowWhy)) {
        while let Ok(mut row) = requests.recv() {
            while let Ok(newer) = requests.try_recv() {
                row = newer;
            }
            if let Some(why) = self.explain(row) {
                answer(row, why);
            }
        }
    }
}
