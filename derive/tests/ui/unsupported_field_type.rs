// Field types with no `RecordField` implementation: each is reported at the field's type with
// what to store instead (no padding here, so these are the only messages of ours).
#[replaylog::record]
struct Sample {
    seq: u64,
    hits: [usize; 2],
    label: String,
    valid: [bool; 8],
}

fn main() {}
