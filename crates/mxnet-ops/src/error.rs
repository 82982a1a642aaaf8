//! Errors of compiling, binding and running a graph.

use std::fmt;

/// An attribute value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrError {
    /// The attribute.
    pub key: String,
    /// Its value as written (empty when missing).
    pub value: String,
    /// What was expected.
    pub expected: &'static str,
}

impl fmt::Display for AttrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() && self.expected.starts_with("present") {
            write!(f, "attribute {:?} is required", self.key)
        } else {
            write!(
                f,
                "attribute {}={:?} is not {}",
                self.key, self.value, self.expected
            )
        }
    }
}

impl std::error::Error for AttrError {}

/// One op the executor cannot run, with where it occurs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The op as written.
    pub op: String,
    /// Nodes using it (names).
    pub nodes: Vec<String>,
}

/// Why a graph cannot be compiled, bound or run.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Ops the executor does not implement; all of them, with counts.
    #[error("{}", unsupported_message(.0))]
    Unsupported(Vec<Unsupported>),
    /// An attribute of a node does not parse.
    #[error("node {node:?} ({op}): {error}")]
    Attr {
        /// The node.
        node: String,
        /// Its op.
        op: String,
        /// The attribute problem.
        error: AttrError,
    },
    /// A requested output name is not an output of any node.
    #[error(
        "no output called {name:?}; outputs are named like MXNet's get_internals(), e.g. {examples}"
    )]
    UnknownOutput {
        /// The name asked for.
        name: String,
        /// Some valid names.
        examples: String,
    },
    /// Shapes are inconsistent at a node.
    #[error("node {node:?} ({op}): {message} (input shapes {inputs})")]
    Shape {
        /// The node.
        node: String,
        /// Its op.
        op: String,
        /// What does not fit.
        message: String,
        /// The input shapes, formatted.
        inputs: String,
    },
    /// Inputs whose shapes are needed and unknown.
    #[error("{}", missing_shapes_message(.0))]
    MissingShapes(Vec<String>),
    /// An input value was not given.
    #[error("no value for input {name:?} (shape {shape}); give it with --input {name}=FILE")]
    MissingInput {
        /// The input.
        name: String,
        /// Its shape.
        shape: String,
    },
    /// A weight is absent from the params file.
    #[error("no array for {name:?} in the params file{}", if *.aux { " (an auxiliary state)" } else { "" })]
    MissingWeight {
        /// The variable.
        name: String,
        /// Whether it is an auxiliary state.
        aux: bool,
    },
    /// A kernel failed while running.
    #[error("node {node:?} ({op}): {message}")]
    Run {
        /// The node.
        node: String,
        /// Its op.
        op: String,
        /// What went wrong.
        message: String,
    },
    /// A graph output uses a hidden output of an op, which is not computed.
    #[error(
        "node {node:?} ({op}) output {index} is a hidden output (workspace, mask or statistic) that inference does not compute"
    )]
    HiddenOutput {
        /// The node.
        node: String,
        /// Its op.
        op: String,
        /// The output index.
        index: usize,
    },
}

fn unsupported_message(list: &[Unsupported]) -> String {
    let total: usize = list.iter().map(|u| u.nodes.len()).sum();
    let mut s = format!(
        "{} op type(s) cannot run here ({} node(s)):",
        list.len(),
        total
    );
    for u in list {
        let shown: Vec<&str> = u.nodes.iter().take(5).map(String::as_str).collect();
        let more = if u.nodes.len() > 5 {
            format!(", … {} more", u.nodes.len() - 5)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "\n  {} ×{}: {}{more}",
            u.op,
            u.nodes.len(),
            shown.join(", ")
        ));
    }
    s.push_str(
        "\nRun the graph up to outputs before them with --outputs NAME (e.g. a layer's NAME_output).",
    );
    s
}

fn missing_shapes_message(names: &[String]) -> String {
    let example: Vec<String> = names
        .iter()
        .map(|n| format!("--input-shape {n}=DIMS"))
        .collect();
    format!(
        "the shape of input(s) {} is not known: the symbol does not store input shapes. Give them with {} (e.g. {}=1,3,224,224) or pass their values with --input NAME=FILE",
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        example.join(" "),
        names.first().map(String::as_str).unwrap_or("data"),
    )
}
