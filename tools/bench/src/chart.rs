//! The latency chart: one CDF per series on a log-scale time axis (SVG).

use std::path::Path;

use plotters::prelude::*;

use crate::report::Series;
use crate::stats::sorted_micros;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// At most `max` (x, y) points of the empirical CDF of `sorted` (ms, fraction).
pub(crate) fn cdf_points(sorted_us: &[f64], max: usize) -> Vec<(f64, f64)> {
    let n = sorted_us.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(max.max(1)).max(1);
    let mut points: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (sorted_us[i] / 1000.0, (i + 1) as f64 / n as f64))
        .collect();
    if points.last().map(|p| p.1) != Some(1.0) {
        points.push((sorted_us[n - 1] / 1000.0, 1.0));
    }
    points
}

/// Draws `series` into an SVG file at `path`.
pub(crate) fn draw(path: &Path, series: &Series, subtitle: &str) -> Result<(), String> {
    let curves: Vec<(String, Vec<(f64, f64)>)> = series
        .series
        .iter()
        .map(|(label, samples)| {
            let sorted = sorted_micros(samples);
            (
                format!("{label} (n={})", samples.len()),
                cdf_points(&sorted, 600),
            )
        })
        .collect();
    let xs = curves.iter().flat_map(|(_, p)| p.iter().map(|q| q.0));
    let lo = xs.clone().fold(f64::INFINITY, f64::min).max(1e-4);
    let hi = xs.fold(0.0f64, f64::max).max(lo * 10.0);
    let (lo, hi) = (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil()),
    );
    let root = SVGBackend::new(path, (1000, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Handler latency CDF: {subtitle}"),
            ("sans-serif", 18),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.0f64)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("latency per request (ms, log scale)")
        .y_desc("fraction of requests ≤ latency")
        .x_label_formatter(&|v| {
            if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (label, points)) in curves.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// A traffic panel: caption, y label, y maximum, colour, y of a point.
type Panel = (
    &'static str,
    &'static str,
    f64,
    RGBColor,
    fn(&(f64, f64, f64)) -> f64,
);

/// Draws the traffic scenario's hit rate (left) and Upstash bill per
/// million requests (right) against the simulated rate R (log scale).
/// `points`: (R, hit rate 0..1, dollars).
pub(crate) fn draw_traffic(path: &Path, points: &[(f64, f64, f64)]) -> Result<(), String> {
    let mut pts = points.to_vec();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let lo = pts.first().map_or(1.0, |p| p.0).max(1e-3);
    let hi = pts.last().map_or(10.0, |p| p.0).max(lo * 10.0);
    let (lo, hi) = (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil()),
    );
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(
            "traffic: cache on, Zipf(1.1) over 5,000 symbols, compressed time",
            ("sans-serif", 18),
        )
        .map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, 2));
    let bill_max = pts.iter().map(|p| p.2).fold(0.0f64, f64::max).max(0.01) * 1.2;
    let specs: [Panel; 2] = [
        (
            "hit rate (L1 + HIT + STALE)",
            "hit rate (%)",
            100.0,
            COLORS[0],
            |p| p.1 * 100.0,
        ),
        (
            "Upstash bill per 1M API requests",
            "US$ ($0.20 / 100K commands)",
            bill_max,
            COLORS[1],
            |p| p.2,
        ),
    ];
    for (panel, (caption, y_desc, y_max, color, y)) in panels.iter().zip(specs) {
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 16))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("simulated requests/s R (log scale)")
            .y_desc(y_desc)
            .x_label_formatter(&|v| format!("{v}"))
            .draw()
            .map_err(|e| e.to_string())?;
        let series: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, y(p))).collect();
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                series
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_points_are_monotone_and_end_at_one() {
        let sorted: Vec<f64> = (1..=1000).map(f64::from).collect();
        let p = cdf_points(&sorted, 100);
        assert!(p.len() <= 101);
        assert!(p.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
        assert_eq!(p.last(), Some(&(1.0, 1.0)));
        assert!(cdf_points(&[], 10).is_empty());
    }
}
