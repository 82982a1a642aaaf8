//! Element-wise ops ⇄ `Elementwise` and `ParametricRamp`.
//!
//! `Activation` relu/sigmoid/tanh/softrelu/softsign → Ramp, LogisticSigmoid,
//! Tanh, SoftPlus, SoftSign; `LeakyReLU` leaky/elu/selu/gelu → LeakyRamp(slope),
//! Elu(slope), Selu, Gelu, and prelu → ParametricRamp with its gamma as
//! "Slope" (one per channel, or a single value); rrelu (random in training)
//! stays an MXNetOp. The unary math ops (`exp`, `sqrt`, `sigmoid`, `relu`, …)
//! → Math(name); the scalar ops (`_plus_scalar`, …, with `scalar`) →
//! Scalar(name, value); `clip` → Clip(a_min, a_max).

use mxnet_format::symbol::NodeEntry;

use super::linear::unreachable_kind;
use super::{Builder, ImportFn, NodeView, Translated, py_float};
use crate::layer::{ElementwiseFunction as F, Layer, LayerKind};

/// Unary math ops translated as `Math(name)`.
const MATH: &[&str] = &[
    "abs",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctanh",
    "cbrt",
    "ceil",
    "cos",
    "cosh",
    "degrees",
    "erf",
    "erfinv",
    "exp",
    "expm1",
    "fix",
    "floor",
    "gamma",
    "gammaln",
    "log",
    "log10",
    "log1p",
    "log2",
    "negative",
    "radians",
    "rcbrt",
    "reciprocal",
    "relu",
    "rint",
    "round",
    "rsqrt",
    "sigmoid",
    "sign",
    "sin",
    "sinh",
    "softsign",
    "sqrt",
    "square",
    "tan",
    "tanh",
    "trunc",
];

/// Scalar ops translated as `Scalar(name, scalar)`.
const SCALAR: &[&str] = &[
    "_plus_scalar",
    "_minus_scalar",
    "_rminus_scalar",
    "_mul_scalar",
    "_div_scalar",
    "_rdiv_scalar",
    "_power_scalar",
    "_rpower_scalar",
    "_maximum_scalar",
    "_minimum_scalar",
    "_mod_scalar",
    "_rmod_scalar",
    "_hypot_scalar",
];

pub(crate) static IMPORTS: &[(&str, ImportFn)] = &[
    ("Activation", import),
    ("LeakyReLU", import),
    ("clip", import),
    ("abs", import),
    ("arccos", import),
    ("arccosh", import),
    ("arcsin", import),
    ("arcsinh", import),
    ("arctan", import),
    ("arctanh", import),
    ("cbrt", import),
    ("ceil", import),
    ("cos", import),
    ("cosh", import),
    ("degrees", import),
    ("erf", import),
    ("erfinv", import),
    ("exp", import),
    ("expm1", import),
    ("fix", import),
    ("floor", import),
    ("gamma", import),
    ("gammaln", import),
    ("log", import),
    ("log10", import),
    ("log1p", import),
    ("log2", import),
    ("negative", import),
    ("radians", import),
    ("rcbrt", import),
    ("reciprocal", import),
    ("relu", import),
    ("rint", import),
    ("round", import),
    ("rsqrt", import),
    ("sigmoid", import),
    ("sign", import),
    ("sin", import),
    ("sinh", import),
    ("softsign", import),
    ("sqrt", import),
    ("square", import),
    ("tan", import),
    ("tanh", import),
    ("trunc", import),
    ("_plus_scalar", import),
    ("_minus_scalar", import),
    ("_rminus_scalar", import),
    ("_mul_scalar", import),
    ("_div_scalar", import),
    ("_rdiv_scalar", import),
    ("_power_scalar", import),
    ("_rpower_scalar", import),
    ("_maximum_scalar", import),
    ("_minimum_scalar", import),
    ("_mod_scalar", import),
    ("_rmod_scalar", import),
    ("_hypot_scalar", import),
];

