//! `staytrack serve`, `staytrack health` and `staytrack log prune`: the server's options, its
//! container health check, and the prediction log's upkeep.

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{open_store, EXIT_ERROR};
use crate::config::Config;
use crate::tracking::registry::PRODUCTION;
use crate::tracking::Store;

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on; loopback unless told otherwise
    #[arg(long, env = "STAYTRACK_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Serve the model behind this alias, and follow the alias when it moves
    #[arg(long, env = "STAYTRACK_ALIAS", default_value = PRODUCTION)]
    pub alias: String,
    /// Largest request body, in bytes (larger ones get 413)
    #[arg(long, default_value_t = 10 * 1024 * 1024, value_name = "BYTES")]
    pub max_body: usize,
    /// Most rows in one request (more get 413); batch files go through `staytrack score`
    #[arg(long, default_value_t = 10_000, value_name = "ROWS")]
    pub max_rows: usize,
    /// Request bodies read or scored at once, in bytes; more wait, then get 503
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_name = "BYTES")]
    pub max_inflight: usize,
    /// Prediction-log queue size in rows; when it is full, rows are dropped and counted
    #[arg(long, default_value_t = 65536, value_name = "ROWS")]
    pub log_queue: usize,
    /// Prediction-log queue size in bytes, beside the row bound
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_name = "BYTES")]
    pub log_queue_bytes: usize,
    /// Delete logged predictions older than this (30d, 12h); `forever` keeps them
    #[arg(long, default_value = "30d", value_name = "DURATION")]
    pub log_retention: String,
    /// Seconds a client has to send a request's headers (an idle keep-alive connection closes
    /// after this too)
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub header_timeout: u64,
    /// Seconds a shutdown waits for requests in flight before it closes their connections
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub shutdown_timeout: u64,
    /// Seconds a whole request (its body included) may take before it is answered 408
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub request_timeout: u64,
    /// Registry versions kept loaded for the v2 versioned routes besides the alias's; the
    /// least recently asked for is dropped first
    #[arg(long, default_value_t = crate::serve::model::DEFAULT_PINNED, value_name = "N")]
    pub max_versions: usize,
    /// Do not write predictions to the store
    #[arg(long)]
    pub no_log: bool,
    /// How long an answer waits for room in a full prediction log before it is refused with
    /// 503 (`--log-full block`)
    #[arg(long, default_value = "100ms", value_name = "DURATION")]
    pub log_wait: String,
    /// When the log is full: `block` waits, then answers 503, so every answer is logged;
    /// `drop` answers anyway and counts the rows not logged
    #[arg(long, value_enum, default_value = "block")]
    pub log_full: crate::serve::log::WhenFull,
    /// This server's name in capture keys and logged rows [default: a UUIDv7 made at start]
    #[arg(long, env = "STAYTRACK_REPLICA", value_name = "ID")]
    pub replica: Option<String>,
    /// Keep the prediction log local even when a sync bucket is set
    #[arg(long)]
    pub no_capture: bool,
    /// Seal and ship the log to the bucket at least this often
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub capture_interval: String,
    /// Seal a segment as soon as this many rows wait
    #[arg(long, default_value_t = crate::capture::ship::DEFAULT_ROWS, value_name = "ROWS")]
    pub capture_rows: usize,
    /// The most logged rows not yet in the bucket (a count, or bytes of inputs as 512MiB);
    /// past it answers wait, then get 503 (or are dropped with `--log-full drop`)
    #[arg(long, default_value = "1000000", value_name = "ROWS|BYTES")]
    pub capture_max_pending: String,
    /// How often to check whether the alias moved, in milliseconds
    #[arg(long, default_value_t = 250, value_name = "MS")]
    pub poll_ms: u64,
    /// Worker threads answering requests [default: one per core]
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub workers: usize,
}

