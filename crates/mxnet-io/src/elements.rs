//! The importable elements and their typed results.

use std::fmt;
use std::str::FromStr;

use mxnet_format::DType;
use mxnet_format::params::{Array, ParamsFile, StorageType};
use mxnet_format::symbol::{Attrs, Symbol};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::Error;
use crate::model::{Roles, VarRole, WeightSource};

/// What to import from a file (the Wolfram Language's MXNet elements).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Element {
    /// `.params`: name → array.
    ArrayAssociation,
    /// `.params`: the arrays in file order.
    ArrayList,
    /// `.params`: the array names in file order.
    ArrayNames,
    /// `.json`: the data inputs of the graph (and, apart, its loss labels).
    InputNames,
    /// `.json`: one row per node: index, name, op, attributes, inputs.
    NodeDataset,
    /// `.json`: the directed graph of nodes (exportable as DOT and JSON).
    NodeGraph,
    /// `.json`: the net of high-level layers, with arrays (ArrayPath).
    Net,
    /// `.json`: the same net without arrays.
    UninitializedNet,
    /// `.json`: each layer with its options, properties and arrays, and every
    /// node that fell back to an MXNetOp layer, with the reason.
    LayerAssociation,
    /// `.json`: a picture of the node graph (SVG, or PNG with `-o x.png`).
    NodeGraphPlot,
}

/// Which kind of file an element is imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A symbol JSON (`x-symbol.json`, `x.json`).
    Symbol,
    /// A `.params` NDArray list.
    Params,
}

impl Element {
    /// Every element, symbol elements first.
    pub const ALL: [Element; 10] = [
        Element::Net,
        Element::UninitializedNet,
        Element::LayerAssociation,
        Element::NodeDataset,
        Element::NodeGraph,
        Element::NodeGraphPlot,
        Element::InputNames,
        Element::ArrayAssociation,
        Element::ArrayList,
        Element::ArrayNames,
    ];

    /// The element's name (`ArrayAssociation`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Element::ArrayAssociation => "ArrayAssociation",
            Element::ArrayList => "ArrayList",
            Element::ArrayNames => "ArrayNames",
            Element::InputNames => "InputNames",
            Element::NodeDataset => "NodeDataset",
            Element::NodeGraph => "NodeGraph",
            Element::Net => "Net",
            Element::UninitializedNet => "UninitializedNet",
            Element::LayerAssociation => "LayerAssociation",
            Element::NodeGraphPlot => "NodeGraphPlot",
        }
    }

    /// The kind of file the element is read from.
    pub fn file_type(self) -> FileType {
        match self {
            Element::ArrayAssociation | Element::ArrayList | Element::ArrayNames => {
                FileType::Params
            }
            _ => FileType::Symbol,
        }
    }

    /// The element imported when none is named.
    pub fn default_for(file: FileType) -> Element {
        match file {
            FileType::Symbol => Element::Net,
            FileType::Params => Element::ArrayAssociation,
        }
    }

    /// One line describing the element.
    pub fn describe(self) -> &'static str {
        match self {
            Element::ArrayAssociation => "name -> array, for every array of a .params file",
            Element::ArrayList => "the arrays of a .params file in file order",
            Element::ArrayNames => "the array names of a .params file in file order",
            Element::InputNames => {
                "the data inputs of a graph (variables that are neither weights nor aux states); loss labels apart"
            }
            Element::NodeDataset => {
                "one row per graph node: index, name, op, role, attributes, inputs"
            }
            Element::NodeGraph => "the directed graph of nodes (text, JSON or Graphviz DOT)",
            Element::Net => "the net of high-level layers (NetChain or NetGraph) with its arrays",
            Element::UninitializedNet => "the net of high-level layers without arrays",
            Element::LayerAssociation => {
                "each layer with its options, shapes and arrays; nodes kept as MXNetOp layers, with the reason"
            }
            Element::NodeGraphPlot => "a picture of the node graph (SVG; PNG with -o x.png)",
        }
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Element {
    type Err = Error;
    /// Accepts the names in any case (`arraynames`, `ArrayNames`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Element::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownElement {
                name: s.to_owned(),
                expected: Element::ALL.map(Element::as_str).join(", "),
            })
    }
}

/// One array of a `.params` file, described without its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArrayInfo {
    /// Position in the file.
    pub index: usize,
    /// The stored name (with any `arg:`/`aux:` prefix), or `None` in a list.
    pub name: Option<String>,
    /// Element type.
    pub dtype: String,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// `default`, `row_sparse` or `csr`.
    pub stype: String,
    /// Record layout: `v0`, `v1`, `v2`, `v3`.
    pub record: String,
    /// Byte offset of the record.
    pub offset: usize,
    /// Bytes of stored values.
    pub value_bytes: usize,
    /// True for a "none" array (no data).
    pub none: bool,
}

