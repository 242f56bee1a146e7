//! The sending side: seal what waits in the outbox and PUT every sealed segment the bucket lacks.
//! `ship_pending` is one round (used by `sync push`, `feedback` and the server's shipper);
//! `Shipper` is the server's thread that runs rounds on the interval, the row bound and at
//! shutdown, and reports to `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::recent::Recent;
use super::segment::{encode_outcomes, encode_predictions};
use super::{segment_key, CaptureSettings, MAX_SEGMENT_ROWS};
use crate::config::Config;
use crate::data::spec::ColumnSpec;
use crate::data::DatasetSpec;
use crate::sync::{Remote, SyncSettings};
use crate::tracking::captures::SegmentKind;
use crate::tracking::Store;

/// The most rows a segment holds unless `--capture-rows` says otherwise.
pub const DEFAULT_ROWS: usize = 100_000;
/// A PUT that takes longer than this is given up and tried again next round.
const PUT_TIMEOUT: Duration = Duration::from_secs(30);

/// What segments carry and how large they get.
#[derive(Debug, Clone)]
pub struct Layout {
    pub inputs: Vec<ColumnSpec>,
    pub model: String,
    /// The most rows one segment holds.
    pub max_rows: usize,
}

impl Layout {
    /// The workspace's `[capture]` settings over its dataset spec.
    pub fn of_workspace(cfg: &Config, max_rows: usize) -> anyhow::Result<Layout> {
        let spec = DatasetSpec::of_workspace(cfg)?;
        let s = CaptureSettings::load(cfg)?;
        let inputs = s.inputs(&spec)?;
        super::segment::check_names(&inputs)?;
        Ok(Layout {
            inputs: inputs.into_iter().cloned().collect(),
            model: s.model_name(&spec),
            max_rows: max_rows.clamp(1, MAX_SEGMENT_ROWS),
        })
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Shipped {
    pub segments: usize,
    pub rows: usize,
    pub bytes: u64,
    /// Why the round stopped early (the bucket could not be reached); what is left waits.
    pub failure: Option<String>,
}

/// Seals every waiting row (when `seal`) and ships every sealed segment, oldest first; stops at
/// the first failure, leaving the rest for the next round.
pub async fn ship_pending(
    store: &mut Store,
    remote: &Remote,
    layout: &Layout,
    seal: bool,
    recent: Option<&Recent>,
) -> anyhow::Result<Shipped> {
    if seal {
        loop {
            // From the rows the log's thread kept when they are the next waiting ones, else
            // from the log.
            let listed = match recent {
                Some(r) => r.with_untaken(layout.max_rows, &layout.model, |rows| {
                    store.seal_predictions_listed(rows, layout.max_rows, &segment_key)
                })?,
                None => None,
            };
            let sealed = match listed {
                Some(s) => s,
                None => store.seal_predictions(layout.max_rows, &layout.model, &segment_key)?,
            };
            if sealed.is_empty() {
                break;
            }
        }
        while !store
            .seal_outcomes(layout.max_rows, &segment_key)?
            .is_empty()
        {}
    }
    let inputs: Vec<&ColumnSpec> = layout.inputs.iter().collect();
    let mut out = Shipped::default();
    // The last logged row any segment here was sealed through.
    let mut sealed_through = None;
    for seg in store.unshipped_segments()? {
        let (bytes, rows) = match seg.kind {
            SegmentKind::Predictions => {
                let held = seg.span.as_ref().and_then(|span| {
                    sealed_through = sealed_through.max(Some(span.last_id));
                    recent?.take(span, &seg.replica, seg.rows, &layout.model)
                });
                let rows = match held {
                    Some(rows) => rows,
                    None => store.segment_predictions(seg.id, &layout.model)?,
                };
                anyhow::ensure!(
                    rows.len() == seg.rows,
                    "segment {}: {} rows sealed, {} found in the log",
                    seg.key,
                    seg.rows,
                    rows.len()
                );
                (
                    encode_predictions(&rows, &inputs, &layout.model)?,
                    rows.len(),
                )
            }
            SegmentKind::Outcomes => {
                let rows = store.segment_outcomes(seg.id)?;
                (encode_outcomes(&rows)?, rows.len())
            }
        };
        let n = bytes.len() as u64;
        store.segment_attempted(seg.id)?;
        let key = remote.key(&seg.key);
        match tokio::time::timeout(PUT_TIMEOUT, remote.put_new(&key, bytes)).await {
            // Written now, or already there: keys are never reused (`next_seq`), so an object at
            // this key is this segment's own earlier PUT (or another process's PUT of the same
            // sealed segment), the same bytes.
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                out.failure = Some(e.to_string());
                return Ok(out);
            }
            Err(_) => {
                out.failure = Some(format!(
                    "{}: no answer within {} s",
                    remote.url(&key),
                    PUT_TIMEOUT.as_secs()
                ));
                return Ok(out);
            }
        }
        store.segment_shipped(seg.id, n)?;
        out.segments += 1;
        out.rows += rows;
        out.bytes += n;
    }
    // Every sealed segment is in the bucket: rows up to the last sealed one are no use held.
    if let (Some(recent), Some(id)) = (recent, sealed_through) {
        recent.forget_through(id);
    }
    Ok(out)
}

/// Gauges and counters the shipper keeps for `/metrics`.
#[derive(Debug, Default)]
pub struct ShipStats {
    pub pending_rows: AtomicU64,
    pub pending_bytes: AtomicU64,
    /// When the oldest row not yet in the bucket was logged, in ms (0: none waits); the lag is
    /// worked out when `/metrics` is read, so it grows while a round is stuck.
    pub oldest_ms: AtomicU64,
    pub segments: AtomicU64,
    pub bytes: AtomicU64,
    pub failures: AtomicU64,
    /// Rows the log has just written, so a segment need not be read back (`recent`).
    pub recent: super::recent::Recent,
}

/// When and how the server ships.
#[derive(Debug, Clone)]
pub struct ShipOptions {
    pub sync: SyncSettings,
    pub layout: Layout,
    /// Seal at least this often.
    pub interval: Duration,
}

struct Signal {
    stop: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

/// The server's shipping thread.
pub struct Shipper {
    signal: Arc<Signal>,
    handle: Mutex<Option<JoinHandle<()>>>,
    /// How long the last round at shutdown may take.
    deadline: Arc<Mutex<Duration>>,
}

impl Shipper {
    /// Starts shipping the workspace's outbox at `db`.
    pub fn start(
        db: std::path::PathBuf,
        o: ShipOptions,
        stats: Arc<ShipStats>,
    ) -> anyhow::Result<Shipper> {
        let store = Store::open(&db)?;
        let signal = Arc::new(Signal {
            stop: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let deadline = Arc::new(Mutex::new(Duration::from_secs(10)));
        let (sig, dl) = (signal.clone(), deadline.clone());
        let handle = std::thread::Builder::new()
            .name("capture-shipper".into())
            .spawn(move || run(store, o, stats, sig, dl))?;
        Ok(Shipper {
            signal,
            handle: Mutex::new(Some(handle)),
            deadline,
        })
    }

    /// Seals and ships what is left within `deadline`, then stops.
    pub fn close(&self, deadline: Duration) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = deadline;
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            {
                let _g = self.signal.lock.lock().unwrap_or_else(|p| p.into_inner());
                self.signal.stop.store(true, Ordering::Relaxed);
            }
            self.signal.wake.notify_all();
            let _ = h.join();
        }
    }
}

/// How often the outbox is looked at between seals.
const TICK: Duration = Duration::from_secs(1);
/// How often the waiting rows and their bytes are counted exactly.
const COUNT_EVERY: Duration = Duration::from_secs(30);

fn run(
    mut store: Store,
    o: ShipOptions,
    stats: Arc<ShipStats>,
    signal: Arc<Signal>,
    deadline: Arc<Mutex<Duration>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("staytrack serve: capture is off: no runtime for it ({e})");
            return;
        }
    };
    let mut remote = None;
    let mut counted = None;
    let mut last_seal = Instant::now();
    let mut backoff = Duration::ZERO;
    let mut next_try = Instant::now();
    loop {
        let stopping = {
            let g = signal.lock.lock().unwrap_or_else(|p| p.into_inner());
            if !signal.stop.load(Ordering::Relaxed) {
                let _ = signal.wake.wait_timeout(g, TICK);
            }
            signal.stop.load(Ordering::Relaxed)
        };
        let pending = observe(&store, &stats, &mut counted);
        let due = stopping
            || last_seal.elapsed() >= o.interval
            || pending.is_some_and(|p| p >= o.layout.max_rows as u64)
            || stats.recent.bytes() >= super::recent::SEAL_AT;
        if !stopping && Instant::now() < next_try {
            continue;
        }
        let has_unshipped = stats.pending_rows.load(Ordering::Relaxed) > 0;
        if due || has_unshipped && backoff > Duration::ZERO {
            let round = async {
                if remote.is_none() {
                    remote = Some(Remote::connect(&o.sync).await?);
                }
                let r = remote.as_ref().expect("connected above");
                ship_pending(&mut store, r, &o.layout, due, Some(&stats.recent)).await
            };
            let res = if stopping {
                let dl = *deadline.lock().unwrap_or_else(|p| p.into_inner());
                rt.block_on(async {
                    tokio::time::timeout(dl, round).await.unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("not done within {} s", dl.as_secs()))
                    })
                })
            } else {
                // A stop cuts a round short (a PUT may be repeated: it is idempotent), so a
                // bucket that never answers cannot hold the shutdown past its deadline.
                let cut = rt.block_on(async {
                    tokio::select! {
                        r = round => Some(r),
                        _ = stopped(&signal.stop) => None,
                    }
                });
                match cut {
                    Some(r) => r,
                    None => continue,
                }
            };
            if due {
                last_seal = Instant::now();
            }
            match res {
                Ok(s) => {
                    stats
                        .segments
                        .fetch_add(s.segments as u64, Ordering::Relaxed);
                    stats.bytes.fetch_add(s.bytes, Ordering::Relaxed);
                    if let Some(f) = s.failure {
                        fail(&stats, &mut backoff, &mut next_try, &o, &f, stopping);
                    } else {
                        backoff = Duration::ZERO;
                    }
                }
                Err(e) => fail(
                    &stats,
                    &mut backoff,
                    &mut next_try,
                    &o,
                    &format!("{e:#}"),
                    stopping,
                ),
            }
            observe(&store, &stats, &mut counted);
        }
        if stopping {
            let left = stats.pending_rows.load(Ordering::Relaxed);
            if left > 0 {
                eprintln!(
                    "staytrack serve: {left} prediction(s) not yet in the bucket stay in {}; the next start (or `staytrack sync push`) ships them",
                    store.path().display()
                );
            }
            return;
        }
    }
}

