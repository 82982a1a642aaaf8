//! `BatchNorm` (and `BatchNorm_v1`, `_contrib_SyncBatchNorm`) ⇄ `BatchNormalization`.
//!
//! Attributes: eps (default 1e-3) → epsilon, momentum (0.9), axis (1).
//! Arrays: gamma → "Scaling", beta → "Biases", moving_mean → "MovingMean",
//! moving_var → "MovingVariance" (auxiliary states). The trap: `fix_gamma`
//! defaults to True, and then MXNet treats γ as 1 whatever the file holds;
//! the layer's Scaling is then ones, and export writes `fix_gamma=False` with
//! that Scaling, which computes the same.

use mxnet_format::symbol::NodeEntry;

use super::linear::unreachable_kind;
use super::{Builder, ImportFn, NodeView, Translated, py_bool, py_float};
use crate::layer::{Layer, LayerKind};

pub(crate) static IMPORTS: &[(&str, ImportFn)] = &[
    ("BatchNorm", import),
    ("BatchNorm_v1", import),
    ("_contrib_SyncBatchNorm", import),
];

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let a = &v.attrs;
    let e = |e: mxnet_ops::AttrError| e.to_string();
    let fix_gamma = a.bool("fix_gamma", true).map_err(e)?;
    let mut gamma = v.array("gamma");
    if fix_gamma && let Some(g) = &mut gamma {
        g.data.iter_mut().for_each(|x| *x = 1.0);
    }
    if a.bool("output_mean_var", false).map_err(e)? {
        return Err("output_mean_var is set (the batch statistics are outputs)".into());
    }
    Ok(Translated::new(
        v,
        LayerKind::BatchNormalization {
            epsilon: a.float("eps", 1e-3).map_err(e)?,
            momentum: a.float("momentum", 0.9).map_err(e)?,
            axis: a.int("axis", 1).map_err(e)?,
        },
        vec![
            ("Scaling", gamma),
            ("Biases", v.array("beta")),
            ("MovingMean", v.array("moving_mean")),
            ("MovingVariance", v.array("moving_var")),
        ],
    ))
}

pub(crate) fn export(b: &mut Builder, name: &str, layer: &Layer, data: NodeEntry) -> NodeEntry {
    let LayerKind::BatchNormalization {
        epsilon,
        momentum,
        axis,
    } = &layer.kind
    else {
        unreachable_kind()
    };
    let inputs = [
        data,
        b.param(&format!("{name}_gamma"), layer.array("Scaling"), false),
        b.param(&format!("{name}_beta"), layer.array("Biases"), false),
        b.param(
            &format!("{name}_moving_mean"),
            layer.array("MovingMean"),
            true,
        ),
        b.param(
            &format!("{name}_moving_var"),
            layer.array("MovingVariance"),
            true,
        ),
    ];
    b.op(
        "BatchNorm",
        name,
        &[
            ("axis", axis.to_string()),
            ("eps", py_float(*epsilon)),
            ("fix_gamma", py_bool(false)),
            ("momentum", py_float(*momentum)),
        ],
        &inputs,
    )
}
