//! `staytrack feedback`: real outcomes from a CSV, joined to logged predictions by case id.

use std::path::PathBuf;

use clap::Args;

use super::{open_store, EXIT_ERROR};
use crate::config::Config;
use crate::data::DatasetSpec;
use crate::feedback;

#[derive(Debug, Args)]
pub struct FeedbackArgs {
    /// A CSV or Parquet file with an id column and the label column
    pub file: PathBuf,
    /// The id column [default: the dataset spec's first id column]
    #[arg(long, value_name = "COLUMN")]
    pub id: Option<String>,
    /// The label column [default: the dataset spec's target column]
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Exit 1 when any row was skipped: the others are kept, and each skipped one is named.
pub fn run(cfg: &Config, a: FeedbackArgs) -> anyhow::Result<i32> {
    let spec = DatasetSpec::of_workspace(cfg)?;
    let (id, label) = feedback::columns(&spec, a.id.as_deref(), a.label.as_deref())?;
    let mut store = open_store(cfg)?;
    // With a bucket, outcomes also wait in the outbox and ship now (or at the next push).
    let sync = crate::sync::SyncSettings::load(cfg)?;
    let outbox = match sync.bucket {
        Some(_) => Some(store.workspace_replica()?),
        None => None,
    };
    let s = feedback::load_file(&mut store, &spec, &a.file, &id, &label, outbox.as_deref())?;
    if outbox.is_some() {
        let shipped = crate::sync::runtime().and_then(|rt| {
            rt.block_on(async {
                let r = crate::sync::Remote::connect(&sync).await?;
                let layout = crate::capture::ship::Layout::of_workspace(
                    cfg,
                    crate::capture::ship::DEFAULT_ROWS,
                )?;
                crate::capture::ship::ship_pending(&mut store, &r, &layout, true, None).await
            })
        });
        match shipped {
            Ok(sh) if sh.failure.is_none() => {}
            Ok(sh) => eprintln!(
                "warning: the outcomes stay in the outbox until `staytrack sync push`: {}",
                sh.failure.unwrap_or_default()
            ),
            Err(e) => eprintln!(
                "warning: the outcomes stay in the outbox until `staytrack sync push`: {e:#}"
            ),
        }
    }
    let code = if s.rejected.is_empty() && s.conflicting.is_empty() {
        0
    } else {
        EXIT_ERROR
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(code);
    }
    println!("{}", s.describe(&a.file));
    for (what, list) in [("conflicting", &s.conflicting), ("skipped", &s.rejected)] {
        for (row, why) in list.iter().take(crate::util::MAX_LISTED) {
            eprintln!("{} row {row}: {why}; {what}", a.file.display());
        }
        if list.len() > crate::util::MAX_LISTED {
            eprintln!(
                "… and {} more rows {what}",
                list.len() - crate::util::MAX_LISTED
            );
        }
    }
    Ok(code)
}
