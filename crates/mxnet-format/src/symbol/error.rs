//! Errors and warnings of the symbol codec.

use std::fmt;

use crate::sniff::FileKind;

/// Names a node in messages: its index in the file and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    /// Index of the node in the file's `nodes` array.
    pub index: usize,
    /// The node's name.
    pub name: String,
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {} {:?}", self.index, self.name)
    }
}

/// A symbol JSON could not be read.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The file is some other kind of file.
    #[error("{}", not_symbol(*.found))]
    NotSymbol {
        /// What the first bytes look like.
        found: FileKind,
    },
    /// The bytes are not UTF-8.
    #[error("byte {offset} is not valid UTF-8; a symbol file is JSON text")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The text is not valid JSON, or a value has the wrong JSON type.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON parser expected.
        message: String,
    },
    /// Valid JSON that is not an MXNet symbol.
    #[error(
        "a JSON object with keys {keys:?} is not an MXNet symbol (expected \"nodes\", \"arg_nodes\" and \"heads\")"
    )]
    NotASymbolObject {
        /// The keys found at the top level.
        keys: Vec<String>,
    },
    /// A required key is missing.
    #[error("the symbol has no {field:?} key, which MXNet requires")]
    MissingField {
        /// The key.
        field: &'static str,
    },
    /// An input entry names a node that does not exist.
    #[error("{node}: input {input} refers to node {target}, but the graph has {count} nodes")]
    InputOutOfRange {
        /// The consuming node.
        node: NodeRef,
        /// Position of the input.
        input: usize,
        /// The node id written.
        target: u32,
        /// Number of nodes.
        count: usize,
    },
    /// A control dependency names a node that does not exist.
    #[error("{node}: control dependency {target} is out of range ({count} nodes)")]
    ControlDepOutOfRange {
        /// The node.
        node: NodeRef,
        /// The id written.
        target: u32,
        /// Number of nodes.
        count: usize,
    },
    /// A head names a node that does not exist.
    #[error("head {head} refers to node {target}, but the graph has {count} nodes")]
    HeadOutOfRange {
        /// Position in `heads`.
        head: usize,
        /// The node id written.
        target: u32,
        /// Number of nodes.
        count: usize,
    },
    /// An entry names an output the node does not have (MXNet would crash).
    #[error("{user} uses output {index} of {node} (op {op}), which has {outputs} output(s)")]
    OutputOutOfRange {
        /// Who uses it: a node or a head.
        user: String,
        /// The producing node.
        node: NodeRef,
        /// Its op.
        op: String,
        /// The output index written.
        index: u32,
        /// Outputs the node has.
        outputs: usize,
    },
    /// The graph has a cycle.
    #[error("{node} depends on itself (the graph has a cycle)")]
    Cycle {
        /// A node on the cycle.
        node: NodeRef,
    },
    /// A graph attribute has the wrong form.
    #[error("graph attribute {key:?}: {reason}")]
    BadGraphAttr {
        /// The attribute.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A subgraph of a control-flow node is invalid.
    #[error("{node}, subgraph {subgraph}: {error}")]
    Subgraph {
        /// The control-flow node.
        node: NodeRef,
        /// Index of the subgraph.
        subgraph: usize,
        /// The problem inside it.
        error: Box<SymbolError>,
    },
}

fn not_symbol(found: FileKind) -> String {
    match found {
        FileKind::Params => {
            "this is an MXNet .params file, not a symbol JSON (were the -symbol.json and .params files swapped?)".to_owned()
        }
        FileKind::Empty => "the file is empty; expected an MXNet symbol JSON".to_owned(),
        other => format!("this is {other}, not an MXNet symbol JSON"),
    }
}

/// Opening or reading a symbol file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadSymbolError {
    /// The operating system refused.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The text is not a valid symbol.
    #[error(transparent)]
    Symbol(#[from] SymbolError),
}

/// Something MXNet tolerates (or would reject) that we read anyway and report.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolWarning {
    /// Keys MXNet does not know; MXNet would refuse the file. Ignored.
    UnknownKeys {
        /// The node, or `None` for the top level.
        node: Option<NodeRef>,
        /// The keys.
        keys: Vec<String>,
    },
    /// Attribute values written as JSON numbers or booleans instead of
    /// strings (MXNet would refuse the file); converted to strings.
    NonStringAttributes {
        /// The node.
        node: NodeRef,
        /// The attribute keys.
        keys: Vec<String>,
    },
    /// `"op": null` instead of `"op": "null"`; read as a variable.
    NullOp {
        /// The node.
        node: NodeRef,
    },
    /// No `arg_nodes` key; recomputed.
    MissingArgNodes,
    /// Nodes no head depends on; MXNet drops them on load, and so do we.
    Unreachable {
        /// The dropped nodes.
        nodes: Vec<NodeRef>,
    },
    /// Some inputs refer to later nodes; MXNet accepts this and re-saves the
    /// graph in dependency order, as we do.
    Reordered {
        /// How many entries pointed forward.
        forward_entries: usize,
    },
    /// The file came from an older MXNet and was upgraded as MXNet 1.9.1 does.
    Upgraded {
        /// The version the file declares (800 when it declares none).
        from_version: u32,
    },
    /// The file declares an MXNet version newer than 1.9.1.
    NewerVersion {
        /// The declared version (e.g. 20000 for 2.0.0).
        version: i64,
    },
}

impl fmt::Display for SymbolWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKeys {
                node: Some(n),
                keys,
            } => write!(
                f,
                "{n}: unknown keys {keys:?} ignored (MXNet itself would refuse this file)"
            ),
            Self::UnknownKeys { node: None, keys } => write!(
                f,
                "unknown top-level keys {keys:?} ignored (MXNet itself would refuse this file)"
            ),
            Self::NonStringAttributes { node, keys } => write!(
                f,
                "{node}: attributes {keys:?} are not strings; converted (MXNet itself would refuse this file)"
            ),
            Self::NullOp { node } => write!(
                f,
                "{node}: \"op\" is JSON null; read as a variable (MXNet writes the string \"null\")"
            ),
            Self::MissingArgNodes => write!(f, "no \"arg_nodes\" key; recomputed from the nodes"),
            Self::Unreachable { nodes } => {
                let names: Vec<String> = nodes.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{} node(s) feed no output and were dropped, as MXNet drops them: {}",
                    nodes.len(),
                    names.join(", ")
                )
            }
            Self::Reordered { forward_entries } => write!(
                f,
                "{forward_entries} input(s) refer to later nodes; nodes reordered so inputs come first"
            ),
            Self::Upgraded { from_version } => write!(
                f,
                "saved by MXNet {}; upgraded as MXNet 1.9.1 does when loading it",
                version_string(i64::from(*from_version))
            ),
            Self::NewerVersion { version } => write!(
                f,
                "saved by MXNet {} ({version}), newer than 1.9.1; read as a 1.x symbol",
                version_string(*version)
            ),
        }
    }
}

/// `10901` → `"v1.9.1"`.
pub fn version_string(v: i64) -> String {
    format!("v{}.{}.{}", v / 10000, (v / 100) % 100, v % 100)
}
