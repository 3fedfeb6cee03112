//! Variable interpolation, as compose does it: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}`,
//! `$$` for a literal `$`, and defaults that nest (`${A:-${B}}`).
//!
//! Only scalar string values are interpolated, never mapping keys. A `$` that is not followed
//! by `$`, `{` or a name stays as it is (compose's behaviour); a `${` that does not open a
//! valid substitution is an error. Errors and warnings name variables, never their values.

use super::Diagnostic;
use super::limits::{MAX_INTERPOLATED_BYTES, MAX_INTERPOLATION_DEPTH};
use super::yaml::{Node, Value};

/// A problem in one template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `${VAR:?message}` / `${VAR?message}` with the variable missing.
    #[error(
        "required variable {name} is missing a value: {message}; set {name} in the environment or in .env"
    )]
    Required {
        /// The variable.
        name: String,
        /// The message written after `?` (text from the file, not a value).
        message: String,
    },
    /// `${` not followed by a valid substitution, or an unclosed `${`.
    #[error(
        "invalid interpolation at character {offset}: {reason}; write ${{NAME}} for a variable or $$ for a literal $"
    )]
    Invalid {
        /// 0-based character offset of the `$`.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Defaults nested deeper than [`MAX_INTERPOLATION_DEPTH`].
    #[error(
        "`${{...}}` nests deeper than {MAX_INTERPOLATION_DEPTH} levels (in a default or alternative value); nest less"
    )]
    TooDeep,
    /// The substitutions of one file add up to more than [`MAX_INTERPOLATED_BYTES`].
    #[error(
        "variables substitute more than {MAX_INTERPOLATED_BYTES} bytes into this file (a variable built from others that doubles at each step?); use shorter values"
    )]
    TooLarge,
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// The result of interpolating one template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interpolated {
    /// The text with every substitution done.
    pub value: String,
    /// Variables used without a default that are not set (they became empty strings).
    pub unset: Vec<String>,
}

/// How many bytes variables may still substitute; one per file (see
/// [`MAX_INTERPOLATED_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    remaining: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            remaining: MAX_INTERPOLATED_BYTES,
        }
    }
}

impl Budget {
    /// Takes `bytes` from the budget; an error when there are not that many left.
    fn spend(&mut self, bytes: usize) -> Result<()> {
        self.remaining = self
            .remaining
            .checked_sub(bytes as u64)
            .ok_or(Error::TooLarge)?;
        Ok(())
    }
}

/// Interpolates `template` with `lookup`, with a budget of its own.
pub fn interpolate(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated> {
    interpolate_within(template, lookup, &mut Budget::default())
}

/// Interpolates `template` with `lookup`, taking what variables substitute from `budget`
/// (shared by every template of one file).
pub fn interpolate_within(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    budget: &mut Budget,
) -> Result<Interpolated> {
    let mut cx = Subst {
        lookup,
        budget,
        out: Interpolated::default(),
    };
    cx.template(template, 0)?;
    Ok(cx.out)
}

/// One interpolation in progress.
struct Subst<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    budget: &'a mut Budget,
    out: Interpolated,
}

