//! The Prometheus text exposition format, as far as a gate needs it: samples (name, labels,
//! value) with comments, timestamps and exemplars ignored; and the small label pattern
//! language of the scrape gate's `bad` selector.

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with any `_total`, `_bucket`... suffix as written).
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The value (`NaN`, `+Inf` and `-Inf` included).
    pub value: f64,
}

/// Every sample of `text`; a malformed line is an error naming its line number.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(n, line)| {
            parse_line(line).ok_or_else(|| format!("line {n} is not a sample: {line:?}"))
        })
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = parse_labels(inner, &mut labels)?;
    }
    let value = rest.split_whitespace().next()?;
    Some(Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(value)?,
    })
}

/// Reads `a="x",b="y"}` into `labels`; returns what follows the closing brace.
fn parse_labels<'a>(mut rest: &'a str, labels: &mut BTreeMap<String, String>) -> Option<&'a str> {
    loop {
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Some(after);
        }
        let (key, after) = rest.split_once('=')?;
        let (value, after) = quoted(after.trim_start())?;
        labels.insert(key.trim().to_owned(), value);
        rest = after;
    }
}

/// A double-quoted label value with `\\`, `\"` and `\n` escapes; and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 2..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// Whether `value` matches `pattern` entirely: alternatives separated by `|`, `.` for any
/// character, `*` for any number of the preceding character (or `.`). Enough for
/// `5..`, `5.*`, `500|503`; other regex syntax is matched literally.
pub fn matches(pattern: &str, value: &str) -> bool {
    let value: Vec<char> = value.chars().collect();
    pattern.split('|').any(|alt| {
        let alt: Vec<char> = alt.chars().collect();
        match_here(&alt, &value)
    })
}

fn match_here(pattern: &[char], value: &[char]) -> bool {
    match pattern {
        [] => value.is_empty(),
        [c, '*', rest @ ..] => {
            let mut i = 0;
            loop {
                if match_here(rest, &value[i..]) {
                    return true;
                }
                if i < value.len() && (*c == '.' || value[i] == *c) {
                    i += 1;
                } else {
                    return false;
                }
            }
        }
        [c, rest @ ..] => match value.split_first() {
            Some((v, value_rest)) => (*c == '.' || c == v) && match_here(rest, value_rest),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = "\
# HELP demo_http_requests_total Requests of / answered, by status.
# TYPE demo_http_requests_total counter
demo_http_requests_total{status=\"200\",version=\"v1\"} 80
demo_http_requests_total{status=\"500\",version=\"v1\"} 20

up 1 1712345678000
weird{path=\"a\\\"b\\\\c\\nd\", empty=\"\"} +Inf
no_labels_nan NaN
";

    #[test]
    fn samples_are_read_with_labels_and_values() {
        let samples = parse(DEMO).unwrap();
        assert_eq!(samples.len(), 5);
        assert_eq!(samples[0].name, "demo_http_requests_total");
        assert_eq!(samples[0].labels["status"], "200");
        assert_eq!(samples[0].labels["version"], "v1");
        assert_eq!(samples[1].value, 20.0);
        assert_eq!((samples[2].name.as_str(), samples[2].value), ("up", 1.0));
        assert!(samples[2].labels.is_empty());
        assert_eq!(samples[3].labels["path"], "a\"b\\c\nd");
        assert_eq!(samples[3].labels["empty"], "");
        assert_eq!(samples[3].value, f64::INFINITY);
        assert!(samples[4].value.is_nan());
    }

    #[test]
    fn malformed_lines_are_errors_with_their_number() {
        for (text, line) in [
            ("ok 1\nbroken", 2),
            ("m{a=\"1\" 3", 1),
            ("m{a=1} 3", 1),
            ("m abc", 1),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(&format!("line {line} ")), "{text:?}: {err}");
        }
    }

    #[test]
    fn patterns_match_whole_values() {
        let cases = [
            ("5..", "500", true),
            ("5..", "503", true),
            ("5..", "200", false),
            ("5..", "5000", false),
            ("500|503", "503", true),
            ("500|503", "504", false),
            ("5.*", "5", true),
            ("5.*", "599x", true),
            ("4.*|5.*", "404", true),
            ("ab*c", "ac", true),
            ("ab*c", "abbbc", true),
            ("ab*c", "abd", false),
            ("", "", true),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(matches(pattern, value), expected, "{pattern} ~ {value}");
        }
    }
}
