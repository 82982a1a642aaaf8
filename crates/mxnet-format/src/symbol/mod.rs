//! The symbol JSON codec: MXNet's nnvm graph (spec §2).
//!
//! [`Symbol::from_json`] reads every dialect MXNet 1.9.1 reads — 0.8 files
//! with `param` and two-integer entries, 0.9–0.12 files with `attr`, current
//! files with `attrs`, `control_deps` and `subgraphs` — and applies MXNet's
//! legacy upgrade pipeline (spec §2.12), so every later stage sees one modern
//! graph. It keeps every attribute string, hidden `__key__` attribute and
//! unknown op as written, and validates what MXNet does not: entries that
//! point out of range or at outputs a node lacks, and cycles.
//!
//! The graph is held in MXNet's canonical node order (the depth-first
//! post-order from the heads), so [`Symbol::to_json`] writes what MXNet 1.9.1
//! writes: the same bytes for a file MXNet 1.9.1 saved, the upgraded graph
//! for a legacy file.

mod build;
mod error;
mod raw;
mod upgrade;
mod write;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

pub use error::{NodeRef, ReadSymbolError, SymbolError, SymbolWarning, version_string};

use crate::schema::{self, Signature};

/// The MXNet version this crate writes and whose upgrade rules it applies.
pub const MXNET_VERSION: u32 = 10901;

/// A string → string attribute map, sorted by key as MXNet writes it.
pub type Attrs = BTreeMap<String, String>;

/// One edge: output `index` of node `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeEntry {
    /// Index of the producing node in [`Symbol::nodes`].
    pub node: u32,
    /// Which output of it.
    pub index: u32,
    /// How often the variable had been mutated when the edge was made (1 on
    /// BatchNorm's moving-statistics edges in freshly built graphs, else 0).
    /// Kept for round trips; it has no effect on inference.
    pub version: u32,
}

impl NodeEntry {
    /// Output `index` of `node`, version 0.
    pub fn new(node: u32, index: u32) -> NodeEntry {
        NodeEntry {
            node,
            index,
            version: 0,
        }
    }
}

/// One node of the graph: a variable (`op == "null"`) or an operator.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    /// The op name as written (an alias stays an alias here; the writer
    /// writes the canonical name as MXNet does), or `"null"` for a variable.
    pub op: String,
    /// The node name (not necessarily unique).
    pub name: String,
    /// All attributes, op parameters and hidden `__key__` ones alike.
    pub attrs: Attrs,
    /// Inputs, in the op's declared order.
    pub inputs: Vec<NodeEntry>,
    /// Extra ordering edges; no data flows along them.
    pub control_deps: Vec<u32>,
    /// Bodies of control-flow ops (`_foreach`, `_while_loop`, `_cond`).
    pub subgraphs: Vec<Symbol>,
    /// Output count this node had in the file's `node_row_ptr`, if the file
    /// had a consistent one.
    pub stored_outputs: Option<u32>,
}

impl Node {
    /// A variable node.
    pub fn variable(name: impl Into<String>) -> Node {
        Node {
            op: "null".to_owned(),
            name: name.into(),
            ..Node::default()
        }
    }

    /// An operator node: `op` named `name` with the given attributes (as
    /// strings, as the file stores them) reading `inputs`.
    pub fn operator(
        op: impl Into<String>,
        name: impl Into<String>,
        attrs: &[(&str, &str)],
        inputs: Vec<NodeEntry>,
    ) -> Node {
        Node {
            op: op.into(),
            name: name.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            inputs,
            ..Node::default()
        }
    }

    /// True for a variable (`"op": "null"`).
    pub fn is_variable(&self) -> bool {
        self.op == "null"
    }

    /// The canonical op name MXNet writes (`_Plus` → `elemwise_add`); the op as
    /// written when MXNet 1.9.1 does not register it.
    pub fn canonical_op(&self) -> &str {
        schema::canonical_name(&self.op).unwrap_or(&self.op)
    }

    /// The op's signature for this node's attributes, when known.
    pub fn signature(&self) -> Option<Signature> {
        if self.is_variable() {
            None
        } else {
            schema::signature(&self.op, &self.attrs)
        }
    }
}

