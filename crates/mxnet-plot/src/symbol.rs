//! From an MXNet symbol to a [`Diagram`].

use std::collections::BTreeSet;

use mxnet_format::attr::parse_int_tuple;
use mxnet_format::symbol::{Node, Symbol};

use crate::PlotOptions;
use crate::diagram::{Diagram, DiagramEdge, DiagramNode, EdgeKind, NodeKind};
use crate::summary;
use crate::text::truncate;

/// What a variable node is, judged from how the ops use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VarRole {
    /// Fed by the caller: drawn as an input.
    Data,
    /// A learned parameter or auxiliary state: folded into its consumers.
    Param,
    /// A loss label: drawn dimmed.
    Label,
}

/// Name endings MXNet and Gluon give parameters and auxiliary states
/// (the same list `mx.viz.plot_network` hides).
const PARAM_SUFFIXES: &[&str] = &[
    "_weight",
    "_bias",
    "_gamma",
    "_beta",
    "_moving_mean",
    "_moving_var",
    "_running_mean",
    "_running_var",
    "_parameters",
    "_alpha",
];

/// At most this many parameter lines in one box; the rest are counted.
const MAX_PARAM_LINES: usize = 4;
/// Node names longer than this are shortened in the box (the tooltip keeps
/// the full name).
const MAX_NAME: usize = 48;
/// Op summaries longer than this are shortened (a long `Reshape` target,
/// say).
const MAX_TITLE: usize = 56;

fn roles(sym: &Symbol) -> Vec<Option<VarRole>> {
    let nodes = sym.nodes();
    // Per variable: seen as data / param / label.
    let mut seen = vec![(false, false, false); nodes.len()];
    for node in nodes.iter().filter(|n| !n.is_variable()) {
        let sig = node.signature();
        for (pos, e) in node.inputs.iter().enumerate() {
            let v = e.node as usize;
            let Some(var) = nodes.get(v).filter(|n| n.is_variable()) else {
                continue;
            };
            let (learned, label) = match &sig {
                Some(s) => (
                    s.learned.contains(&pos) || s.aux.contains(&pos),
                    s.labels.contains(&pos),
                ),
                None => (false, false),
            };
            let slot = &mut seen[v];
            if learned || (!label && PARAM_SUFFIXES.iter().any(|s| var.name.ends_with(s))) {
                slot.1 = true;
            } else if label || var.name.ends_with("_label") {
                slot.2 = true;
            } else {
                slot.0 = true;
            }
        }
    }
    for h in sym.heads() {
        if let Some(slot) = seen.get_mut(h.node as usize) {
            slot.0 = true;
        }
    }
    nodes
        .iter()
        .zip(seen)
        .map(|(n, (data, param, label))| {
            n.is_variable().then_some(if data {
                VarRole::Data
            } else if param {
                VarRole::Param
            } else if label {
                VarRole::Label
            } else {
                VarRole::Data
            })
        })
        .collect()
}

