//! Throughput and memory figures of the Parquet exporter: writes N (default 10,000,000) records
//! shaped like the CLI demo's 48-byte `Tick` (a PID loop's tick, time, setpoint, measured value
//! with sensor noise, output, flags; failure evidence every 997 ticks) to a file, and prints
//! rows/s and the file size. Peak memory: run it under `/usr/bin/time -v`.
//!
//! ```text
//! cargo run --release -p replaylog-export --example parquet_10m -- /tmp/ticks.parquet [ROWS]
//! ```

use std::io::BufWriter;
use std::time::Instant;

use replaylog::{FailureKind, ReplayFailureEvidence};
use replaylog_export::parquet::{ParquetExporter, ParquetOptions};
use replaylog_export::{Record, Source, SourceKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: parquet_10m OUT.parquet [ROWS]")?;
    let rows: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10_000_000);
    let source = Source {
        path: "demo.ring".into(),
        kind: SourceKind::Ring,
        name: "demo".into(),
        record_bytes: Some(48),
        schema_id: Some(1),
        layout: Some("tick:u64,t_ns:u64,setpoint:f64,measured:f64,output:f64,flags:u32".parse()?),
        capacity: Some(rows),
        window: Some((0, rows.saturating_sub(1))),
        lanes: vec![],
        timestamps: false,
    };
    let evidence = [
        ReplayFailureEvidence::new(FailureKind::Timeout, 110, "deadline missed"),
        ReplayFailureEvidence::new(FailureKind::Backend, 5, "backend fault injected"),
    ];
    let file = std::fs::File::create(&path)?;
    let started = Instant::now();
    let mut out = ParquetExporter::new(BufWriter::new(file), &source, ParquetOptions::default())?;
    let (mut y, mut rng, mut bytes) = (0.0f64, 0x9E37_79B9_7F4A_7C15u64, [0u8; 48]);
    for tick in 0..rows {
        let setpoint = [0.0, 1.0, 0.25, -0.5][((tick / 1250) % 4) as usize];
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let measured = y + ((rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e-3;
        let output = (1.2 * (setpoint - measured)).clamp(-1.5, 1.5);
        y += 0.02 * (2.0 * output - y);
        let failure = tick % 997 == 996;
        let flags = u32::from(output.abs() == 1.5) | if failure { 2 } else { 0 };
        bytes[0..8].copy_from_slice(&tick.to_le_bytes());
        bytes[8..16].copy_from_slice(&(tick * 1_000_000).to_le_bytes());
        bytes[16..24].copy_from_slice(&setpoint.to_le_bytes());
        bytes[24..32].copy_from_slice(&measured.to_le_bytes());
        bytes[32..40].copy_from_slice(&output.to_le_bytes());
        bytes[40..44].copy_from_slice(&flags.to_le_bytes());
        let record = Record {
            seq: tick,
            epoch: 1,
            timestamp_ns: None,
            lane: None,
            lsn: None,
            bytes: &bytes,
            evidence: failure.then(|| &evidence[(tick / 997 % 2) as usize]),
        };
        out.write_record(&record)?;
    }
    let summary = out.finish()?;
    let secs = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path)?.len();
    println!(
        "{} rows, {} row groups in {secs:.2} s: {:.2} M rows/s; {size} bytes ({:.2} bytes/row)",
        summary.rows,
        summary.row_groups,
        summary.rows as f64 / secs / 1e6,
        size as f64 / summary.rows as f64
    );
    Ok(())
}
