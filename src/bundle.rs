//! The Bundle: everything needed to predict, in one versioned, checksummed file.
//!
//! Layout: one header line `staytrack-bundle <format> sha256:<hex of the payload>` and a JSON
//! payload. Files are content-addressed (`artifacts/<aa>/<sha256 of the file>.bundle`) and written
//! atomically, so a reader sees a whole bundle or none, and a corrupted one is refused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::profile::{ColumnProfile, Profile};
use crate::data::{DatasetSpec, Frame};
use crate::features::FeaturePipeline;
use crate::metrics::Evaluation;
use crate::models::{Model, Params};

pub const BUNDLE_FORMAT: u32 = 1;
const MAGIC: &str = "staytrack-bundle";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a staytrack bundle", .path.display())]
    NotABundle { path: PathBuf },
    #[error("{}: bundle format {found} is newer than this staytrack's {known}", .path.display())]
    Newer {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("{}: checksum mismatch (the file is corrupted)", .path.display())]
    Checksum { path: PathBuf },
    #[error("{}: {source}", .path.display())]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: not a usable model: {problem}", .path.display())]
    Invalid {
        path: PathBuf,
        problem: InvalidBundle,
    },
    #[error("no bundle file at {}", .path.display())]
    Missing { path: PathBuf },
    #[error("{}: sha256 differs from the registered {sha256}", .path.display())]
    NotRegistered { path: PathBuf, sha256: String },
}

impl BundleError {
    /// What is wrong, without the file: what a server tells anonymous callers (the path stays
    /// in its own log).
    pub fn kind(&self) -> &'static str {
        match self {
            BundleError::Io { .. } => "its bundle cannot be read",
            BundleError::NotABundle { .. } => "its file is not a staytrack bundle",
            BundleError::Newer { .. } => "its bundle was written by a newer staytrack",
            BundleError::Checksum { .. } => "its bundle fails its checksum",
            BundleError::Decode { .. } => "its bundle cannot be decoded",
            BundleError::Invalid { .. } => "its bundle is not a usable model",
            BundleError::Missing { .. } => "its bundle file is missing",
            BundleError::NotRegistered { .. } => "its bundle differs from the registered digest",
        }
    }
}

/// What a well-formed bundle with a valid checksum can still get wrong: the part that is wrong,
/// and its own error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidBundle {
    #[error("the dataset spec: {0}")]
    Spec(crate::data::spec::SpecError),
    #[error("{0}")]
    Pipeline(crate::features::PipelineError),
    #[error("model: {0}")]
    Model(crate::models::ModelError),
    #[error("{names} feature names for {n_features} features")]
    FeatureNames { names: usize, n_features: usize },
    #[error("validation rows: {0}")]
    Validation(RowsError),
    #[error("{means} feature means for {n_features} features, or one not finite")]
    FeatureMeans { means: usize, n_features: usize },
}

/// Why a bundle's validation rows cannot be read as rows, by row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowsError {
    #[error("{ids} ids, {labels} labels and {probabilities} probabilities")]
    Lengths {
        ids: usize,
        labels: usize,
        probabilities: usize,
    },
    #[error("the id column name {0:?} is not a plain name")]
    IdColumn(String),
    #[error("row {row}: label {label} is not 0 or 1")]
    Label { row: usize, label: u8 },
    #[error("row {row}: probability {probability} is not in [0, 1]")]
    Probability { row: usize, probability: f64 },
    #[error("row {row}: the id is not one a table could hold (at most {} characters, no control characters)", crate::data::frame::MAX_ID_CHARS)]
    Id { row: usize },
}

/// Where an artifact with digest `sha256` lives in the workspace: `<dir>/<first two hex digits>/
/// <sha256>.<ext>`. The one rule every reader and writer of artifacts follows.
pub fn addressed_path(artifacts_dir: &Path, sha256: &str, ext: &str) -> PathBuf {
    artifacts_dir
        .join(sha256.get(..2).unwrap_or("__"))
        .join(format!("{sha256}.{ext}"))
}

/// Where the training data came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFingerprint {
    pub path: String,
    pub sha256: String,
    pub rows: usize,
    pub train_rows: usize,
    pub valid_rows: usize,
    pub valid_fraction: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: u32,
    pub staytrack_version: String,
    pub run_id: String,
    pub run_name: String,
    pub created_at: i64,
    pub spec: DatasetSpec,
    pub pipeline: FeaturePipeline,
    pub params: Params,
    pub model: Model,
    pub data: DataFingerprint,
    /// The training rows' distributions, the reference for drift.
    pub profile: Profile,
    /// The distribution of the model's probabilities on the validation rows: the reference for
    /// prediction drift. Absent in bundles written before it existed.
    #[serde(default)]
    pub prediction_profile: Option<ColumnProfile>,
    /// The validation rows as the model scored them at training time: what paired comparisons
    /// between runs and their export read. Absent in bundles written before it existed.
    #[serde(default)]
    pub validation: Option<ValidationSet>,
    /// Validation metrics at training time.
    pub metrics: Evaluation,
    pub feature_names: Vec<String>,
    pub importance: Vec<f64>,
    /// Each encoded feature's mean over the training rows: the reference exact linear SHAP
    /// explains a logistic regression against (`explain`). Absent in bundles written before it
    /// existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_means: Option<Vec<f64>>,
    /// The model laid out for scoring, made on the first prediction (see `Bundle::prepare`).
    #[serde(skip)]
    pub layout: LayoutCell,
}

