//! Small time formatting without a date library: RFC 3339 UTC timestamps (for `rollout
//! history` and webhook events) and short human durations (`42s`, `1m05s`, `2h03m`).

/// `secs` since the epoch as an RFC 3339 UTC timestamp: `2024-05-01T12:30:05Z`.
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A duration in milliseconds, rounded to the second, as `42s`, `1m05s` or `2h03m`.
pub fn duration(ms: u64) -> String {
    let secs = (ms + 500) / 1000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Year, month (1-12) and day (1-31) of `days` since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (951_955_199, "2000-03-01T23:59:59Z"),
            (1_714_566_605, "2024-05-01T12:30:05Z"),
            (4_102_444_800, "2100-01-01T00:00:00Z"),
        ];
        for (secs, expected) in cases {
            assert_eq!(rfc3339(secs), expected, "{secs}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_follows_the_previous_one() {
        let mut previous = civil_from_days(0);
        for days in 1..146_097 * 2 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = (y, m, d) == (py, pm, pd + 1);
            let next_month = (y, m, d) == (py, pm + 1, 1) && pd >= 28;
            let next_year = (y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31);
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {:?}",
                (y, m, d)
            );
            previous = (y, m, d);
        }
    }

    #[test]
    fn durations_are_short() {
        let cases = [
            (0, "0s"),
            (400, "0s"),
            (42_000, "42s"),
            (59_499, "59s"),
            (65_000, "1m05s"),
            (3_599_000, "59m59s"),
            (7_380_000, "2h03m"),
        ];
        for (ms, expected) in cases {
            assert_eq!(duration(ms), expected, "{ms}");
        }
    }
}
