//! `Pooling` ⇄ `Pooling` (windowed) and `Aggregation` (global_pool).
//!
//! pool_type max/avg/sum/lp (p_value) → Max/Mean/Total/Lp; pooling_convention
//! valid/full → Valid/Full (`same` stays an MXNetOp, as MXNet cannot run it);
//! count_include_pad (default True) → count_padding. A channels-last layout
//! stays an MXNetOp. Aggregation exports as `global_pool` without a kernel,
//! so that it pools 1-D, 2-D and 3-D data alike.

use mxnet_format::symbol::NodeEntry;

use super::linear::unreachable_kind;
use super::{Builder, ImportFn, NodeView, Translated, py_bool, tuple};
use crate::layer::{Layer, LayerKind, PoolingConvention, PoolingFunction};

pub(crate) static IMPORTS: &[(&str, ImportFn)] = &[("Pooling", import)];

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let a = &v.attrs;
    let e = |e: mxnet_ops::AttrError| e.to_string();
    let function = match a
        .choice("pool_type", &["max", "avg", "sum", "lp"], "max")
        .map_err(e)?
    {
        "avg" => PoolingFunction::Mean,
        "sum" => PoolingFunction::Total,
        "lp" => PoolingFunction::Lp(a.opt_int("p_value").map_err(e)?.unwrap_or(2).max(1) as u32),
        _ => PoolingFunction::Max,
    };
    let layout = a.string("layout", "None");
    if !matches!(layout, "None" | "NCW" | "NCHW" | "NCDHW") {
        return Err(format!(
            "layout {layout} (only channels-first layouts translate)"
        ));
    }
    if a.bool("global_pool", false).map_err(e)? {
        return Ok(Translated::new(
            v,
            LayerKind::Aggregation { function },
            vec![],
        ));
    }
    let convention = match a
        .choice("pooling_convention", &["valid", "full", "same"], "valid")
        .map_err(e)?
    {
        "full" => PoolingConvention::Full,
        "same" => return Err("pooling_convention same (MXNet 1.9.1 cannot run it)".into()),
        _ => PoolingConvention::Valid,
    };
    let kernel: Vec<usize> = a
        .req_tuple("kernel")
        .map_err(e)?
        .into_iter()
        .map(|k| k.max(1) as usize)
        .collect();
    let n = kernel.len();
    let get = |key: &str, default: usize| -> Result<Vec<usize>, String> {
        let t = a.tuple(key, &[]).map_err(e)?;
        Ok(if t.is_empty() {
            vec![default; n]
        } else {
            t.into_iter().map(|x| x.max(0) as usize).collect()
        })
    };
    Ok(Translated::new(
        v,
        LayerKind::Pooling {
            function,
            stride: get("stride", 1)?,
            padding: get("pad", 0)?,
            kernel,
            convention,
            count_padding: a.opt_bool("count_include_pad").map_err(e)?.unwrap_or(true),
        },
        vec![],
    ))
}

fn pool_type(f: &PoolingFunction) -> (&'static str, Option<u32>) {
    match f {
        PoolingFunction::Max => ("max", None),
        PoolingFunction::Mean => ("avg", None),
        PoolingFunction::Total => ("sum", None),
        PoolingFunction::Lp(p) => ("lp", Some(*p)),
    }
}

pub(crate) fn export(b: &mut Builder, name: &str, layer: &Layer, data: NodeEntry) -> NodeEntry {
    match &layer.kind {
        LayerKind::Aggregation { function } => {
            let (t, p) = pool_type(function);
            // No kernel: MXNet takes the pooled axes from the data. A kernel
            // of another rank than the data's spatial rank fails in MXNet
            // (a 2-D kernel on 3-D data: "dimensions are invalid").
            let mut attrs = vec![("global_pool", py_bool(true)), ("pool_type", t.to_owned())];
            if let Some(p) = p {
                attrs.push(("p_value", p.to_string()));
            }
            b.op("Pooling", name, &attrs, &[data])
        }
        LayerKind::Pooling {
            function,
            kernel,
            stride,
            padding,
            convention,
            count_padding,
        } => {
            let (t, p) = pool_type(function);
            let mut attrs = vec![
                ("count_include_pad", py_bool(*count_padding)),
                ("kernel", tuple(kernel)),
                ("pad", tuple(padding)),
                ("pool_type", t.to_owned()),
                (
                    "pooling_convention",
                    match convention {
                        PoolingConvention::Valid => "valid",
                        PoolingConvention::Full => "full",
                    }
                    .to_owned(),
                ),
                ("stride", tuple(stride)),
            ];
            if let Some(p) = p {
                attrs.push(("p_value", p.to_string()));
            }
            b.op("Pooling", name, &attrs, &[data])
        }
        _ => unreachable_kind(),
    }
}
