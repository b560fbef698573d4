// What the attribute already does, written again, and attributes that would change the layout:
// all reported in one compile.
#[replaylog::record]
#[derive(Clone, replaylog::zerocopy::FromBytes)]
#[repr(align(16))]
struct Sample {
    seq: u64,
    #[cfg(test)]
    extra: u64,
}

fn main() {}
