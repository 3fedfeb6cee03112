//! Bounds on the shape of a YAML document, checked on the parser's events before the tree
//! is built: nesting depth ([`MAX_YAML_DEPTH`]) and what alias expansion may produce
//! ([`MAX_ALIAS_NODES`] nodes, [`MAX_ALIAS_BYTES`] bytes of scalar text). The tree builder
//! also copies every anchored node once (to resolve its aliases later), so anchors nested
//! inside each other copy the innermost data once per level: those copies have the same
//! budget, counted separately.
//!
//! The guard sees every event before the tree builder does, so a "billion laughs" document
//! (nested anchors whose aliases multiply) is refused at the alias that would cross the
//! budget, before anything is cloned, and a 100,000-deep `- - - - ...` is refused at the
//! first level too deep, before a recursive walk (building, merging, interpolating,
//! dropping) could overflow the stack. Sizes are counted the way expansion would produce
//! them, keys included (a mapping key may itself be an alias of a large node).

use std::collections::HashMap;

use saphyr_parser::{Event, Span};

use super::Error;
use crate::desired::limits::{MAX_ALIAS_BYTES, MAX_ALIAS_NODES, MAX_YAML_DEPTH};

/// What a node expands to.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    /// Nodes (collections and scalars, keys included).
    nodes: u64,
    /// Bytes of scalar text.
    bytes: u64,
    /// Collection levels below and including the node (a scalar has none).
    height: usize,
}

impl Size {
    fn add(&mut self, child: Size) {
        self.nodes = self.nodes.saturating_add(child.nodes);
        self.bytes = self.bytes.saturating_add(child.bytes);
        self.height = self.height.max(child.height);
    }
}

/// An open collection.
struct Frame {
    anchor: usize,
    /// The collection itself and its children so far (`height` is the children's).
    size: Size,
}

/// Follows the events of one document and refuses the first that crosses a bound.
#[derive(Default)]
pub(super) struct Guard {
    open: Vec<Frame>,
    anchors: HashMap<usize, Size>,
    alias_nodes: u64,
    alias_bytes: u64,
    anchored_nodes: u64,
    anchored_bytes: u64,
}

impl Guard {
    /// Accounts for `event`; an error when it makes the document too deep or its alias
    /// expansion too large.
    pub(super) fn check(&mut self, event: &Event<'_>, span: Span) -> Result<(), Error> {
        let refuse = |message: String| Error {
            line: span.start.line(),
            column: span.start.col() + 1,
            message,
        };
        let anchors_over = || {
            refuse(format!(
                "anchors (`&name`) nested inside each other copy more than {MAX_ALIAS_NODES} nodes or {MAX_ALIAS_BYTES} bytes; anchor fewer nested nodes"
            ))
        };
        match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.open.len() >= MAX_YAML_DEPTH {
                    return Err(refuse(format!(
                        "the document nests deeper than {MAX_YAML_DEPTH} levels; a compose file needs far fewer, flatten it"
                    )));
                }
                self.open.push(Frame {
                    anchor: *anchor,
                    size: Size {
                        nodes: 1,
                        ..Size::default()
                    },
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.open.pop() {
                    let size = Size {
                        height: frame.size.height + 1,
                        ..frame.size
                    };
                    if !self.done(frame.anchor, size) {
                        return Err(anchors_over());
                    }
                }
            }
            Event::Scalar(text, _, anchor, _) => {
                let size = Size {
                    nodes: 1,
                    bytes: text.len() as u64,
                    height: 0,
                };
                if !self.done(*anchor, size) {
                    return Err(anchors_over());
                }
            }
            Event::Alias(id) => {
                // An unknown anchor is reported by the tree builder.
                let size = self.anchors.get(id).copied().unwrap_or(Size {
                    nodes: 1,
                    ..Size::default()
                });
                self.alias_nodes = self.alias_nodes.saturating_add(size.nodes);
                self.alias_bytes = self.alias_bytes.saturating_add(size.bytes);
                if self.alias_nodes > MAX_ALIAS_NODES as u64 {
                    return Err(refuse(format!(
                        "aliases (`*name`) expand to more than {MAX_ALIAS_NODES} nodes (nested anchors that multiply, a \"billion laughs\"); use fewer or smaller aliases"
                    )));
                }
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(refuse(format!(
                        "aliases (`*name`) expand to more than {MAX_ALIAS_BYTES} bytes of text; use fewer or smaller aliases"
                    )));
                }
                if self.open.len() + size.height > MAX_YAML_DEPTH {
                    return Err(refuse(format!(
                        "this alias makes the document nest deeper than {MAX_YAML_DEPTH} levels; a compose file needs far fewer, flatten it"
                    )));
                }
                self.done(0, size);
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
        Ok(())
    }

    /// A node of `size` is complete: remember it under its anchor, count it in its parent.
    /// False when the copy made for its anchor is over the budget.
    fn done(&mut self, anchor: usize, size: Size) -> bool {
        if anchor > 0 {
            self.anchors.insert(anchor, size);
            self.anchored_nodes = self.anchored_nodes.saturating_add(size.nodes);
            self.anchored_bytes = self.anchored_bytes.saturating_add(size.bytes);
        }
        if let Some(parent) = self.open.last_mut() {
            parent.size.add(size);
        }
        self.anchored_nodes <= MAX_ALIAS_NODES as u64 && self.anchored_bytes <= MAX_ALIAS_BYTES
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::desired::limits::{MAX_ALIAS_NODES, MAX_YAML_DEPTH};
    use crate::desired::yaml::parse;

    fn nested(levels: usize) -> String {
        format!("{}x{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn nesting_up_to_the_limit_parses_and_one_level_more_does_not() {
        assert!(parse(&nested(MAX_YAML_DEPTH), Path::new("t.yaml")).is_ok());
        let err = parse(&nested(MAX_YAML_DEPTH + 1), Path::new("t.yaml")).unwrap_err();
        assert!(err.message.contains("nests deeper"), "{err}");
        assert_eq!((err.line, err.column), (1, MAX_YAML_DEPTH + 1));
    }

    #[test]
    fn aliases_may_expand_to_the_budget_and_not_one_node_more() {
        // An anchored list of 999 scalars is 1,000 nodes; each alias copies all of them.
        let items = vec!["a"; 999].join(", ");
        let aliases = |n: usize| vec!["*l"; n].join(", ");
        let fits = MAX_ALIAS_NODES / 1_000;
        let text = format!("l: &l [{items}]\nm: [{}]\n", aliases(fits));
        assert!(parse(&text, Path::new("t.yaml")).is_ok());
        let text = format!("l: &l [{items}]\nm: [{}, *l]\n", aliases(fits));
        let err = parse(&text, Path::new("t.yaml")).unwrap_err();
        assert!(err.message.contains("billion laughs"), "{err}");
    }
}
