/// mimalloc: the server allocates many small, short-lived objects per request on several threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's option setter, linked in with the allocator.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3 alike): milliseconds freed memory stays
/// mapped before it goes back to the OS.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// A server keeps freed memory two minutes, not mimalloc's 10 ms: the capture shipper builds and
/// drops a segment's buffers every interval (60 s by default), and each segment faulted its pages
/// in afresh (zeroing transparent huge pages), a third of the shipper's CPU. An idle server still
/// gives memory back after the delay; other commands keep the default, so a file's scoring peaks
/// no higher. `MIMALLOC_PURGE_DELAY` in the environment wins.
const PURGE_DELAY_MS: std::ffi::c_long = 120_000;

/// Whether the arguments start the server (`serve`, or `--serve` on the bare command).
fn serving() -> bool {
    std::env::args()
        .skip(1)
        .any(|a| a == "serve" || a == "--serve")
}

fn main() {
    if serving() && std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option of the allocator, before any other thread exists.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    std::process::exit(staytrack::cli::main());
}
