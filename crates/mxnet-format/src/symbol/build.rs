//! From parsed JSON to a validated [`Symbol`]: range checks, cycle detection,
//! the legacy upgrade, and MXNet's canonical node order.

use std::collections::BTreeMap;

use super::error::{NodeRef, SymbolError, SymbolWarning};
use super::raw::{RawGraph, RawGraphAttr, RawNode};
use super::{Dialect, GraphAttr, MXNET_VERSION, Node, NodeEntry, Symbol, upgrade};

/// Version a file without `mxnet_version` is taken to have (0.8.0).
const LEGACY_VERSION: i64 = 800;

pub(crate) fn parse(text: &str) -> Result<Symbol, SymbolError> {
    let kind = crate::sniff(&text.as_bytes()[..text.len().min(64)]);
    if !matches!(kind, crate::FileKind::Json | crate::FileKind::Unknown) {
        return Err(SymbolError::NotSymbol { found: kind });
    }
    let raw: RawGraph = serde_json::from_str(text).map_err(|e| syntax(&e))?;
    from_raw(raw, true)
}

fn syntax(e: &serde_json::Error) -> SymbolError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    SymbolError::Syntax {
        line: e.line(),
        column: e.column(),
        message,
    }
}

fn node_ref(nodes: &[Node], i: usize) -> NodeRef {
    NodeRef {
        index: i,
        name: nodes.get(i).map(|n| n.name.clone()).unwrap_or_default(),
    }
}

fn from_raw(raw: RawGraph, top: bool) -> Result<Symbol, SymbolError> {
    let mut warnings = Vec::new();
    if raw.missing.contains(&"nodes") {
        let mut keys = raw.unknown_keys.clone();
        for (present, key) in [
            (raw.arg_nodes.is_some(), "arg_nodes"),
            (raw.node_row_ptr.is_some(), "node_row_ptr"),
            (!raw.missing.contains(&"heads"), "heads"),
            (raw.attrs.is_some(), "attrs"),
        ] {
            if present {
                keys.push(key.to_owned());
            }
        }
        return Err(SymbolError::NotASymbolObject { keys });
    }
    if raw.missing.contains(&"heads") {
        return Err(SymbolError::MissingField { field: "heads" });
    }
    if raw.missing.contains(&"arg_nodes") {
        warnings.push(SymbolWarning::MissingArgNodes);
    }
    if !raw.unknown_keys.is_empty() {
        warnings.push(SymbolWarning::UnknownKeys {
            node: None,
            keys: raw.unknown_keys.clone(),
        });
    }

    // Graph attributes and the declared version.
    let mut attrs = BTreeMap::new();
    let mut declared_version = None;
    for (key, value) in raw.attrs.clone().unwrap_or_default() {
        let Some(a) = RawGraphAttr::from_value(&value) else {
            let mut found = value.to_string();
            if found.len() > 80 {
                let cut = (0..=77)
                    .rev()
                    .find(|&i| found.is_char_boundary(i))
                    .unwrap_or(0);
                found.truncate(cut);
                found.push_str("...");
            }
            return Err(SymbolError::BadGraphAttr {
                key,
                reason: format!(
                    "expected a typed pair [\"TYPE\", VALUE] such as [\"int\", 10901], found {found}"
                ),
            });
        };
        if key == "mxnet_version" {
            let v = match (a.ty.as_str(), a.value.as_i64()) {
                ("int", Some(v)) => v,
                _ => {
                    return Err(SymbolError::BadGraphAttr {
                        key,
                        reason: format!(
                            "expected [\"int\", VERSION] such as [\"int\", 10901], found [{:?}, {}]",
                            a.ty, a.value
                        ),
                    });
                }
            };
            declared_version = Some(v);
        } else {
            attrs.insert(
                key,
                GraphAttr {
                    ty: a.ty,
                    value: a.value,
                },
            );
        }
    }

    let dialect = if raw
        .nodes
        .iter()
        .any(|n| n.has_param || n.has_backward_source_id || n.inputs.iter().any(|e| e.short))
        || raw.heads.iter().any(|e| e.short)
    {
        Dialect::Legacy08
    } else if raw.nodes.iter().any(|n| n.has_attr) {
        Dialect::Attr
    } else {
        Dialect::Attrs
    };

    let count = raw.nodes.len();
    let stored = stored_counts(raw.node_row_ptr.as_deref(), count);
    let mut nodes = Vec::with_capacity(count);
    for (i, rn) in raw.nodes.into_iter().enumerate() {
        nodes.push(convert_node(rn, i, stored[i], count, &mut warnings)?);
    }
    let mut heads = Vec::with_capacity(raw.heads.len());
    for (h, e) in raw.heads.iter().enumerate() {
        if e.node as usize >= count {
            return Err(SymbolError::HeadOutOfRange {
                head: h,
                target: e.node,
                count,
            });
        }
        heads.push(NodeEntry {
            node: e.node,
            index: e.index,
            version: e.version,
        });
    }

    let version = declared_version.unwrap_or(LEGACY_VERSION);
    let mut order = dfs_order(&nodes, &heads)?;
    note_order(&nodes, &order, &mut warnings);
    if top && version < i64::from(MXNET_VERSION) {
        upgrade::apply(&mut nodes, &order, version);
        order = dfs_order(&nodes, &heads)?;
        warnings.push(SymbolWarning::Upgraded {
            from_version: u32::try_from(version).unwrap_or(0),
        });
    } else if version > i64::from(MXNET_VERSION) {
        warnings.push(SymbolWarning::NewerVersion { version });
    }
    let origin = order.clone();
    let (nodes, heads) = renumber(nodes, heads, &order);
    check_output_indices(&nodes, &heads, &origin)?;
    Ok(Symbol {
        nodes,
        heads,
        attrs,
        declared_version,
        dialect,
        warnings,
    })
}