impl Subst<'_> {
    /// Appends `template` (at nesting `depth`) to the output.
    fn template(&mut self, template: &str, depth: usize) -> Result<()> {
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(Error::TooDeep);
        }
        let chars: Vec<char> = template.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '$' {
                self.out.value.push(chars[i]);
                i += 1;
                continue;
            }
            i = self.substitute(&chars, i, depth)?;
        }
        Ok(())
    }

    /// Handles the `$` at `start`; returns the index after what it consumed.
    fn substitute(&mut self, chars: &[char], start: usize, depth: usize) -> Result<usize> {
        match chars.get(start + 1) {
            Some('$') => {
                self.out.value.push('$');
                Ok(start + 2)
            }
            Some('{') => self.braced(chars, start, depth),
            Some(c) if is_name_start(*c) => {
                let end = name_end(chars, start + 1);
                let name: String = chars[start + 1..end].iter().collect();
                self.resolve_plain(&name)?;
                Ok(end)
            }
            _ => {
                self.out.value.push('$');
                Ok(start + 1)
            }
        }
    }

    fn push_value(&mut self, value: &str) -> Result<()> {
        self.budget.spend(value.len())?;
        self.out.value.push_str(value);
        Ok(())
    }

    fn resolve_plain(&mut self, name: &str) -> Result<()> {
        match (self.lookup)(name) {
            Some(value) => self.push_value(&value),
            None => {
                self.out.unset.push(name.to_string());
                Ok(())
            }
        }
    }

    /// `${...}` starting at the `$` at `start`.
    fn braced(&mut self, chars: &[char], start: usize, depth: usize) -> Result<usize> {
        let invalid = |reason| Error::Invalid {
            offset: start,
            reason,
        };
        let name_start = start + 2;
        if !chars.get(name_start).is_some_and(|c| is_name_start(*c)) {
            return Err(invalid("`${` must be followed by a variable name"));
        }
        let name_stop = name_end(chars, name_start);
        let name: String = chars[name_start..name_stop].iter().collect();
        let close =
            matching_brace(chars, name_stop).ok_or(invalid("`${` is never closed by `}`"))?;
        let rest: String = chars[name_stop..close].iter().collect();
        if rest.is_empty() {
            self.resolve_plain(&name)?;
            return Ok(close + 1);
        }
        let (op, arg) = split_operator(&rest).ok_or(invalid(
            "expected `}`, `:-`, `-`, `:?`, `?`, `:+` or `+` after the name",
        ))?;
        self.apply(op, &name, arg, depth)?;
        Ok(close + 1)
    }

    fn apply(&mut self, op: &str, name: &str, arg: &str, depth: usize) -> Result<()> {
        let value = (self.lookup)(name);
        let empty = value.as_deref().is_none_or(str::is_empty);
        let use_arg = match op {
            ":-" => empty,
            "-" => value.is_none(),
            ":+" => !empty,
            "+" => value.is_some(),
            _ => {
                let missing = if op == ":?" { empty } else { value.is_none() };
                if missing {
                    return Err(Error::Required {
                        name: name.to_string(),
                        message: arg.to_string(),
                    });
                }
                false
            }
        };
        if use_arg {
            self.template(arg, depth + 1)
        } else if !op.contains('+') {
            self.push_value(value.as_deref().unwrap_or_default())
        } else {
            Ok(())
        }
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn name_end(chars: &[char], from: usize) -> usize {
    let mut end = from;
    while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
        end += 1;
    }
    end
}

/// The index of the `}` closing a `${` whose body starts at `from`, honouring nested `${}`.
fn matching_brace(chars: &[char], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '$' if chars.get(i + 1) == Some(&'$') => i += 1,
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 1;
            }
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn split_operator(rest: &str) -> Option<(&'static str, &str)> {
    [":-", ":?", ":+", "-", "?", "+"]
        .into_iter()
        .find_map(|op| rest.strip_prefix(op).map(|arg| (op, arg)))
}

/// Interpolates every scalar string value of `node` in place.
///
/// `key` is the path of `node` (`""` for the document). Unset variables become warnings,
/// failed templates become errors; both name the key path and the variable only.
pub fn interpolate_tree(
    node: &mut Node,
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<Diagnostic>,
    errors: &mut Vec<Diagnostic>,
) {
    let mut budget = Budget::default();
    let mut out = Findings {
        warnings,
        errors,
        over_budget: false,
    };
    tree(node, key, lookup, &mut budget, &mut out);
}

/// Where [`tree`] puts what it finds.
struct Findings<'a> {
    warnings: &'a mut Vec<Diagnostic>,
    errors: &'a mut Vec<Diagnostic>,
    /// Whether the budget ran out (reported once, at the first value over it).
    over_budget: bool,
}

fn tree(
    node: &mut Node,
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    budget: &mut Budget,
    out: &mut Findings<'_>,
) {
    let (file, line, column) = (node.file.clone(), node.line, node.column);
    match &mut node.value {
        Value::Str(text) if text.contains('$') => match interpolate_within(text, lookup, budget) {
            Ok(done) => {
                node.interpolated = Some(text.as_str().into());
                *text = done.value;
                for name in done.unset {
                    let message = format!(
                        "variable {name} is not set, using an empty string; set it in the environment or .env, or write ${{{name}:-default}}"
                    );
                    out.warnings
                        .push(located(&file, line, column, key, message));
                }
            }
            Err(Error::TooLarge) if out.over_budget => {}
            Err(e) => {
                out.over_budget |= e == Error::TooLarge;
                out.errors
                    .push(located(&file, line, column, key, e.to_string()));
            }
        },
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                tree(item, &format!("{key}[{i}]"), lookup, budget, out);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                let path = if key.is_empty() {
                    k.name.clone()
                } else {
                    format!("{key}.{}", k.name)
                };
                tree(v, &path, lookup, budget, out);
            }
        }
        _ => {}
    }
}

