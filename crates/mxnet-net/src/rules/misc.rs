//! The smaller rules, each a short import/export pair:
//!
//! * `Concat` ⇄ `Catenate` (dim → axis).
//! * `elemwise_add/sub/mul/div`, `_maximum`, `_minimum`, `_power` and their
//!   `broadcast_*` forms, `add_n` ⇄ `Threading`.
//! * `sum` ⇄ `Total` (axis, keepdims; `exclude` stays an MXNetOp).
//! * `Dropout` ⇄ `Dropout` (mode `always` stays an MXNetOp).
//! * `Embedding` ⇄ `Embedding` (input_dim, output_dim; weight → "Weights").
//! * `Pad` ⇄ `Padding` (constant/edge/reflect).
//! * `UpSampling` nearest (one input) and bilinear, `_contrib_BilinearResize2D`
//!   with scale factors ⇄ `Resize`.
//! * `tile` ⇄ `Replicate`; `dot`/`batch_dot` ⇄ `Dot`; `slice` ⇄ `Part`.
//! * `InstanceNorm` ⇄ `InstanceNormalization`, `LayerNorm` ⇄ `Normalization`,
//!   `GroupNorm` ⇄ `GroupNormalization` (gamma → "Scaling", beta → "Biases"),
//!   `LRN` ⇄ `LocalResponseNormalization`.

use mxnet_format::symbol::NodeEntry;

use super::{Builder, ImportFn, NodeView, Translated, py_bool, py_float, tuple};
use crate::layer::{Layer, LayerKind, PaddingMode, ResizeMethod, ThreadingFunction as T};

pub(crate) static IMPORTS: &[(&str, ImportFn)] = &[
    ("Concat", import),
    ("elemwise_add", import),
    ("elemwise_sub", import),
    ("elemwise_mul", import),
    ("elemwise_div", import),
    ("_maximum", import),
    ("_minimum", import),
    ("_power", import),
    ("broadcast_add", import),
    ("broadcast_sub", import),
    ("broadcast_mul", import),
    ("broadcast_div", import),
    ("broadcast_maximum", import),
    ("broadcast_minimum", import),
    ("broadcast_power", import),
    ("add_n", import),
    ("sum", import),
    ("Dropout", import),
    ("Embedding", import),
    ("Pad", import),
    ("UpSampling", import),
    ("_contrib_BilinearResize2D", import),
    ("tile", import),
    ("dot", import),
    ("batch_dot", import),
    ("slice", import),
    ("InstanceNorm", import),
    ("LayerNorm", import),
    ("GroupNorm", import),
    ("LRN", import),
];

