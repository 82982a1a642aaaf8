//! The `NodeGraphPlot` element and `mxnet-io plot`: pictures of a symbol's
//! node graph, or of its net of layers, with tensor shapes on the edges when
//! input shapes are known.

use std::collections::HashMap;

use mxnet_net::{Element as NetElement, LayerKind, Net, Source};
use mxnet_ops::{Program, Weights};
use mxnet_plot::{Diagram, DiagramEdge, DiagramNode, NodeKind, OpFamily, PlotOptions};

use crate::error::{Error, Result};
use crate::model::Model;

/// What to draw.
#[derive(Debug, Clone, Default)]
pub struct PlotRequest {
    /// Draw every variable as its own node.
    pub all_variables: bool,
    /// Input shapes, by name, for shapes on the edges.
    pub input_shapes: HashMap<String, Vec<usize>>,
    /// Draw the net of layers instead of the node graph.
    pub layers: bool,
    /// A heading (default: the model's file name).
    pub title: Option<String>,
}

/// Shapes of every node output from shape inference, when `shapes` gives
/// every input's shape (and the model's arrays give the weights').
pub fn node_shapes(
    model: &Model,
    shapes: &HashMap<String, Vec<usize>>,
) -> Result<HashMap<(usize, usize), Vec<usize>>> {
    let exec_err = |e: mxnet_ops::Error| Error::Exec {
        path: model.symbol_path.clone(),
        error: Box::new(e),
    };
    let weights = match &model.params {
        Some(p) => Weights::from_params(&p.file).map_err(|e| Error::Value {
            path: p.path.clone(),
            array: "?".into(),
            error: e,
        })?,
        None => Weights::new(),
    };
    let program = Program::compile(&model.symbol, None).map_err(exec_err)?;
    let plan = program.bind(&weights, shapes).map_err(exec_err)?;
    Ok(plan.entry_shapes().clone())
}

/// The picture of a model: its node graph (or, with `layers`, its net).
pub fn diagram(model: &Model, request: &PlotRequest) -> Result<(Diagram, Vec<String>)> {
    let mut notes = Vec::new();
    let title = request.title.clone().or_else(|| {
        model.symbol_path.file_name().map(|n| {
            n.to_string_lossy()
                .trim_end_matches(".json")
                .trim_end_matches("-symbol")
                .to_owned()
        })
    });
    let shapes = if request.input_shapes.is_empty() {
        None
    } else {
        match node_shapes(model, &request.input_shapes) {
            Ok(s) => Some(s),
            Err(e) => {
                notes.push(format!("drawn without shapes: {e}"));
                None
            }
        }
    };
    if request.layers {
        let weights = match &model.params {
            Some(p) => Weights::from_params(&p.file).ok(),
            None => None,
        };
        let mut imported =
            mxnet_net::import_symbol(&model.symbol, weights.as_ref()).map_err(|e| Error::Net {
                path: model.symbol_path.clone(),
                error: Box::new(e),
            })?;
        for (n, s) in &request.input_shapes {
            let _ = imported.net.set_input_shape(n, s.clone());
        }
        let mut d = net_diagram(&imported.net);
        d.title = title;
        return Ok((d, notes));
    }
    let options = PlotOptions {
        all_variables: request.all_variables,
        shapes,
        title,
        ..PlotOptions::default()
    };
    Ok((Diagram::from_symbol(&model.symbol, &options), notes))
}

fn family(kind: &LayerKind) -> OpFamily {
    match kind {
        LayerKind::Linear { .. }
        | LayerKind::Convolution { .. }
        | LayerKind::Deconvolution { .. } => OpFamily::Convolution,
        LayerKind::BatchNormalization { .. }
        | LayerKind::InstanceNormalization { .. }
        | LayerKind::Normalization { .. }
        | LayerKind::GroupNormalization { .. }
        | LayerKind::LocalResponseNormalization { .. }
        | LayerKind::Dropout { .. } => OpFamily::Normalization,
        LayerKind::Elementwise { .. } | LayerKind::ParametricRamp | LayerKind::Softmax { .. } => {
            OpFamily::Activation
        }
        LayerKind::Pooling { .. } | LayerKind::Aggregation { .. } | LayerKind::Resize { .. } => {
            OpFamily::Pooling
        }
        LayerKind::Threading { .. } | LayerKind::Total { .. } | LayerKind::Dot { .. } => {
            OpFamily::Arithmetic
        }
        LayerKind::LongShortTermMemory(_)
        | LayerKind::GatedRecurrent(_)
        | LayerKind::BasicRecurrent { .. } => OpFamily::Recurrent,
        LayerKind::MXNetOp { .. } => OpFamily::Other,
        _ => OpFamily::Shape,
    }
}

