//! Op families and one-line summaries of an op's key attributes.

use mxnet_format::attr::{parse_bool, parse_float, parse_int, parse_int_tuple};
use mxnet_format::schema;
use mxnet_format::symbol::Node;

use crate::diagram::OpFamily;

/// The family of a canonical op name; `registered` is whether MXNet 1.9.1
/// knows the op.
pub(crate) fn family(op: &str, registered: bool) -> OpFamily {
    if !registered {
        return OpFamily::Unknown;
    }
    let lower = op.to_ascii_lowercase();
    match op {
        "Convolution"
        | "Convolution_v1"
        | "Deconvolution"
        | "FullyConnected"
        | "Embedding"
        | "_contrib_SparseEmbedding"
        | "_contrib_DeformableConvolution"
        | "_contrib_ModulatedDeformableConvolution"
        | "_contrib_intgemm_fully_connected" => {
            return OpFamily::Convolution;
        }
        "BatchNorm"
        | "BatchNorm_v1"
        | "_contrib_SyncBatchNorm"
        | "CuDNNBatchNorm"
        | "_contrib_BatchNormWithReLU"
        | "LayerNorm"
        | "InstanceNorm"
        | "GroupNorm"
        | "L2Normalization"
        | "LRN"
        | "Dropout"
        | "IdentityAttachKLSparseReg" => {
            return OpFamily::Normalization;
        }
        "Activation" | "LeakyReLU" | "relu" | "sigmoid" | "tanh" | "softsign" | "hard_sigmoid"
        | "softmax" | "log_softmax" | "softmin" | "SoftmaxActivation" | "_contrib_gelu" | "erf"
        | "mish" | "_npx_relu" | "_npx_sigmoid" | "masked_softmax" | "masked_log_softmax"
        // `clip` in networks is ReLU6 (MobileNet v2).
        | "clip" => {
            return OpFamily::Activation;
        }
        "Pooling"
        | "Pooling_v1"
        | "ROIPooling"
        | "_contrib_ROIAlign"
        | "UpSampling"
        | "_contrib_BilinearResize2D"
        | "_contrib_AdaptiveAvgPooling2D"
        | "BilinearSampler"
        | "GridGenerator"
        | "SpatialTransformer"
        | "_contrib_PSROIPooling" => {
            return OpFamily::Pooling;
        }
        "RNN" | "_foreach" | "_while_loop" | "_cond" => return OpFamily::Recurrent,
        "SoftmaxOutput"
        | "LinearRegressionOutput"
        | "LogisticRegressionOutput"
        | "MAERegressionOutput"
        | "SVMOutput"
        | "MakeLoss"
        | "make_loss"
        | "CTCLoss"
        | "softmax_cross_entropy"
        | "_contrib_MultiBoxTarget" => return OpFamily::Loss,
        "Reshape"
        | "Flatten"
        | "transpose"
        | "SwapAxis"
        | "expand_dims"
        | "squeeze"
        | "Concat"
        | "stack"
        | "SliceChannel"
        | "_split_v2"
        | "slice"
        | "slice_axis"
        | "slice_like"
        | "take"
        | "pick"
        | "gather_nd"
        | "scatter_nd"
        | "tile"
        | "repeat"
        | "Pad"
        | "Cast"
        | "amp_cast"
        | "amp_multicast"
        | "reverse"
        | "broadcast_to"
        | "broadcast_like"
        | "broadcast_axis"
        | "reshape_like"
        | "shape_array"
        | "size_array"
        | "SequenceLast"
        | "SequenceMask"
        | "SequenceReverse"
        | "_zeros"
        | "_ones"
        | "_full"
        | "_eye"
        | "zeros_like"
        | "ones_like"
        | "_arange"
        | "_linspace"
        | "_copy"
        | "BlockGrad"
        | "one_hot"
        | "Crop"
        | "depth_to_space"
        | "space_to_depth"
        | "_rnn_param_concat"
        | "diag"
        | "_identity_with_attr_like_rhs"
        | "argmax"
        | "argmin"
        | "argsort"
        | "sort"
        | "topk"
        | "_contrib_arange_like"
        | "_zeros_without_dtype"
        | "_contrib_index_copy"
        | "_slice_assign"
        | "_slice_assign_scalar"
        | "_crop_assign"
        | "_crop_assign_scalar"
        | "Embedding_v1"
        | "_contrib_quantize_v2"
        | "_contrib_dequantize"
        | "_contrib_requantize"
        | "_contrib_quantize"
        | "fix"
        | "_shuffle" => {
            return OpFamily::Shape;
        }
        _ => {}
    }
    if lower.contains("conv") || lower.contains("fully_connected") {
        return OpFamily::Convolution;
    }
    if lower.contains("batch_norm") || lower.contains("layer_norm") {
        return OpFamily::Normalization;
    }
    if lower.contains("pool") {
        return OpFamily::Pooling;
    }
    if lower.contains("rnn") || lower.contains("lstm") || lower.contains("gru") {
        return OpFamily::Recurrent;
    }
    if lower.contains("loss") || lower.ends_with("output") {
        return OpFamily::Loss;
    }
    if lower.contains("reshape")
        || lower.contains("transpose")
        || lower.contains("concat")
        || lower.contains("slice")
        || lower.contains("split")
        || lower.contains("squeeze")
    {
        return OpFamily::Shape;
    }
    if is_arithmetic(op) {
        return OpFamily::Arithmetic;
    }
    OpFamily::Other
}