fn import(v: &NodeView<'_>) -> Result<Translated, String> {
    let a = &v.attrs;
    let e = |e: mxnet_ops::AttrError| e.to_string();
    let function = match v.canonical {
        "Activation" => match a
            .choice(
                "act_type",
                &["relu", "sigmoid", "tanh", "softrelu", "softsign"],
                "relu",
            )
            .map_err(e)?
        {
            "sigmoid" => F::LogisticSigmoid,
            "tanh" => F::Tanh,
            "softrelu" => F::SoftPlus,
            "softsign" => F::SoftSign,
            _ => F::Ramp,
        },
        "LeakyReLU" => {
            let slope = a.float("slope", 0.25).map_err(e)?;
            match a
                .choice(
                    "act_type",
                    &["leaky", "prelu", "rrelu", "elu", "selu", "gelu"],
                    "leaky",
                )
                .map_err(e)?
            {
                "prelu" => {
                    return Ok(Translated::new(
                        v,
                        LayerKind::ParametricRamp,
                        vec![("Slope", v.array("gamma"))],
                    ));
                }
                "rrelu" => return Err("rrelu draws random slopes in training".into()),
                "elu" => F::Elu(slope),
                "selu" => F::Selu,
                "gelu" => F::Gelu,
                _ => F::LeakyRamp(slope),
            }
        }
        "clip" => F::Clip(
            a.req_float("a_min").map_err(e)?,
            a.req_float("a_max").map_err(e)?,
        ),
        op if SCALAR.contains(&op) => {
            if a.get("is_int").is_some() {
                return Err("is_int is set (integer scalar semantics)".into());
            }
            F::Scalar(op.to_owned(), a.float("scalar", 1.0).map_err(e)?)
        }
        op if MATH.contains(&op) => F::Math(op.to_owned()),
        op => return Err(format!("{op} has no element-wise rule")),
    };
    Ok(Translated::new(
        v,
        LayerKind::Elementwise { function },
        vec![],
    ))
}

pub(crate) fn export(
    b: &mut Builder,
    name: &str,
    layer: &Layer,
    data: NodeEntry,
) -> Result<NodeEntry, String> {
    let function = match &layer.kind {
        LayerKind::ParametricRamp => {
            let slope = b.param(&format!("{name}_gamma"), layer.array("Slope"), false);
            return Ok(b.op(
                "LeakyReLU",
                name,
                &[("act_type", "prelu".to_owned())],
                &[data, slope],
            ));
        }
        LayerKind::Elementwise { function } => function,
        _ => unreachable_kind(),
    };
    let act = |t: &str| ("Activation", vec![("act_type", t.to_owned())]);
    let leaky = |t: &str, slope: Option<f64>| {
        let mut attrs = vec![("act_type", t.to_owned())];
        if let Some(s) = slope {
            attrs.push(("slope", py_float(s)));
        }
        ("LeakyReLU", attrs)
    };
    let (op, attrs) = match function {
        F::Ramp => act("relu"),
        F::LogisticSigmoid => act("sigmoid"),
        F::Tanh => act("tanh"),
        F::SoftPlus => act("softrelu"),
        F::SoftSign => act("softsign"),
        F::Elu(s) => leaky("elu", Some(*s)),
        F::Selu => leaky("selu", None),
        F::Gelu => leaky("gelu", None),
        F::LeakyRamp(s) => leaky("leaky", Some(*s)),
        F::Clip(lo, hi) => (
            "clip",
            vec![("a_max", py_float(*hi)), ("a_min", py_float(*lo))],
        ),
        F::Math(op) => {
            if !MATH.contains(&op.as_str()) {
                return Err(format!("unknown math function {op:?}"));
            }
            (op.as_str(), vec![])
        }
        F::Scalar(op, s) => {
            if !SCALAR.contains(&op.as_str()) {
                return Err(format!("unknown scalar function {op:?}"));
            }
            (op.as_str(), vec![("scalar", py_float(*s))])
        }
    };
    Ok(b.op(op, name, &attrs, &[data]))
}
