//! `Convolution` ⇄ `Convolution` and `Deconvolution` ⇄ `Deconvolution`.
//!
//! Attributes: num_filter → channels; kernel, stride, pad, dilate (per
//! spatial axis); num_group → groups; no_bias (Convolution default False,
//! Deconvolution default TRUE); Deconvolution adj → output_padding. A
//! Deconvolution with `target_shape`, or a channels-last layout, stays an
//! MXNetOp. Arrays: weight → "Weights", bias → "Biases".

use mxnet_format::symbol::NodeEntry;

use super::linear::unreachable_kind;
use super::{Builder, ImportFn, NodeView, Translated, py_bool, tuple};
use crate::layer::{Layer, LayerKind};

pub(crate) static IMPORTS: &[(&str, ImportFn)] =
    &[("Convolution", import), ("Deconvolution", import)];

fn per_axis(v: &NodeView<'_>, key: &str, n: usize, default: usize) -> Result<Vec<usize>, String> {
    let t = v.attrs.tuple(key, &[]).map_err(|e| e.to_string())?;
    if t.is_empty() {
        return Ok(vec![default; n]);
    }
    if t.len() != n || t.iter().any(|&x| x < 0) {
        return Err(format!(
            "{key} does not give one non-negative value per kernel axis"
        ));
    }
    Ok(t.into_iter().map(|x| x as usize).collect())
}

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let deconv = v.canonical == "Deconvolution";
    let a = &v.attrs;
    let layout = a.string("layout", "None");
    if !matches!(layout, "None" | "NCW" | "NCHW" | "NCDHW") {
        return Err(format!(
            "layout {layout} (only channels-first layouts translate)"
        ));
    }
    let kernel: Vec<usize> = a
        .req_tuple("kernel")
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|k| k.max(1) as usize)
        .collect();
    let n = kernel.len();
    let channels = a.req_count("num_filter").map_err(|e| e.to_string())?;
    let groups = a.count("num_group", 1).map_err(|e| e.to_string())?;
    let bias = !a.bool("no_bias", deconv).map_err(|e| e.to_string())?;
    let stride = per_axis(v, "stride", n, 1)?;
    let padding = per_axis(v, "pad", n, 0)?;
    let dilation = per_axis(v, "dilate", n, 1)?;
    let mut arrays = vec![("Weights", v.array("weight"))];
    if bias {
        arrays.push(("Biases", v.array("bias")));
    }
    let kind = if deconv {
        if a.tuple("target_shape", &[])
            .map_err(|e| e.to_string())?
            .iter()
            .any(|&t| t != 0)
        {
            return Err("target_shape is set (its output size depends on the input)".into());
        }
        LayerKind::Deconvolution {
            channels,
            output_padding: per_axis(v, "adj", n, 0)?,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
        }
    } else {
        LayerKind::Convolution {
            channels,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
        }
    };
    Ok(Translated::new(v, kind, arrays))
}

pub(crate) fn export(b: &mut Builder, name: &str, layer: &Layer, data: NodeEntry) -> NodeEntry {
    let (op, channels, kernel, stride, padding, dilation, groups, bias, adj) = match &layer.kind {
        LayerKind::Convolution {
            channels,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
        } => (
            "Convolution",
            channels,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
            None,
        ),
        LayerKind::Deconvolution {
            channels,
            kernel,
            stride,
            padding,
            output_padding,
            dilation,
            groups,
            bias,
        } => (
            "Deconvolution",
            channels,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
            Some(output_padding),
        ),
        _ => unreachable_kind(),
    };
    let mut inputs = vec![
        data,
        b.param(&format!("{name}_weight"), layer.array("Weights"), false),
    ];
    if *bias {
        inputs.push(b.param(&format!("{name}_bias"), layer.array("Biases"), false));
    }
    let mut attrs = vec![
        ("dilate", tuple(dilation)),
        ("kernel", tuple(kernel)),
        ("no_bias", py_bool(!bias)),
        ("num_filter", channels.to_string()),
        ("num_group", groups.to_string()),
        ("pad", tuple(padding)),
        ("stride", tuple(stride)),
    ];
    if let Some(adj) = adj {
        attrs.push(("adj", tuple(adj)));
    }
    b.op(op, name, &attrs, &inputs)
}
