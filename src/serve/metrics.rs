//! Prometheus counters and the latency histogram, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::capture::ship::ShipStats;
use crate::data::quality::{Issue, Kind};
use std::sync::Arc;

/// Upper bounds of the latency buckets, in seconds: from 0.1 ms (an in-memory answer) to ten
/// minutes; those above the request timeout are left out and the timeout itself is added, so
/// the top finite bucket is the slowest answer the server can give.
const BUCKETS: [f64; 20] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0, 600.0,
];

/// The buckets for a server whose requests end after `timeout`.
fn buckets(timeout: Duration) -> Vec<f64> {
    let top = timeout.as_secs_f64();
    let mut b: Vec<f64> = BUCKETS.iter().copied().filter(|b| *b < top).collect();
    if top > 0.0 && top.is_finite() {
        b.push(top);
    }
    b
}

struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn new(n: usize) -> Histogram {
        Histogram {
            counts: vec![0; n],
            count: 0,
            sum: 0.0,
        }
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// Lets a `(String, u16)` map be searched with a `(&str, u16)` key.
trait RouteKey {
    fn key(&self) -> (&str, u16);
}

impl RouteKey for (String, u16) {
    fn key(&self) -> (&str, u16) {
        (&self.0, self.1)
    }
}

impl RouteKey for (&str, u16) {
    fn key(&self) -> (&str, u16) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn RouteKey + 'a> for (String, u16) {
    fn borrow(&self) -> &(dyn RouteKey + 'a) {
        self
    }
}

impl PartialEq for dyn RouteKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn RouteKey + '_ {}

impl PartialOrd for dyn RouteKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn RouteKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

pub struct Metrics {
    inner: Mutex<Inner>,
    buckets: Vec<f64>,
    pub predictions: [AtomicU64; 2],
    pub log_written: AtomicU64,
    pub log_dropped: AtomicU64,
    /// Rows of answers refused with 503 because the log had no room (`--log-full block`).
    pub log_refused: AtomicU64,
    /// The outbox's gauges and counters, when capture is on.
    pub capture: std::sync::OnceLock<Arc<ShipStats>>,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// Data-quality findings by (column, kind): columns come from the served models' specs, and
    /// past `QUALITY_SERIES` names the rest count under `QUALITY_OTHER`, so the series stay few.
    quality: Mutex<BTreeMap<(String, Kind), u64>>,
}

/// The most (column, kind) series `/metrics` exposes.
const QUALITY_SERIES: usize = 1024;
const QUALITY_OTHER: &str = "_other";

impl Default for Metrics {
    /// The buckets of the default request timeout.
    fn default() -> Metrics {
        Metrics::new(Duration::from_secs(30))
    }
}

impl Metrics {
    /// Metrics whose latency buckets reach `request_timeout`.
    pub fn new(request_timeout: Duration) -> Metrics {
        Metrics {
            inner: Mutex::default(),
            buckets: buckets(request_timeout),
            predictions: Default::default(),
            log_written: AtomicU64::default(),
            log_dropped: AtomicU64::default(),
            log_refused: AtomicU64::default(),
            capture: std::sync::OnceLock::new(),
            reloads: AtomicU64::default(),
            reload_failures: AtomicU64::default(),
            quality: Mutex::default(),
        }
    }

    /// Counts data-quality findings of scored rows.
    pub fn count_quality<'a>(&self, issues: impl Iterator<Item = &'a Issue>) {
        let mut q = self.quality.lock().unwrap_or_else(|p| p.into_inner());
        for i in issues {
            let key = (i.column.clone(), i.kind);
            if let Some(n) = q.get_mut(&key) {
                *n += 1;
            } else if q.len() < QUALITY_SERIES {
                q.insert(key, 1);
            } else {
                *q.entry((QUALITY_OTHER.to_string(), i.kind)).or_default() += 1;
            }
        }
    }

    pub fn observe(&self, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Look up before inserting, so the steady state allocates nothing.
        match g.requests.get_mut(&(route, status) as &dyn RouteKey) {
            Some(n) => *n += 1,
            None => {
                g.requests.insert((route.to_string(), status), 1);
            }
        }
        if !g.latency.contains_key(route) {
            g.latency
                .insert(route.to_string(), Histogram::new(self.buckets.len()));
        }
        let Some(h) = g.latency.get_mut(route) else {
            return;
        };
        if let Some(i) = self.buckets.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
        h.count += 1;
        h.sum += secs;
    }

    pub fn count_classes(&self, classes: impl Iterator<Item = i64>) {
        let (mut zeros, mut ones) = (0, 0);
        for c in classes {
            if c == 1 {
                ones += 1
            } else {
                zeros += 1
            }
        }
        self.predictions[0].fetch_add(zeros, Ordering::Relaxed);
        self.predictions[1].fetch_add(ones, Ordering::Relaxed);
    }

    /// The exposition text. `serving` is (alias, version) of the model being served, if any.
    pub fn render(&self, alias: &str, serving: Option<i64>, queued: usize) -> String {
        let mut out = String::with_capacity(4096);
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP staytrack_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE staytrack_http_requests_total counter\n");
        for ((route, status), n) in &g.requests {
            let _ = writeln!(
                out,
                "staytrack_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP staytrack_http_request_duration_seconds Time from request to response.\n",
        );
        out.push_str("# TYPE staytrack_http_request_duration_seconds histogram\n");
        for (route, h) in &g.latency {
            let route = escape(route);
            let mut cum = 0;
            for (b, c) in self.buckets.iter().zip(&h.counts) {
                cum += c;
                let _ = writeln!(
                    out,
                    "staytrack_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {cum}"
                );
            }
            let _ = writeln!(
                out,
                "staytrack_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "staytrack_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "staytrack_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        drop(g);
        out.push_str("# HELP staytrack_predictions_total Predictions made, by predicted class.\n");
        out.push_str("# TYPE staytrack_predictions_total counter\n");
        for (class, n) in self.predictions.iter().enumerate() {
            let _ = writeln!(
                out,
                "staytrack_predictions_total{{class=\"{class}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP staytrack_model_version The registry version being served (0: none).\n",
        );
        out.push_str("# TYPE staytrack_model_version gauge\n");
        let _ = writeln!(
            out,
            "staytrack_model_version{{alias=\"{}\"}} {}",
            escape(alias),
            serving.unwrap_or(0)
        );
        let counters = [
            (
                "staytrack_prediction_log_written_total",
                "Predictions written to the prediction log.",
                &self.log_written,
            ),
            (
                "staytrack_prediction_log_dropped_total",
                "Predictions not logged because the log queue was full or the write failed.",
                &self.log_dropped,
            ),
            (
                "staytrack_prediction_log_refused_total",
                "Predictions refused with 503 because the log had no room within --log-wait.",
                &self.log_refused,
            ),
            (
                "staytrack_model_reloads_total",
                "Times a new model was loaded.",
                &self.reloads,
            ),
            (
                "staytrack_model_reload_failures_total",
                "Times loading a newly promoted model failed (the old one kept serving).",
                &self.reload_failures,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP staytrack_prediction_log_queued Predictions waiting to be written.\n\
             # TYPE staytrack_prediction_log_queued gauge\nstaytrack_prediction_log_queued {queued}"
        );
        // Zeros without capture, so dashboards find every series on every server.
        let none = ShipStats::default();
        let c = self.capture.get().map_or(&none, |c| c.as_ref());
        for (name, kind, help, v) in [
            (
                "staytrack_capture_pending_rows",
                "gauge",
                "Logged predictions not yet in the bucket.",
                &c.pending_rows,
            ),
            (
                "staytrack_capture_segments_total",
                "counter",
                "Capture segments shipped to the bucket.",
                &c.segments,
            ),
            (
                "staytrack_capture_bytes_total",
                "counter",
                "Bytes of capture segments shipped to the bucket.",
                &c.bytes,
            ),
            (
                "staytrack_capture_failures_total",
                "counter",
                "Capture rounds that could not reach the bucket (rows wait and are retried).",
                &c.failures,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let oldest = c.oldest_ms.load(Ordering::Relaxed);
        let lag = if oldest == 0 {
            0.0
        } else {
            (crate::util::now_ms() as f64 - oldest as f64).max(0.0) / 1000.0
        };
        let _ = writeln!(
            out,
            "# HELP staytrack_capture_lag_seconds Age of the oldest logged prediction not yet \
             in the bucket (0: none waits).\n# TYPE staytrack_capture_lag_seconds gauge\n\
             staytrack_capture_lag_seconds {lag}"
        );
        out.push_str(
            "# HELP staytrack_data_quality_total Scored cells found missing, unseen in training, \
             outside the training range, or coerced from another type, by column and kind.\n\
             # TYPE staytrack_data_quality_total counter\n",
        );
        let q = self.quality.lock().unwrap_or_else(|p| p.into_inner());
        for ((column, kind), n) in q.iter() {
            let _ = writeln!(
                out,
                "staytrack_data_quality_total{{column=\"{}\",kind=\"{}\"}} {n}",
                escape(column),
                kind.name()
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.observe("/predict", 200, Duration::from_micros(300));
        m.observe("/predict", 200, Duration::from_millis(3));
        m.observe("/predict", 422, Duration::from_secs(10));
        let t = m.render("production", Some(2), 0);
        assert!(t.contains("staytrack_http_requests_total{route=\"/predict\",status=\"200\"} 2"));
        assert!(t.contains("staytrack_http_requests_total{route=\"/predict\",status=\"422\"} 1"));
        assert!(t.contains("le=\"0.00025\"} 0"), "{t}");
        assert!(t.contains("le=\"0.0005\"} 1"), "{t}");
        assert!(t.contains("le=\"0.005\"} 2"), "{t}");
        assert!(t.contains("le=\"2.5\"} 2"), "{t}");
        assert!(t.contains("le=\"+Inf\"} 3"), "{t}");
        assert!(t.contains("staytrack_model_version{alias=\"production\"} 2"));
        // The top finite bucket is the request timeout.
        assert!(t.contains("le=\"30\"} 3"), "{t}");
        assert!(!t.contains("le=\"60\""), "{t}");
        let slow = Metrics::new(Duration::from_secs(45));
        slow.observe("/predict", 200, Duration::from_secs(40));
        let t = slow.render("production", None, 0);
        assert!(
            t.contains("le=\"30\"} 0") && t.contains("le=\"45\"} 1"),
            "{t}"
        );
    }
}
