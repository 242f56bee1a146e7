//! Benchmark: load and validate the full-size train file (318,438 rows, about 27 MB).
//!
//!     cargo bench --bench load                # uses data/train_data.csv, generating it if missing
//!     cargo bench --bench load -- FILE...     # other files, each timed in turn
//!
//! A Parquet file is timed the same way, so the same table as CSV and as Parquet compare:
//!
//!     python tests/fixtures/make_parquet.py --one data/train_data.csv data/train_data.parquet
//!     cargo bench --bench load -- data/train_data.csv data/train_data.parquet
//!
//! Prints the best and median of several loads; the goal is well under a second.

use std::path::PathBuf;
use std::time::Instant;

use staytrack::data::{load_csv, DatasetSpec, Labels};

fn main() -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        let dir = PathBuf::from("data");
        staytrack::data::ensure_default_data(&dir)?;
        files.push(dir.join("train_data.csv"));
    }
    for path in files {
        bench(path)?;
    }
    Ok(())
}

fn bench(path: PathBuf) -> anyhow::Result<()> {
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
    let parquet = staytrack::data::parquet::is_parquet(&path);
    if std::env::var_os("STAYTRACK_BENCH_PHASES").is_some() && parquet {
        let t = Instant::now();
        let parts = staytrack::data::parquet::Chunks::open(&path, 32_768)?
            .collect::<Result<Vec<_>, _>>()?;
        let decode = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut rows = 0;
        for part in parts {
            rows += part.parse(&path, &spec, Labels::Required)?.n_rows();
        }
        println!(
            "decode the row groups into parts {:.0} ms (columns side by side), type them {:.0} ms \
             on one core ({rows} rows)",
            decode * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    if std::env::var_os("STAYTRACK_BENCH_PHASES").is_some() && !parquet {
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