fn threading(op: &str) -> Option<(T, bool)> {
    let broadcast = op.starts_with("broadcast_");
    let base = op
        .strip_prefix("broadcast_")
        .or_else(|| op.strip_prefix("elemwise_"))
        .or_else(|| op.strip_prefix('_'))
        .unwrap_or(op);
    let f = match base {
        "add" => T::Plus,
        "sub" => T::Subtract,
        "mul" => T::Times,
        "div" => T::Divide,
        "maximum" => T::Max,
        "minimum" => T::Min,
        "power" => T::Power,
        _ => return None,
    };
    Some((f, broadcast))
}

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let a = &v.attrs;
    let e = |e: mxnet_ops::AttrError| e.to_string();
    let n_in = v.input_count();
    let (kind, arrays) = match v.canonical {
        "Concat" => (
            LayerKind::Catenate {
                axis: a.int("dim", 1).map_err(e)?,
                inputs: n_in,
            },
            vec![],
        ),
        "add_n" => (
            LayerKind::Threading {
                function: T::Plus,
                inputs: n_in,
                broadcast: false,
            },
            vec![],
        ),
        "sum" => {
            if a.bool("exclude", false).map_err(e)? {
                return Err("exclude is set".into());
            }
            (
                LayerKind::Total {
                    axes: a.tuple("axis", &[]).map_err(e)?,
                    keep_dims: a.bool("keepdims", false).map_err(e)?,
                },
                vec![],
            )
        }
        "Dropout" => {
            if a.string("mode", "training") == "always" {
                return Err("mode always (active at inference)".into());
            }
            (
                LayerKind::Dropout {
                    probability: a.float("p", 0.5).map_err(e)?,
                },
                vec![],
            )
        }
        "Embedding" => (
            LayerKind::Embedding {
                vocabulary: a.req_count("input_dim").map_err(e)?,
                size: a.req_count("output_dim").map_err(e)?,
            },
            vec![("Weights", v.array("weight"))],
        ),
        "Pad" => {
            let w = a.req_tuple("pad_width").map_err(e)?;
            if w.len() % 2 != 0 || w.iter().any(|&x| x < 0) {
                return Err("pad_width is not (before, after) pairs".into());
            }
            let mode = match a
                .choice("mode", &["constant", "edge", "reflect"], "constant")
                .map_err(e)?
            {
                "edge" => PaddingMode::Edge,
                "reflect" => PaddingMode::Reflected,
                _ => PaddingMode::Fixed(a.float("constant_value", 0.0).map_err(e)?),
            };
            (
                LayerKind::Padding {
                    padding: w
                        .chunks(2)
                        .map(|p| (p[0] as usize, p[1] as usize))
                        .collect(),
                    mode,
                },
                vec![],
            )
        }
        "UpSampling" => {
            let scale = a.req_count("scale").map_err(e)? as f64;
            match a.string("sample_type", "nearest") {
                "bilinear" => (
                    LayerKind::Resize {
                        scale: vec![scale, scale],
                        method: ResizeMethod::BilinearKernel,
                    },
                    vec![("Weights", v.array("weight"))],
                ),
                _ if n_in == 1 => (
                    LayerKind::Resize {
                        scale: vec![scale, scale],
                        method: ResizeMethod::Nearest,
                    },
                    vec![],
                ),
                _ => return Err("nearest upsampling of several inputs".into()),
            }
        }
        "_contrib_BilinearResize2D" => {
            let (sh, sw) = (
                a.opt_float("scale_height").map_err(e)?,
                a.opt_float("scale_width").map_err(e)?,
            );
            match (sh, sw, a.string("mode", "size")) {
                (Some(h), Some(w), "size") => (
                    LayerKind::Resize {
                        scale: vec![h, w],
                        method: ResizeMethod::Bilinear {
                            align_corners: a.bool("align_corners", true).map_err(e)?,
                        },
                    },
                    vec![],
                ),
                _ => {
                    return Err(
                        "resizing to a fixed size or to another input (not by scale factors)"
                            .into(),
                    );
                }
            }
        }
        "tile" => {
            let reps = a.req_tuple("reps").map_err(e)?;
            if reps.iter().any(|&r| r < 0) {
                return Err("negative reps".into());
            }
            (
                LayerKind::Replicate {
                    reps: reps.into_iter().map(|r| r as usize).collect(),
                },
                vec![],
            )
        }
        "dot" | "batch_dot" => (
            LayerKind::Dot {
                transpose_a: a.bool("transpose_a", false).map_err(e)?,
                transpose_b: a.bool("transpose_b", false).map_err(e)?,
                batched: v.canonical == "batch_dot",
            },
            vec![],
        ),
        "slice" => (
            LayerKind::Part {
                begin: a.opt_tuple("begin").map_err(e)?,
                end: a.opt_tuple("end").map_err(e)?,
                step: a.opt_tuple("step").map_err(e)?,
            },
            vec![],
        ),
        "InstanceNorm" => (
            LayerKind::InstanceNormalization {
                epsilon: a.float("eps", 1e-3).map_err(e)?,
            },
            vec![("Scaling", v.array("gamma")), ("Biases", v.array("beta"))],
        ),
        "LayerNorm" => {
            if a.bool("output_mean_var", false).map_err(e)? {
                return Err("output_mean_var is set".into());
            }
            (
                LayerKind::Normalization {
                    axis: a.int("axis", -1).map_err(e)?,
                    epsilon: a.float("eps", 1e-5).map_err(e)?,
                },
                vec![("Scaling", v.array("gamma")), ("Biases", v.array("beta"))],
            )
        }
        "GroupNorm" => (
            LayerKind::GroupNormalization {
                groups: a.count("num_groups", 1).map_err(e)?,
                epsilon: a.float("eps", 1e-5).map_err(e)?,
            },
            vec![("Scaling", v.array("gamma")), ("Biases", v.array("beta"))],
        ),
        "LRN" => (
            LayerKind::LocalResponseNormalization {
                size: a.req_count("nsize").map_err(e)?,
                alpha: a.float("alpha", 1e-4).map_err(e)?,
                beta: a.float("beta", 0.75).map_err(e)?,
                bias: a.float("knorm", 2.0).map_err(e)?,
            },
            vec![],
        ),
        op => match threading(op) {
            Some((function, broadcast)) => (
                LayerKind::Threading {
                    function,
                    inputs: 2,
                    broadcast,
                },
                vec![],
            ),
            None => return Err(format!("{op} has no rule")),
        },
    };
    Ok(Translated::new(v, kind, arrays))
}

