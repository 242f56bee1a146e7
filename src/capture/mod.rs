//! Fleet capture: every server's prediction log and every outcome, sealed into immutable Parquet
//! segments and shipped to the sync bucket, then imported by whoever monitors the fleet.
//!
//! Layout under the sync prefix (Hive-style, so Athena, DuckDB or Spark read it in place):
//! - `captures/predictions/model=<name>/dt=YYYY-MM-DD/hour=HH/<replica>-<seq>.parquet`
//! - `captures/outcomes/dt=YYYY-MM-DD/<replica>-<seq>.parquet`
//!
//! The local log is an outbox (`tracking::captures`): a row is shipped only once its segment's
//! conditional PUT succeeded, and a key is fixed when its segment is sealed, so a retry never
//! duplicates or overwrites. `segment` is the file format, `ship` the sending side, `import`
//! the receiving side; this file holds the key rule and the `[capture]` settings.

pub mod import;
pub mod recent;
pub mod segment;
pub mod ship;

use anyhow::Context;
use serde::Deserialize;

use crate::config::Config;
use crate::data::spec::ColumnSpec;
use crate::data::{DatasetSpec, Role};
use crate::tracking::captures::{SealParts, SegmentKind};

/// The version of the segment layout written here; readers refuse others.
pub const SCHEMA_VERSION: i32 = 1;
/// Where prediction segments live, below the sync prefix.
pub const PREDICTIONS_DIR: &str = "captures/predictions/";
/// Where outcome segments live, below the sync prefix.
pub const OUTCOMES_DIR: &str = "captures/outcomes/";
/// The largest segment `sync pull` reads; larger ones are refused from their declared size.
pub const MAX_SEGMENT_BYTES: u64 = 256 * 1024 * 1024;
/// The most rows one segment may hold (sealing never makes more; reading refuses more): a pull
/// holds one segment's rows at a time, about 2 KB each, so this bounds its memory.
pub const MAX_SEGMENT_ROWS: usize = 200_000;
/// The longest replica or model name a key may carry.
pub const MAX_NAME: usize = 64;

/// `[capture]` in `staytrack.toml`: which inputs segments carry, and the model's name in keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSettings {
    /// Only these inputs [default: every id, categorical and numeric column of the spec].
    pub columns: Option<Vec<String>>,
    /// Inputs left out (say, a column that must not leave the machine).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The model's name in keys [default: the dataset's name].
    pub model: Option<String>,
    /// The largest segment `sync pull` reads [default: 256 MiB].
    pub max_segment_bytes: Option<u64>,
}

impl CaptureSettings {
    pub fn load(cfg: &Config) -> anyhow::Result<CaptureSettings> {
        let s: CaptureSettings = cfg.section("capture")?;
        // Named as `Config::section` names a wrong type: the file, the table and the key.
        if let Some(m) = &s.model {
            anyhow::ensure!(
                valid_name(m),
                "{} [capture] model = '{}': use 1 to {MAX_NAME} ASCII letters, digits, '.', '_' or '-'",
                cfg.settings_file().display(),
                crate::util::shown(m)
            );
        }
        Ok(s)
    }

    /// The model's name in keys: `[capture] model`, or the dataset's name made key-safe.
    pub fn model_name(&self, spec: &DatasetSpec) -> String {
        if let Some(m) = &self.model {
            return m.clone();
        }
        let mut s: String = spec
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(MAX_NAME)
            .collect();
        if s.is_empty() || s.starts_with('.') {
            s.insert(0, 'm');
            s.truncate(MAX_NAME);
        }
        s
    }

    /// The spec's inputs segments carry, in spec order; a name `columns` or `exclude` gives that
    /// the spec lacks is an error naming it.
    pub fn inputs<'a>(&self, spec: &'a DatasetSpec) -> anyhow::Result<Vec<&'a ColumnSpec>> {
        for name in self.columns.iter().flatten().chain(&self.exclude) {
            spec.column(name)
                .filter(|c| c.role != Role::Target)
                .with_context(|| {
                    format!(
                        "[capture]: '{}' is not an input column of the dataset '{}'",
                        name.escape_debug(),
                        spec.name
                    )
                })?;
        }
        Ok(spec
            .columns
            .iter()
            .filter(|c| c.role != Role::Target)
            .filter(|c| self.columns.as_ref().is_none_or(|k| k.contains(&c.name)))
            .filter(|c| !self.exclude.contains(&c.name))
            .collect())
    }
}

/// A replica or model name a key may carry: 1 to 64 ASCII letters, digits, `.`, `_` or `-`, not
/// starting with a dot (so no key part is `.` or `..`).
pub fn valid_name(s: &str) -> bool {
    (1..=MAX_NAME).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `YYYY-MM-DD` and `HH` of a time in ms.
fn date_hour(ms: i64) -> (String, String) {
    let t = crate::util::format_ms(ms);
    (t[..10].to_string(), t[11..13].to_string())
}

/// A new segment's key below the sync prefix.
pub fn segment_key(p: &SealParts) -> String {
    let (dt, hour) = date_hour(p.period_ms);
    match p.kind {
        SegmentKind::Predictions => format!(
            "{PREDICTIONS_DIR}model={}/dt={dt}/hour={hour}/{}-{:06}.parquet",
            p.model, p.replica, p.seq
        ),
        SegmentKind::Outcomes => {
            format!("{OUTCOMES_DIR}dt={dt}/{}-{:06}.parquet", p.replica, p.seq)
        }
    }
}

/// What a segment's key says it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyParts {
    pub kind: SegmentKind,
    pub model: Option<String>,
    /// The start of the hour (predictions) or day (outcomes) every row must fall in.
    pub period_ms: i64,
    pub period_len_ms: i64,
    pub replica: String,
    pub seq: i64,
}