/// `1×64×56×56`; unknown dimensions (0 in MXNet's legacy shapes, -1 under
/// NumPy semantics) as `?`.
fn shape_text(dims: &[i64], np_shape: bool) -> String {
    if dims.is_empty() {
        return "scalar".to_owned();
    }
    dims.iter()
        .map(|&d| {
            if d < 0 || (d == 0 && !np_shape) {
                "?".to_owned()
            } else {
                d.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("×")
}

fn known_shape(sym: &Symbol, opts: &PlotOptions, node: usize, output: usize) -> Option<String> {
    if let Some(s) = opts.shapes.as_ref().and_then(|m| m.get(&(node, output))) {
        let dims: Vec<i64> = s.iter().map(|&d| i64::try_from(d).unwrap_or(-1)).collect();
        return Some(shape_text(&dims, true));
    }
    let n = sym.nodes().get(node)?;
    if n.is_variable() && output == 0 {
        let hint = n.attrs.get("__shape__")?;
        let dims = parse_int_tuple(hint).ok().flatten()?;
        let np = sym.is_np_shape();
        // A hint with no known dimension says nothing.
        if !dims.is_empty() && dims.iter().all(|&d| d < 0 || (d == 0 && !np)) {
            return None;
        }
        return Some(shape_text(&dims, np));
    }
    None
}

/// The part of `var` after the longest `_`-terminated prefix it shares with
/// `op` (`glstm_lstm0_l0_i2h_weight` used by `glstm_lstm0_reshape0` →
/// `l0_i2h_weight`).
fn short_name<'a>(var: &'a str, op: &str) -> &'a str {
    // Byte offset of the last `_` in the shared prefix (`_` is ASCII, so the
    // byte after it starts a character).
    let cut = var
        .char_indices()
        .zip(op.chars())
        .take_while(|((_, a), b)| a == b)
        .filter(|((_, a), _)| *a == '_')
        .map(|((i, _), _)| i)
        .last();
    match cut {
        Some(i) if i + 1 < var.len() => var.get(i + 1..).unwrap_or(var),
        _ => var,
    }
}

/// The display name of a folded input: its slot name for a parameter slot
/// (`weight`, `gamma`, `mean`), else the variable's own name shortened.
fn param_name(node: &Node, pos: usize, var: &Node) -> String {
    if let Some(sig) = node.signature()
        && (sig.learned.contains(&pos) || sig.aux.contains(&pos))
        && let Some(slot) = sig.inputs.get(pos)
    {
        return slot.strip_prefix("moving_").unwrap_or(slot).to_owned();
    }
    short_name(&var.name, &node.name).to_owned()
}

fn tooltip(node: &Node) -> String {
    let mut t = format!("{}\nop: {}", node.name, node.op);
    for (k, v) in &node.attrs {
        t.push('\n');
        t.push_str(k);
        t.push_str(" = ");
        t.push_str(v);
    }
    t
}

/// Parameter lines of an op box: consecutive folded inputs with the same
/// shape share a line (`gamma, beta, mean, var 64`).
fn param_lines(
    sym: &Symbol,
    opts: &PlotOptions,
    roles: &[Option<VarRole>],
    node: &Node,
) -> Vec<String> {
    let mut groups: Vec<(Vec<String>, Option<String>)> = Vec::new();
    for (pos, e) in node.inputs.iter().enumerate() {
        let v = e.node as usize;
        if roles.get(v) != Some(&Some(VarRole::Param)) || opts.all_variables {
            continue;
        }
        let Some(var) = sym.nodes().get(v) else {
            continue;
        };
        let name = param_name(node, pos, var);
        let shape = known_shape(sym, opts, v, 0);
        match groups.last_mut() {
            Some((names, s)) if *s == shape => names.push(name),
            _ => groups.push((vec![name], shape)),
        }
    }
    let mut lines: Vec<String> = groups
        .into_iter()
        .map(|(names, shape)| match shape {
            Some(s) => format!("{} {s}", names.join(", ")),
            None => names.join(", "),
        })
        .collect();
    if lines.len() > MAX_PARAM_LINES {
        let more = lines.len() - (MAX_PARAM_LINES - 1);
        lines.truncate(MAX_PARAM_LINES - 1);
        lines.push(format!("+ {more} more"));
    }
    lines
}

pub(crate) fn diagram(sym: &Symbol, opts: &PlotOptions) -> Diagram {
    let nodes = sym.nodes();
    let roles = roles(sym);
    let mut d = Diagram::new();
    d.title = opts.title.clone();
    d.legend = opts.legend;
    let mut index: Vec<Option<usize>> = vec![None; nodes.len()];
    let (mut n_ops, mut n_inputs, mut n_params) = (0usize, 0usize, 0usize);

    for (i, node) in nodes.iter().enumerate() {
        let dn = match roles[i] {
            None => {
                n_ops += 1;
                let mut dn = DiagramNode::new(
                    NodeKind::Op(summary::node_family(node)),
                    truncate(&summary::summary(node), MAX_TITLE),
                );
                if opts.node_names && !node.name.is_empty() {
                    dn = dn.line(truncate(&node.name, MAX_NAME));
                }
                for line in param_lines(sym, opts, &roles, node) {
                    dn = dn.line(line);
                }
                Some(dn.tooltip(tooltip(node)))
            }
            Some(role) => {
                let kind = match role {
                    VarRole::Data => {
                        n_inputs += 1;
                        Some(NodeKind::Input)
                    }
                    VarRole::Label => Some(NodeKind::Label),
                    VarRole::Param => {
                        n_params += 1;
                        opts.all_variables.then_some(NodeKind::Parameter)
                    }
                };
                kind.map(|k| {
                    let name = truncate(&node.name, MAX_NAME);
                    let shape = known_shape(sym, opts, i, 0);
                    let dn = match (k, shape) {
                        // Parameters are small one-line boxes.
                        (NodeKind::Parameter, Some(s)) => {
                            DiagramNode::new(k, format!("{name} {s}"))
                        }
                        (_, Some(s)) => DiagramNode::new(k, name).line(s),
                        (_, None) => DiagramNode::new(k, name),
                    };
                    dn.tooltip(tooltip(node))
                })
            }
        };
        if let Some(dn) = dn {
            index[i] = Some(d.add_node(dn));
        }
    }

    // Nodes whose outputs other than the first are used: their edges are
    // labelled with output names.
    let mut multi = vec![false; nodes.len()];
    let later = nodes
        .iter()
        .flat_map(|n| n.inputs.iter())
        .chain(sym.heads())
        .filter(|e| e.index > 0);
    for e in later {
        if let Some(m) = multi.get_mut(e.node as usize) {
            *m = true;
        }
    }

    // Data edges, then control dependencies.
    for (i, node) in nodes.iter().enumerate() {
        let Some(to) = index[i] else { continue };
        for e in &node.inputs {
            let src = e.node as usize;
            let Some(from) = index.get(src).copied().flatten() else {
                continue;
            };
            let kind = match roles.get(src).copied().flatten() {
                Some(VarRole::Label | VarRole::Param) => EdgeKind::Dimmed,
                _ => EdgeKind::Data,
            };
            let mut edge = DiagramEdge::new(from, to).kind(kind);
            if let Some(label) = edge_label(
                sym,
                opts,
                src,
                e.index as usize,
                multi.get(src) == Some(&true),
            ) {
                edge = edge.label(label);
            }
            d.add_edge(edge);
        }
        for &dep in &node.control_deps {
            if let Some(from) = index.get(dep as usize).copied().flatten() {
                d.add_edge(DiagramEdge::new(from, to).kind(EdgeKind::Control));
            }
        }
    }

    // One terminal per graph output.
    let names = sym.list_outputs();
    let mut heads_seen = BTreeSet::new();
    for (h, name) in sym.heads().iter().zip(names) {
        if !heads_seen.insert((h.node, h.index)) {
            continue;
        }
        let Some(from) = index.get(h.node as usize).copied().flatten() else {
            continue;
        };
        let out = d.add_node(DiagramNode::new(
            NodeKind::Output,
            truncate(&name, MAX_NAME),
        ));
        let mut edge = DiagramEdge::new(from, out);
        let src = h.node as usize;
        if let Some(label) = edge_label(
            sym,
            opts,
            src,
            h.index as usize,
            multi.get(src) == Some(&true),
        ) {
            edge = edge.label(label);
        }
        d.add_edge(edge);
    }

    if opts.caption {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = [
            plural(n_ops, "operator", "operators"),
            plural(n_inputs, "input", "inputs"),
            plural(n_params, "parameter array", "parameter arrays"),
            plural(heads_seen.len(), "output", "outputs"),
        ];
        if !opts.all_variables && n_params > 0 {
            parts[2].push_str(" (listed in their ops)");
        }
        d.caption = Some(parts.join(" · "));
    }
    d
}

/// The label of an edge leaving output `output` of node `src`: its shape
/// when known, prefixed by the output's name when `named` (the node's
/// later outputs are used too).
fn edge_label(
    sym: &Symbol,
    opts: &PlotOptions,
    src: usize,
    output: usize,
    named: bool,
) -> Option<String> {
    let node = sym.nodes().get(src)?;
    let shape = known_shape(sym, opts, src, output).filter(|_| !node.is_variable());
    let out_name = if named && !node.is_variable() {
        Some(
            node.signature()
                .and_then(|s| s.outputs.get(output).map(|n| n.to_string()))
                .unwrap_or_else(|| format!("output{output}")),
        )
    } else {
        None
    };
    match (out_name, shape) {
        (Some(n), Some(s)) => Some(format!("{n} {s}")),
        (Some(n), None) => Some(n),
        (None, Some(s)) => Some(s),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_names() {
        assert_eq!(shape_text(&[1, 64, 56, 56], false), "1×64×56×56");
        assert_eq!(shape_text(&[4, 0, 3, 3], false), "4×?×3×3");
        assert_eq!(shape_text(&[4, 0], true), "4×0");
        assert_eq!(
            short_name("glstm_lstm0_l0_i2h_weight", "glstm_lstm0_reshape0"),
            "l0_i2h_weight"
        );
        assert_eq!(short_name("w", "conv"), "w");
        assert_eq!(short_name("é_weight", "è_conv"), "é_weight");
        assert_eq!(short_name("né_a_weight", "né_a_conv"), "weight");
    }
}