/// A bundle's scoring layout, made once. Derived from the model, so two bundles that differ
/// only in whether it was made yet are equal.
#[derive(Debug, Clone, Default)]
pub struct LayoutCell(std::sync::OnceLock<Option<crate::models::Layout>>);

impl PartialEq for LayoutCell {
    fn eq(&self, _: &LayoutCell) -> bool {
        true
    }
}

/// The validation rows of a run: each row's id (the spec's first id column, else its place in
/// the file), its label and the model's probability, in the split's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationSet {
    /// The name of the id column (`row` when the file has none).
    pub id_column: String,
    /// Each row's id as the table wrote it. Bundles written before ids were text hold numbers,
    /// read as their text.
    #[serde(deserialize_with = "ids_as_text")]
    pub ids: Vec<String>,
    pub labels: Vec<u8>,
    pub probabilities: Vec<f64>,
}

impl ValidationSet {
    /// One id, label and probability per row; labels 0 or 1; probabilities in [0, 1]; an id
    /// column name that is a plain name (it heads a CSV).
    pub fn validate(&self) -> Result<(), RowsError> {
        let n = self.ids.len();
        if self.labels.len() != n || self.probabilities.len() != n {
            return Err(RowsError::Lengths {
                ids: n,
                labels: self.labels.len(),
                probabilities: self.probabilities.len(),
            });
        }
        if self.id_column.is_empty()
            || self.id_column.len() > 256
            || self.id_column.contains(['\n', '\r', ',', '"'])
        {
            return Err(RowsError::IdColumn(self.id_column.clone()));
        }
        if let Some(row) = self.ids.iter().position(|id| {
            id.chars().count() > crate::data::frame::MAX_ID_CHARS
                || id.chars().any(char::is_control)
        }) {
            return Err(RowsError::Id { row });
        }
        if let Some(row) = self.labels.iter().position(|l| *l > 1) {
            return Err(RowsError::Label {
                row,
                label: self.labels[row],
            });
        }
        if let Some(row) = self
            .probabilities
            .iter()
            .position(|p| !(0.0..=1.0).contains(p))
        {
            return Err(RowsError::Probability {
                row,
                probability: self.probabilities[row],
            });
        }
        Ok(())
    }

    /// The rows as CSV: `<id column>,label,probability`, probabilities to full precision.
    pub fn to_csv(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(self.ids.len() * 32);
        let _ = writeln!(out, "{},label,probability", self.id_column);
        for ((id, l), p) in self.ids.iter().zip(&self.labels).zip(&self.probabilities) {
            let _ = writeln!(out, "{},{l},{p}", crate::util::csv_field(id));
        }
        out
    }
}