fn summary(kind: &LayerKind) -> String {
    let dims = |v: &[usize]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("×")
    };
    match kind {
        LayerKind::Linear { size, .. } => format!("Linear {size}"),
        LayerKind::Convolution {
            channels,
            kernel,
            stride,
            ..
        } => {
            let s = if stride.iter().any(|&x| x != 1) {
                format!(" /{}", dims(stride))
            } else {
                String::new()
            };
            format!("Convolution {}{s}, {channels}", dims(kernel))
        }
        LayerKind::Deconvolution {
            channels, kernel, ..
        } => format!("Deconvolution {}, {channels}", dims(kernel)),
        LayerKind::Pooling {
            function, kernel, ..
        } => format!("Pooling {function:?} {}", dims(kernel)),
        LayerKind::Aggregation { function } => format!("Aggregation {function:?}"),
        LayerKind::Elementwise { function } => format!("Elementwise {function:?}"),
        LayerKind::Threading { function, .. } => format!("Threading {function:?}"),
        LayerKind::LongShortTermMemory(o) | LayerKind::GatedRecurrent(o) => {
            let name = if matches!(kind, LayerKind::LongShortTermMemory(_)) {
                "LSTM"
            } else {
                "GRU"
            };
            format!(
                "{name} {}×{}{}",
                o.layers,
                o.hidden,
                if o.bidirectional { " bi" } else { "" }
            )
        }
        LayerKind::MXNetOp { op, .. } => format!("MXNetOp {op}"),
        other => format!("{other:?}")
            .split([' ', '{', '('])
            .next()
            .unwrap_or("layer")
            .to_owned(),
    }
}

/// A picture of a net of layers: one box per layer, coloured by family.
pub fn net_diagram(net: &Net) -> Diagram {
    let shapes = mxnet_net::describe::output_shapes(net);
    let mut d = Diagram::new();
    let mut index: HashMap<Source, usize> = HashMap::new();
    for p in &net.inputs {
        let mut n = DiagramNode::new(NodeKind::Input, &p.name);
        if let Some(s) = &p.shape {
            n = n.line(
                s.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("×"),
            );
        }
        let i = d.add_node(n);
        index.insert(Source::Input(p.name.clone()), i);
    }
    let shape_label = |src: &Source| -> Option<String> {
        let Source::Node { node, output } = src else {
            return net
                .inputs
                .iter()
                .find(|p| matches!(src, Source::Input(n) if *n == p.name))
                .and_then(|p| p.shape.as_ref())
                .map(|s| {
                    s.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("×")
                });
        };
        shapes.as_ref()?.get(node)?.get(*output).map(|s| {
            s.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("×")
        })
    };
    for n in &net.nodes {
        let node = match &n.element {
            NetElement::Layer(l) => {
                let mut dn =
                    DiagramNode::new(NodeKind::Op(family(&l.kind)), summary(&l.kind)).line(&n.name);
                let set: Vec<String> = l
                    .arrays
                    .iter()
                    .filter_map(|(name, a)| {
                        a.as_ref().map(|t| {
                            format!(
                                "{name} {}",
                                t.shape
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join("×")
                            )
                        })
                    })
                    .collect();
                if set.len() > 3 {
                    dn = dn.line(format!("{} arrays", set.len()));
                } else {
                    for a in set {
                        dn = dn.line(a);
                    }
                }
                dn
            }
            NetElement::Net(inner) => DiagramNode::new(
                NodeKind::Op(OpFamily::Other),
                format!(
                    "{} of {} layers",
                    inner.kind().as_str(),
                    inner.layers().len()
                ),
            )
            .line(&n.name),
        };
        let i = d.add_node(node);
        for src in &n.inputs {
            let from = match src {
                Source::Node { node, .. } => index.get(&Source::node(node.clone())).copied(),
                other => index.get(other).copied(),
            };
            if let Some(from) = from {
                let mut e = DiagramEdge::new(from, i);
                if let Some(l) = shape_label(src) {
                    e = e.label(l);
                }
                d.add_edge(e);
            }
        }
        index.insert(Source::node(n.name.clone()), i);
    }
    for (name, src) in &net.outputs {
        let o = d.add_node(DiagramNode::new(NodeKind::Output, name));
        let from = match src {
            Source::Node { node, .. } => index.get(&Source::node(node.clone())).copied(),
            other => index.get(other).copied(),
        };
        if let Some(from) = from {
            let mut e = DiagramEdge::new(from, o);
            if let Some(l) = shape_label(src) {
                e = e.label(l);
            }
            d.add_edge(e);
        }
    }
    d.caption = Some(format!(
        "{} of {} layers · {} input(s) · {} output(s)",
        net.kind().as_str(),
        net.layers().len(),
        net.inputs.len(),
        net.outputs.len()
    ));
    d
}
