// 4 bytes of padding after `flags` (before the u64) and 7 at the end: both named, with the field
// to add.
#[replaylog::record]
struct Sample {
    flags: u32,
    seq: u64,
    kind: u8,
}

fn main() {}
