//! `Flatten` ⇄ `Flatten`, `Reshape` ⇄ `Reshape` (MXNet's codes kept as they
//! are: 0, −1, −2, −3, −4; `reverse` or the deprecated `target_shape` stay an
//! MXNetOp), `transpose` ⇄ `Transpose`.

use mxnet_format::symbol::NodeEntry;

use super::linear::unreachable_kind;
use super::{Builder, ImportFn, NodeView, Translated, tuple};
use crate::layer::{Layer, LayerKind};

pub(crate) static IMPORTS: &[(&str, ImportFn)] = &[
    ("Flatten", import),
    ("Reshape", import),
    ("transpose", import),
];

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let a = &v.attrs;
    let e = |e: mxnet_ops::AttrError| e.to_string();
    let kind = match v.canonical {
        "Flatten" => LayerKind::Flatten,
        "Reshape" => {
            if a.bool("reverse", false).map_err(e)? {
                return Err("reverse is set".into());
            }
            let shape = a.tuple("shape", &[]).map_err(e)?;
            if shape.is_empty() {
                return Err("the deprecated target_shape interface is used".into());
            }
            LayerKind::Reshape { shape }
        }
        _ => {
            let axes = a.tuple("axes", &[]).map_err(e)?;
            if axes.iter().any(|&x| x < 0) {
                return Err("negative axes".into());
            }
            LayerKind::Transpose {
                axes: axes.into_iter().map(|x| x as usize).collect(),
            }
        }
    };
    Ok(Translated::new(v, kind, vec![]))
}

pub(crate) fn export(b: &mut Builder, name: &str, layer: &Layer, data: NodeEntry) -> NodeEntry {
    match &layer.kind {
        LayerKind::Flatten => b.op("Flatten", name, &[], &[data]),
        LayerKind::Reshape { shape } => b.op("Reshape", name, &[("shape", tuple(shape))], &[data]),
        LayerKind::Transpose { axes } => b.op("transpose", name, &[("axes", tuple(axes))], &[data]),
        _ => unreachable_kind(),
    }
}
