//! `FullyConnected` ⇄ `Linear`.
//!
//! Attributes: num_hidden → size, no_bias → not bias, flatten (default True).
//! Arrays: weight (size, K) → "Weights", bias → "Biases".

use mxnet_format::symbol::NodeEntry;

use super::{Builder, ImportFn, NodeView, Translated, py_bool};
use crate::layer::{Layer, LayerKind};

pub(crate) static IMPORTS: &[(&str, ImportFn)] = &[("FullyConnected", import)];

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let a = &v.attrs;
    let size = a.req_count("num_hidden").map_err(|e| e.to_string())?;
    let bias = !a.bool("no_bias", false).map_err(|e| e.to_string())?;
    let flatten = a.bool("flatten", true).map_err(|e| e.to_string())?;
    let mut arrays = vec![("Weights", v.array("weight"))];
    if bias {
        arrays.push(("Biases", v.array("bias")));
    }
    Ok(Translated::new(
        v,
        LayerKind::Linear {
            size,
            bias,
            flatten,
        },
        arrays,
    ))
}

pub(crate) fn export(b: &mut Builder, name: &str, layer: &Layer, data: NodeEntry) -> NodeEntry {
    let LayerKind::Linear {
        size,
        bias,
        flatten,
    } = &layer.kind
    else {
        unreachable_kind()
    };
    let mut inputs = vec![
        data,
        b.param(&format!("{name}_weight"), layer.array("Weights"), false),
    ];
    if *bias {
        inputs.push(b.param(&format!("{name}_bias"), layer.array("Biases"), false));
    }
    b.op(
        "FullyConnected",
        name,
        &[
            ("flatten", py_bool(*flatten)),
            ("no_bias", py_bool(!bias)),
            ("num_hidden", size.to_string()),
        ],
        &inputs,
    )
}

/// Export functions are only called with their own layer kinds.
pub(crate) fn unreachable_kind() -> ! {
    unreachable!("export dispatch sends each layer kind to its own rule")
}
