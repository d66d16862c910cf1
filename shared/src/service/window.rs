//! Slicing a cached recent window without parsing it.
//!
//! The cache holds one `RecentData` window per symbol, serialized by
//! serde_json in field order `{"symbol":…,"days":…,"data_points":[{"date":"YYYY-MM-DD",…},…]}`
//! (the envelope's checksum guarantees the body is exactly what was
//! written). A smaller `days` keeps the points with `date >= last − days`:
//! ISO dates compare as strings, so the cut is found by scanning back from
//! the last point's `{"date":"` and the tail is copied as it is, instead of
//! parsing 250 points and serializing them again.

use crate::models::window_start;

const POINTS: &str = "\"data_points\":[";
const POINT: &str = "{\"date\":\"";
const DATE_LEN: usize = 10;

/// `body` (a serialized `RecentData`) cut to `days`, exactly as
/// `RecentData::slice(days)` serialized; `None` when `body` does not have
/// the expected shape (the caller then parses it).
pub(super) fn slice_serialized(body: &str, days: u32) -> Option<String> {
    let symbol_field = body.strip_prefix("{\"symbol\":")?;
    let symbol_end = symbol_field.find(",\"days\":")?;
    let symbol = &symbol_field[..symbol_end];
    let points_at = body.find(POINTS)? + POINTS.len();
    let points = &body[points_at..];
    // Points are in date order: scan from the end and stop at the first
    // point before the cut (a few KB for a small `days`, not the window).
    let mut from_end = points.rmatch_indices(POINT).map(|(at, _)| {
        points
            .get(at + POINT.len()..at + POINT.len() + DATE_LEN)
            .map(|date| (at, date))
    });
    let tail = match from_end.next() {
        None => "]}",
        Some(last) => {
            let (last_at, last) = last?;
            let start = window_start(last.parse().ok()?, days)
                .format("%Y-%m-%d")
                .to_string();
            let mut cut = (last >= start.as_str()).then_some(last_at);
            for point in from_end {
                let (at, date) = point?;
                if date < start.as_str() {
                    break;
                }
                cut = Some(at);
            }
            cut.map_or("]}", |at| &points[at..])
        }
    };
    Some(format!(
        "{{\"symbol\":{symbol},\"days\":{days},\"data_points\":[{tail}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{DailyBar, RecentData};

    fn window(dates: &[&str]) -> RecentData {
        RecentData {
            symbol: "BRK.B".into(),
            days: 365,
            data_points: dates
                .iter()
                .enumerate()
                .map(|(i, d)| DailyBar {
                    date: d.parse().unwrap(),
                    open: 1.5,
                    high: 2.0,
                    low: 1.0,
                    close: 1.25 + i as f64,
                    volume: 7,
                })
                .collect(),
        }
    }

    #[test]
    fn equals_parse_slice_serialize_for_every_days() {
        let data = window(&[
            "2012-02-28",
            "2012-02-29",
            "2012-12-31",
            "2013-01-02",
            "2013-02-27",
            "2013-02-28",
            "2013-03-01",
        ]);
        let body = serde_json::to_string(&data).unwrap();
        for days in [1, 2, 3, 29, 30, 58, 59, 60, 364, 365, 366, 3650] {
            let expected = serde_json::to_string(&data.slice(days)).unwrap();
            assert_eq!(
                slice_serialized(&body, days).as_deref(),
                Some(expected.as_str()),
                "{days}"
            );
        }
        let empty = serde_json::to_string(&window(&[])).unwrap();
        let expected = serde_json::to_string(&window(&[]).slice(5)).unwrap();
        assert_eq!(slice_serialized(&empty, 5), Some(expected));
    }

    #[test]
    fn other_shapes_are_left_to_the_parser() {
        for body in [
            "",
            "{}",
            "{\"days\":1}",
            "{\"symbol\":\"A\",\"days\":1,\"data_points\":[{\"date\":\"2013\"}]}",
        ] {
            assert_eq!(slice_serialized(body, 5), None, "{body}");
        }
    }
}
