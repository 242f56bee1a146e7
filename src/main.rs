/// mimalloc: the server allocates many small, short-lived objects per request on several threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(staytrack::cli::main());
}
