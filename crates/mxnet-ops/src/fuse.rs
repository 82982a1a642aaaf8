//! Plan-time fusion: chains of nodes that run as one step.
//!
//! * Convolution or FullyConnected → BatchNorm → elemwise_add →
//!   Activation(relu) / clip (every part after the layer optional, in this
//!   order). A BatchNorm whose layer weights, bias and statistics are all
//!   constants (bound weights or filled auxiliary states) is folded into the
//!   layer's weights and bias once, when the plan is made; otherwise it is
//!   applied per channel in the epilogue from its inputs. The add's other
//!   operand and the activation are applied in the epilogue too.
//! * BatchNorm → Activation(relu) / clip, as one pass.
//!
//! A convolution's constant filters (folded or its own) are also prepared
//! here for the path that runs them (`convolution::prepare`: Winograd's
//! transform, the blocked kernel's panels); a convolution with nothing
//! after it becomes a step of its own when that happens.
//!
//! A node joins a chain only when the previous node's output has no other
//! consumer and is not a graph output, and every value involved is float32
//! (half-precision graphs round each op's output, which fusion would skip).
//! The fused step runs where the chain's last node ran, so the residual
//! operand is ready; nodes in between never read the chain's intermediates.

use std::borrow::Cow;
use std::collections::HashMap;

use mxnet_format::DType;
use mxnet_format::symbol::{Node, NodeEntry};

use crate::attrs::Attrs;
use crate::kernel::Kernel;
use crate::ops::batch_norm::{self, BatchNorm};
use crate::ops::convolution::{self, Prepared};
use crate::ops::epilogue::Post;
use crate::ops::fully_connected;
use crate::ops::fused::{BnPart, FusedLayer, Layer, fold};
use crate::ops::util::axis;
use crate::registry::canonical;

/// A chain of nodes replaced by one step.
#[derive(Debug)]
pub(crate) struct Chain {
    /// The nodes, first to last; the step writes the last one's output.
    pub nodes: Vec<usize>,
    /// The step's inputs, in the fused kernel's order.
    pub inputs: Vec<NodeEntry>,
    /// The fused kernel.
    pub kernel: Box<dyn Kernel>,
    /// The op names joined by `+`, for profiles.
    pub label: String,
}

/// What fusion needs to know about the bound graph.
pub(crate) struct Graph<'a> {
    pub nodes: &'a [Node],
    pub kernels: &'a [Option<Box<dyn Kernel>>],
    pub needed: &'a [bool],
    pub outputs: &'a [NodeEntry],
    /// Shape of an entry (inference has succeeded for every needed one).
    pub shape: &'a dyn Fn(NodeEntry) -> Vec<usize>,
    /// Dtype of an entry.
    pub dtype: &'a dyn Fn(NodeEntry) -> DType,
    /// The values of an entry that is a constant (a bound weight or a
    /// filled auxiliary state), else `None`.
    pub constant: &'a dyn Fn(NodeEntry) -> Option<Cow<'a, [f32]>>,
    /// Whether to fold BatchNorm into constant weights (else it is applied
    /// in the epilogue).
    pub fold: bool,
    /// Run every folded 3×3 convolution Winograd's way, not only those
    /// where it is faster (to test that path on small models).
    pub winograd_everywhere: bool,
}

fn key(e: NodeEntry) -> (u32, u32) {
    (e.node, e.index)
}

const BATCH_NORMS: &[&str] = &[
    "BatchNorm",
    "BatchNorm_v1",
    "_contrib_SyncBatchNorm",
    "CuDNNBatchNorm",
];

/// The activation a node computes, when it is one a chain can end with.
fn post_of(node: &Node) -> Option<Post> {
    let a = Attrs::new(node);
    match canonical(&node.op) {
        "Activation" if a.get("act_type") == Some("relu") => Some(Post::Relu),
        "clip" => {
            let lo = a.req_float("a_min").ok()? as f32;
            let hi = a.req_float("a_max").ok()? as f32;
            (lo <= hi).then_some(Post::Clip(lo, hi))
        }
        _ => None,
    }
}