fn is_arithmetic(op: &str) -> bool {
    const STEMS: &[&str] = &[
        "plus",
        "minus",
        "mul",
        "div",
        "mod",
        "power",
        "maximum",
        "minimum",
        "hypot",
        "add",
        "sub",
        "equal",
        "greater",
        "lesser",
        "not_equal",
        "logical",
        "smooth_l1",
    ];
    const UNARY: &[&str] = &[
        "abs",
        "sign",
        "round",
        "rint",
        "ceil",
        "floor",
        "trunc",
        "sqrt",
        "rsqrt",
        "cbrt",
        "rcbrt",
        "square",
        "exp",
        "expm1",
        "log",
        "log10",
        "log2",
        "log1p",
        "sin",
        "cos",
        "tan",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
        "arcsinh",
        "arccosh",
        "arctanh",
        "degrees",
        "radians",
        "negative",
        "reciprocal",
        "gamma",
        "gammaln",
        "erfinv",
        "sum",
        "mean",
        "prod",
        "nansum",
        "nanprod",
        "max",
        "min",
        "norm",
        "dot",
        "batch_dot",
        "add_n",
        "where",
        "khatri_rao",
        "moments",
        "square_sum",
        "_square_sum",
        "cast_storage",
        "_contrib_div_sqrt_dim",
        "_contrib_interleaved_matmul_selfatt_qk",
        "_contrib_interleaved_matmul_selfatt_valatt",
        "logical_not",
        "_histogram",
    ];
    if UNARY.contains(&op) || op.starts_with("linalg_") || op.starts_with("_linalg_") {
        return true;
    }
    let base = op
        .strip_prefix("elemwise_")
        .or_else(|| op.strip_prefix("broadcast_"))
        .or_else(|| op.strip_prefix("_r"))
        .or_else(|| op.strip_prefix('_'))
        .unwrap_or(op);
    let base = base.strip_suffix("_scalar").unwrap_or(base);
    op.starts_with("elemwise_")
        || op.starts_with("broadcast_")
        || STEMS.iter().any(|s| base == *s || base.starts_with(s))
}

fn attr<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.attrs.get(key).map(|s| s.trim())
}

fn tuple(node: &Node, key: &str) -> Option<Vec<i64>> {
    attr(node, key).and_then(|v| parse_int_tuple(v).ok().flatten())
}

fn int(node: &Node, key: &str) -> Option<i64> {
    attr(node, key).and_then(|v| parse_int(v).ok())
}

fn flag(node: &Node, key: &str) -> Option<bool> {
    attr(node, key).and_then(|v| parse_bool(v).ok())
}

/// `3×3` for a kernel, `2` for a stride of (2, 2), `2×1` otherwise.
fn dims(v: &[i64], collapse: bool) -> String {
    if collapse && !v.is_empty() && v.iter().all(|&x| x == v[0]) {
        return v[0].to_string();
    }
    v.iter().map(i64::to_string).collect::<Vec<_>>().join("×")
}

/// A tuple attribute as written, without spaces: `(0,-1)`.
fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A float attribute as written, tidied (`0.5`, `1e-05`).
fn number(s: &str) -> String {
    match parse_float(s) {
        Ok(v) if v.is_finite() => {
            let t = format!("{v}");
            if t.len() <= s.len() { t } else { s.to_owned() }
        }
        _ => s.to_owned(),
    }
}

