//! `--plot FILE.png`: latency percentile curves of ours vs baselines vs peers (plotters, bitmap).

use std::path::Path;

use plotters::prelude::*;

use crate::harness::Row;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Quantiles on the x axis; the last point is the maximum.
const QUANTILES: [(f64, &str); 6] =
    [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9"), (0.9999, "p99.99"), (1.0, "max")];

/// Registers a TrueType font from the system for the labels (ab_glyph has none built in).
fn register_font() -> Result<(), BoxError> {
    let mut candidates = vec![
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".to_string(),
        "/usr/share/fonts/TTF/DejaVuSans.ttf".to_string(),
        "/usr/share/fonts/dejavu/DejaVuSans.ttf".to_string(),
    ];
    if let Ok(p) = std::env::var("BENCH_PLOT_FONT") {
        candidates.insert(0, p);
    }
    for c in candidates {
        if let Ok(bytes) = std::fs::read(&c) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
    }
    Err("--plot needs a TrueType font: install fonts-dejavu-core or set BENCH_PLOT_FONT=/path/to/font.ttf".into())
}

/// (title, group, size, method): one panel each.
const PANELS: [(&str, &str, usize, &str); 3] = [
    ("ring append, 64 B (per-op, timer pair included)", "ring append", 64, "per-op"),
    ("journal no-sync write, 1 KiB", "journal async", 1024, "per-op"),
    ("journal durable write, 64 B", "journal sync", 64, "per-op"),
];

pub fn draw(path: &Path, rows: &[Row]) -> Result<(), BoxError> {
    register_font()?;
    let root = BitMapBackend::new(path, (1800, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title_area, body) = root.split_vertically(40);
    title_area.titled(
        "replaylog vs raw baselines vs peers: latency percentiles (log scale), one run, same machine",
        ("sans-serif", 22),
    )?;
    let panels = body.split_evenly((1, PANELS.len()));
    for (area, (title, group, size, method)) in panels.iter().zip(PANELS) {
        let series: Vec<&Row> =
            rows.iter().filter(|r| r.group == group && r.size == size && r.method == method).collect();
        if series.is_empty() {
            continue;
        }
        let lo = series.iter().map(|r| r.q_ns(0.5)).fold(f64::MAX, f64::min).max(1.0) * 0.7;
        let hi = series.iter().map(|r| r.max_ns()).fold(1.0, f64::max) * 1.5;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..(QUANTILES.len() - 1) as f64, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_labels(QUANTILES.len())
            .x_label_formatter(&|x| QUANTILES.get(x.round() as usize).map_or(String::new(), |q| q.1.to_string()))
            .y_desc("latency (ns)")
            .y_label_formatter(&|y| crate::harness::fmt_ns(*y))
            .draw()?;
        for (i, r) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let pts: Vec<(f64, f64)> = QUANTILES
                .iter()
                .enumerate()
                .map(|(x, (q, _))| (x as f64, if *q >= 1.0 { r.max_ns() } else { r.q_ns(*q) }.max(lo)))
                .collect();
            let style = ShapeStyle { color, filled: true, stroke_width: 2 };
            chart
                .draw_series(LineSeries::new(pts.clone(), style))?
                .label(r.variant.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, style)))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
