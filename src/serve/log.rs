//! The prediction log writer: requests append to a bounded in-memory buffer and one thread moves
//! it to SQLite in batches, so a request never waits on the database (nor wakes a thread). The
//! buffer is bounded in rows and in bytes; a full buffer drops the rows it cannot take, and counts
//! them. The same thread deletes rows older than the retention, so the log cannot fill the disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::metrics::Metrics;
use crate::tracking::{PredictionRow, Store};

/// The most rows written in one transaction.
const BATCH: usize = 8192;
/// How often the writer collects the buffer.
const INTERVAL: Duration = Duration::from_millis(50);
/// How often the writer deletes rows past the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// How much the log may hold in memory, and how long it keeps rows on disk.
#[derive(Debug, Clone, Copy)]
pub struct LogLimits {
    pub rows: usize,
    pub bytes: usize,
    pub retention: Option<Duration>,
}

/// What a queued row costs in memory, roughly.
fn row_bytes(r: &PredictionRow) -> usize {
    r.inputs.len() + r.source.len() + std::mem::size_of::<PredictionRow>()
}

struct Buffer {
    rows: Vec<PredictionRow>,
    bytes: usize,
}

struct Shared {
    buf: Mutex<Buffer>,
    wake: Condvar,
    stop: AtomicBool,
    limits: LogLimits,
}

pub struct PredictionLog {
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl PredictionLog {
    /// Starts the writer on its own connection to `db`.
    pub fn start(db: PathBuf, limits: LogLimits, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let store = Store::open(&db)?;
        let shared = Arc::new(Shared {
            buf: Mutex::new(Buffer {
                rows: Vec::new(),
                bytes: 0,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            limits: LogLimits {
                rows: limits.rows.max(1),
                bytes: limits.bytes.max(1),
                ..limits
            },
        });
        let (sh, m) = (shared.clone(), metrics.clone());
        let handle = std::thread::Builder::new()
            .name("prediction-log".into())
            .spawn(move || writer(store, sh, m))?;
        Ok(PredictionLog {
            shared,
            metrics,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Queues rows without waiting; rows that do not fit are dropped and counted.
    pub fn record(&self, rows: Vec<PredictionRow>) {
        let dropped = {
            let mut buf = self.shared.buf.lock().unwrap_or_else(|p| p.into_inner());
            if self.shared.stop.load(Ordering::Relaxed) {
                rows.len()
            } else {
                let limits = self.shared.limits;
                let mut dropped = 0;
                for r in rows {
                    let n = row_bytes(&r);
                    if buf.rows.len() < limits.rows && buf.bytes + n <= limits.bytes {
                        buf.bytes += n;
                        buf.rows.push(r);
                    } else {
                        dropped += 1;
                    }
                }
                dropped
            }
        };
        if dropped > 0 {
            self.metrics
                .log_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
    }

    pub fn queued(&self) -> usize {
        self.shared
            .buf
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .rows
            .len()
    }

    /// Writes everything queued so far and stops the writer. Later rows are dropped.
    pub fn close(&self) {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            {
                let _g = self.shared.buf.lock().unwrap_or_else(|p| p.into_inner());
                self.shared.stop.store(true, Ordering::Relaxed);
            }
            self.shared.wake.notify_all();
            let _ = h.join();
        }
    }
}

fn writer(mut store: Store, shared: Arc<Shared>, metrics: Arc<Metrics>) {
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        let (rows, stop) = {
            let mut buf = shared.buf.lock().unwrap_or_else(|p| p.into_inner());
            if !shared.stop.load(Ordering::Relaxed) {
                buf = shared
                    .wake
                    .wait_timeout(buf, INTERVAL)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            buf.bytes = 0;
            (
                std::mem::take(&mut buf.rows),
                shared.stop.load(Ordering::Relaxed),
            )
        };
        for batch in rows.chunks(BATCH) {
            let written = write_batch(&mut store, batch);
            metrics
                .log_written
                .fetch_add(written as u64, Ordering::Relaxed);
            metrics
                .log_dropped
                .fetch_add((batch.len() - written) as u64, Ordering::Relaxed);
        }
        if stop {
            return;
        }
        if let Some(keep) = shared.limits.retention {
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(std::time::Instant::now());
                let before = crate::util::now_ms().saturating_sub(keep.as_millis() as i64);
                if let Err(e) = store.prune_predictions(before) {
                    eprintln!("staytrack serve: could not prune the prediction log: {e}");
                }
            }
        }
    }
}

/// Writes a batch in one transaction; if that fails, row by row, so one bad row costs only
/// itself. Returns how many rows were written.
fn write_batch(store: &mut Store, batch: &[PredictionRow]) -> usize {
    match store.log_predictions(batch) {
        Ok(n) => n,
        Err(e) => {
            let mut written = 0;
            for r in batch {
                if let Ok(n) = store.log_predictions(std::slice::from_ref(r)) {
                    written += n;
                }
            }
            eprintln!(
                "staytrack serve: a batch of {} predictions could not be written as one ({e}); {} written row by row",
                batch.len(),
                written
            );
            written
        }
    }
}