/// A graph attribute value `["TYPE", VALUE]`, kept as read.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphAttr {
    /// `"int"`, `"str"`, `"list_int"`, `"list_str"`.
    pub ty: String,
    /// The value.
    pub value: serde_json::Value,
}

/// Which JSON layout a file used (spec §2.12).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// MXNet ≤ 0.8: `param`, `backward_source_id`, two-integer entries.
    Legacy08,
    /// MXNet 0.9–early 1.x: node attributes under `attr`.
    Attr,
    /// Later 1.x: node attributes under `attrs`.
    Attrs,
}

impl Dialect {
    /// A short description.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Legacy08 => "MXNet <= 0.8 (param/attr, 2-element entries)",
            Dialect::Attr => "MXNet 0.9-1.x (attr)",
            Dialect::Attrs => "MXNet 1.x (attrs)",
        }
    }
}

/// A validated MXNet graph.
///
/// Invariants, checked once at construction: every input, control dependency
/// and head refers to an earlier node (heads: any node), every node is
/// reachable from the heads, and there are no cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    nodes: Vec<Node>,
    heads: Vec<NodeEntry>,
    attrs: BTreeMap<String, GraphAttr>,
    declared_version: Option<i64>,
    dialect: Dialect,
    warnings: Vec<SymbolWarning>,
}

impl Symbol {
    /// Parses a symbol from JSON text.
    pub fn from_json(text: &str) -> Result<Symbol, SymbolError> {
        build::parse(text)
    }

    /// Parses a symbol from bytes (which must be UTF-8 JSON); recognises
    /// `.params` files, HTML pages and Git LFS pointers given by mistake.
    pub fn from_slice(bytes: &[u8]) -> Result<Symbol, SymbolError> {
        let kind = crate::sniff(&bytes[..bytes.len().min(64)]);
        if !matches!(kind, crate::FileKind::Json | crate::FileKind::Unknown) {
            return Err(SymbolError::NotSymbol { found: kind });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| SymbolError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        Symbol::from_json(text.strip_prefix('\u{feff}').unwrap_or(text))
    }

    /// Reads and parses the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Symbol, ReadSymbolError> {
        let bytes = std::fs::read(path)?;
        Ok(Symbol::from_slice(&bytes)?)
    }

    /// Builds a symbol from nodes and heads, validating and ordering them as
    /// MXNet would (depth-first post-order from the heads; unreachable nodes
    /// are dropped with a warning).
    pub fn new(nodes: Vec<Node>, heads: Vec<NodeEntry>) -> Result<Symbol, SymbolError> {
        build::from_nodes(nodes, heads)
    }

    /// The nodes, inputs before their consumers.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    /// The graph outputs, in order.
    pub fn heads(&self) -> &[NodeEntry] {
        &self.heads
    }
    /// Graph attributes other than `mxnet_version` (e.g. `is_np_shape`).
    pub fn graph_attrs(&self) -> &BTreeMap<String, GraphAttr> {
        &self.attrs
    }
    /// The `mxnet_version` the file declared (`None`: none, i.e. 0.8).
    pub fn declared_version(&self) -> Option<i64> {
        self.declared_version
    }
    /// The JSON layout the file used.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
    /// What was tolerated, upgraded or dropped while reading.
    pub fn warnings(&self) -> &[SymbolWarning] {
        &self.warnings
    }
    /// True when the graph was saved under NumPy shape semantics.
    pub fn is_np_shape(&self) -> bool {
        self.attrs
            .get("is_np_shape")
            .is_some_and(|a| a.value.as_i64().is_some_and(|v| v != 0))
    }

    /// Takes the graph apart (for editing; rebuild with [`Symbol::new`]).
    pub fn into_parts(self) -> (Vec<Node>, Vec<NodeEntry>) {
        (self.nodes, self.heads)
    }

    /// Total outputs of node `i`, hidden ones included: MXNet's count for the
    /// op and attributes, else the file's `node_row_ptr`, else one more than the
    /// highest output index the graph uses.
    pub fn num_outputs(&self, i: usize) -> usize {
        build::num_outputs(&self.nodes, &self.heads, i)
    }