fn convert_node(
    rn: RawNode,
    i: usize,
    stored: Option<u32>,
    count: usize,
    warnings: &mut Vec<SymbolWarning>,
) -> Result<Node, SymbolError> {
    let this = || NodeRef {
        index: i,
        name: rn.name.clone(),
    };
    if !rn.notes.unknown_keys.is_empty() {
        warnings.push(SymbolWarning::UnknownKeys {
            node: Some(this()),
            keys: rn.notes.unknown_keys.clone(),
        });
    }
    if !rn.notes.non_string_attrs.is_empty() {
        warnings.push(SymbolWarning::NonStringAttributes {
            node: this(),
            keys: rn.notes.non_string_attrs.clone(),
        });
    }
    if rn.notes.null_op {
        warnings.push(SymbolWarning::NullOp { node: this() });
    }
    let mut inputs = Vec::with_capacity(rn.inputs.len());
    for (k, e) in rn.inputs.iter().enumerate() {
        if e.node as usize >= count {
            return Err(SymbolError::InputOutOfRange {
                node: this(),
                input: k,
                target: e.node,
                count,
            });
        }
        inputs.push(NodeEntry {
            node: e.node,
            index: e.index,
            version: e.version,
        });
    }
    for &d in &rn.control_deps {
        if d as usize >= count {
            return Err(SymbolError::ControlDepOutOfRange {
                node: this(),
                target: d,
                count,
            });
        }
    }
    let mut subgraphs = Vec::with_capacity(rn.subgraphs.len());
    for (s, g) in rn.subgraphs.into_iter().enumerate() {
        subgraphs.push(from_raw(g, false).map_err(|e| SymbolError::Subgraph {
            node: this(),
            subgraph: s,
            error: Box::new(e),
        })?);
    }
    Ok(Node {
        op: rn.op,
        name: rn.name,
        attrs: rn.attrs,
        inputs,
        control_deps: rn.control_deps,
        subgraphs,
        stored_outputs: stored,
    })
}