/// Finds the chains of `g`.
pub(crate) fn chains(g: &Graph<'_>) -> Vec<Chain> {
    let nodes = g.nodes;
    // Consumers of each entry among the needed kernels' read inputs.
    let mut consumers: HashMap<(u32, u32), Vec<(usize, usize)>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let Some(k) = g.kernels[i].as_ref().filter(|_| g.needed[i]) else {
            continue;
        };
        for (pos, e) in node.inputs.iter().enumerate() {
            if !k.unused_inputs().contains(&pos) {
                consumers.entry(key(*e)).or_default().push((i, pos));
            }
        }
    }
    let sole = |e: NodeEntry| -> Option<(usize, usize)> {
        if g.outputs.iter().any(|o| key(*o) == key(e)) {
            return None;
        }
        match consumers.get(&key(e)).map(Vec::as_slice) {
            Some([one]) => Some(*one),
            _ => None,
        }
    };
    let f32s = |es: &[NodeEntry]| es.iter().all(|e| (g.dtype)(*e) == DType::F32);
    let out = |i: usize| NodeEntry::new(i as u32, 0);
    let mut taken = vec![false; nodes.len()];
    let mut found = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        if !g.needed[i] || g.kernels[i].is_none() || taken[i] {
            continue;
        }
        let op = canonical(&node.op);
        let attrs = Attrs::new(node);
        let layer = match op {
            "Convolution" => convolution::parse(&attrs).ok().map(Layer::Conv),
            "FullyConnected" => fully_connected::parse(&attrs).ok().map(Layer::Dense),
            _ => None,
        };
        if let Some(layer) = layer {
            if !f32s(&node.inputs) || !f32s(&[out(i)]) {
                continue;
            }
            let free = |n: usize| !taken[n];
            if let Some(c) = layer_chain(g, &sole, &f32s, &free, i, layer) {
                for &n in &c.nodes {
                    taken[n] = true;
                }
                found.push(c);
            }
            continue;
        }
        if BATCH_NORMS.contains(&op) {
            let Ok(mut bn) = batch_norm::parse(&attrs) else {
                continue;
            };
            let Some((a, 0)) = sole(out(i)) else { continue };
            let Some(post) = post_of(&nodes[a]) else {
                continue;
            };
            if !f32s(&node.inputs) || !f32s(&[out(i), out(a)]) || taken[a] {
                continue;
            }
            bn.post = post;
            taken[i] = true;
            taken[a] = true;
            found.push(Chain {
                nodes: vec![i, a],
                inputs: node.inputs.clone(),
                kernel: Box::new(bn),
                label: format!("{op}+{}", canonical(&nodes[a].op)),
            });
        }
    }
    found
}

