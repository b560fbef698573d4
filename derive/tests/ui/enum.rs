#[replaylog::record]
enum Event {
    Start { at: u64 },
    Stop,
}

fn main() {}