/// Per-node output counts from a `node_row_ptr`, when it is consistent.
fn stored_counts(ptr: Option<&[u64]>, count: usize) -> Vec<Option<u32>> {
    let ok = ptr.is_some_and(|p| {
        p.len() == count + 1 && p.first() == Some(&0) && p.windows(2).all(|w| w[1] > w[0])
    });
    match ptr {
        Some(p) if ok => p
            .windows(2)
            .map(|w| u32::try_from(w[1] - w[0]).ok())
            .collect(),
        _ => vec![None; count],
    }
}

pub(crate) fn from_nodes(nodes: Vec<Node>, heads: Vec<NodeEntry>) -> Result<Symbol, SymbolError> {
    let count = nodes.len();
    for (i, n) in nodes.iter().enumerate() {
        for (k, e) in n.inputs.iter().enumerate() {
            if e.node as usize >= count {
                return Err(SymbolError::InputOutOfRange {
                    node: node_ref(&nodes, i),
                    input: k,
                    target: e.node,
                    count,
                });
            }
        }
        for &d in &n.control_deps {
            if d as usize >= count {
                return Err(SymbolError::ControlDepOutOfRange {
                    node: node_ref(&nodes, i),
                    target: d,
                    count,
                });
            }
        }
    }
    for (h, e) in heads.iter().enumerate() {
        if e.node as usize >= count {
            return Err(SymbolError::HeadOutOfRange {
                head: h,
                target: e.node,
                count,
            });
        }
    }
    let mut warnings = Vec::new();
    let order = dfs_order(&nodes, &heads)?;
    note_order(&nodes, &order, &mut warnings);
    let origin = order.clone();
    let (nodes, heads) = renumber(nodes, heads, &order);
    check_output_indices(&nodes, &heads, &origin)?;
    Ok(Symbol {
        nodes,
        heads,
        attrs: BTreeMap::new(),
        declared_version: Some(i64::from(MXNET_VERSION)),
        dialect: Dialect::Attrs,
        warnings,
    })
}

/// MXNet's post-order depth-first visit from the heads (each node's inputs in
/// order, then its control dependencies; each node once), with cycle
/// detection. Iterative, so deep graphs cannot overflow the stack.
pub(crate) fn dfs_order(nodes: &[Node], heads: &[NodeEntry]) -> Result<Vec<usize>, SymbolError> {
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for head in heads {
        let h = head.node as usize;
        if state[h] != NEW {
            continue;
        }
        state[h] = OPEN;
        stack.push((h, 0));
        while let Some(top) = stack.last_mut() {
            let (v, next) = *top;
            let node = &nodes[v];
            let degree = node.inputs.len() + node.control_deps.len();
            if next == degree {
                state[v] = DONE;
                order.push(v);
                stack.pop();
                continue;
            }
            top.1 += 1;
            let u = if next < node.inputs.len() {
                node.inputs[next].node as usize
            } else {
                node.control_deps[next - node.inputs.len()] as usize
            };
            match state[u] {
                NEW => {
                    state[u] = OPEN;
                    stack.push((u, 0));
                }
                OPEN => {
                    return Err(SymbolError::Cycle {
                        node: node_ref(nodes, u),
                    });
                }
                _ => {}
            }
        }
    }
    Ok(order)
}

fn note_order(nodes: &[Node], order: &[usize], warnings: &mut Vec<SymbolWarning>) {
    if order.len() < nodes.len() {
        let mut reached = vec![false; nodes.len()];
        for &i in order {
            reached[i] = true;
        }
        let dropped = (0..nodes.len())
            .filter(|&i| !reached[i])
            .map(|i| node_ref(nodes, i))
            .collect();
        warnings.push(SymbolWarning::Unreachable { nodes: dropped });
    }
    let forward_entries = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| {
            n.inputs
                .iter()
                .map(|e| e.node as usize)
                .chain(n.control_deps.iter().map(|&d| d as usize))
                .filter(move |&t| t >= i)
        })
        .count();
    if forward_entries > 0 {
        warnings.push(SymbolWarning::Reordered { forward_entries });
    }
}