pub fn log(cfg: &Config, cmd: LogCommand) -> anyhow::Result<i32> {
    match cmd {
        LogCommand::Prune { older_than } => prune_log(cfg, &older_than),
    }
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Delete logged predictions older than a duration (the server does this by itself with
    /// --log-retention)
    Prune {
        /// Keep this much of the log (30d, 12h, 90m)
        #[arg(long, default_value = "30d", value_name = "DURATION")]
        older_than: String,
    },
}

pub fn serve(cfg: &Config, a: ServeArgs) -> anyhow::Result<i32> {
    let opts = options(cfg, a)?;
    drop(open_store(cfg)?);
    crate::serve::run(cfg, opts)
}

/// The server's options from its flags, checked: the one place their defaults live (the
/// benchmark parses flags through it too).
pub fn options(cfg: &Config, a: ServeArgs) -> anyhow::Result<crate::serve::ServeOptions> {
    use std::time::Duration;
    anyhow::ensure!(a.poll_ms >= 10, "--poll-ms must be at least 10");
    anyhow::ensure!(a.max_rows >= 1, "--max-rows must be at least 1");
    anyhow::ensure!(a.max_versions >= 1, "--max-versions must be at least 1");
    anyhow::ensure!(
        a.header_timeout >= 1 && a.shutdown_timeout <= 3600,
        "--header-timeout must be at least 1 s and --shutdown-timeout at most 3600 s"
    );
    let log_retention = match a.log_retention.as_str() {
        "forever" | "off" | "never" => None,
        d => Some(Duration::from_millis(
            crate::util::parse_duration_ms(d).with_context(|| {
                format!("--log-retention '{d}': use a duration such as 30d or 12h, or `forever`")
            })? as u64,
        )),
    };
    let ms = |flag: &str, v: &str| -> anyhow::Result<Duration> {
        let n = crate::util::parse_duration_ms(v)
            .filter(|n| *n >= 0)
            .with_context(|| format!("{flag} '{v}': use a duration such as 100ms, 60s or 5m"))?;
        Ok(Duration::from_millis(n as u64))
    };
    let log_wait = ms("--log-wait", &a.log_wait)?;
    let interval = ms("--capture-interval", &a.capture_interval)?;
    anyhow::ensure!(
        interval >= Duration::from_secs(1),
        "--capture-interval must be at least 1s"
    );
    let replica = match a.replica {
        Some(r) => {
            anyhow::ensure!(
                crate::capture::valid_name(&r),
                "--replica '{}': use 1 to {} ASCII letters, digits, '.', '_' or '-'",
                r.escape_debug(),
                crate::capture::MAX_NAME
            );
            r
        }
        None => crate::util::new_run_id(),
    };
    anyhow::ensure!(
        (1..=crate::capture::MAX_SEGMENT_ROWS).contains(&a.capture_rows),
        "--capture-rows must be 1 to {} (what a pull reads at once)",
        crate::capture::MAX_SEGMENT_ROWS
    );
    let max_pending = parse_pending(&a.capture_max_pending)?;
    let sync = crate::sync::SyncSettings::load(cfg)?;
    let capture = if a.no_capture || a.no_log || sync.bucket.is_none() {
        None
    } else {
        Some(crate::capture::ship::ShipOptions {
            sync,
            layout: crate::capture::ship::Layout::of_workspace(cfg, a.capture_rows)?,
            interval,
        })
    };
    Ok(crate::serve::ServeOptions {
        addr: a.addr,
        alias: a.alias,
        // The token comes from the environment only, so it never shows in `ps`.
        token: std::env::var("STAYTRACK_TOKEN").ok(),
        max_body: a.max_body,
        max_rows: a.max_rows,
        request_timeout: Duration::from_secs(a.request_timeout.max(1)),
        max_inflight: a.max_inflight,
        log_queue: a.log_queue,
        log_queue_bytes: a.log_queue_bytes,
        log_retention,
        max_versions: a.max_versions,
        log: !a.no_log,
        log_wait,
        log_full: a.log_full,
        replica,
        capture,
        capture_max_pending: max_pending,
        poll: Duration::from_millis(a.poll_ms),
        workers: a.workers,
        conn: crate::serve::conn::ConnLimits {
            header_timeout: Duration::from_secs(a.header_timeout),
            shutdown_timeout: Duration::from_secs(a.shutdown_timeout),
        },
    })
}

/// `--capture-max-pending`: a row count (`1000000`), or bytes with a unit (`512MiB`, `2GB`).
fn parse_pending(v: &str) -> anyhow::Result<(u64, u64)> {
    let t = v.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().ok().filter(|n| *n > 0).with_context(|| {
        format!("--capture-max-pending '{v}': give a row count or a size such as 512MiB")
    })?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" => return Ok((n, u64::MAX)),
        "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => anyhow::bail!(
            "--capture-max-pending '{v}': '{other}' is not a unit (B, KiB, MiB, GiB, kB, MB, GB)"
        ),
    };
    Ok((u64::MAX, n.saturating_mul(scale)))
}

/// GET `url` over plain HTTP/1.1 with std only, so the slim image needs no curl.
pub fn health(url: &str, timeout: u64) -> anyhow::Result<i32> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--url '{url}': only http:// URLs are supported"))?;
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let limit = std::time::Duration::from_secs(timeout.max(1));
    let sock = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .with_context(|| format!("{url}: cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("{url}: no address for {addr}"))?;
    let mut conn = std::net::TcpStream::connect_timeout(&sock, limit)
        .with_context(|| format!("{url}: cannot connect"))?;
    conn.set_read_timeout(Some(limit))?;
    conn.set_write_timeout(Some(limit))?;
    write!(
        conn,
        "GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    conn.take(64 * 1024)
        .read_to_end(&mut answer)
        .with_context(|| format!("{url}: no answer within {timeout} s"))?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        println!("{url}: {status}");
        Ok(0)
    } else {
        eprintln!("{url}: unhealthy: {status}");
        Ok(EXIT_ERROR)
    }
}

fn prune_log(cfg: &Config, older_than: &str) -> anyhow::Result<i32> {
    let keep = crate::util::parse_duration_ms(older_than).with_context(|| {
        format!("--older-than '{older_than}': use a duration such as 30d, 12h or 90m")
    })?;
    let mut store = Store::open(&cfg.db_path)?;
    let before = crate::util::now_ms().saturating_sub(keep);
    // Rows still waiting for the bucket are kept unless this workspace never ships.
    let ships = crate::sync::SyncSettings::load(cfg)?.bucket.is_some();
    let n = store.prune_predictions(before, ships)?;
    println!(
        "deleted {} logged prediction(s) from before {} UTC; {} remain",
        crate::util::thousands(n),
        crate::util::format_ms(before),
        crate::util::thousands(store.count_predictions()?)
    );
    Ok(0)
}