pub(crate) fn export(
    b: &mut Builder,
    name: &str,
    layer: &Layer,
    inputs: &[NodeEntry],
) -> Result<Vec<NodeEntry>, String> {
    let first = *inputs.first().ok_or("the layer has no input")?;
    let param = |b: &mut Builder, slot: &str, array: &str| {
        b.param(&format!("{name}_{slot}"), layer.array(array), false)
    };
    let out = match &layer.kind {
        LayerKind::Catenate { axis, .. } => b.op(
            "Concat",
            name,
            &[
                ("dim", axis.to_string()),
                ("num_args", inputs.len().to_string()),
            ],
            inputs,
        ),
        LayerKind::Threading {
            function,
            broadcast,
            ..
        } => {
            if inputs.len() > 2 || (*function == T::Plus && inputs.len() != 2) {
                if *function != T::Plus || *broadcast {
                    return Err(format!(
                        "{} inputs can only be summed without broadcasting",
                        inputs.len()
                    ));
                }
                b.op(
                    "add_n",
                    name,
                    &[("num_args", inputs.len().to_string())],
                    inputs,
                )
            } else {
                let base = match function {
                    T::Plus => "add",
                    T::Subtract => "sub",
                    T::Times => "mul",
                    T::Divide => "div",
                    T::Max => "maximum",
                    T::Min => "minimum",
                    T::Power => "power",
                };
                let op = match (broadcast, function) {
                    (true, _) => format!("broadcast_{base}"),
                    (false, T::Max | T::Min | T::Power) => format!("_{base}"),
                    (false, _) => format!("elemwise_{base}"),
                };
                b.op(&op, name, &[], inputs)
            }
        }
        LayerKind::Total { axes, keep_dims } => {
            let mut attrs = vec![("keepdims", py_bool(*keep_dims))];
            if !axes.is_empty() {
                attrs.push(("axis", tuple(axes)));
            }
            b.op("sum", name, &attrs, &[first])
        }
        LayerKind::Dropout { probability } => {
            b.op("Dropout", name, &[("p", py_float(*probability))], &[first])
        }
        LayerKind::Embedding { vocabulary, size } => {
            let w = param(b, "weight", "Weights");
            b.op(
                "Embedding",
                name,
                &[
                    ("input_dim", vocabulary.to_string()),
                    ("output_dim", size.to_string()),
                ],
                &[first, w],
            )
        }
        LayerKind::Padding { padding, mode } => {
            let flat: Vec<usize> = padding.iter().flat_map(|(a, b)| [*a, *b]).collect();
            let mut attrs = vec![("pad_width", tuple(&flat))];
            match mode {
                PaddingMode::Fixed(v) => {
                    attrs.push(("mode", "constant".into()));
                    attrs.push(("constant_value", py_float(*v)));
                }
                PaddingMode::Edge => attrs.push(("mode", "edge".into())),
                PaddingMode::Reflected => attrs.push(("mode", "reflect".into())),
            }
            b.op("Pad", name, &attrs, &[first])
        }
        LayerKind::Resize { scale, method } => {
            let s = scale.first().copied().unwrap_or(1.0);
            match method {
                ResizeMethod::Nearest | ResizeMethod::BilinearKernel => {
                    if s.fract() != 0.0 || s < 1.0 || scale.iter().any(|x| *x != s) {
                        return Err("UpSampling needs one integer scale for both axes".into());
                    }
                    if *method == ResizeMethod::Nearest {
                        b.op(
                            "UpSampling",
                            name,
                            &[
                                ("num_args", "1".into()),
                                ("sample_type", "nearest".into()),
                                ("scale", (s as usize).to_string()),
                            ],
                            &[first],
                        )
                    } else {
                        let w = param(b, "weight", "Weights");
                        let channels = layer
                            .array("Weights")
                            .map_or(0, |w| w.shape.first().copied().unwrap_or(0));
                        b.op(
                            "UpSampling",
                            name,
                            &[
                                ("num_args", "2".into()),
                                ("num_filter", channels.to_string()),
                                ("sample_type", "bilinear".into()),
                                ("scale", (s as usize).to_string()),
                            ],
                            &[first, w],
                        )
                    }
                }
                ResizeMethod::Bilinear { align_corners } => b.op(
                    "_contrib_BilinearResize2D",
                    name,
                    &[
                        ("align_corners", py_bool(*align_corners)),
                        ("scale_height", py_float(s)),
                        ("scale_width", py_float(scale.get(1).copied().unwrap_or(s))),
                    ],
                    &[first],
                ),
            }
        }
        LayerKind::Replicate { reps } => b.op("tile", name, &[("reps", tuple(reps))], &[first]),
        LayerKind::Dot {
            transpose_a,
            transpose_b,
            batched,
        } => b.op(
            if *batched { "batch_dot" } else { "dot" },
            name,
            &[
                ("transpose_a", py_bool(*transpose_a)),
                ("transpose_b", py_bool(*transpose_b)),
            ],
            inputs,
        ),
        LayerKind::Part { begin, end, step } => {
            let fmt = |v: &[Option<i64>]| {
                let items: Vec<String> = v
                    .iter()
                    .map(|x| x.map_or("None".to_owned(), |x| x.to_string()))
                    .collect();
                match items.len() {
                    1 => format!("({},)", items[0]),
                    _ => format!("({})", items.join(", ")),
                }
            };
            let mut attrs = vec![("begin", fmt(begin)), ("end", fmt(end))];
            if !step.is_empty() {
                attrs.push(("step", fmt(step)));
            }
            b.op("slice", name, &attrs, &[first])
        }
        LayerKind::InstanceNormalization { epsilon } => {
            let (g, bt) = (param(b, "gamma", "Scaling"), param(b, "beta", "Biases"));
            b.op(
                "InstanceNorm",
                name,
                &[("eps", py_float(*epsilon))],
                &[first, g, bt],
            )
        }
        LayerKind::Normalization { axis, epsilon } => {
            let (g, bt) = (param(b, "gamma", "Scaling"), param(b, "beta", "Biases"));
            b.op(
                "LayerNorm",
                name,
                &[("axis", axis.to_string()), ("eps", py_float(*epsilon))],
                &[first, g, bt],
            )
        }
        LayerKind::GroupNormalization { groups, epsilon } => {
            let (g, bt) = (param(b, "gamma", "Scaling"), param(b, "beta", "Biases"));
            b.op(
                "GroupNorm",
                name,
                &[
                    ("eps", py_float(*epsilon)),
                    ("num_groups", groups.to_string()),
                ],
                &[first, g, bt],
            )
        }
        LayerKind::LocalResponseNormalization {
            size,
            alpha,
            beta,
            bias,
        } => b.op(
            "LRN",
            name,
            &[
                ("alpha", py_float(*alpha)),
                ("beta", py_float(*beta)),
                ("knorm", py_float(*bias)),
                ("nsize", size.to_string()),
            ],
            &[first],
        ),
        _ => return Err("no export rule for this layer".into()),
    };
    Ok(vec![out])
}
