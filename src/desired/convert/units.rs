//! Durations and sizes, as compose reads them.
//!
//! Durations follow Go's `time.ParseDuration` plus days and weeks (compose uses
//! `str2duration`): a sequence of numbers with units, `1m30s`, `1.5h`, `500ms`, `2us`,
//! `10s`. A bare number is rejected (except `0`): compose reads `interval: 10` as an error
//! too. Sizes follow docker's `RAMInBytes`: a byte count, or a number with `k`, `m`, `g`,
//! `t` or `p` (optionally followed by `i` and/or `b`, any case), all binary multiples:
//! `768m`, `1g`, `512mb`, `1.5gb`, `2k`. A duration is at most [`MAX_DURATION`] (a year), so
//! deadlines computed from it (`now + monitor + delay`) cannot overflow.

use std::time::Duration;

use crate::desired::limits::MAX_DURATION;

/// A malformed duration or size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not a duration.
    #[error("is not a duration; write a number with a unit such as 10s, 1m30s or 500ms")]
    Duration,
    /// A number without a unit.
    #[error("has no unit; write it with one, such as 10s (s, m, h, ms, us, ns, d, w)")]
    MissingUnit,
    /// Not a size.
    #[error("is not a size; write bytes or a number with a unit such as 512m or 1.5g")]
    Size,
    /// A duration longer than [`MAX_DURATION`].
    #[error(
        "is longer than a year (365d), the longest duration composectl accepts; write a shorter one"
    )]
    TooLong,
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Parses a duration such as `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(Error::Duration);
    }
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(Error::MissingUnit);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or(Error::MissingUnit)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| Error::Duration)?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        total += number * unit_seconds(&rest[..unit_len])?;
        rest = &rest[unit_len..];
    }
    if total > MAX_DURATION.as_secs_f64() {
        return Err(Error::TooLong);
    }
    Duration::try_from_secs_f64(total).map_err(|_| Error::Duration)
}

fn unit_seconds(unit: &str) -> Result<f64> {
    Ok(match unit {
        "ns" => 1e-9,
        "us" | "µs" | "μs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => return Err(Error::Duration),
    })
}

/// Parses a size such as `768m` into bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number = &text[..number_len];
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(Error::Size);
    }
    let value: f64 = number.parse().map_err(|_| Error::Size)?;
    let suffix = text[number_len..]
        .strip_prefix(' ')
        .unwrap_or(&text[number_len..]);
    let multiplier = size_multiplier(&suffix.to_ascii_lowercase())?;
    Ok((value * multiplier) as u64)
}

fn size_multiplier(suffix: &str) -> Result<f64> {
    let (unit, tail) = match suffix.chars().next() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => (Some(c), &suffix[1..]),
        _ => (None, suffix),
    };
    if !matches!(tail, "" | "i" | "b" | "ib") || (unit.is_none() && tail.starts_with('i')) {
        return Err(Error::Size);
    }
    let power = match unit {
        None => 0,
        Some('k') => 1,
        Some('m') => 2,
        Some('g') => 3,
        Some('t') => 4,
        Some(_) => 5,
    };
    Ok(1024f64.powi(power))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_compose() {
        let ms = Duration::from_millis;
        let cases: &[(&str, Result<Duration>)] = &[
            ("10s", Ok(ms(10_000))),
            ("1m30s", Ok(ms(90_000))),
            ("500ms", Ok(ms(500))),
            ("1h", Ok(ms(3_600_000))),
            ("2us", Ok(Duration::from_micros(2))),
            ("1.5s", Ok(ms(1_500))),
            ("1h2m3s4ms", Ok(ms(3_723_004))),
            ("1d", Ok(ms(86_400_000))),
            ("0", Ok(Duration::ZERO)),
            ("10", Err(Error::MissingUnit)),
            ("1m30", Err(Error::MissingUnit)),
            ("", Err(Error::Duration)),
            ("abc", Err(Error::Duration)),
            ("10 s", Err(Error::Duration)),
            ("-5s", Err(Error::Duration)),
            ("5y", Err(Error::Duration)),
            ("52w", Ok(Duration::from_secs(52 * 604_800))),
            ("365d", Ok(Duration::from_secs(365 * 86_400))),
            ("366d", Err(Error::TooLong)),
            ("99999999999999999999h", Err(Error::TooLong)),
            ("1e308s", Err(Error::Duration)),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_duration(text), want, "{text:?}");
        }
    }

    #[test]
    fn sizes_parse_like_docker() {
        let cases: &[(&str, Result<u64>)] = &[
            ("1024", Ok(1024)),
            ("100b", Ok(100)),
            ("2k", Ok(2048)),
            ("768m", Ok(768 << 20)),
            ("512mb", Ok(512 << 20)),
            ("1g", Ok(1 << 30)),
            ("1G", Ok(1 << 30)),
            ("1GiB", Ok(1 << 30)),
            ("1.5gb", Ok(3 << 29)),
            ("2 m", Ok(2 << 20)),
            ("1t", Ok(1 << 40)),
            ("", Err(Error::Size)),
            ("m", Err(Error::Size)),
            ("12x", Err(Error::Size)),
            ("1.g", Err(Error::Size)),
            ("-1m", Err(Error::Size)),
            ("1mm", Err(Error::Size)),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_size(text), want, "{text:?}");
        }
    }
}