fn conv_summary(op: &str, node: &Node) -> String {
    let mut s = op.to_owned();
    if let Some(k) = tuple(node, "kernel") {
        s.push(' ');
        s.push_str(&dims(&k, false));
    }
    if let Some(st) = tuple(node, "stride").filter(|v| v.iter().any(|&x| x != 1)) {
        s.push_str(" /");
        s.push_str(&dims(&st, true));
    }
    if let Some(d) = tuple(node, "dilate").filter(|v| v.iter().any(|&x| x != 1)) {
        s.push_str(" dil ");
        s.push_str(&dims(&d, true));
    }
    let filters = int(node, "num_filter");
    if let Some(nf) = filters {
        s.push_str(", ");
        s.push_str(&nf.to_string());
    }
    if let Some(g) = int(node, "num_group").filter(|&g| g > 1) {
        if Some(g) == filters {
            s.push_str(", depthwise");
        } else {
            s.push_str(&format!(", {g} groups"));
        }
    }
    s
}

fn pooling_summary(op: &str, node: &Node) -> String {
    let kind = attr(node, "pool_type").unwrap_or("max");
    if flag(node, "global_pool") == Some(true) {
        return format!("{op} global {kind}");
    }
    let mut s = format!("{op} {kind}");
    if let Some(k) = tuple(node, "kernel") {
        s.push(' ');
        s.push_str(&dims(&k, false));
    }
    if let Some(st) = tuple(node, "stride").filter(|v| v.iter().any(|&x| x != 1)) {
        s.push_str(" /");
        s.push_str(&dims(&st, true));
    }
    s
}

fn rnn_summary(node: &Node) -> String {
    let mode = attr(node, "mode").unwrap_or("?");
    let layers = int(node, "num_layers").unwrap_or(1);
    let mut s = format!("RNN {mode}");
    if let Some(size) = int(node, "state_size") {
        if layers == 1 {
            s.push_str(&format!(" {size}"));
        } else {
            s.push_str(&format!(" {layers}×{size}"));
        }
    }
    if flag(node, "bidirectional") == Some(true) {
        s.push_str(" bi");
    }
    if let Some(p) = attr(node, "projection_size").filter(|p| *p != "None") {
        s.push_str(&format!(" proj {p}"));
    }
    s
}

/// The bold first line of an op's box: its canonical name and key
/// attributes (`Convolution 3×3 /2, 64`, `Pooling global avg`,
/// `Activation relu`, `RNN lstm 2×256 bi`).
pub(crate) fn summary(node: &Node) -> String {
    let op = node.canonical_op();
    let with = |key: &str| -> String {
        match attr(node, key) {
            Some(v) => format!("{op} {}", compact(v)),
            None => op.to_owned(),
        }
    };
    match op {
        "Convolution" | "Convolution_v1" | "Deconvolution" => conv_summary(op, node),
        "Pooling" | "Pooling_v1" => pooling_summary(op, node),
        "FullyConnected" => with("num_hidden"),
        "Activation" => with("act_type"),
        "LeakyReLU" => {
            let kind = attr(node, "act_type").unwrap_or("leaky");
            match (kind, attr(node, "slope")) {
                ("leaky" | "elu", Some(slope)) => format!("{op} {kind} {}", number(slope)),
                _ => format!("{op} {kind}"),
            }
        }
        "Dropout" => format!("{op} {}", number(attr(node, "p").unwrap_or("0.5"))),
        "Concat" => format!("{op} axis {}", attr(node, "dim").unwrap_or("1")),
        "stack" => format!("{op} axis {}", attr(node, "axis").unwrap_or("0")),
        "SliceChannel" => format!(
            "{op} {} axis {}",
            attr(node, "num_outputs").unwrap_or("?"),
            attr(node, "axis").unwrap_or("1")
        ),
        "RNN" => rnn_summary(node),
        "Embedding" => match (attr(node, "input_dim"), attr(node, "output_dim")) {
            (Some(i), Some(o)) => format!("{op} {i} → {o}"),
            _ => op.to_owned(),
        },
        "Reshape" => with("shape"),
        "transpose" => with("axes"),
        "SwapAxis" => format!(
            "{op} {}↔{}",
            attr(node, "dim1").unwrap_or("0"),
            attr(node, "dim2").unwrap_or("0")
        ),
        "expand_dims" | "softmax" | "log_softmax" | "softmin" | "sum" | "mean" | "max" | "min"
        | "prod" | "norm" | "argmax" | "argmin" | "squeeze" | "L2Normalization" => {
            match attr(node, "axis").or_else(|| attr(node, "mode")) {
                Some(v) if attr(node, "axis").is_some() => format!("{op} axis {}", compact(v)),
                Some(v) => format!("{op} {v}"),
                None => op.to_owned(),
            }
        }
        "Cast" | "amp_cast" => with("dtype"),
        "UpSampling" => {
            let scale = attr(node, "scale").unwrap_or("?");
            let kind = attr(node, "sample_type").unwrap_or("nearest");
            format!("{op} ×{scale} {kind}")
        }
        "clip" => match (attr(node, "a_min"), attr(node, "a_max")) {
            (Some(lo), Some(hi)) => format!("{op} [{}, {}]", number(lo), number(hi)),
            _ => op.to_owned(),
        },
        "slice_axis" => match (attr(node, "axis"), attr(node, "begin"), attr(node, "end")) {
            (Some(a), Some(b), Some(e)) => format!("{op} axis {a} [{b}:{e}]"),
            _ => op.to_owned(),
        },
        "LRN" => with("nsize"),
        "Pad" => with("mode"),
        "_foreach" | "_while_loop" | "_cond" => {
            let body: usize = node
                .subgraphs
                .iter()
                .map(|g| g.nodes().iter().filter(|n| !n.is_variable()).count())
                .sum();
            format!("{op} ({body} ops inside)")
        }
        "Custom" => with("op_type"),
        _ => match attr(node, "scalar") {
            Some(v) => format!("{op} {}", number(v)),
            None => op.to_owned(),
        },
    }
}

