fn main() {
    eprintln!("replaylog: not yet implemented");
    std::process::exit(2);
}