/// Ids as text, whether a bundle wrote them as text or (before ids were text) as numbers.
fn ids_as_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Whole(i64),
    }
    let ids: Vec<Id> = Vec::deserialize(d)?;
    Ok(ids
        .into_iter()
        .map(|id| match id {
            Id::Text(s) => s,
            Id::Whole(n) => n.to_string(),
        })
        .collect())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of a file, read a block at a time (the file may be larger than memory).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut block) {
            Ok(0) => return Ok(hex(&hasher.finalize())),
            Ok(n) => hasher.update(&block[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(digest.len() * 2);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl Bundle {
    pub fn to_bytes(&self) -> Vec<u8> {
        let payload = serde_json::to_vec(self).expect("a bundle always serialises");
        let mut out =
            format!("{MAGIC} {BUNDLE_FORMAT} sha256:{}\n", sha256_hex(&payload)).into_bytes();
        out.extend_from_slice(&payload);
        out
    }

    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Bundle, BundleError> {
        let p = || path.to_path_buf();
        let nl = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| BundleError::NotABundle { path: p() })?;
        let header =
            std::str::from_utf8(&bytes[..nl]).map_err(|_| BundleError::NotABundle { path: p() })?;
        let mut parts = header.split(' ');
        if parts.next() != Some(MAGIC) {
            return Err(BundleError::NotABundle { path: p() });
        }
        let format: u32 = parts
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| BundleError::NotABundle { path: p() })?;
        if format > BUNDLE_FORMAT {
            return Err(BundleError::Newer {
                path: p(),
                found: format,
                known: BUNDLE_FORMAT,
            });
        }
        let sum = parts
            .next()
            .and_then(|s| s.strip_prefix("sha256:"))
            .ok_or_else(|| BundleError::NotABundle { path: p() })?;
        let payload = &bytes[nl + 1..];
        if sha256_hex(payload) != sum {
            return Err(BundleError::Checksum { path: p() });
        }
        let bundle: Bundle = serde_json::from_slice(payload)
            .map_err(|source| BundleError::Decode { path: p(), source })?;
        bundle
            .validate()
            .map_err(|problem| BundleError::Invalid { path: p(), problem })?;
        Ok(bundle)
    }

    /// The structure a checksum cannot vouch for (a bundle can be well-formed JSON with a valid
    /// checksum and still describe a cyclic tree or a weight for a feature that does not exist):
    /// checked before a bundle predicts anything.
    pub fn validate(&self) -> Result<(), InvalidBundle> {
        let n = self.pipeline.n_features();
        self.spec.validate().map_err(InvalidBundle::Spec)?;
        self.pipeline
            .validate(&self.spec)
            .map_err(InvalidBundle::Pipeline)?;
        self.model.validate(n).map_err(InvalidBundle::Model)?;
        if self.feature_names.len() != n {
            return Err(InvalidBundle::FeatureNames {
                names: self.feature_names.len(),
                n_features: n,
            });
        }
        if let Some(v) = &self.validation {
            v.validate().map_err(InvalidBundle::Validation)?;
        }
        if let Some(m) = &self.feature_means {
            if m.len() != n || m.iter().any(|v| !v.is_finite()) {
                return Err(InvalidBundle::FeatureMeans {
                    means: m.len(),
                    n_features: n,
                });
            }
        }
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Bundle, BundleError> {
        let bytes = std::fs::read(path).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Bundle::from_bytes(&bytes, path)
    }

    /// Writes the bundle under `artifacts_dir`, content-addressed; returns (path, sha256, bytes).
    pub fn save(&self, artifacts_dir: &Path) -> anyhow::Result<(PathBuf, String, u64)> {
        let bytes = self.to_bytes();
        let sha = sha256_hex(&bytes);
        let path = addressed_path(artifacts_dir, &sha, "bundle");
        if let Some(dir) = path.parent() {
            crate::util::create_private_dir(dir)?;
        }
        if !path.exists() {
            crate::util::atomic_write(&path, &bytes)?;
        }
        Ok((path, sha, bytes.len() as u64))
    }

    /// Loads a registered bundle by its digest: the workspace's content-addressed copy first,
    /// then `recorded` (where training wrote it); the file must hash to `sha256`.
    pub fn load_registered(
        artifacts_dir: &Path,
        sha256: &str,
        recorded: Option<&str>,
    ) -> Result<Bundle, BundleError> {
        let addressed = addressed_path(artifacts_dir, sha256, "bundle");
        let path = std::iter::once(addressed.clone())
            .chain(recorded.map(PathBuf::from))
            .find(|p| p.is_file())
            .ok_or(BundleError::Missing { path: addressed })?;
        let bytes = std::fs::read(&path).map_err(|source| BundleError::Io {
            path: path.clone(),
            source,
        })?;
        if sha256_hex(&bytes) != sha256 {
            return Err(BundleError::NotRegistered {
                path,
                sha256: sha256.to_string(),
            });
        }
        Bundle::from_bytes(&bytes, &path)
    }

    /// Lays the model out for scoring now, not on the first prediction: the server does it
    /// when it loads a bundle, so no request pays for it and a swap brings it along.
    pub fn prepare(&self) -> Option<&crate::models::Layout> {
        self.layout.0.get_or_init(|| self.model.layout()).as_ref()
    }

    /// Probabilities for the rows of `frame`.
    pub fn predict(&self, frame: &Frame) -> Result<Vec<f64>, crate::features::FeatureError> {
        let x = self.pipeline.encode(frame)?;
        Ok(self.model.predict_encoded_with(&x, self.prepare()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle written before ids were text holds them as numbers; one written now holds text.
    /// Both read as the same text, and an id no table could hold is refused by `validate`.
    #[test]
    fn validation_ids_read_from_numbers_or_text_and_bad_ones_are_refused() {
        let old =
            r#"{"id_column":"case_id","ids":[7,42],"labels":[0,1],"probabilities":[0.1,0.9]}"#;
        let new =
            r#"{"id_column":"case_id","ids":["7","42"],"labels":[0,1],"probabilities":[0.1,0.9]}"#;
        let a: ValidationSet = serde_json::from_str(old).unwrap();
        let b: ValidationSet = serde_json::from_str(new).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.ids, ["7", "42"]);
        assert!(a.validate().is_ok());
        let mut bad = a.clone();
        bad.ids[1] = "MRN\u{1b}[2J".into();
        assert!(matches!(bad.validate(), Err(RowsError::Id { row: 1 })));
        bad.ids[1] = "x".repeat(crate::data::frame::MAX_ID_CHARS + 1);
        assert!(matches!(bad.validate(), Err(RowsError::Id { row: 1 })));
        assert!(serde_json::from_str::<ValidationSet>(&old.replace("42", "[1]")).is_err());
    }
}
