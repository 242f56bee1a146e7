//! The prediction log writer: requests append to a bounded in-memory buffer and one thread moves
//! it to SQLite in batches, so a request never waits on the database while there is room. The
//! buffer is bounded in rows and in bytes, and (with capture on) so is the outbox of rows not yet
//! in the bucket. When there is no room, a request waits up to `--log-wait` for it and is then
//! refused (503), so an answered prediction is a logged one; `--log-full drop` answers anyway and
//! counts the rows it could not keep. The same thread deletes rows older than the retention
//! (with capture on, only rows already in the bucket), so the log cannot fill the disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::metrics::Metrics;
use crate::capture::ship::ShipStats;
use crate::tracking::{PredictionRow, Store};

/// The most rows written in one transaction.
const BATCH: usize = 8192;
/// How often the writer collects the buffer.
const INTERVAL: Duration = Duration::from_millis(50);
/// How often the writer deletes rows past the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// What a request does when the log has no room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WhenFull {
    /// Wait up to `--log-wait` for room, then answer 503: no answer goes unlogged.
    Block,
    /// Answer anyway and count the rows not logged: availability over completeness.
    Drop,
}

/// How much the log may hold in memory, and how long it keeps rows on disk.
#[derive(Debug, Clone, Copy)]
pub struct LogLimits {
    pub rows: usize,
    pub bytes: usize,
    pub retention: Option<Duration>,
    pub wait: Duration,
    pub full: WhenFull,
    /// The most rows (and input bytes) not yet in the bucket; `None` without capture.
    pub max_pending: Option<(u64, u64)>,
}

/// The log had no room for an answer's rows within `--log-wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// What a queued row costs in memory, roughly.
fn row_bytes(r: &PredictionRow) -> usize {
    r.inputs.len() + r.source.len() + std::mem::size_of::<PredictionRow>()
}

#[derive(Default)]
struct Buffer {
    rows: Vec<PredictionRow>,
    bytes: usize,
}

struct Shared {
    buf: Mutex<Buffer>,
    wake: Condvar,
    /// Wakes requests waiting for room whenever the writer has drained the buffer.
    room: tokio::sync::Notify,
    stop: AtomicBool,
    limits: LogLimits,
    /// The outbox's gauges, when capture is on.
    outbox: Option<Arc<ShipStats>>,
    /// Rows the writer holds because the store was locked.
    carried: AtomicUsize,
    /// When the writer gives up on a locked store at shutdown.
    deadline: Mutex<Option<Instant>>,
}

pub struct PredictionLog {
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    /// Whether `n` more rows of `bytes` fit; a batch larger than the bounds fits an empty log,
    /// so every allowed request can be answered.
    fn fits(&self, buf: &Buffer, n: usize, bytes: usize) -> bool {
        let l = &self.limits;
        let held = buf.rows.len() + self.carried.load(Ordering::Relaxed);
        let empty = held == 0;
        let memory = empty || (held + n <= l.rows && buf.bytes + bytes <= l.bytes);
        let outbox = match (l.max_pending, &self.outbox) {
            (Some((rows, b)), Some(o)) => {
                let waiting = o.pending_rows.load(Ordering::Relaxed) + buf.rows.len() as u64;
                let wbytes = o.pending_bytes.load(Ordering::Relaxed) + buf.bytes as u64;
                waiting == 0 || (waiting + n as u64 <= rows && wbytes + bytes as u64 <= b)
            }
            _ => true,
        };
        memory && outbox
    }
}