fn fail(
    stats: &ShipStats,
    backoff: &mut Duration,
    next_try: &mut Instant,
    o: &ShipOptions,
    why: &str,
    stopping: bool,
) {
    stats.failures.fetch_add(1, Ordering::Relaxed);
    *backoff = (*backoff * 2).clamp(
        Duration::from_secs(1),
        o.interval.max(Duration::from_secs(1)),
    );
    *next_try = Instant::now() + *backoff;
    eprintln!(
        "staytrack serve: capture: {why}; {}",
        if stopping {
            "what is left stays in the outbox".to_string()
        } else {
            format!("trying again in {} s", backoff.as_secs())
        }
    );
}

/// Resolves once the stop flag is set.
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Updates the gauges from the outbox; returns the rows waiting for a segment. The rows and
/// their bytes (a read of every waiting row) are counted at most every `COUNT_EVERY`; between
/// counts the rows are estimated from ids (`Store::capture_pending`) and the writer adds the
/// bytes it writes.
fn observe(store: &Store, stats: &ShipStats, counted: &mut Option<(Instant, u64)>) -> Option<u64> {
    let gap = counted.and_then(|(t, gap)| (t.elapsed() < COUNT_EVERY).then_some(gap));
    let p = store.capture_pending(gap).ok()?;
    stats.pending_rows.store(p.rows, Ordering::Relaxed);
    if gap.is_none() {
        *counted = Some((Instant::now(), p.gap));
        stats.pending_bytes.store(p.bytes, Ordering::Relaxed);
    }
    stats.oldest_ms.store(
        p.oldest_at.map_or(0, |t| t.max(1) as u64),
        Ordering::Relaxed,
    );
    Some(p.rows)
}
