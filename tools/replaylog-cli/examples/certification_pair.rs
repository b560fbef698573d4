//! Writes a reference capture and two candidate captures of a simulated control loop, for
//! `replaylog report` (the README's screenshots and BENCHMARKS.md's 10 M-record report):
//!
//! ```text
//! cargo run --release -p replaylog-cli --example certification_pair -- DIR RECORDS
//! ```
//!
//! * `DIR/reference.ring`: RECORDS ticks of a PI loop (setpoint steps, a first-order plant with
//!   sensor noise), a wall-clock field `t_ns`, and failure evidence every 997 ticks.
//! * `DIR/candidate-pass.ring`: the same run recomputed "with another compiler": every float
//!   off by up to 2e-13 relative, `t_ns` shifted (a different wall clock). Passes with
//!   `--align tick --ignore t_ns --rtol '*=1e-9'`.
//! * `DIR/candidate-fail.ring`: as the passing candidate, plus a spike of +0.02 in `measured`
//!   at tick RECORDS/2, the record of tick 7·RECORDS/10 dropped, and failure evidence at tick
//!   RECORDS/4 that the reference lacks.
//!
//! DIR must exist; the three files must not.

use std::path::Path;

use replaylog::{FailureKind, ReplayFailureEvidence, RingLog, RingOptions};

/// One tick of the loop (48 bytes; `_pad` is not in the layout).
#[replaylog::record(name = "control_tick")]
#[derive(Clone, Copy, Debug)]
struct Tick {
    tick: u64,
    t_ns: u64,
    setpoint: f64,
    measured: f64,
    output: f64,
    flags: u32,
    _pad: u32,
}

const EVIDENCE_EVERY: u64 = 997;

/// The reference run, tick by tick.
struct Sim {
    tick: u64,
    y: f64,
    integral: f64,
    rng: u64,
}

impl Sim {
    fn next_noise(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    fn step(&mut self) -> Tick {
        let tick = self.tick;
        let setpoint = [0.0, 1.0, 0.25, -0.5][((tick / 1250) % 4) as usize];
        let measured = self.y + 1e-3 * self.next_noise();
        let error = setpoint - measured;
        let raw = 1.2 * error + 8.0 * self.integral;
        let output = raw.clamp(-1.5, 1.5);
        if raw == output {
            self.integral += error * 1e-3;
        }
        self.y += (2.0 * output - self.y) * (1e-3 / 0.05);
        self.tick += 1;
        Tick {
            tick,
            t_ns: 1_765_000_000_000_000_000 + tick * 1_000_000,
            setpoint,
            measured,
            output,
            flags: u32::from(raw != output),
            _pad: 0,
        }
    }
}

fn evidence(tick: u64) -> ReplayFailureEvidence {
    ReplayFailureEvidence::new(FailureKind::Timeout, 110, format!("control deadline missed at tick {tick}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, records] = args.as_slice() else {
        return Err("usage: certification_pair DIR RECORDS".into());
    };
    let (dir, n): (&Path, u64) = (Path::new(dir), records.parse()?);
    let options = || RingOptions::default().layout_of::<Tick>();
    let mut reference: RingLog<Tick> = RingLog::open_with(dir.join("reference.ring"), n.max(1), options())?;
    let mut pass: RingLog<Tick> = RingLog::open_with(dir.join("candidate-pass.ring"), n.max(1), options())?;
    let mut fail: RingLog<Tick> = RingLog::open_with(dir.join("candidate-fail.ring"), n.max(1), options())?;
    let mut sim = Sim { tick: 0, y: 0.0, integral: 0.0, rng: 0x9E37_79B9_7F4A_7C15 };
    let mut other = Sim { tick: 0, y: 0.0, integral: 0.0, rng: 0xD1B5_4A32_D192_ED03 };
    for _ in 0..n {
        let t = sim.step();
        // The candidate: the same values, off in the last bits, and another wall clock.
        let mut c = t;
        for v in [&mut c.setpoint, &mut c.measured, &mut c.output] {
            *v *= 1.0 + 4e-13 * other.next_noise();
        }
        c.t_ns += 3_600_000_000_000 + 37_000;
        let ev = (t.tick % EVIDENCE_EVERY == EVIDENCE_EVERY - 1).then(|| evidence(t.tick));
        match &ev {
            Some(e) => {
                reference.append_with_failure(&t, e)?;
                pass.append_with_failure(&c, e)?;
            }
            None => {
                reference.append(&t)?;
                pass.append(&c)?;
            }
        }
        if t.tick == n * 7 / 10 {
            continue; // dropped by the failing candidate
        }
        if t.tick == n / 2 {
            c.measured += 0.02;
        }
        let ev = ev.or_else(|| {
            (t.tick == n / 4)
                .then(|| ReplayFailureEvidence::new(FailureKind::Backend, 5, "sensor bus: CRC error on frame 0x3a"))
        });
        match &ev {
            Some(e) => fail.append_with_failure(&c, e)?,
            None => fail.append(&c)?,
        }
    }
    for log in [&mut reference, &mut pass, &mut fail] {
        log.sync()?;
    }
    println!(
        "{n} ticks: {} (reference), {} and {} (candidates)",
        dir.join("reference.ring").display(),
        dir.join("candidate-pass.ring").display(),
        dir.join("candidate-fail.ring").display()
    );
    Ok(())
}
