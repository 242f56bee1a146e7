//! Benchmark: load and validate the full-size train file (318,438 rows, about 27 MB).
//!
//!     cargo bench --bench load            # uses data/train_data.csv, generating it if missing
//!     cargo bench --bench load -- FILE    # any other file
//!
//! Prints the best and median of several loads; the goal is well under a second.

use std::path::PathBuf;
use std::time::Instant;

use staytrack::data::{load_csv, DatasetSpec, Labels};

fn main() -> anyhow::Result<()> {
    let arg = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let path = match arg {
        Some(p) => PathBuf::from(p),
        None => {
            let dir = PathBuf::from("data");
            staytrack::data::ensure_default_data(&dir)?;
            dir.join("train_data.csv")
        }
    };
    let bytes = std::fs::metadata(&path)?.len();
    let spec = DatasetSpec::hospital();
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let f = load_csv(&path, &spec, Labels::Required)?;
        times.push(t.elapsed().as_secs_f64());
        rows = f.n_rows();
    }
    times.sort_by(f64::total_cmp);
    if std::env::var_os("STAYTRACK_BENCH_PHASES").is_some() {
        let t = Instant::now();
        let bytes = std::fs::read(&path)?;
        let read = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let chunks = staytrack::data::chunks::CsvChunks::open(&path, 32_768)?.count();
        let cut = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let text = staytrack::data::csv::text(&bytes)?;
        let mut rows = 0;
        staytrack::data::csv::for_each_tile(
            text,
            4096,
            staytrack::data::csv::Misfits::Stop,
            |tile| {
                rows += tile.rows();
                true
            },
        )?;
        println!(
            "read {:.0} ms, cut into {chunks} chunks {:.0} ms, split into fields {:.0} ms ({rows} rows)",
            read * 1e3,
            cut * 1e3,
            t.elapsed().as_secs_f64() * 1e3,
        );
    }
    println!(
        "load {}: {} rows, {:.1} MB; best {:.0} ms, median {:.0} ms ({} runs)",
        path.display(),
        rows,
        bytes as f64 / 1e6,
        times[0] * 1e3,
        times[times.len() / 2] * 1e3,
        times.len()
    );
    Ok(())
}
