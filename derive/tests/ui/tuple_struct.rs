#[replaylog::record]
struct Sample(u64, f64);

fn main() {}
