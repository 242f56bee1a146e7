//! The prediction log writer: requests append to a bounded in-memory buffer and one thread moves
//! it to SQLite in batches, so a request never waits on the database (nor wakes a thread). A full
//! buffer drops the rows it cannot take, and counts them.

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

struct Shared {
    buf: Mutex<Vec<PredictionRow>>,
    wake: Condvar,
    stop: AtomicBool,
    capacity: usize,
}

pub struct PredictionLog {
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl PredictionLog {
    /// Starts the writer on its own connection to `db`.
    pub fn start(db: PathBuf, capacity: usize, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let store = Store::open(&db)?;
        let shared = Arc::new(Shared {
            buf: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            capacity: capacity.max(1),
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
    pub fn record(&self, mut rows: Vec<PredictionRow>) {
        let dropped = {
            let mut buf = self.shared.buf.lock().unwrap_or_else(|p| p.into_inner());
            if self.shared.stop.load(Ordering::Relaxed) {
                rows.len()
            } else {
                let room = self.shared.capacity.saturating_sub(buf.len());
                let extra = rows.len().saturating_sub(room);
                rows.truncate(rows.len() - extra);
                buf.append(&mut rows);
                extra
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
        for batch in rows.chunks(BATCH) {
            match store.log_predictions(batch) {
                Ok(()) => {
                    metrics
                        .log_written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    eprintln!(
                        "staytrack serve: could not write {} predictions to the log: {e}",
                        batch.len()
                    );
                    metrics
                        .log_dropped
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
            }
        }
        if stop {
            return;
        }
    }
}