/// The chain that starts at layer node `i`, if anything follows it.
fn layer_chain(
    g: &Graph<'_>,
    sole: &dyn Fn(NodeEntry) -> Option<(usize, usize)>,
    f32s: &dyn Fn(&[NodeEntry]) -> bool,
    free: &dyn Fn(usize) -> bool,
    i: usize,
    layer: Layer,
) -> Option<Chain> {
    let nodes = g.nodes;
    let out = |i: usize| NodeEntry::new(i as u32, 0);
    // The sole consumer of an entry, when no other chain has taken it.
    let sole = |e: NodeEntry| sole(e).filter(|(c, _)| free(*c));
    let ndim = (g.shape)(out(i)).len();
    // The channel axis of the layer's output.
    let channel_axis = match &layer {
        Layer::Conv(_) => 1,
        Layer::Dense(_) => ndim.saturating_sub(1),
    };
    let mut chain = vec![i];
    let mut labels = vec![canonical(&nodes[i].op).to_owned()];
    let mut cur = out(i);
    // BatchNorm.
    let mut bn: Option<(BatchNorm, usize)> = None;
    if let Some((c, 0)) = sole(cur) {
        let n = &nodes[c];
        if BATCH_NORMS.contains(&canonical(&n.op))
            && let Ok(b) = batch_norm::parse(&Attrs::new(n))
            && axis(b.axis, ndim).ok() == Some(channel_axis)
            && g.kernels[c].as_ref().is_some_and(|k| k.num_outputs() == 1)
            && f32s(&n.inputs)
            && f32s(&[out(c)])
        {
            bn = Some((b, c));
            chain.push(c);
            labels.push(canonical(&n.op).to_owned());
            cur = out(c);
        }
    }
    // Residual add.
    let mut residual = None;
    if let Some((c, pos)) = sole(cur) {
        let n = &nodes[c];
        let op = canonical(&n.op);
        if (op == "elemwise_add" || op == "broadcast_add") && n.inputs.len() == 2 {
            let other = n.inputs[1 - pos];
            if key(other) != key(cur)
                && (g.shape)(other) == (g.shape)(cur)
                && f32s(&[other, out(c)])
            {
                residual = Some(other);
                chain.push(c);
                labels.push(op.to_owned());
                cur = out(c);
            }
        }
    }
    // Activation.
    let mut post = Post::Identity;
    if let Some((c, 0)) = sole(cur)
        && let Some(p) = post_of(&nodes[c])
        && f32s(&[out(c)])
    {
        post = p;
        chain.push(c);
        labels.push(canonical(&nodes[c].op).to_owned());
    }
    let layer_inputs = &nodes[i].inputs;
    let no_bias = match &layer {
        Layer::Conv(c) => c.no_bias,
        Layer::Dense(d) => d.no_bias,
    };
    let params = if no_bias { 2 } else { 3 };
    let mut inputs: Vec<NodeEntry> = layer_inputs[..params].to_vec();
    let mut bn_part = match bn {
        None => BnPart::None,
        Some((b, c)) => {
            let stats = &nodes[c].inputs[1..5];
            let w = (g.constant)(layer_inputs[1]);
            let bias = if no_bias {
                Some(None)
            } else {
                (g.constant)(layer_inputs[2]).map(Some)
            };
            let st: Option<Vec<Cow<'_, [f32]>>> = stats.iter().map(|e| (g.constant)(*e)).collect();
            match (w, bias, st) {
                (Some(w), Some(bias), Some(st)) if g.fold => {
                    inputs.truncate(1);
                    fold(&b, &w, bias.as_deref(), &st[0], &st[1], &st[2], &st[3])
                }
                _ => {
                    inputs.extend_from_slice(stats);
                    BnPart::Runtime(b)
                }
            }
        }
    };
    // A convolution's filters are prepared once, here, for the path that
    // runs them (Winograd's transform, the blocked kernel's panels): the
    // folded ones, or the layer's own when they are constants. The plain
    // folded weights are then not kept.
    let mut prepared = Prepared::None;
    if let Layer::Conv(conv) = &layer
        && g.fold
    {
        let xshape = (g.shape)(layer_inputs[0]);
        prepared = match &mut bn_part {
            BnPart::Folded { weight, .. } => {
                let p = convolution::prepare(conv, &xshape, weight, g.winograd_everywhere);
                if p.replaces_weights() {
                    *weight = Vec::new();
                }
                p
            }
            _ => match (g.constant)(layer_inputs[1]) {
                Some(w) => convolution::prepare(conv, &xshape, &w, g.winograd_everywhere),
                None => Prepared::None,
            },
        };
    }
    // A lone layer is a step of its own only when its filters were
    // prepared.
    if chain.len() == 1 && !prepared.replaces_weights() {
        return None;
    }
    if let Some(r) = residual {
        inputs.push(r);
    }
    Some(Chain {
        nodes: chain,
        inputs,
        kernel: Box::new(FusedLayer {
            layer,
            bn: bn_part,
            residual: residual.is_some(),
            post,
            prepared,
        }),
        label: labels.join("+"),
    })
}
