//! The table rows of issue 12's cells: converge and recreate against docker-compose
//! (figures 5 and 6, target 0.5x) and against the raw Engine API (the engine's floor, no
//! target), composectl's steady pass and idle memory at each size
//! (figure 7), and how each figure grows from the smallest size to the largest (figure 8,
//! linear or better: at most the ratio of the sizes), plus the details lines.

use crate::matrix::{AtSize, Image, Outcome, Run};
use crate::memory;
use crate::report::{Row, Unit, median, median_count, ms};

/// Converge and recreate: composectl at most this times docker-compose's wall time.
pub const MAX_RATIO: f64 = 0.5;
/// Steady pass at size: reads, writes, milliseconds.
const STEADY_TARGETS: (f64, f64, f64) = (2.0, 0.0, 50.0);
/// Idle RSS of `composectl run` at size, MiB.
const RSS_TARGET: f64 = 20.0;

/// The rows of `outcomes`.
pub fn rows(outcomes: &[Outcome]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (number, what) in [(5, "converge"), (6, "recreate")] {
        for o in outcomes {
            let figure = format!(
                "{number}. {what} {} ({} x 3), {}: wall",
                o.size,
                o.size / 3,
                o.image.name()
            );
            let pick = |r: &Run| {
                let took = if what == "converge" {
                    r.converge
                } else {
                    r.recreate
                };
                took.as_secs_f64()
            };
            rows.push(match (&o.ours, &o.theirs) {
                (Ok(ours), Ok(theirs)) => {
                    Row::against(&figure, pick(ours), pick(theirs), MAX_RATIO, Unit::Secs)
                }
                (ours, theirs) => {
                    let cell = |r: &Result<Run, String>| {
                        r.as_ref()
                            .map_or("failed".into(), |r| Unit::Secs.format(pick(r)))
                    };
                    Row::text(&figure, &cell(ours), &cell(theirs), "<= 0.50x", "NO")
                }
            });
            if let (Ok(ours), Ok(raw)) = (&o.ours, &o.raw) {
                rows.push(Row::new(
                    &format!("{figure} vs raw API"),
                    pick(ours),
                    Some(pick(raw)),
                    None,
                    Unit::Secs,
                ));
            }
        }
    }
    for o in outcomes {
        match &o.at_size {
            Some(Ok(at)) => rows.extend(at_size_rows(o.size, at)),
            Some(Err(_)) => rows.push(Row::text(
                &format!("7. at {}: steady pass, idle memory", o.size),
                "failed",
                "-",
                "-",
                "NO",
            )),
            None => {}
        }
    }
    rows.extend(growth_rows(outcomes));
    rows
}

fn at_size_rows(size: usize, at: &AtSize) -> Vec<Row> {
    let (reads, writes, millis) = STEADY_TARGETS;
    let p = &at.passes;
    vec![
        Row::new(
            &format!("7. at {size}: resync pass, in-process: reads"),
            median_count(&p.reads),
            None,
            Some(reads),
            Unit::Calls,
        ),
        Row::new(
            &format!("7. at {size}: resync pass, in-process: writes"),
            median_count(&p.writes),
            None,
            Some(writes),
            Unit::Calls,
        ),
        Row::new(
            &format!("7. at {size}: resync pass, in-process: median"),
            ms(median(&p.times)),
            None,
            Some(millis),
            Unit::Millis,
        ),
        Row::new(
            &format!("7. at {size}: idle composectl run VmRSS"),
            memory::mib(at.memory.rss_kib),
            None,
            Some(RSS_TARGET),
            Unit::MiB,
        ),
    ]
}

