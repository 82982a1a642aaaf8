//! Translation rules between MXNet ops and layers, one file per rule with
//! both directions side by side:
//!
//! * `import(&NodeView) -> Result<Translated, String>`: an op node (with the
//!   arrays its weight slots hold) becomes a layer; `Err(reason)` makes the
//!   node an [`LayerKind::MXNetOp`] layer instead, with that reason.
//! * `export(&mut Builder, name, &Layer, inputs) -> Result<Vec<NodeEntry>>`:
//!   the layer becomes MXNet op nodes (and variables for its arrays, named as
//!   MXNet names auto-created inputs: `NAME_weight`).
//!
//! [`IMPORTS`] maps each MXNet op (canonical name) to its rule's import;
//! export dispatches on the layer kind in [`export_layer`].

use std::collections::BTreeMap;

use mxnet_format::schema::Signature;
use mxnet_format::symbol::{Node, NodeEntry, Symbol};
use mxnet_ops::attrs::Attrs;
use mxnet_ops::{Tensor, Weights};

use crate::error::NetError;
use crate::layer::{Layer, LayerKind};

mod batch_norm;
mod convolution;
mod elementwise;
mod linear;
mod misc;
mod mxnet_op;
mod pooling;
mod recurrent;
mod shape;
mod softmax;

/// An op node being imported: its attributes and the arrays in its slots.
pub(crate) struct NodeView<'a> {
    /// The graph.
    pub sym: &'a Symbol,
    /// The node.
    pub node: &'a Node,
    /// Typed attribute access with MXNet's defaults.
    pub attrs: Attrs<'a>,
    /// The op's signature for these attributes.
    pub sig: Option<Signature>,
    /// Arrays by variable name (the params file), if any.
    pub weights: Option<&'a Weights<'a>>,
    /// The op's canonical name.
    pub canonical: &'a str,
}

impl NodeView<'_> {
    /// The array in input slot `slot` (by the op's input name), if that input
    /// is a variable with an array.
    pub fn array(&self, slot: &str) -> Option<Tensor> {
        let pos = self.sig.as_ref()?.inputs.iter().position(|s| s == slot)?;
        self.array_at(pos)
    }

    /// The array in input position `pos`.
    pub fn array_at(&self, pos: usize) -> Option<Tensor> {
        let e = self.node.inputs.get(pos)?;
        let var = &self.sym.nodes()[e.node as usize];
        if !var.is_variable() {
            return None;
        }
        let w = self.weights?.get(&var.name)?;
        Some(Tensor {
            dtype: w.dtype,
            shape: w.shape.clone(),
            data: w.data.to_vec(),
        })
    }

    /// The node's input count.
    pub fn input_count(&self) -> usize {
        self.node.inputs.len()
    }
}

/// A layer made from an op node.
pub(crate) struct Translated {
    /// The layer.
    pub layer: Layer,
    /// Input positions of the op that are the layer's data inputs, in order.
    pub data: Vec<usize>,
}

impl Translated {
    /// A layer whose data inputs are the op's non-array inputs.
    pub fn new(
        view: &NodeView<'_>,
        kind: LayerKind,
        arrays: Vec<(&str, Option<Tensor>)>,
    ) -> Translated {
        let sig = view.sig.as_ref();
        let skip: Vec<usize> = sig
            .map(|s| {
                s.learned
                    .iter()
                    .chain(&s.aux)
                    .chain(&s.labels)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let data = (0..view.input_count())
            .filter(|p| !skip.contains(p))
            .collect();
        Translated {
            layer: Layer {
                kind,
                arrays: arrays.into_iter().map(|(n, a)| (n.to_owned(), a)).collect(),
            },
            data,
        }
    }
}

/// The import function of a rule.
pub(crate) type ImportFn = fn(&NodeView<'_>) -> Result<Translated, String>;

/// Every MXNet op a rule translates, by canonical name.
pub(crate) fn imports() -> &'static BTreeMap<&'static str, ImportFn> {
    static TABLE: std::sync::OnceLock<BTreeMap<&'static str, ImportFn>> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: BTreeMap<&'static str, ImportFn> = BTreeMap::new();
        for list in [
            linear::IMPORTS,
            convolution::IMPORTS,
            pooling::IMPORTS,
            batch_norm::IMPORTS,
            elementwise::IMPORTS,
            softmax::IMPORTS,
            shape::IMPORTS,
            misc::IMPORTS,
            recurrent::IMPORTS,
        ] {
            for (op, f) in list {
                t.insert(op, *f);
            }
        }
        t
    })
}

/// Builds an MXNet graph node by node.
pub(crate) struct Builder {
    /// Nodes so far.
    pub nodes: Vec<Node>,
    /// Arrays of the variables: (key with `arg:`/`aux:`, array).
    pub params: Vec<(String, Tensor)>,
    /// Variables without arrays (uninitialised layers).
    pub missing: Vec<String>,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        Builder {
            nodes: Vec::new(),
            params: Vec::new(),
            missing: Vec::new(),
        }
    }

