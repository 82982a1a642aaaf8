//! `softmax`, `log_softmax`, `SoftmaxActivation` and the training head
//! `SoftmaxOutput` ⇄ `Softmax`.
//!
//! `softmax`/`log_softmax` (axis −1, no temperature, no use_length) →
//! Softmax{axis, log}. `SoftmaxActivation` instance → axis −1, channel → 1.
//! `SoftmaxOutput` (its label is dropped: inference does not read it):
//! multi_output → axis 1, preserve_shape → −1, otherwise softmax over the
//! flattened non-batch axes, which is axis −1 when its input is the 2-D output
//! of a FullyConnected (the usual classifier) and `axis: None` otherwise.
//! Export writes `softmax`; `axis: None` becomes Flatten → softmax → reshape_like.

use mxnet_format::symbol::NodeEntry;

use super::linear::unreachable_kind;
use super::{Builder, ImportFn, NodeView, Translated, py_bool};
use crate::layer::{Layer, LayerKind};

pub(crate) static IMPORTS: &[(&str, ImportFn)] = &[
    ("softmax", import),
    ("log_softmax", import),
    ("SoftmaxActivation", import),
    ("SoftmaxOutput", import),
];

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let a = &v.attrs;
    let e = |e: mxnet_ops::AttrError| e.to_string();
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
            let _ = py_bool;
            b.op("reshape_like", name, &[], &[s, data])
        }
    }
}