/// Growth from the smallest size to the largest: composectl's factor (and
/// docker-compose's beside it), target the ratio of the sizes.
fn growth_rows(outcomes: &[Outcome]) -> Vec<Row> {
    let (Some(small), Some(large)) = (
        outcomes.iter().map(|o| o.size).min(),
        outcomes.iter().map(|o| o.size).max(),
    ) else {
        return Vec::new();
    };
    if small == large {
        return Vec::new();
    }
    let linear = large as f64 / small as f64;
    let head = format!("8. growth {small} -> {large}");
    let row = |what: &str, ours: Option<f64>, theirs: Option<f64>| {
        let figure = format!("{head}: {what}");
        match ours {
            Some(g) => Row::text(
                &figure,
                &Unit::Factor.format(g),
                &theirs.map_or("-".into(), |t| Unit::Factor.format(t)),
                &format!("<= {}", Unit::Factor.format(linear)),
                if g <= linear { "yes" } else { "NO" },
            ),
            None => Row::text(&figure, "failed", "-", "-", "NO"),
        }
    };
    let mut rows = Vec::new();
    let find =
        |size: usize, image: Image| outcomes.iter().find(|o| o.size == size && o.image == image);
    let images: Vec<_> = outcomes
        .iter()
        .filter(|o| o.size == small)
        .map(|o| o.image)
        .collect();
    for image in images {
        let (Some(a), Some(b)) = (find(small, image), find(large, image)) else {
            continue;
        };
        let factor = |x: &Result<Run, String>, y: &Result<Run, String>, f: fn(&Run) -> f64| {
            Some(f(y.as_ref().ok()?) / f(x.as_ref().ok()?))
        };
        let converge: fn(&Run) -> f64 = |r| r.converge.as_secs_f64();
        let recreate: fn(&Run) -> f64 = |r| r.recreate.as_secs_f64();
        rows.push(row(
            &format!("converge, {}", image.name()),
            factor(&a.ours, &b.ours, converge),
            factor(&a.theirs, &b.theirs, converge),
        ));
        rows.push(row(
            &format!("recreate, {}", image.name()),
            factor(&a.ours, &b.ours, recreate),
            factor(&a.theirs, &b.theirs, recreate),
        ));
    }
    let at = |size: usize| {
        outcomes
            .iter()
            .find(|o| o.size == size)
            .and_then(|o| o.at_size.as_ref()?.as_ref().ok())
    };
    let (a, b) = (at(small), at(large));
    let grow = |f: fn(&AtSize) -> f64| Some(f(b?) / f(a?).max(f64::MIN_POSITIVE));
    rows.push(row(
        "resync pass reads",
        grow(|s| median_count(&s.passes.reads)),
        None,
    ));
    rows.push(row(
        "resync pass median",
        grow(|s| ms(median(&s.passes.times))),
        None,
    ));
    rows.push(row("idle VmRSS", grow(|s| s.memory.rss_kib as f64), None));
    rows
}

/// The details lines of `outcomes`.
pub fn details(outcomes: &[Outcome], mem_available_kib: Option<u64>) -> String {
    let mut out = String::new();
    let sizes: Vec<String> = {
        let mut s: Vec<usize> = outcomes.iter().map(|o| o.size).collect();
        s.dedup();
        s.iter()
            .map(|n| format!("{n} ({} services x 3)", n / 3))
            .collect()
    };
    out.push_str(&format!(
        "\nrows 5-8: sizes {}; one project on the engine at a time; stop grace 10 s (the \
         default of both tools); MemAvailable before the cells: {}\n",
        sizes.join(", "),
        mem_available_kib.map_or("unknown".into(), |k| format!("{:.0} MiB", memory::mib(k)))
    ));
    for o in outcomes {
        let run = |r: &Result<Run, String>| match r {
            Ok(r) => format!(
                "converge {:.1} s ({} writes), recreate {:.1} s ({} writes)",
                r.converge.as_secs_f64(),
                r.converge_writes,
                r.recreate.as_secs_f64(),
                r.recreate_writes
            ),
            Err(e) => format!("failed: {e}"),
        };
        out.push_str(&format!(
            "{} x {}: composectl {}; docker-compose {}; raw Engine API {}\n",
            o.size,
            o.image.name(),
            run(&o.ours),
            run(&o.theirs),
            run(&o.raw)
        ));
        if let (Ok(raw), Ok(theirs)) = (&o.raw, &o.theirs) {
            let of =
                |a: std::time::Duration, b: std::time::Duration| a.as_secs_f64() / b.as_secs_f64();
            out.push_str(&format!(
                "{} x {}: raw Engine API / docker-compose: converge {:.2}x, recreate {:.2}x \
                 (the engine's own time for the same calls, {} at once, with no tool around \
                 them)\n",
                o.size,
                o.image.name(),
                of(raw.converge, theirs.converge),
                of(raw.recreate, theirs.recreate),
                crate::raw::PARALLELISM
            ));
        }
        if let Some(Err(e)) = &o.at_size {
            out.push_str(&format!(
                "{} x {}: steady pass / idle memory failed: {e}\n",
                o.size,
                o.image.name()
            ));
        }
        if let Some(Ok(at)) = &o.at_size {
            out.push_str(&format!(
                "at {}: resync pass p90 {:.2} ms, idle VmHWM {:.1} MiB; calls per resync pass: {}\n",
                o.size,
                ms(crate::report::percentile(&at.passes.times, 90)),
                memory::mib(at.memory.hwm_kib),
                at.passes
                    .calls
                    .iter()
                    .map(|(e, n)| format!("{n}x {e}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    out
}