/// Describes every array of `file`.
pub fn array_infos(file: &ParamsFile) -> Vec<ArrayInfo> {
    file.iter()
        .map(|e| ArrayInfo {
            index: e.index,
            name: e.name().map(|n| n.into_owned()),
            dtype: e.array.dtype().as_str().to_owned(),
            shape: e.array.shape().to_vec(),
            stype: e.array.stype().as_str().to_owned(),
            record: e.record.kind().as_str().to_owned(),
            offset: e.record.offset(),
            value_bytes: e.array.value_bytes().len(),
            none: e.array.is_none(),
        })
        .collect()
}

/// The JSON form of an array: dtype, shape, storage type and every value
/// (nested by shape; NaN and infinities as the strings `"nan"`, `"inf"`,
/// `"-inf"`; sparse arrays also give their stored parts).
pub fn array_json(array: &Array<'_>) -> Result<Value, mxnet_format::params::ValueError> {
    let mut obj = serde_json::Map::new();
    obj.insert("dtype".into(), json!(array.dtype().as_str()));
    obj.insert("shape".into(), json!(array.shape()));
    obj.insert("stype".into(), json!(array.stype().as_str()));
    if array.is_none() {
        obj.insert("values".into(), Value::Null);
        return Ok(Value::Object(obj));
    }
    let flat = flat_values(array)?;
    obj.insert("values".into(), nest(&flat, array.shape()));
    if array.stype() != StorageType::Dense {
        match array.storage() {
            mxnet_format::params::Storage::RowSparse { indices, .. } => {
                obj.insert("indices".into(), json!(indices.to_vec()));
            }
            mxnet_format::params::Storage::Csr {
                indptr, indices, ..
            } => {
                obj.insert("indptr".into(), json!(indptr.to_vec()));
                obj.insert("indices".into(), json!(indices.to_vec()));
            }
            _ => {}
        }
    }
    Ok(Value::Object(obj))
}

/// Every logical value as a JSON scalar (integers stay integers).
pub fn flat_values(array: &Array<'_>) -> Result<Vec<Value>, mxnet_format::params::ValueError> {
    Ok(match array.dtype() {
        DType::I64 => array
            .to_vec::<i64>()?
            .into_iter()
            .map(Value::from)
            .collect(),
        DType::I32 | DType::I8 | DType::U8 => array
            .to_f64_vec()?
            .into_iter()
            .map(|v| Value::from(v as i64))
            .collect(),
        DType::Bool => array
            .to_vec::<bool>()?
            .into_iter()
            .map(Value::from)
            .collect(),
        _ => array.to_f64_vec()?.into_iter().map(float_json).collect(),
    })
}

/// A float as JSON: a number, or `"nan"`, `"inf"`, `"-inf"`.
pub fn float_json(v: f64) -> Value {
    if v.is_nan() {
        json!("nan")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(v)
    }
}

fn nest(flat: &[Value], shape: &[usize]) -> Value {
    match shape {
        [] => flat.first().cloned().unwrap_or(Value::Null),
        [_] => Value::Array(flat.to_vec()),
        [n, rest @ ..] => {
            let step: usize = rest.iter().product();
            Value::Array(
                (0..*n)
                    .map(|i| nest(&flat[i * step..(i + 1) * step], rest))
                    .collect(),
            )
        }
    }
}

/// The result of the `InputNames` element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputNames {
    /// Data inputs, in graph order.
    pub inputs: Vec<String>,
    /// Loss labels (`softmax_label`): inputs only loss heads read.
    pub labels: Vec<String>,
    /// How weights were told apart: `params` (arg:/aux: keys), `params-bare`
    /// (bare keys) or `op-slots` (no params file).
    pub decided_by: &'static str,
}

impl InputNames {
    /// Applies spec §3.2 to a symbol and its roles.
    pub fn from_roles(sym: &Symbol, roles: &Roles) -> InputNames {
        InputNames {
            inputs: roles
                .names(sym, VarRole::Input)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            labels: roles
                .names(sym, VarRole::Label)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            decided_by: match roles.source {
                WeightSource::PrefixedParams => "params",
                WeightSource::BareParams => "params-bare",
                WeightSource::OpSlots => "op-slots",
            },
        }
    }
}