/// The family of a node's op.
pub(crate) fn node_family(node: &Node) -> OpFamily {
    let registered = schema::lookup(&node.op).is_some();
    family(node.canonical_op(), registered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, attrs: &[(&str, &str)]) -> Node {
        Node {
            op: op.to_owned(),
            name: "n".to_owned(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Node::default()
        }
    }

    #[test]
    fn summaries_name_the_key_attributes() {
        let conv = node(
            "Convolution",
            &[
                ("kernel", "(3, 3)"),
                ("stride", "(2, 2)"),
                ("num_filter", "64"),
            ],
        );
        assert_eq!(summary(&conv), "Convolution 3×3 /2, 64");
        let dw = node(
            "Convolution",
            &[
                ("kernel", "(3, 3)"),
                ("num_filter", "32"),
                ("num_group", "32"),
            ],
        );
        assert_eq!(summary(&dw), "Convolution 3×3, 32, depthwise");
        let pool = node(
            "Pooling",
            &[
                ("kernel", "(3, 3)"),
                ("stride", "(2, 2)"),
                ("pool_type", "max"),
            ],
        );
        assert_eq!(summary(&pool), "Pooling max 3×3 /2");
        let gap = node(
            "Pooling",
            &[
                ("kernel", "(1, 1)"),
                ("global_pool", "True"),
                ("pool_type", "avg"),
            ],
        );
        assert_eq!(summary(&gap), "Pooling global avg");
        assert_eq!(
            summary(&node("Activation", &[("act_type", "relu")])),
            "Activation relu"
        );
        assert_eq!(
            summary(&node("FullyConnected", &[("num_hidden", "1000")])),
            "FullyConnected 1000"
        );
        assert_eq!(summary(&node("BatchNorm", &[])), "BatchNorm");
        assert_eq!(summary(&node("Concat", &[("dim", "1")])), "Concat axis 1");
        assert_eq!(summary(&node("Dropout", &[("p", "0.5")])), "Dropout 0.5");
        let rnn = node(
            "RNN",
            &[
                ("mode", "lstm"),
                ("num_layers", "2"),
                ("state_size", "256"),
                ("bidirectional", "True"),
            ],
        );
        assert_eq!(summary(&rnn), "RNN lstm 2×256 bi");
        assert_eq!(
            summary(&node("_mul_scalar", &[("scalar", "0.5")])),
            "_mul_scalar 0.5"
        );
        assert_eq!(summary(&node("_Plus", &[])), "elemwise_add");
    }

    #[test]
    fn families() {
        assert_eq!(
            node_family(&node("Convolution", &[])),
            OpFamily::Convolution
        );
        assert_eq!(
            node_family(&node("BatchNorm", &[])),
            OpFamily::Normalization
        );
        assert_eq!(node_family(&node("Activation", &[])), OpFamily::Activation);
        assert_eq!(node_family(&node("Pooling", &[])), OpFamily::Pooling);
        assert_eq!(node_family(&node("_Plus", &[])), OpFamily::Arithmetic);
        assert_eq!(
            node_family(&node("broadcast_mul", &[])),
            OpFamily::Arithmetic
        );
        assert_eq!(
            node_family(&node("_rminus_scalar", &[])),
            OpFamily::Arithmetic
        );
        assert_eq!(node_family(&node("Reshape", &[])), OpFamily::Shape);
        assert_eq!(node_family(&node("clip", &[])), OpFamily::Activation);
        assert_eq!(node_family(&node("RNN", &[])), OpFamily::Recurrent);
        assert_eq!(node_family(&node("SoftmaxOutput", &[])), OpFamily::Loss);
        assert_eq!(node_family(&node("MyCustomThing", &[])), OpFamily::Unknown);
    }
}
