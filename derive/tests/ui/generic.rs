#[replaylog::record]
struct Sample<T> {
    seq: u64,
    value: T,
}

fn main() {}
