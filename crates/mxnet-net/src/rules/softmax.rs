//! `softmax`, `log_softmax`, `SoftmaxActivation` and the training head
//! `SoftmaxOutput` ⇄ `Softmax`.
//!
//! `softmax`/`log_softmax` (axis −1, no temperature, no use_length) →
//! Softmax{axis, log}. `SoftmaxActivation` instance → axis −1, channel → 1.
//! `SoftmaxOutput` (its label is dropped: inference does not read it):
//! multi_output → axis 1, preserve_shape → −1, otherwise softmax over the
//! flattened non-batch axes, which is axis −1 when its input is the 2-D output
//! of a FullyConnected (the usual classifier) and `axis: None` otherwise.
//! Export writes `softmax`; `axis: None` becomes Flatten → softmax (axis −1)
//! → reshape_like(·, input), and that pattern imports back as one `Softmax`
//! with `axis: None` (the Flatten and softmax are absorbed into the layer of
//! the `reshape_like`, so an export re-imports to the same layers).

use mxnet_format::symbol::{Node, NodeEntry, Symbol};

use super::linear::unreachable_kind;
use super::{Builder, ImportFn, NodeView, Translated};
use crate::layer::{Layer, LayerKind};

pub(crate) static IMPORTS: &[(&str, ImportFn)] = &[
    ("softmax", import),
    ("log_softmax", import),
    ("SoftmaxActivation", import),
    ("SoftmaxOutput", import),
    ("reshape_like", import),
];

/// For a `reshape_like` node that closes the `axis: None` pattern
/// (`reshape_like(softmax(Flatten(x), axis=-1), x)`, the Flatten and the
/// softmax read by nothing else): the Flatten's and the softmax's node
/// indices and whether it is a log-softmax.
fn flattened_softmax(
    sym: &Symbol,
    node: &Node,
    consumers: &[usize],
) -> Option<(usize, usize, bool)> {
    let nodes = sym.nodes();
    let [s_entry, x_entry] = node.inputs.as_slice() else {
        return None;
    };
    let s_index = s_entry.node as usize;
    let s = nodes.get(s_index)?;
    let log = match s.canonical_op() {
        "softmax" => false,
        "log_softmax" => true,
        _ => return None,
    };
    // Only the axis may be set (no temperature, length input or dtype).
    let plain = s
        .attrs
        .iter()
        .all(|(k, v)| k.starts_with("__") || (k == "axis" && v.trim() == "-1"));
    let f_entry = s.inputs.first()?;
    let f_index = f_entry.node as usize;
    let f = nodes.get(f_index)?;
    let only_reader = |i: usize| consumers.get(i) == Some(&1);
    (s_entry.index == 0
        && s.inputs.len() == 1
        && plain
        && f.canonical_op() == "Flatten"
        && f.inputs.first() == Some(x_entry)
        && only_reader(s_index)
        && only_reader(f_index))
    .then_some((f_index, s_index, log))
}

/// The Flatten and softmax nodes of every `axis: None` pattern.
pub(crate) fn absorbed(sym: &Symbol) -> Vec<usize> {
    let consumers = super::consumers(sym);
    sym.nodes()
        .iter()
        .filter(|n| n.canonical_op() == "reshape_like")
        .filter_map(|n| flattened_softmax(sym, n, &consumers))
        .flat_map(|(f, s, _)| [f, s])
        .collect()
}

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let a = &v.attrs;
    let e = |e: mxnet_ops::AttrError| e.to_string();
    if v.canonical == "reshape_like" {
        let consumers = super::consumers(v.sym);
        let (_, _, log) = flattened_softmax(v.sym, v.node, &consumers)
            .ok_or("reshape_like translates only as the end of Flatten → softmax → reshape_like")?;
        return Ok(Translated {
            layer: Layer {
                kind: LayerKind::Softmax { axis: None, log },
                arrays: vec![],
            },
            // The layer's input is the reshape_like's shape source, the
            // Flatten's input.
            data: vec![1],
        });
    }
    let axis = match v.canonical {
        "SoftmaxActivation" => Some(if a.string("mode", "instance") == "channel" {
            1
        } else {
            -1
        }),
        "SoftmaxOutput" => {
            if a.bool("multi_output", false).map_err(e)? {
                Some(1)
            } else if a.bool("preserve_shape", false).map_err(e)? {
                Some(-1)
            } else {
                let producer = v
                    .node
                    .inputs
                    .first()
                    .map(|i| &v.sym.nodes()[i.node as usize]);
                let flat_fc = producer.is_some_and(|p| {
                    p.canonical_op() == "FullyConnected"
                        && p.attrs
                            .get("flatten")
                            .is_none_or(|f| mxnet_format::attr::parse_bool(f).unwrap_or(true))
                });
                if flat_fc { Some(-1) } else { None }
            }
        }
        _ => {
            if a.bool("use_length", false).map_err(e)? {
                return Err("use_length is set (a second input masks positions)".into());
            }
            if a.opt_float("temperature")
                .map_err(e)?
                .is_some_and(|t| t != 1.0)
            {
                return Err("temperature is set".into());
            }
            if a.get("dtype").is_some_and(|d| d != "None") {
                return Err("an output dtype is set".into());
            }
            Some(a.int("axis", -1).map_err(e)?)
        }
    };
    let mut t = Translated::new(
        v,
        LayerKind::Softmax {
            axis,
            log: v.canonical == "log_softmax",
        },
        vec![],
    );
    t.data.truncate(1);
    Ok(t)
}

pub(crate) fn export(b: &mut Builder, name: &str, layer: &Layer, data: NodeEntry) -> NodeEntry {
    let LayerKind::Softmax { axis, log } = &layer.kind else {
        unreachable_kind()
    };
    let op = if *log { "log_softmax" } else { "softmax" };
    match axis {
        Some(axis) => b.op(op, name, &[("axis", axis.to_string())], &[data]),
        None => {
            let flat = b.op("Flatten", &format!("{name}_flatten"), &[], &[data]);
            let s = b.op(
                op,
                &format!("{name}_softmax"),
                &[("axis", "-1".to_owned())],
                &[flat],
            );
            b.op("reshape_like", name, &[], &[s, data])
        }
    }
}