fn located(
    file: &std::path::Path,
    line: usize,
    column: usize,
    key: &str,
    message: String,
) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line: Some(line),
        column: Some(column),
        key: key.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            "SECRET" => Some("hunter2".into()),
            "B" => Some("bee".into()),
            _ => None,
        }
    }

    fn run(template: &str) -> Result<Interpolated> {
        interpolate(template, &env)
    }

    #[test]
    fn every_form_substitutes_as_compose_does() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("plain", "plain", &[]),
            ("$SET", "value", &[]),
            ("${SET}", "value", &[]),
            ("a-${SET}-b", "a-value-b", &[]),
            ("$SET.x", "value.x", &[]),
            ("$UNSET", "", &["UNSET"]),
            ("${UNSET}", "", &["UNSET"]),
            ("${UNSET:-dflt}", "dflt", &[]),
            ("${EMPTY:-dflt}", "dflt", &[]),
            ("${EMPTY-dflt}", "", &[]),
            ("${UNSET-dflt}", "dflt", &[]),
            ("${SET:-dflt}", "value", &[]),
            ("${SET:+alt}", "alt", &[]),
            ("${EMPTY:+alt}", "", &[]),
            ("${EMPTY+alt}", "alt", &[]),
            ("${UNSET+alt}", "", &[]),
            ("${SET:?boom}", "value", &[]),
            ("${EMPTY?boom}", "", &[]),
            ("$$", "$", &[]),
            ("$$SET", "$SET", &[]),
            ("$${SET}", "${SET}", &[]),
            ("cost $5 $", "cost $5 $", &[]),
            ("${UNSET:-${B}}", "bee", &[]),
            ("${UNSET:-${ALSO_UNSET:-deep}}", "deep", &[]),
            ("${UNSET:-${NOPE}}", "", &["NOPE"]),
            ("${UNSET:-a:b}", "a:b", &[]),
            ("${UNSET:-}", "", &[]),
        ];
        for (template, want, unset) in cases {
            let got = run(template).unwrap_or_else(|e| panic!("{template}: {e}"));
            assert_eq!(got.value, *want, "{template}");
            assert_eq!(got.unset, *unset, "{template}");
        }
    }

    #[test]
    fn required_variables_fail_with_name_and_message() {
        for template in [
            "${UNSET:?give me one}",
            "${UNSET?give me one}",
            "${EMPTY:?give me one}",
        ] {
            let err = run(template).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("UNSET") || text.contains("EMPTY"), "{text}");
            assert!(text.contains("give me one"), "{text}");
        }
    }

    #[test]
    fn malformed_braces_are_errors() {
        for template in ["${", "${}", "${1A}", "${SET", "${SET!x}"] {
            assert!(
                matches!(run(template), Err(Error::Invalid { .. })),
                "{template}"
            );
        }
    }

    #[test]
    fn errors_and_warnings_never_contain_values() {
        let yaml = "a: \"${SECRET}${NOPE}\"\nb: ${SECRET:+${MISSING:?need it}}\nc: '${SECRET'\n";
        let mut node = crate::desired::yaml::parse(yaml, Path::new("f.yaml"))
            .unwrap()
            .unwrap();
        let (mut warnings, mut errors) = (Vec::new(), Vec::new());
        interpolate_tree(&mut node, "", &env, &mut warnings, &mut errors);
        assert_eq!(node.get("a").unwrap().value, Value::Str("hunter2".into()));
        assert_eq!((warnings.len(), errors.len()), (1, 2));
        for d in warnings.iter().chain(&errors) {
            assert!(!d.to_string().contains("hunter2"), "{d}");
        }
        assert_eq!(errors[0].key, "b");
        assert_eq!(errors[0].line, Some(2));
        assert!(errors[0].message.contains("MISSING"));
    }

    #[test]
    fn quoted_and_unquoted_values_and_nested_paths_are_interpolated_but_keys_are_not() {
        let yaml = "$SET:\n  - plain $SET\n  - \"dq ${SET}\"\n  - 'sq ${SET}'\n  - 5\n";
        let mut node = crate::desired::yaml::parse(yaml, Path::new("f.yaml"))
            .unwrap()
            .unwrap();
        let (mut warnings, mut errors) = (Vec::new(), Vec::new());
        interpolate_tree(&mut node, "", &env, &mut warnings, &mut errors);
        let items = node.get("$SET").unwrap().as_seq().unwrap();
        let texts: Vec<_> = items.iter().map(|n| n.scalar_text().unwrap()).collect();
        assert_eq!(texts, ["plain value", "dq value", "sq value", "5"]);
        assert!(warnings.is_empty() && errors.is_empty());
    }
}