/// One input of a node in a [`NodeRow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputRef {
    /// Index of the producing node.
    pub node: usize,
    /// Which of its outputs.
    pub output: usize,
    /// The output's name as MXNet gives it (`conv0_output`, or a variable's name).
    pub name: String,
    /// The op's name for this input slot (`weight`, `gamma`), when known.
    pub slot: Option<String>,
}

/// One row of the `NodeDataset` element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRow {
    /// Node index (MXNet's canonical order).
    pub index: usize,
    /// Node name.
    pub name: String,
    /// Canonical op name, `null` for variables.
    pub op: String,
    /// The op as written in the file, when it was an alias (`_Plus`).
    pub op_as_written: Option<String>,
    /// Variables: `input`, `label`, `weight` or `aux`.
    pub role: Option<&'static str>,
    /// All attributes as written.
    pub attrs: Attrs,
    /// Inputs in slot order.
    pub inputs: Vec<InputRef>,
    /// Total outputs (hidden ones included).
    pub outputs: usize,
    /// Shape of the variable's array in the params file, or its `__shape__` hint.
    pub shape: Option<Vec<usize>>,
    /// Dtype of the variable's array in the params file.
    pub dtype: Option<String>,
    /// True when MXNet 1.9.1 registers the op (always true for variables).
    pub known_op: bool,
}

/// Builds the `NodeDataset` rows.
pub fn node_dataset(sym: &Symbol, roles: &Roles, params: Option<&ParamsFile>) -> Vec<NodeRow> {
    let nodes = sym.nodes();
    let lookup = |name: &str| -> Option<(Vec<usize>, String)> {
        let file = params?;
        let e = ["arg:", "aux:", ""]
            .iter()
            .find_map(|p| file.get_by_name(&format!("{p}{name}")))?;
        Some((
            e.array.shape().to_vec(),
            e.array.dtype().as_str().to_owned(),
        ))
    };
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let sig = n.signature();
            let canonical = n.canonical_op();
            let (mut shape, mut dtype) = (None, None);
            if n.is_variable() {
                if let Some((s, d)) = lookup(&n.name) {
                    shape = Some(s);
                    dtype = Some(d);
                } else if let Some(h) = n.attrs.get("__shape__") {
                    shape = mxnet_format::attr::parse_int_tuple(h)
                        .ok()
                        .flatten()
                        .map(|v| v.into_iter().map(|d| d.max(0) as usize).collect());
                }
            }
            NodeRow {
                index: i,
                name: n.name.clone(),
                op: canonical.to_owned(),
                op_as_written: (canonical != n.op).then(|| n.op.clone()),
                role: roles.per_node[i].map(VarRole::as_str),
                attrs: n.attrs.clone(),
                inputs: n
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(k, e)| InputRef {
                        node: e.node as usize,
                        output: e.index as usize,
                        name: sym.entry_name(*e),
                        slot: sig
                            .as_ref()
                            .and_then(|s| s.inputs.get(k))
                            .map(|s| s.to_string()),
                    })
                    .collect(),
                outputs: sym.num_outputs(i),
                shape,
                dtype,
                known_op: n.is_variable() || mxnet_format::schema::lookup(&n.op).is_some(),
            }
        })
        .collect()
}

/// A vertex of the `NodeGraph` element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphNode {
    /// Node index.
    pub id: usize,
    /// Node name.
    pub name: String,
    /// Canonical op (`null` for variables).
    pub op: String,
    /// Variables: `input`, `label`, `weight` or `aux`.
    pub role: Option<&'static str>,
}

/// An edge of the `NodeGraph` element: output `output` of node `from` feeds
/// input `input` of node `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphEdge {
    /// Producing node.
    pub from: usize,
    /// Which of its outputs.
    pub output: usize,
    /// Consuming node.
    pub to: usize,
    /// Which of its inputs.
    pub input: usize,
}

/// The `NodeGraph` element: nodes, data edges and the graph outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeGraph {
    /// Every node.
    pub nodes: Vec<GraphNode>,
    /// Every data edge, grouped by consumer.
    pub edges: Vec<GraphEdge>,
    /// Control dependencies `(from, to)`: `to` runs after `from`.
    pub control_edges: Vec<(usize, usize)>,
    /// Graph outputs: `(node, output, name)`.
    pub outputs: Vec<(usize, usize, String)>,
}

