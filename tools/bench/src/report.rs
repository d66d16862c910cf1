//! Markdown tables and per-scenario results.

use std::time::Duration;

use serde_json::Value;

/// The result of one scenario.
pub(crate) struct Section {
    /// Scenario name (`zipf`, …).
    pub name: &'static str,
    /// Markdown (heading, tables, notes).
    pub markdown: String,
    /// Every number, for machines.
    pub json: Value,
}

/// Latency series for the chart.
#[derive(Default)]
pub(crate) struct Series {
    /// (label, samples).
    pub series: Vec<(String, Vec<Duration>)>,
}

impl Series {
    /// Adds a series.
    pub(crate) fn add(&mut self, label: &str, samples: Vec<Duration>) {
        if !samples.is_empty() {
            self.series.push((label.to_string(), samples));
        }
    }
}

/// A Markdown table.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", headers.join(" | ")));
    out.push_str(&format!(
        "|{}\n",
        headers
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { " --- |" } else { " ---: |" })
            .collect::<String>()
    ));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

/// `met` or `**NOT met**`.
pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**NOT met**" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_table_shape() {
        let t = table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| a | b |\n| --- | ---: |\n| 1 | 2 |\n");
        assert_eq!(verdict(true), "met");
    }
}
