#[replaylog::record]
#[repr(C, packed)]
struct Sample {
    flags: u32,
    seq: u64,
}

fn main() {}
