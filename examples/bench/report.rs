//! Figures and the printed table: medians and percentiles of samples, and the
//! `figure | composectl | reference | ratio | target | met?` table.

use std::time::Duration;

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What is measured.
    pub figure: String,
    /// composectl's value, formatted.
    pub ours: String,
    /// The reference's value, formatted (`-` when there is none).
    pub reference: String,
    /// composectl / reference (`-` when there is no reference).
    pub ratio: String,
    /// The target, formatted (`-` when there is none).
    pub target: String,
    /// `yes`, `NO` or `-`.
    pub met: String,
}

impl Row {
    /// A row comparing `ours` with `reference` (numbers in `unit`), against `target`
    /// (met when `ours <= target`).
    pub fn new(
        figure: &str,
        ours: f64,
        reference: Option<f64>,
        target: Option<f64>,
        unit: Unit,
    ) -> Self {
        Self {
            figure: figure.to_owned(),
            ours: unit.format(ours),
            reference: reference.map_or("-".into(), |r| unit.format(r)),
            ratio: reference.map_or("-".into(), |r| ratio(ours, r)),
            target: target.map_or("-".into(), |t| format!("<= {}", unit.format(t))),
            met: target.map_or("-".into(), |t| yes_no(ours <= t)),
        }
    }

    /// A row whose target is a ratio: met when `ours <= max_ratio * reference`.
    pub fn against(figure: &str, ours: f64, reference: f64, max_ratio: f64, unit: Unit) -> Self {
        Self {
            figure: figure.to_owned(),
            ours: unit.format(ours),
            reference: unit.format(reference),
            ratio: ratio(ours, reference),
            target: format!("<= {max_ratio:.2}x"),
            met: yes_no(ours <= max_ratio * reference),
        }
    }

    /// A row with preformatted cells and no ratio (what failed says so in its cell).
    pub fn text(figure: &str, ours: &str, reference: &str, target: &str, met: &str) -> Self {
        Self {
            figure: figure.to_owned(),
            ours: ours.to_owned(),
            reference: reference.to_owned(),
            ratio: "-".into(),
            target: target.to_owned(),
            met: met.to_owned(),
        }
    }
}

fn yes_no(met: bool) -> String {
    (if met { "yes" } else { "NO" }).into()
}

/// How a row's numbers are printed.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// A count of calls.
    Calls,
    /// Milliseconds.
    Millis,
    /// Mebibytes.
    MiB,
    /// Seconds.
    Secs,
    /// A factor (how many times larger).
    Factor,
}

impl Unit {
    /// `value` in this unit.
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Calls => format!("{value:.0}"),
            Unit::Millis if value < 10.0 => format!("{value:.2} ms"),
            Unit::Millis => format!("{value:.0} ms"),
            Unit::MiB => format!("{value:.1} MiB"),
            Unit::Secs => format!("{value:.1} s"),
            Unit::Factor => format!("{value:.1}x"),
        }
    }
}

fn ratio(ours: f64, reference: f64) -> String {
    match (ours, reference) {
        (0.0, 0.0) => "=".into(),
        (_, 0.0) => "-".into(),
        (o, r) if o / r < 0.01 => format!("{:.4}x", o / r),
        (o, r) => format!("{:.2}x", o / r),
    }
}

/// The table, columns aligned.
pub fn render(rows: &[Row]) -> String {
    let header = [
        "figure",
        "composectl",
        "reference",
        "ratio",
        "target",
        "met?",
    ];
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| {
            [
                &*r.figure,
                &*r.ours,
                &*r.reference,
                &*r.ratio,
                &*r.target,
                &*r.met,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |row: &[&str; 6]| {
        let cols: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |\n", cols.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = line(&header);
    out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// The median of `samples` (zero when empty).
pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50)
}

/// The `p`-th percentile (nearest rank) of `samples` (zero when empty).
pub fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `d` in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The median of counts.
pub fn median_count(samples: &[u64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_target_is_met_at_or_under_the_ratio_of_the_reference() {
        let met = Row::against("converge", 5.0, 10.0, 0.5, Unit::Secs);
        assert_eq!(
            (
                &*met.ours,
                &*met.reference,
                &*met.ratio,
                &*met.target,
                &*met.met
            ),
            ("5.0 s", "10.0 s", "0.50x", "<= 0.50x", "yes")
        );
        let missed = Row::against("recreate", 52.7, 38.3, 0.5, Unit::Secs);
        assert_eq!((&*missed.ratio, &*missed.met), ("1.38x", "NO"));
    }

    #[test]
    fn factors_print_with_one_decimal() {
        assert_eq!(Unit::Factor.format(9.96), "10.0x");
    }
}
