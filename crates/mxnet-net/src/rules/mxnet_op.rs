//! The fallback: any op no rule translates becomes an `MXNetOp` layer that
//! carries the op, its attributes (all of them, as written), its arrays (the
//! variables in its learned and auxiliary-state slots, and any variable the
//! params file has an array for) and the reason. Export writes the op back
//! unchanged.

use mxnet_format::symbol::NodeEntry;

use super::{Builder, NodeView, Translated};
use crate::layer::{Layer, LayerKind};

pub(crate) fn import(v: &NodeView<'_>, reason: String) -> Translated {
    let mut slots = Vec::new();
    let mut arrays = Vec::new();
    let mut data = Vec::new();
    for (pos, e) in v.node.inputs.iter().enumerate() {
        let producer = &v.sym.nodes()[e.node as usize];
        // A variable the params file holds is an array whatever its slot
        // (MXNet binds every stored array as a parameter): the schema
        // names learned slots only for the ops it knows well.
        let stored =
            producer.is_variable() && v.weights.is_some_and(|w| w.get(&producer.name).is_some());
        let (is_array, aux) = match &v.sig {
            Some(sig) => (
                stored || sig.learned.contains(&pos) || sig.aux.contains(&pos),
                sig.aux.contains(&pos),
            ),
            None => (stored, false),
        };
        if is_array && producer.is_variable() {
            let slot = v
                .sig
                .as_ref()
                .and_then(|s| s.inputs.get(pos))
                .map_or_else(|| format!("input{pos}"), |s| s.to_string());
            slots.push((pos, slot.clone(), aux));
            arrays.push((slot, v.array_at(pos)));
        } else {
            data.push(pos);
        }
    }
    let outputs = v.sig.as_ref().map_or(1, |s| s.visible).max(1);
    let layer = Layer {
        kind: LayerKind::MXNetOp {
            op: v.node.op.clone(),
            attrs: v.node.attrs.clone(),
            inputs: data.len(),
            outputs,
            array_slots: slots,
            reason,
        },
        arrays,
    };
    Translated { layer, data }
}

pub(crate) fn export(
    b: &mut Builder,
    name: &str,
    layer: &Layer,
    inputs: &[NodeEntry],
) -> Result<Vec<NodeEntry>, String> {
    let LayerKind::MXNetOp {
        op,
        attrs,
        inputs: n_data,
        outputs,
        array_slots,
        ..
    } = &layer.kind
    else {
        super::linear::unreachable_kind()
    };
    if inputs.len() != *n_data {
        return Err(format!(
            "has {} inputs connected, the op takes {n_data} data inputs",
            inputs.len()
        ));
    }
    let total = n_data + array_slots.len();
    let mut entries = Vec::with_capacity(total);
    let mut data = inputs.iter();
    for pos in 0..total {
        match array_slots.iter().find(|(p, _, _)| *p == pos) {
            Some((_, slot, aux)) => {
                entries.push(b.param(&format!("{name}_{slot}"), layer.array(slot), *aux));
            }
            None => entries.push(
                *data
                    .next()
                    .ok_or("inputs and array slots do not interleave")?,
            ),
        }
    }
    let first = b.op_map(op, name, attrs.clone(), &entries);
    Ok((0..*outputs as u32)
        .map(|k| NodeEntry::new(first.node, k))
        .collect())
}