/// Keeps the nodes listed in `order`, in that order, and rewrites every
/// reference to the new indices.
fn renumber(
    nodes: Vec<Node>,
    heads: Vec<NodeEntry>,
    order: &[usize],
) -> (Vec<Node>, Vec<NodeEntry>) {
    let identity = order.len() == nodes.len() && order.iter().enumerate().all(|(k, &i)| k == i);
    if identity {
        return (nodes, heads);
    }
    let mut new_index = vec![u32::MAX; nodes.len()];
    for (k, &i) in order.iter().enumerate() {
        new_index[i] = k as u32;
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    let remap = |e: NodeEntry| NodeEntry {
        node: new_index[e.node as usize],
        ..e
    };
    let mut out = Vec::with_capacity(order.len());
    for &i in order {
        if let Some(mut n) = slots[i].take() {
            for e in &mut n.inputs {
                *e = remap(*e);
            }
            for d in &mut n.control_deps {
                *d = new_index[*d as usize];
            }
            out.push(n);
        }
    }
    let heads = heads.into_iter().map(remap).collect();
    (out, heads)
}

/// Output counts of every node (see [`Symbol::num_outputs`]).
pub(crate) fn output_counts(nodes: &[Node], heads: &[NodeEntry]) -> Vec<usize> {
    let mut used = vec![0usize; nodes.len()];
    for e in nodes.iter().flat_map(|n| n.inputs.iter()).chain(heads) {
        let u = &mut used[e.node as usize];
        *u = (*u).max(e.index as usize + 1);
    }
    nodes
        .iter()
        .zip(used)
        .map(|(n, used)| known_outputs(n).unwrap_or(used.max(1)))
        .collect()
}

/// The output count of a node from the file or MXNet's registry.
fn known_outputs(n: &Node) -> Option<usize> {
    if n.is_variable() {
        return Some(1);
    }
    n.stored_outputs
        .map(|s| s as usize)
        .or_else(|| n.signature().map(|s| s.num_outputs()))
}

pub(crate) fn num_outputs(nodes: &[Node], heads: &[NodeEntry], i: usize) -> usize {
    known_outputs(&nodes[i]).unwrap_or_else(|| {
        nodes
            .iter()
            .flat_map(|n| n.inputs.iter())
            .chain(heads)
            .filter(|e| e.node as usize == i)
            .map(|e| e.index as usize + 1)
            .max()
            .unwrap_or(1)
    })
}

fn check_output_indices(
    nodes: &[Node],
    heads: &[NodeEntry],
    origin: &[usize],
) -> Result<(), SymbolError> {
    let file_ref = |k: usize| NodeRef {
        index: origin.get(k).copied().unwrap_or(k),
        name: nodes[k].name.clone(),
    };
    // Once per node, not per entry: a signature can be costly (a variadic op
    // declaring 65536 inputs), and a file can hold many entries into one node.
    let limits: Vec<Option<usize>> = nodes
        .iter()
        .map(|producer| {
            // A variable has one output whatever `node_row_ptr` claims (the
            // writer writes 1 for it).
            if producer.is_variable() {
                Some(1)
            } else {
                producer
                    .stored_outputs
                    .map(|s| s as usize)
                    .max(producer.signature().map(|s| s.num_outputs()))
            }
        })
        .collect();
    let check = |user: &dyn Fn() -> String, e: &NodeEntry| -> Result<(), SymbolError> {
        let producer = &nodes[e.node as usize];
        match limits[e.node as usize] {
            Some(limit) if e.index as usize >= limit => Err(SymbolError::OutputOutOfRange {
                user: user(),
                node: file_ref(e.node as usize),
                op: producer.op.clone(),
                index: e.index,
                outputs: limit,
            }),
            _ => Ok(()),
        }
    };
    for (k, n) in nodes.iter().enumerate() {
        for e in &n.inputs {
            check(&|| file_ref(k).to_string(), e)?;
        }
    }
    for (h, e) in heads.iter().enumerate() {
        check(&|| format!("head {h}"), e)?;
    }
    Ok(())
}