/// Reads a key below the sync prefix; anything not of the exact shape `segment_key` makes is
/// refused with why.
pub fn parse_key(rel: &str) -> Result<KeyParts, String> {
    let bad = |why: &str| Err(format!("not a capture segment key: {why}"));
    if rel.len() > 512 {
        return bad("longer than 512 bytes");
    }
    let (kind, rest) = if let Some(r) = rel.strip_prefix(PREDICTIONS_DIR) {
        (SegmentKind::Predictions, r)
    } else if let Some(r) = rel.strip_prefix(OUTCOMES_DIR) {
        (SegmentKind::Outcomes, r)
    } else {
        return bad("outside captures/predictions/ and captures/outcomes/");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (model, dt, hour, file) = match (kind, parts.as_slice()) {
        (SegmentKind::Predictions, [m, d, h, f]) => (Some(*m), *d, Some(*h), *f),
        (SegmentKind::Outcomes, [d, f]) => (None, *d, None, *f),
        _ => return bad("wrong number of parts"),
    };
    let model = match model {
        Some(m) => match m.strip_prefix("model=") {
            Some(name) if valid_name(name) => Some(name.to_string()),
            _ => return bad("the model part is not model=<name>"),
        },
        None => None,
    };
    let Some(day) = dt.strip_prefix("dt=").and_then(parse_date) else {
        return bad("the date part is not dt=YYYY-MM-DD");
    };
    let mut period_ms = day * 86_400_000;
    let mut period_len_ms = 86_400_000;
    if let Some(h) = hour {
        let Some(h) = h
            .strip_prefix("hour=")
            .filter(|h| h.len() == 2 && h.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|h| h.parse::<i64>().ok())
            .filter(|h| *h < 24)
        else {
            return bad("the hour part is not hour=00 to hour=23");
        };
        period_ms += h * 3_600_000;
        period_len_ms = 3_600_000;
    }
    let Some(stem) = file.strip_suffix(".parquet") else {
        return bad("the file does not end in .parquet");
    };
    let Some((replica, seq)) = stem.rsplit_once('-') else {
        return bad("the file is not <replica>-<seq>.parquet");
    };
    let seq = match seq {
        s if (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<i64>()
            .map_err(|_| "the sequence number is too large".to_string())?,
        _ => return bad("the sequence number is not 1 to 18 digits"),
    };
    if !valid_name(replica) {
        return bad("the replica is not 1 to 64 ASCII letters, digits, '.', '_' or '-'");
    }
    Ok(KeyParts {
        kind,
        model,
        period_ms,
        period_len_ms,
        replica: replica.to_string(),
        seq,
    })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` that names a real date.
fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > days_in[(m - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_to_their_parts() {
        let at: i64 = 1_764_745_200_000 + 3 * 3_600_000 + 1234;
        let hour = at - at.rem_euclid(3_600_000);
        let k = segment_key(&SealParts {
            kind: SegmentKind::Predictions,
            replica: "0190-abc",
            model: "hospital",
            period_ms: hour,
            seq: 7,
        });
        assert_eq!(
            k,
            format!(
                "captures/predictions/model=hospital/dt={}/hour={}/0190-abc-000007.parquet",
                &crate::util::format_ms(at)[..10],
                &crate::util::format_ms(at)[11..13]
            )
        );
        let p = parse_key(&k).unwrap();
        assert_eq!(p.period_ms, hour);
        assert_eq!((p.replica.as_str(), p.seq), ("0190-abc", 7));
        let day = at - at.rem_euclid(86_400_000);
        let k = segment_key(&SealParts {
            kind: SegmentKind::Outcomes,
            replica: "r1",
            model: "",
            period_ms: day,
            seq: 0,
        });
        assert_eq!(parse_key(&k).unwrap().period_ms, day);
    }

    #[test]
    fn keys_that_name_paths_or_bad_dates_are_refused() {
        for k in [
            "captures/predictions/model=../dt=2025-01-01/hour=00/r-1.parquet",
            "captures/predictions/model=m/dt=2025-02-30/hour=00/r-1.parquet",
            "captures/predictions/model=m/dt=2025-01-01/hour=24/r-1.parquet",
            "captures/predictions/model=m/dt=2025-01-01/hour=00/../r-1.parquet",
            "captures/predictions/model=m/dt=2025-01-01/hour=00/r-1.csv",
            "captures/predictions/model=m/dt=2025-01-01/hour=00/r-x.parquet",
            "captures/predictions/model=m/dt=2025-01-01/hour=00/-1.parquet",
            "captures/predictions/model=m/dt=2025-01-01/hour=00/.r-1.parquet",
            "captures/outcomes/dt=2025-01-01/a/r-1.parquet",
            "runs/x.json",
        ] {
            assert!(parse_key(k).is_err(), "{k}");
        }
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
    }
}