    /// Indices of the variable nodes (`arg_nodes`).
    pub fn arg_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_variable())
            .collect()
    }

    /// Prefix sums of output counts (`node_row_ptr`).
    pub fn node_row_ptr(&self) -> Vec<u64> {
        let counts = build::output_counts(&self.nodes, &self.heads);
        let mut ptr = Vec::with_capacity(self.nodes.len() + 1);
        ptr.push(0u64);
        let mut acc = 0u64;
        for c in counts {
            acc += c as u64;
            ptr.push(acc);
        }
        ptr
    }

    /// Positions of the variable nodes that are auxiliary states: used as a
    /// mutable input (BatchNorm's moving statistics, …) by some op.
    pub fn aux_nodes(&self) -> Vec<usize> {
        let mut is_aux = vec![false; self.nodes.len()];
        for node in &self.nodes {
            if let Some(sig) = node.signature() {
                for &pos in &sig.aux {
                    if let Some(e) = node.inputs.get(pos) {
                        let v = e.node as usize;
                        if self.nodes[v].is_variable() {
                            is_aux[v] = true;
                        }
                    }
                }
            }
        }
        (0..self.nodes.len()).filter(|&i| is_aux[i]).collect()
    }

    /// Names of the arguments (variables that are not auxiliary states), in
    /// MXNet's `list_arguments()` order.
    pub fn list_arguments(&self) -> Vec<&str> {
        let aux = self.aux_nodes();
        self.arg_nodes()
            .into_iter()
            .filter(|i| aux.binary_search(i).is_err())
            .map(|i| self.nodes[i].name.as_str())
            .collect()
    }

    /// Names of the auxiliary states, in `list_auxiliary_states()` order.
    pub fn list_auxiliary_states(&self) -> Vec<&str> {
        self.aux_nodes()
            .into_iter()
            .map(|i| self.nodes[i].name.as_str())
            .collect()
    }

    /// Output names as `list_outputs()` gives them (`softmax_output`,
    /// `fc1_output`, a variable head by its name).
    pub fn list_outputs(&self) -> Vec<String> {
        // Output counts and signatures once per node, not per head.
        let counts = build::output_counts(&self.nodes, &self.heads);
        let mut signatures: BTreeMap<u32, Option<Signature>> = BTreeMap::new();
        self.heads
            .iter()
            .map(|h| {
                let sig = signatures
                    .entry(h.node)
                    .or_insert_with(|| self.nodes[h.node as usize].signature());
                self.output_name(*h, counts[h.node as usize], sig.as_ref())
            })
            .collect()
    }

    /// The name MXNet gives output `e.index` of node `e.node` (as in
    /// `get_internals()`): the variable name for a variable, else
    /// `NODE_OUTPUTNAME`.
    pub fn entry_name(&self, e: NodeEntry) -> String {
        let node = &self.nodes[e.node as usize];
        if node.is_variable() {
            return node.name.clone();
        }
        let total = self.num_outputs(e.node as usize);
        self.output_name(e, total, node.signature().as_ref())
    }

    /// [`Symbol::entry_name`] with the node's output count and signature.
    fn output_name(&self, e: NodeEntry, total: usize, sig: Option<&Signature>) -> String {
        let node = &self.nodes[e.node as usize];
        if node.is_variable() {
            return node.name.clone();
        }
        let out: Cow<'_, str> = match sig {
            Some(sig) if (e.index as usize) < sig.outputs.len() => {
                sig.outputs[e.index as usize].clone()
            }
            _ if total == 1 => Cow::Borrowed("output"),
            _ => Cow::Owned(format!("output{}", e.index)),
        };
        if node.name.is_empty() {
            out.into_owned()
        } else {
            format!("{}_{}", node.name, out)
        }
    }

    /// The JSON text MXNet 1.9.1 would write for this graph.
    pub fn to_json(&self) -> String {
        write::to_json(self)
    }

    /// Writes the JSON to `path` atomically (temporary file + rename).
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let text = self.to_json();
        crate::fsutil::write_atomically(path.as_ref(), |w| {
            std::io::Write::write_all(w, text.as_bytes())
        })
    }
}
