//! `staytrack sync push | pull | status | backup`.

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::sync::{self, Remote, SyncSettings};
use crate::util::thousands;

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Upload finished runs, their artifacts and alias moves the bucket lacks
    Push(SyncArgs),
    /// Fetch runs this store lacks (artifacts verified) and replay alias moves
    Pull(SyncArgs),
    /// What is ahead (only here) and behind (only in the bucket)
    Status(SyncArgs),
    /// Upload a consistent snapshot of the store (SQLite online backup)
    Backup(SyncArgs),
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Bucket [default: [sync] bucket in staytrack.toml, or $STAYTRACK_SYNC_BUCKET]
    #[arg(long)]
    pub bucket: Option<String>,
    /// Key prefix inside the bucket
    #[arg(long)]
    pub prefix: Option<String>,
    /// S3-compatible endpoint URL (path-style addressing), e.g. http://127.0.0.1:9000
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// AWS region [default: from the AWS configuration, else us-east-1]
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Pull: leave the fleet's capture segments in the bucket (a server following its alias
    /// needs the runs and moves only)
    #[arg(long)]
    pub no_captures: bool,
    /// Pull: only capture segments of the last DURATION (30d, 12h), judged from their keys
    #[arg(long, value_name = "DURATION", conflicts_with = "no_captures")]
    pub captures_since: Option<String>,
}

fn settings(cfg: &Config, a: &SyncArgs) -> anyhow::Result<SyncSettings> {
    let mut s = SyncSettings::load(cfg)?;
    if let Some(b) = &a.bucket {
        s.bucket = Some(b.clone());
    }
    if let Some(p) = &a.prefix {
        s.prefix = p.clone();
    }
    if let Some(e) = &a.endpoint {
        s.endpoint = Some(e.clone());
    }
    if let Some(r) = &a.region {
        s.region = Some(r.clone());
    }
    Ok(s)
}

pub fn run(cfg: &Config, cmd: SyncCommand) -> anyhow::Result<i32> {
    let rt = sync::runtime()?;
    match cmd {
        SyncCommand::Push(a) => {
            let s = settings(cfg, &a)?;
            let sum = rt.block_on(async {
                let r = Remote::connect(&s).await?;
                sync::push(cfg, &r, None).await
            })?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&sum)?);
            } else {
                println!(
                    "pushed {} run(s), {} artifact(s) ({} bytes), {} alias move(s), {} capture segment(s) ({} rows) to s3://{}/{}",
                    sum.runs,
                    sum.artifacts,
                    thousands(sum.artifact_bytes as usize),
                    sum.events,
                    sum.shipped.segments,
                    thousands(sum.shipped.rows),
                    s.bucket.as_deref().unwrap_or_default(),
                    s.prefix
                );
            }
        }
        SyncCommand::Pull(a) => {
            let s = settings(cfg, &a)?;
            let captures = match (a.no_captures, &a.captures_since) {
                (true, _) => None,
                (false, None) => Some(0),
                (false, Some(d)) => Some(crate::util::now_ms().saturating_sub(
                    crate::util::parse_duration_ms(d).ok_or_else(|| {
                        anyhow::anyhow!("--captures-since '{d}': use a duration such as 30d or 12h")
                    })?,
                )),
            };
            let sum = rt.block_on(async {
                let r = Remote::connect(&s).await?;
                sync::pull(cfg, &r, captures).await
            })?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&sum)?);
            } else {
                println!(
                    "pulled {} run(s), {} artifact(s) ({} bytes), replayed {} alias move(s), {} older move(s) to the audit log",
                    sum.runs,
                    sum.artifacts,
                    thousands(sum.artifact_bytes as usize),
                    sum.events,
                    sum.history
                );
                println!(
                    "imported {} capture segment(s): {} prediction(s) ({} already here), {} outcome(s){}{}",
                    sum.captures.segments,
                    thousands(sum.captures.predictions),
                    thousands(sum.captures.duplicates),
                    thousands(sum.captures.outcomes),
                    if sum.captures.unjoinable > 0 {
                        format!(
                            " ({} left out: their case id is not a whole number)",
                            thousands(sum.captures.unjoinable)
                        )
                    } else {
                        String::new()
                    },
                    if sum.captures.older > 0 {
                        format!("; {} older segment(s) left in the bucket", sum.captures.older)
                    } else {
                        String::new()
                    }
                );
                for s in &sum.waiting {
                    println!("  waiting: {s}");
                }
            }
            if !sum.rejected.is_empty() {
                eprintln!(
                    "staytrack: skipped {} object(s) the bucket holds that cannot be used:",
                    sum.rejected.len()
                );
                for r in &sum.rejected {
                    eprintln!("  {r}");
                }
                return Ok(1);
            }
        }
        SyncCommand::Status(a) => {
            let s = settings(cfg, &a)?;
            let st = rt.block_on(async {
                let r = Remote::connect(&s).await?;
                sync::status(cfg, &r).await
            })?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                println!("s3://{}/{}", st.bucket, st.prefix);
                println!(
                    "ahead:  {} run(s) only here, {} alias move(s) not pushed",
                    st.ahead_runs.len(),
                    st.unpushed_events
                );
                for id in &st.ahead_runs {
                    println!("  + {id}");
                }
                println!(
                    "behind: {} run(s) only in the bucket, {} alias move(s) not applied",
                    st.behind_runs.len(),
                    st.unapplied_events
                );
                for id in &st.behind_runs {
                    println!("  - {id}");
                }
            }
        }
        SyncCommand::Backup(a) => {
            let s = settings(cfg, &a)?;
            let (key, bytes) = rt.block_on(async {
                let r = Remote::connect(&s).await?;
                sync::backup(cfg, &r).await
            })?;
            println!(
                "backed up {} ({} bytes) to s3://{}/{key}",
                cfg.db_path.display(),
                thousands(bytes as usize),
                s.bucket.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(0)
}
