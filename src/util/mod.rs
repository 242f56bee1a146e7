//! Small helpers shared by every module, one file per noun: files, time, ids, text.

mod files;
mod ids;
mod text;
mod time;

pub use files::*;
pub use ids::*;
pub use text::*;
pub use time::*;

/// Work on fewer rows than this stays on the calling thread: handing it to the thread pool and
/// waiting for it (about 20 µs) costs more than it saves. `cargo bench --bench serve` measures
/// the crossover: between 64 and 128 rows of a 96-tree ensemble on two cores.
pub const POOL_FROM_ROWS: usize = 128;
