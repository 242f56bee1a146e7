//! The receiving side: `sync pull` imports every capture segment the store lacks. Each is checked
//! before anything touches the store (the key's shape, its declared size, the schema against the
//! workspace's spec, row counts, every value) and stored in one transaction; a bad segment is
//! skipped and named, and the rest import.

use std::collections::HashMap;

use serde::Serialize;

use super::segment::{decode_outcomes, decode_predictions};
use super::{parse_key, MAX_SEGMENT_BYTES, OUTCOMES_DIR, PREDICTIONS_DIR};
use crate::config::Config;
use crate::data::DatasetSpec;
use crate::sync::Remote;
use crate::tracking::captures::{Imported, SegmentKind};
use crate::tracking::Store;

/// What a pull of captures did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CapturePull {
    pub segments: usize,
    pub predictions: usize,
    /// Rows already held with the same content (the same prediction under another key).
    pub duplicates: usize,
    pub outcomes: usize,
    /// Outcomes whose case id this store cannot join by (not a whole number), left out.
    pub unjoinable: usize,
    /// Segments left in the bucket as older than asked for (`--captures-since`).
    pub older: usize,
    /// Segments refused, as `s3://bucket/key: why`.
    pub rejected: Vec<String>,
}

/// Imports every capture segment under the remote's prefix that the store has not imported,
/// leaving in the bucket those whose key says they end before `since_ms` (their hour or day is
/// read from the key, so an old segment costs no download).
pub async fn pull(
    cfg: &Config,
    store: &mut Store,
    remote: &Remote,
    since_ms: i64,
) -> anyhow::Result<CapturePull> {
    let spec = DatasetSpec::of_workspace(cfg)?;
    let cap = super::CaptureSettings::load(cfg)?
        .max_segment_bytes
        .unwrap_or(MAX_SEGMENT_BYTES);
    let have = store.imported_segments()?;
    store.set_cache_kib(64 * 1024)?;
    let mut out = CapturePull::default();
    // Registry versions are numbered per workspace: a row names its run, and takes this
    // workspace's version of that run.
    let mut versions: HashMap<String, Option<i64>> = HashMap::new();
    for dir in [PREDICTIONS_DIR, OUTCOMES_DIR] {
        for key in remote.list(dir).await? {
            let rel = key.strip_prefix(&remote.prefix).unwrap_or(&key);
            if have.contains(rel) {
                continue;
            }
            if parse_key(rel).is_ok_and(|p| p.period_ms + p.period_len_ms <= since_ms) {
                out.older += 1;
                continue;
            }
            let res = async {
                let parts = parse_key(rel)?;
                let bytes = remote
                    .get(&key, cap)
                    .await
                    .map_err(|e| crate::sync::cause_of(&e))?;
                let size = bytes.len() as u64;
                let bytes = bytes::Bytes::from(bytes);
                let done = match parts.kind {
                    SegmentKind::Predictions => {
                        let mut rows =
                            decode_predictions(bytes, &spec, &parts).map_err(|e| e.to_string())?;
                        for r in &mut rows {
                            r.model_version = match &r.run_id {
                                Some(run) => *versions
                                    .entry(run.clone())
                                    .or_insert_with(|| store.version_of_run(run).ok().flatten()),
                                None => None,
                            };
                        }
                        let n = rows.len();
                        (
                            store
                                .import_predictions(rel, &parts.replica, parts.seq, size, &rows)
                                .map_err(|e| format!("the store: {e}"))?,
                            n,
                            true,
                        )
                    }
                    SegmentKind::Outcomes => {
                        let rows = decode_outcomes(bytes, &parts).map_err(|e| e.to_string())?;
                        // A case id this store cannot join by (not a whole number) is counted.
                        let unjoinable = rows
                            .iter()
                            .filter(|r| {
                                r.prediction_id.is_none()
                                    && r.case_id
                                        .as_deref()
                                        .is_some_and(|c| c.trim().parse::<i64>().is_err())
                            })
                            .count();
                        out.unjoinable += unjoinable;
                        let rows: Vec<_> = rows
                            .into_iter()
                            .map(|r| {
                                let case = r.case_id.as_deref().and_then(|c| c.trim().parse().ok());
                                (r, case)
                            })
                            .collect();
                        let n = rows.len();
                        (
                            store
                                .import_outcomes(rel, &parts.replica, parts.seq, size, &rows)
                                .map_err(|e| format!("the store: {e}"))?,
                            n,
                            false,
                        )
                    }
                };
                Ok::<_, String>(done)
            }
            .await;
            match res {
                Ok((Imported::Rows { new, duplicates }, _, predictions)) => {
                    out.segments += 1;
                    if predictions {
                        out.predictions += new;
                        out.duplicates += duplicates;
                    } else {
                        out.outcomes += new;
                    }
                }
                Ok((Imported::AlreadyImported, _, _)) => {}
                Ok((Imported::Conflict { prediction_id }, n, _)) => out.rejected.push(format!(
                    "{}: prediction {prediction_id} is already held with other content; none of its {n} rows were imported",
                    remote.url(&key).escape_debug()
                )),
                Err(why) => out
                    .rejected
                    .push(format!("{}: {why}", remote.url(&key).escape_debug())),
            }
        }
    }
    Ok(out)
}