impl NodeGraph {
    /// Builds the graph of `sym`.
    pub fn new(sym: &Symbol, roles: &Roles) -> NodeGraph {
        let nodes = sym
            .nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| GraphNode {
                id: i,
                name: n.name.clone(),
                op: n.canonical_op().to_owned(),
                role: roles.per_node[i].map(VarRole::as_str),
            })
            .collect();
        let mut edges = Vec::new();
        let mut control_edges = Vec::new();
        for (to, n) in sym.nodes().iter().enumerate() {
            for (input, e) in n.inputs.iter().enumerate() {
                edges.push(GraphEdge {
                    from: e.node as usize,
                    output: e.index as usize,
                    to,
                    input,
                });
            }
            control_edges.extend(n.control_deps.iter().map(|&d| (d as usize, to)));
        }
        let outputs = sym
            .heads()
            .iter()
            .map(|h| (h.node as usize, h.index as usize, sym.entry_name(*h)))
            .collect();
        NodeGraph {
            nodes,
            edges,
            control_edges,
            outputs,
        }
    }

    /// The graph in Graphviz DOT: variables as ellipses (weights and aux
    /// states grey), ops as boxes, outputs as double octagons.
    pub fn to_dot(&self) -> String {
        use std::fmt::Write;
        let mut s = String::from(
            "digraph mxnet {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n",
        );
        for n in &self.nodes {
            let (shape, style) = match n.role {
                Some("weight") | Some("aux") => (
                    "ellipse",
                    ", style=filled, fillcolor=\"#eeeeee\", color=\"#999999\"",
                ),
                Some(_) => ("ellipse", ", style=bold"),
                None => ("box", ", style=rounded"),
            };
            let label = if n.op == "null" {
                dot_escape(&n.name)
            } else {
                format!("{}\\n{}", dot_escape(&n.name), dot_escape(&n.op))
            };
            let _ = writeln!(
                s,
                "  n{} [label=\"{}\", shape={}{}];",
                n.id, label, shape, style
            );
        }
        for e in &self.edges {
            let label = if e.output > 0 {
                format!(" [label=\"{}\"]", e.output)
            } else {
                String::new()
            };
            let _ = writeln!(s, "  n{} -> n{}{};", e.from, e.to, label);
        }
        for (from, to) in &self.control_edges {
            let _ = writeln!(s, "  n{from} -> n{to} [style=dashed];");
        }
        for (k, (node, _, name)) in self.outputs.iter().enumerate() {
            let _ = writeln!(
                s,
                "  out{k} [label=\"{}\", shape=doubleoctagon];\n  n{node} -> out{k};",
                dot_escape(name)
            );
        }
        s.push_str("}\n");
        s
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// One layer of the `LayerAssociation` element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerInfo {
    /// The layer's node name (`block/conv0` inside nested nets).
    pub name: String,
    /// The layer type (`Convolution`, `MXNetOp`, …).
    #[serde(rename = "type")]
    pub layer_type: &'static str,
    /// Options (kernel size, channels, …).
    pub options: Value,
    /// Arrays: name and shape (`None` when uninitialised).
    pub arrays: Vec<(String, Option<Vec<usize>>)>,
    /// Where each input comes from.
    pub inputs: Vec<String>,
    /// Output shapes, when the net's input shapes are known.
    pub output_shapes: Option<Vec<Vec<usize>>>,
    /// For `MXNetOp` layers: why no rule translated the op.
    pub fallback: Option<String>,
}

/// Describes every layer of a net.
pub fn layer_association(net: &mxnet_net::Net) -> Vec<LayerInfo> {
    let shapes = mxnet_net::describe::output_shapes(net);
    let mut out = Vec::new();
    for node in &net.nodes {
        let mxnet_net::Element::Layer(layer) = &node.element else {
            continue;
        };
        let fallback = match &layer.kind {
            mxnet_net::LayerKind::MXNetOp { reason, .. } => Some(reason.clone()),
            _ => None,
        };
        out.push(LayerInfo {
            name: node.name.clone(),
            layer_type: layer.type_name(),
            options: mxnet_net::describe::layer_options(layer),
            arrays: layer
                .arrays
                .iter()
                .map(|(n, a)| (n.clone(), a.as_ref().map(|t| t.shape.clone())))
                .collect(),
            inputs: node.inputs.iter().map(source_name).collect(),
            output_shapes: shapes.as_ref().and_then(|s| s.get(&node.name).cloned()),
            fallback,
        });
    }
    out
}

/// A source as text: a net input's name, or `node` / `node[k]`.
pub fn source_name(s: &mxnet_net::Source) -> String {
    match s {
        mxnet_net::Source::Input(n) => n.clone(),
        mxnet_net::Source::Node { node, output: 0 } => node.clone(),
        mxnet_net::Source::Node { node, output } => format!("{node}[{output}]"),
    }
}
