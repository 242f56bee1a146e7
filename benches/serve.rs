//! Benchmark: one record through the whole server handler, and where its time goes.
//!
//!     cargo bench --bench serve -- [FAMILY] [REQUESTS]    # default gbdt 20000
//!
//! A workspace of 50,000 synthetic rows is trained with the built binary and the family
//! promoted. The server's router (the same `staytrack serve` builds, prediction log on, flags
//! parsed as the CLI parses them) then answers `POST /predict` with one record, in process on
//! one thread, so the figures are the handler's: the request parsed, checked, encoded, scored,
//! judged for quality, its log row queued (and written by the log's thread) and the answer
//! made. It prints the CPU time per request (every thread of the process, the log's writer
//! included) and the wall time per request on the handler's thread, then the same path cut into
//! its stages, then the crossover at which handing rows to the thread pool pays: `bench/serve.sh`
//! adds HTTP under wrk and the peers.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use clap::Parser;
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use staytrack::config::Config;
use staytrack::data::Frame;
use tower::ServiceExt;

/// The server's allocator, so allocation costs what it costs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    serve: staytrack::cli::serve::ServeArgs,
}

fn cpu_seconds(who: i32) -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid rusage the call fills.
    unsafe { libc::getrusage(who, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn staytrack(ws: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_staytrack"))
        .args(args)
        .env("STAYTRACK_HOME", ws)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "staytrack {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The test file's rows as the seed's clients send them: numbers as numbers, blanks as null.
fn records(path: &Path, n: usize) -> anyhow::Result<Vec<Map<String, Value>>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    Ok(lines
        .take(n)
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| {
                    let v = if v.is_empty() {
                        Value::Null
                    } else if let Ok(i) = v.parse::<i64>() {
                        Value::from(i)
                    } else if let Ok(f) = v.parse::<f64>() {
                        Value::from(f)
                    } else {
                        Value::from(v)
                    };
                    (h.to_string(), v)
                })
                .collect()
        })
        .collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median over 7 runs of `f`, in microseconds per call.
fn per_call(calls: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..7)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..calls {
                    f();
                }
                t.elapsed().as_secs_f64() * 1e6 / calls as f64
            })
            .collect(),
    )
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let family = args.first().map_or("gbdt", String::as_str).to_string();
    let requests: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);

    let dir = tempfile::tempdir()?;
    let ws = dir.path();
    staytrack(
        ws,
        &["data", "synth", "--rows", "50000", "--test-rows", "5000"],
    )?;
    staytrack(ws, &["train", "--model", &family, "--json"])?;
    let runs: Value = serde_json::from_str(&staytrack(ws, &["runs", "list", "--json"])?)?;
    let run = runs[0]["id"].as_str().unwrap_or_default().to_string();
    staytrack(ws, &["promote", &run])?;
    let recs = records(&ws.join("data/test_data.csv"), 4096)?;
    let body = serde_json::to_vec(&recs[0])?;

    let cfg = Config::resolve(Some(ws));
    let opts =
        staytrack::cli::serve::options(&cfg, Flags::parse_from(["serve", "--workers", "1"]).serve)?;
    let metrics = Arc::new(staytrack::serve::metrics::Metrics::new(
        opts.request_timeout,
    ));
    let slot = staytrack::serve::model::ModelSlot::new(
        &opts.alias,
        &cfg.db_path,
        &cfg.artifacts_dir,
        metrics.clone(),
    )?;
    slot.refresh().map_err(anyhow::Error::msg)?;
    let model = slot.current().expect("a promoted model");
    let log = staytrack::serve::log::PredictionLog::start(
        cfg.db_path.clone(),
        staytrack::serve::log::LogLimits {
            rows: opts.log_queue,
            bytes: opts.log_queue_bytes,
            retention: opts.log_retention,
            wait: opts.log_wait,
            full: opts.log_full,
            max_pending: None,
        },
        metrics.clone(),
        None,
    )?;
    let state = Arc::new(staytrack::serve::AppState::new(
        &cfg,
        slot,
        Some(log),
        metrics,
        &opts,
    ));
    let app = staytrack::serve::router(state.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let one = |app: axum::Router| {
        let body = body.clone();
        async move {
            let req = Request::post("/predict")
                .header("content-type", "application/json")
                .header("content-length", body.len())
                .body(Body::from(body))
                .expect("a request");
            let resp = app.oneshot(req).await.expect("an answer");
            assert!(resp.status().is_success(), "{}", resp.status());
            resp.into_body().collect().await.expect("a body").to_bytes()
        }
    };
    // Warm up: the allocator, the store's pages, the log's writer.
    rt.block_on(async {
        for _ in 0..2000 {
            one(app.clone()).await;
        }
    });
    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    let batch = (requests / 5).max(1);
    for _ in 0..5 {
        let (c0, t0) = (cpu_seconds(libc::RUSAGE_SELF), Instant::now());
        rt.block_on(async {
            for _ in 0..batch {
                one(app.clone()).await;
            }
        });
        // Let the log's writer catch up, so its share is in the batch's CPU time.
        std::thread::sleep(Duration::from_millis(300));
        wall.push(
            t0.elapsed()
                .saturating_sub(Duration::from_millis(300))
                .as_secs_f64()
                * 1e6
                / batch as f64,
        );
        cpu.push((cpu_seconds(libc::RUSAGE_SELF) - c0) * 1e6 / batch as f64);
    }
    println!(
        "{{\"family\": \"{family}\", \"requests\": {}, \"cpu_us_per_request\": {:.1}, \"handler_wall_us_per_request\": {:.1}}}",
        batch * 5,
        median(cpu),
        median(wall)
    );

    // The same path cut into stages, each timed alone over the same record.
    let spec = &model.bundle.spec;
    let rec = vec![recs[0].clone()];
    let frame = Frame::from_records(spec, &rec)?;
    let enc = model.bundle.pipeline.encode(&frame)?;
    let layout = model.bundle.prepare();
    let n = 20_000;
    let stages = [
        (
            "parse JSON",
            per_call(n, || {
                std::hint::black_box(staytrack::serve::input::parse_json(&body).ok());
            }),
        ),
        (
            "records to a frame",
            per_call(n, || {
                std::hint::black_box(Frame::from_records_shared(&model.spec, &rec).ok());
            }),
        ),
        (
            "encode",
            per_call(n, || {
                std::hint::black_box(model.bundle.pipeline.encode(&frame).ok());
            }),
        ),
        (
            "score (layout made at load)",
            per_call(n, || {
                std::hint::black_box(model.bundle.model.predict_encoded_with(&enc, layout));
            }),
        ),
        (
            "laying the trees out as walkers (per request before, now at load)",
            per_call(n / 10, || {
                use staytrack::models::Model;
                if let Model::Forest { trees } | Model::Gbdt { trees, .. } = &model.bundle.model {
                    std::hint::black_box(trees.iter().map(|t| t.walker()).collect::<Vec<_>>());
                }
            }),
        ),
        (
            "the whole layout, walkers and leaf masks (once, at load)",
            per_call(20, || {
                std::hint::black_box(model.bundle.model.layout());
            }),
        ),
        (
            "quality check",
            per_call(n, || {
                let mut i = model.checker.frame(&frame);
                model.checker.coerced(&rec, &mut i);
                std::hint::black_box(i);
            }),
        ),
        (
            "log row inputs as JSON",
            per_call(n, || {
                std::hint::black_box(serde_json::to_string(&rec[0]).ok());
            }),
        ),
        (
            "prediction id",
            per_call(n, || {
                std::hint::black_box(staytrack::util::new_run_id());
            }),
        ),
    ];
    // The log's thread: rows written in batches of a thousand, one transaction each, into the
    // workspace's store as the server writes them.
    let mut store = staytrack::tracking::Store::open(&cfg.db_path)?;
    let template = staytrack::tracking::PredictionRow {
        at: staytrack::util::now_ms(),
        model_version: Some(model.version),
        case_id: Some("1".into()),
        inputs: serde_json::to_string(&rec[0])?,
        probability: 0.5,
        class: 1,
        source: "/predict".into(),
        quality: None,
        prediction_id: None,
        request_id: None,
        replica: Some(staytrack::util::new_run_id()),
        model_name: Some("staytrack".into()),
        alias: Some("production".into()),
        run_id: Some(model.run_id.clone()),
        threshold: Some(0.5),
    };
    // The server's own rows above are sealed out of the way, so the figures below are these.
    let capture = staytrack::capture::ship::Layout::of_workspace(&cfg, 100_000)?;
    while !store
        .seal_predictions(100_000, &capture.model, &staytrack::capture::segment_key)?
        .is_empty()
    {}
    // With capture on, the log's thread also keeps what it wrote for the shipper.
    let recent = staytrack::capture::recent::Recent::default();
    let mut keep = 0.0;
    let write = per_call(5, || {
        let rows: Vec<_> = (0..1000)
            .map(|_| staytrack::tracking::PredictionRow {
                prediction_id: Some(staytrack::util::new_run_id()),
                ..template.clone()
            })
            .collect();
        let ids = store.log_predictions_ids(&rows).unwrap_or_default();
        let t = Instant::now();
        recent.keep(ids.into_iter().map(|(_, id)| id).zip(rows));
        keep += t.elapsed().as_secs_f64();
    }) / 1000.0;
    let keep = keep * 1e6 / (recent.len().max(1)) as f64;
    // The shipper's side of a logged row: sealed into a segment, taken from what the log's
    // thread kept (or read back, as after a restart), encoded as Parquet.
    let inputs: Vec<&staytrack::data::spec::ColumnSpec> = capture.inputs.iter().collect();
    let t = Instant::now();
    let mut sealed = Vec::new();
    // As the shipper seals: from the rows the log's thread kept, the log read only when they
    // are not the next waiting ones.
    loop {
        let key = &staytrack::capture::segment_key;
        let listed = recent.with_untaken(100_000, &capture.model, |rows| {
            store.seal_predictions_listed(rows, 100_000, key)
        })?;
        let s = match listed {
            Some(s) => s,
            None => store.seal_predictions(100_000, &capture.model, key)?,
        };
        if s.is_empty() {
            break;
        }
        sealed.extend(s);
    }
    let rows_sealed: usize = sealed.iter().map(|s| s.rows).sum::<usize>().max(1);
    let seal = t.elapsed().as_secs_f64() * 1e6 / rows_sealed as f64;
    let t = Instant::now();
    let mut back = Vec::new();
    for seg in &sealed {
        back.extend(store.segment_predictions(seg.id, &capture.model)?);
    }
    let read = t.elapsed().as_secs_f64() * 1e6 / rows_sealed as f64;
    let t = Instant::now();
    let mut held = Vec::new();
    for seg in &sealed {
        let span = seg.span.as_ref().context("a new segment has its span")?;
        held.extend(
            recent
                .take(span, &seg.replica, seg.rows, &capture.model)
                .context("every written row is held")?,
        );
    }
    let take = t.elapsed().as_secs_f64() * 1e6 / rows_sealed as f64;
    assert_eq!(held, back, "the cache holds the rows the log holds");
    // The shipper encodes for the server's whole life: the first segment's page faults and
    // buffers' growth are left out (they cost about as much again).
    let mut encodes = Vec::new();
    for _ in 0..4 {
        let t = Instant::now();
        let bytes =
            staytrack::capture::segment::encode_predictions(&back, &inputs, &capture.model)?;
        encodes.push(t.elapsed().as_secs_f64() * 1e6 / rows_sealed as f64);
        std::hint::black_box(bytes);
    }
    let encode = median(encodes.split_off(1));
    let stages = stages.into_iter().chain([
        ("writing the log row (the log's thread)", write),
        (
            "capture: keeping the row for the shipper (the log's thread)",
            keep,
        ),
        ("capture: sealing the row into a segment", seal),
        (
            "capture: taking the row from what the log's thread kept",
            take,
        ),
        (
            "capture: reading the row back instead (after a restart)",
            read,
        ),
        ("capture: encoding it as Parquet", encode),
    ]);
    for (name, us) in stages {
        println!("{{\"stage\": \"{name}\", \"us\": {us:.2}}}");
    }

    // The crossover: rows scored on this thread against the same rows handed to the pool.
    let pool_hop = per_call(n, || {
        std::hint::black_box(rayon::join(|| 1, || 2));
    });
    println!(
        "{{\"pool_hop_us\": {pool_hop:.2}, \"threads\": {}}}",
        rayon::current_num_threads()
    );
    for rows in [1usize, 8, 32, 64, 128, 256, 512, 1024, 4096] {
        let take = &recs[..rows.min(recs.len())];
        let frame = Frame::from_records(spec, take)?;
        let calls = (20_000 / rows).max(20);
        let here = per_call(calls, || {
            std::hint::black_box(model.bundle.predict(&frame).ok());
        });
        let pooled = per_call(calls, || {
            std::hint::black_box(rayon::scope(|_| model.bundle.predict(&frame).ok()));
        });
        let blocks: Vec<Vec<usize>> = (0..rows)
            .collect::<Vec<_>>()
            .chunks(rows.div_ceil(rayon::current_num_threads()).max(1))
            .map(<[usize]>::to_vec)
            .collect();
        let split = per_call(calls, || {
            use rayon::prelude::*;
            std::hint::black_box(
                blocks
                    .par_iter()
                    .map(|b| {
                        let x = model.bundle.pipeline.encode_rows(&frame, Some(b)).ok()?;
                        Some(model.bundle.model.predict_encoded_with(&x, layout))
                    })
                    .collect::<Vec<_>>(),
            );
        });
        println!(
            "{{\"rows\": {rows}, \"this_thread_us\": {here:.1}, \"one_hop_us\": {pooled:.1}, \"split_over_pool_us\": {split:.1}}}"
        );
    }
    drop(app);
    drop(state);
    Ok(())
}
