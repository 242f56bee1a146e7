//! `staytrack monitor`: the prediction log per window and model version (realized and estimated
//! performance, drift, data quality) and the alerts `[monitor]` asks for.

use clap::Args;

use crate::config::Config;
use crate::monitor::{self, MonitorOptions};

/// Exit code when a window raised an alert, so a cron job or CI step can act on it.
pub const EXIT_ALERT: i32 = 3;

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Window size: a duration (30m, 1h, 1d) or a prediction count (10000rows)
    #[arg(long, default_value = "1d")]
    pub window: String,
    /// Only predictions logged within this long (30d, 12h) [default: the whole log]
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Do not POST alerts to `[monitor] webhook`
    #[arg(long)]
    pub no_webhook: bool,
    #[arg(long)]
    pub json: bool,
    /// Only the predictions of this replica (a server's `--replica`)
    #[arg(long, value_name = "ID")]
    pub replica: Option<String>,
    /// Only the predictions of this model (its name in capture keys)
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Run again every DURATION, forever (5m, 1h): the fleet's watch job
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// With --every: serve the latest result for Prometheus at http://ADDR/metrics
    #[arg(long, value_name = "ADDR", requires = "every")]
    pub listen: Option<std::net::SocketAddr>,
    /// Run `sync pull` first (every time, with --every), so the fleet's captures are in
    #[arg(long)]
    pub pull: bool,
}

/// Exit 0 with no alert, 3 with one (after the webhook, if configured, was called).
pub fn run(cfg: &Config, a: MonitorArgs) -> anyhow::Result<i32> {
    let mut o = MonitorOptions::new(cfg, &a.window, a.since.as_deref())?;
    o.replica = a.replica.clone();
    o.model = a.model.clone();
    if let Some(every) = &a.every {
        let ms = crate::util::parse_duration_ms(every)
            .filter(|ms| *ms >= 1000)
            .ok_or_else(|| {
                anyhow::anyhow!("--every '{every}': use a duration of at least 1s (5m, 1h)")
            })?;
        return crate::monitor::watch::run(
            cfg,
            &o,
            &crate::monitor::watch::WatchOptions {
                every: std::time::Duration::from_millis(ms as u64),
                listen: a.listen,
                pull: a.pull,
                webhook: !a.no_webhook,
            },
        );
    }
    if a.pull {
        let code = crate::monitor::watch::pull_once(cfg, o.since_ms)?;
        if code != 0 {
            eprintln!(
                "staytrack monitor: the pull skipped objects (above); monitoring what is here"
            );
        }
    }
    let report = monitor::monitor(cfg, &o)?;
    let mut webhook = None;
    if let (false, false, Some(url)) = (
        report.alerts.is_empty(),
        a.no_webhook,
        &o.thresholds.webhook,
    ) {
        webhook = Some(
            match monitor::post_webhook(url, o.thresholds.webhook_timeout_secs, &report) {
                Ok(status) => serde_json::json!({"url": url, "status": status}),
                Err(e) => {
                    eprintln!("warning: {e:#}");
                    serde_json::json!({"url": url, "error": format!("{e:#}")})
                }
            },
        );
    }
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(w) = webhook {
            v["webhook"] = w;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report.describe());
        // Slices of the newest window with outcomes; `--json` has every window's.
        if let Some((w, s)) = report
            .windows
            .iter()
            .rev()
            .find_map(|w| Some((w, w.slices.as_ref()?)))
        {
            println!();
            let v = w.model_version.map(|v| format!(", version {v}"));
            println!("slices of window {}{}:", w.label, v.unwrap_or_default());
            super::slices::print_report(s);
        }
        if let Some(w) = webhook.filter(|w| w.get("status").is_some()) {
            println!("alerts posted to {}", w["url"].as_str().unwrap_or_default());
        }
    }
    Ok(if report.alerts.is_empty() {
        0
    } else {
        EXIT_ALERT
    })
}
