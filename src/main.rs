fn main() {
    std::process::exit(staytrack::cli::main());
}