impl PredictionLog {
    /// Starts the writer on its own connection to `db`.
    pub fn start(
        db: PathBuf,
        limits: LogLimits,
        metrics: Arc<Metrics>,
        outbox: Option<Arc<ShipStats>>,
    ) -> anyhow::Result<Self> {
        let mut store = Store::open(&db)?;
        // A locked store is waited for a second at a time, so the writer keeps its deadlines.
        store.set_busy_timeout(Duration::from_secs(1))?;
        let shared = Arc::new(Shared {
            buf: Mutex::new(Buffer {
                rows: Vec::new(),
                bytes: 0,
            }),
            wake: Condvar::new(),
            room: tokio::sync::Notify::new(),
            stop: AtomicBool::new(false),
            outbox,
            carried: AtomicUsize::new(0),
            deadline: Mutex::new(None),
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

    /// Queues an answer's rows before it is sent. With `WhenFull::Block`, waits up to the log's
    /// wait for room for all of them, then refuses (and counts the refusal); with
    /// `WhenFull::Drop`, never waits.
    pub async fn admit(&self, rows: Vec<PredictionRow>) -> Result<(), Refused> {
        if self.shared.limits.full == WhenFull::Drop {
            self.record(rows);
            return Ok(());
        }
        let n = rows.len();
        let bytes: usize = rows.iter().map(row_bytes).sum();
        let deadline = tokio::time::Instant::now() + self.shared.limits.wait;
        let mut rows = Some(rows);
        loop {
            let notified = self.shared.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut buf = self.shared.buf.lock().unwrap_or_else(|p| p.into_inner());
                if self.shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                if self.shared.fits(&buf, n, bytes) {
                    buf.bytes += bytes;
                    buf.rows.extend(rows.take().into_iter().flatten());
                    return Ok(());
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        self.metrics
            .log_refused
            .fetch_add(n as u64, Ordering::Relaxed);
        Err(Refused)
    }

    /// Queues rows without waiting; rows that do not fit are dropped and counted.
    pub fn record(&self, rows: Vec<PredictionRow>) {
        let dropped = {
            let mut buf = self.shared.buf.lock().unwrap_or_else(|p| p.into_inner());
            if self.shared.stop.load(Ordering::Relaxed) {
                rows.len()
            } else {
                let mut dropped = 0;
                for r in rows {
                    let n = row_bytes(&r);
                    if self.shared.fits(&buf, 1, n) {
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

    /// Writes everything queued so far and stops the writer; rows the store still refuses
    /// after `deadline` (another process holding it) are given up and counted. Later rows are
    /// refused.
    pub fn close(&self, deadline: Duration) {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            {
                let _g = self.shared.buf.lock().unwrap_or_else(|p| p.into_inner());
                *self
                    .shared
                    .deadline
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + deadline);
                self.shared.stop.store(true, Ordering::Relaxed);
            }
            self.shared.wake.notify_all();
            self.shared.room.notify_waiters();
            let _ = h.join();
        }
    }
}

fn writer(mut store: Store, shared: Arc<Shared>, metrics: Arc<Metrics>) {
    // With capture on, only rows already in the bucket may go.
    let shipped_only = shared.outbox.is_some();
    let mut last_prune: Option<Instant> = None;
    // Rows taken from the buffer that the store has not taken yet (it was locked): kept, in
    // order, and counted against the buffer's room, so answers wait or are refused rather than
    // go unlogged.
    let mut carry: Vec<PredictionRow> = Vec::new();
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
            (
                std::mem::take(&mut *buf),
                shared.stop.load(Ordering::Relaxed),
            )
        };
        if let Some(o) = &shared.outbox {
            o.pending_bytes
                .fetch_add(rows.bytes as u64, Ordering::Relaxed);
        }
        carry.extend(rows.rows);
        let recent = shared.outbox.as_ref().map(|o| &o.recent);
        // Each written row's position in `carry` and id, for the shipper's cache.
        let mut ids: Vec<(usize, i64)> = Vec::new();
        let mut done = 0;
        while done < carry.len() {
            let batch = &carry[done..(done + BATCH).min(carry.len())];
            let Some(written) = write_batch(&mut store, batch, recent.map(|_| (done, &mut ids)))
            else {
                break;
            };
            if let Some(o) = &shared.outbox {
                // Counted as waiting until the shipper's next look says otherwise, so the
                // buffer's room is never counted twice or not at all.
                o.pending_rows.fetch_add(written as u64, Ordering::Relaxed);
            }
            metrics
                .log_written
                .fetch_add(written as u64, Ordering::Relaxed);
            metrics
                .log_dropped
                .fetch_add((batch.len() - written) as u64, Ordering::Relaxed);
            done += batch.len();
        }
        match recent {
            Some(recent) if !ids.is_empty() => {
                let mut ids = ids.into_iter().peekable();
                recent.keep(carry.drain(..done).enumerate().filter_map(|(i, r)| {
                    let &(at, id) = ids.peek()?;
                    (at == i).then(|| {
                        ids.next();
                        (id, r)
                    })
                }));
            }
            _ => {
                carry.drain(..done);
            }
        }
        shared.carried.store(carry.len(), Ordering::Relaxed);
        shared.room.notify_waiters();
        if stop {
            let past = shared
                .deadline
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none_or(|d| Instant::now() >= d);
            if carry.is_empty() || past {
                if !carry.is_empty() {
                    eprintln!(
                        "staytrack serve: the store stayed locked past the shutdown deadline; {} answered prediction(s) could not be logged",
                        carry.len()
                    );
                    metrics
                        .log_dropped
                        .fetch_add(carry.len() as u64, Ordering::Relaxed);
                }
                return;
            }
            std::thread::sleep(INTERVAL);
            continue;
        }
        if let Some(keep) = shared.limits.retention {
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                let before = crate::util::now_ms().saturating_sub(keep.as_millis() as i64);
                if let Err(e) = store.prune_predictions(before, shipped_only) {
                    eprintln!("staytrack serve: could not prune the prediction log: {e}");
                }
                if shipped_only {
                    if let Err(e) = store.prune_outcome_outbox(before) {
                        eprintln!("staytrack serve: could not prune the outcomes' outbox: {e}");
                    }
                }
            }
        }
    }
}

/// Writes a batch in one transaction; if that fails, row by row, so one bad row costs only
/// itself. Returns how many rows were written, or `None` when the store is locked by another
/// process: nothing was written and the batch waits for the next try. With `ids`, a batch
/// written whole adds each row's id beside its position (the batch starting at the offset).
fn write_batch(
    store: &mut Store,
    batch: &[PredictionRow],
    ids: Option<(usize, &mut Vec<(usize, i64)>)>,
) -> Option<usize> {
    let whole = match ids {
        Some((offset, ids)) => store.log_predictions_ids(batch).map(|got| {
            let n = got.len();
            ids.extend(got.into_iter().map(|(i, id)| (offset + i, id)));
            n
        }),
        None => store.log_predictions(batch),
    };
    match whole {
        Ok(n) => Some(n),
        Err(e) if e.is_busy() => None,
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
            Some(written)
        }
    }
}
