//! The `raw` env-file format (`env_file: {path, format: raw}`), as `docker compose`
//! registers it: the parser of `docker run --env-file`. One `KEY=VALUE` per line, the
//! value taken verbatim (no quotes removed, no interpolation); leading whitespace and
//! lines starting with `#` are skipped; a bare `KEY` takes the lookup's value and is left
//! out when that is unset. Messages name lines and keys, never values.

/// A line of a raw env file that is not `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `=VALUE` without a name.
    #[error("line {0}: no variable name; write KEY=VALUE")]
    NoName(usize),
    /// A name with whitespace in it.
    #[error("line {0}: the variable name contains whitespace; write KEY=VALUE")]
    Whitespace(usize),
}

/// Parses `text`; returns the variables in file order.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (line, None),
        };
        if name.is_empty() {
            return Err(Error::NoName(i + 1));
        }
        if name.chars().any(char::is_whitespace) {
            return Err(Error::Whitespace(i + 1));
        }
        let value = match value {
            Some(v) => Some(v.to_string()),
            None => lookup(name),
        };
        if let Some(value) = value {
            out.push((name.to_string(), value));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_keep_quotes_and_dollars_and_bare_keys_take_the_lookup() {
        let lookup = |k: &str| (k == "HOME_DIR").then(|| "/home/x".to_string());
        let vars = parse(
            "\u{feff}# c\n  A=\"quoted\" $NOT ${X}\nHOME_DIR\nUNSET\nB=\n",
            &lookup,
        )
        .unwrap();
        assert_eq!(
            vars,
            vec![
                ("A".into(), "\"quoted\" $NOT ${X}".into()),
                ("HOME_DIR".into(), "/home/x".into()),
                ("B".into(), String::new()),
            ]
        );
        assert_eq!(parse("=x", &lookup), Err(Error::NoName(1)));
        assert_eq!(parse("A B=x", &lookup), Err(Error::Whitespace(1)));
    }
}