    /// Adds an op node; returns its output 0.
    pub fn op(
        &mut self,
        op: &str,
        name: &str,
        attrs: &[(&str, String)],
        inputs: &[NodeEntry],
    ) -> NodeEntry {
        self.nodes.push(Node {
            op: op.to_owned(),
            name: name.to_owned(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            inputs: inputs.to_vec(),
            ..Node::default()
        });
        NodeEntry::new(self.nodes.len() as u32 - 1, 0)
    }

    /// Adds an op node with attributes given as a map.
    pub fn op_map(
        &mut self,
        op: &str,
        name: &str,
        attrs: BTreeMap<String, String>,
        inputs: &[NodeEntry],
    ) -> NodeEntry {
        self.nodes.push(Node {
            op: op.to_owned(),
            name: name.to_owned(),
            attrs,
            inputs: inputs.to_vec(),
            ..Node::default()
        });
        NodeEntry::new(self.nodes.len() as u32 - 1, 0)
    }

    /// Adds a variable for an array (`arg:` or, for auxiliary states, `aux:`).
    pub fn param(&mut self, name: &str, array: Option<&Tensor>, aux: bool) -> NodeEntry {
        let mut var = Node::variable(name);
        if let Some(a) = array {
            var.attrs.insert(
                "__shape__".into(),
                mxnet_format::attr::format_tuple(&a.shape),
            );
            self.params.push((
                format!("{}:{name}", if aux { "aux" } else { "arg" }),
                a.clone(),
            ));
        } else {
            self.missing.push(name.to_owned());
            if aux {
                // As MXNet marks its own auxiliary states: moving variances
                // start at one, other statistics at zero.
                let init = if name.ends_with("_var") {
                    "[\"one\", {}]"
                } else {
                    "[\"zero\", {}]"
                };
                var.attrs.insert("__init__".into(), init.into());
            }
        }
        self.nodes.push(var);
        NodeEntry::new(self.nodes.len() as u32 - 1, 0)
    }

    /// Adds an input variable.
    pub fn input(&mut self, name: &str, shape: Option<&[usize]>) -> NodeEntry {
        let mut var = Node::variable(name);
        if let Some(s) = shape {
            var.attrs
                .insert("__shape__".into(), mxnet_format::attr::format_tuple(s));
        }
        self.nodes.push(var);
        NodeEntry::new(self.nodes.len() as u32 - 1, 0)
    }
}

/// Formats a tuple attribute the way Python does: `(3, 3)`.
pub(crate) fn tuple<T: std::fmt::Display>(v: &[T]) -> String {
    mxnet_format::attr::format_tuple(v)
}

/// A boolean attribute in Python's spelling.
pub(crate) fn py_bool(b: bool) -> String {
    if b { "True" } else { "False" }.to_owned()
}

/// A float attribute in Python's `repr` style.
pub(crate) fn py_float(v: f64) -> String {
    let s = format!("{v:?}");
    s.strip_suffix(".0").map(|i| format!("{i}.0")).unwrap_or(s)
}

/// The array names a layer kind has, in order.
pub(crate) fn array_names(kind: &LayerKind) -> Vec<String> {
    let names: &[&str] = match kind {
        LayerKind::Linear { bias, .. }
        | LayerKind::Convolution { bias, .. }
        | LayerKind::Deconvolution { bias, .. } => {
            if *bias {
                &["Weights", "Biases"]
            } else {
                &["Weights"]
            }
        }
        LayerKind::BatchNormalization { .. } => {
            &["Scaling", "Biases", "MovingMean", "MovingVariance"]
        }
        LayerKind::InstanceNormalization { .. }
        | LayerKind::Normalization { .. }
        | LayerKind::GroupNormalization { .. } => &["Scaling", "Biases"],
        LayerKind::ParametricRamp => &["Slope"],
        LayerKind::Embedding { .. } => &["Weights"],
        LayerKind::Resize {
            method: crate::layer::ResizeMethod::BilinearKernel,
            ..
        } => &["Weights"],
        LayerKind::LongShortTermMemory(o) => return recurrent::array_names("lstm", o),
        LayerKind::GatedRecurrent(o) => return recurrent::array_names("gru", o),
        LayerKind::BasicRecurrent { options, .. } => return recurrent::array_names("rnn", options),
        LayerKind::MXNetOp { array_slots, .. } => {
            return array_slots.iter().map(|(_, n, _)| n.clone()).collect();
        }
        _ => &[],
    };
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Emits MXNet nodes for a layer whose data inputs are `inputs`; returns its
/// outputs.
pub(crate) fn export_layer(
    b: &mut Builder,
    name: &str,
    layer: &Layer,
    inputs: &[NodeEntry],
) -> Result<Vec<NodeEntry>, NetError> {
    let fail = |reason: String| NetError::Export {
        layer: name.to_owned(),
        kind: layer.type_name(),
        reason,
    };
    let one = |e: NodeEntry| Ok(vec![e]);
    let first = || {
        inputs
            .first()
            .copied()
            .ok_or_else(|| fail("the layer has no input".into()))
    };
    match &layer.kind {
        LayerKind::Linear { .. } => one(linear::export(b, name, layer, first()?)),
        LayerKind::Convolution { .. } | LayerKind::Deconvolution { .. } => {
            one(convolution::export(b, name, layer, first()?))
        }
        LayerKind::Pooling { .. } | LayerKind::Aggregation { .. } => {
            one(pooling::export(b, name, layer, first()?))
        }
        LayerKind::BatchNormalization { .. } => one(batch_norm::export(b, name, layer, first()?)),
        LayerKind::Elementwise { .. } | LayerKind::ParametricRamp => {
            one(elementwise::export(b, name, layer, first()?).map_err(fail)?)
        }
        LayerKind::Softmax { .. } => one(softmax::export(b, name, layer, first()?)),
        LayerKind::Flatten | LayerKind::Reshape { .. } | LayerKind::Transpose { .. } => {
            one(shape::export(b, name, layer, first()?))
        }
        LayerKind::LongShortTermMemory(_)
        | LayerKind::GatedRecurrent(_)
        | LayerKind::BasicRecurrent { .. } => {
            recurrent::export(b, name, layer, inputs).map_err(fail)
        }
        LayerKind::MXNetOp { .. } => mxnet_op::export(b, name, layer, inputs).map_err(fail),
        _ => misc::export(b, name, layer, inputs).map_err(fail),
    }
}

/// The fallback layer for an op no rule translates.
pub(crate) fn fallback(view: &NodeView<'_>, reason: String) -> Translated {
    mxnet_op::import(view, reason)
}

/// Gate names of a recurrent mode and the per-(layer, direction) prefix of
/// its array names (see `recurrent.rs`).
pub(crate) use recurrent::{gates as recurrent_gates, prefix as recurrent_prefix};

/// Nodes folded into the layer of a later node: Gluon's RNN parameter
/// packing and zero states, and the Flatten → softmax that `Softmax` with
/// `axis: None` exports before its `reshape_like`.
pub(crate) fn absorbed(sym: &Symbol) -> Vec<usize> {
    let mut out = recurrent::absorbed(sym);
    out.extend(softmax::absorbed(sym));
    out
}

/// How many node inputs and graph heads read each node.
pub(crate) fn consumers(sym: &Symbol) -> Vec<usize> {
    let nodes = sym.nodes();
    let mut consumers = vec![0usize; nodes.len()];
    for n in nodes {
        for e in &n.inputs {
            if let Some(c) = consumers.get_mut(e.node as usize) {
                *c += 1;
            }
        }
    }
    for h in sym.heads() {
        if let Some(c) = consumers.get_mut(h.node as usize) {
            *c += 1;
        }
    }
    consumers
}

/// The variable names [`export_layer`] gives a layer's arrays, in array order.
pub(crate) fn array_variables(name: &str, layer: &Layer) -> Vec<String> {
    let norm = matches!(
        layer.kind,
        LayerKind::BatchNormalization { .. }
            | LayerKind::InstanceNormalization { .. }
            | LayerKind::Normalization { .. }
            | LayerKind::GroupNormalization { .. }
    );
    layer
        .arrays
        .iter()
        .map(|(array, _)| {
            let slot = match (array.as_str(), norm) {
                ("Weights", _) => "weight",
                ("Biases", true) => "beta",
                ("Biases", false) => "bias",
                ("Scaling", _) | ("Slope", _) => "gamma",
                ("MovingMean", _) => "moving_mean",
                ("MovingVariance", _) => "moving_var",
                (other, _) => other,
            };
            format!("{name}_{slot}")
        })
        .collect()
}

/// Fills an uninitialised recurrent layer's arrays, given the length of its
/// flat parameter vector.
pub(crate) fn initialize_recurrent(
    layer: &mut Layer,
    flat: Option<&Vec<usize>>,
    seed: &mut u64,
) -> Result<(), NetError> {
    recurrent::initialize(layer, flat.and_then(|s| s.first().copied()), seed)
}
