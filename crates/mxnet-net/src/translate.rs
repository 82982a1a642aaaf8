//! Importing a symbol as a net, exporting a net as a symbol, evaluating.

use std::collections::{HashMap, HashSet};

use mxnet_format::params::{Array, ParamsWriter};
use mxnet_format::symbol::{NodeEntry, Symbol};
use mxnet_ops::attrs::Attrs;
use mxnet_ops::{Executor, Program, Tensor, Weights};

use crate::error::NetError;
use crate::net::{Element, Net, NetNode, Port, Source};
use crate::rules::{self, Builder, NodeView};

/// A node that became an `MXNetOp` layer, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The node (layer) name.
    pub node: String,
    /// The op.
    pub op: String,
    /// Why no rule translated it.
    pub reason: String,
}

/// A net imported from a symbol, and how.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The net.
    pub net: Net,
    /// Nodes that fell back to `MXNetOp` layers.
    pub fallbacks: Vec<Fallback>,
    /// Inputs that only loss heads read (dropped from the net).
    pub dropped_labels: Vec<String>,
}

/// Imports `sym` as a net; `weights` (by variable name) fill the layers'
/// arrays, `None` gives an uninitialised net.
pub fn import_symbol(sym: &Symbol, weights: Option<&Weights<'_>>) -> Result<Imported, NetError> {
    let nodes = sym.nodes();
    let absorbed: HashSet<usize> = rules::absorbed(sym).into_iter().collect();
    // Variables consumed by array slots become layer arrays, not inputs.
    let mut array_var = vec![false; nodes.len()];
    let mut label_only: HashMap<usize, bool> = HashMap::new();
    let mut translated: Vec<Option<rules::Translated>> = (0..nodes.len()).map(|_| None).collect();
    let mut fallbacks = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        if node.is_variable() {
            continue;
        }
        if absorbed.contains(&i) {
            // Gluon's RNN parameter pieces are arrays of the RNN layer, not
            // inputs; other absorbed nodes (a flattened softmax's Flatten)
            // read data, which the absorbing layer reads too.
            if matches!(node.canonical_op(), "Reshape" | "_rnn_param_concat") {
                for e in &node.inputs {
                    if nodes[e.node as usize].is_variable() {
                        array_var[e.node as usize] = true;
                    }
                }
            }
            continue;
        }
        let canonical = mxnet_ops::registry::canonical(&node.op);
        let view = NodeView {
            sym,
            node,
            attrs: Attrs::new(node),
            sig: node.signature(),
            weights,
            canonical,
        };
        // A rule's layer owns its weights; one whose weight is computed in
        // the graph (GluonNLP's BERT concatenates the query, key and value
        // weights into one FullyConnected weight) stays an MXNetOp.
        let computed = view.sig.as_ref().and_then(|sig| {
            sig.learned.iter().chain(&sig.aux).find_map(|&pos| {
                let e = node.inputs.get(pos)?;
                let p = &nodes[e.node as usize];
                // Absorbed producers (Gluon's RNN parameter concatenation)
                // are part of the layer the rule makes.
                (!p.is_variable() && !absorbed.contains(&(e.node as usize))).then(|| {
                    let slot = sig
                        .inputs
                        .get(pos)
                        .map_or_else(|| "input".to_owned(), ToString::to_string);
                    format!(
                        "its {slot} is computed in the graph (by {}), not stored",
                        p.name
                    )
                })
            })
        });
        // A stored array read where a layer of the rule's kind takes data
        // (GluonCV's SSD multiplies the image by a stored `init_scale`)
        // would become a net input and lose its values: such a node stays
        // an MXNetOp, which keeps the array.
        let stored_data = |t: &rules::Translated| {
            let w = weights?;
            t.data.iter().find_map(|&pos| {
                let p = &nodes[node.inputs.get(pos)?.node as usize];
                (p.is_variable() && w.get(&p.name).is_some()).then(|| {
                    format!(
                        "its input {} is a stored array, which a {} layer reads as data",
                        p.name,
                        t.layer.type_name()
                    )
                })
            })
        };
        // The rule's layer, or why the node stays an MXNetOp.
        let layer = match (computed, rules::imports().get(canonical)) {
            (Some(why), _) => Err(why),
            (None, Some(import)) => import(&view).and_then(|t| stored_data(&t).map_or(Ok(t), Err)),
            (None, None) if mxnet_format::schema::lookup(&node.op).is_some() => {
                Err(format!("no rule translates {}", node.op))
            }
            (None, None) => Err(format!("{} is not an op MXNet 1.9.1 registers", node.op)),
        };
        let t = layer.unwrap_or_else(|reason| {
            fallbacks.push(Fallback {
                node: node.name.clone(),
                op: node.op.clone(),
                reason: reason.clone(),
            });
            rules::fallback(&view, reason)
        });
        let labels = view
            .sig
            .as_ref()
            .map(|s| s.labels.clone())
            .unwrap_or_default();
        for (pos, e) in node.inputs.iter().enumerate() {
            let p = e.node as usize;
            if !nodes[p].is_variable() {
                continue;
            }
            if !t.data.contains(&pos) {
                if labels.contains(&pos) {
                    label_only.entry(p).or_insert(true);
                } else {
                    array_var[p] = true;
                }
            } else {
                label_only.insert(p, false);
            }
        }
        translated[i] = Some(t);
    }
    // Net inputs: variables read as data.
    let mut inputs = Vec::new();
    let mut dropped_labels = Vec::new();
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut used: HashSet<String> = HashSet::new();
    for (i, node) in nodes.iter().enumerate() {
        if !node.is_variable() || array_var[i] {
            continue;
        }
        if label_only.get(&i) == Some(&true) {
            dropped_labels.push(node.name.clone());
            continue;
        }
        let shape = node
            .attrs
            .get("__shape__")
            .and_then(|h| mxnet_format::attr::parse_int_tuple(h).ok().flatten())
            .filter(|d| d.iter().all(|&x| x > 0))
            .map(|d| d.into_iter().map(|x| x as usize).collect());
        used.insert(node.name.clone());
        inputs.push(Port {
            name: node.name.clone(),
            shape,
            dtype: mxnet_format::DType::F32,
        });
    }
    for (i, node) in nodes.iter().enumerate() {
        if translated[i].is_some() {
            let mut name = if node.name.is_empty() {
                format!("node{i}")
            } else {
                node.name.clone()
            };
            if used.contains(&name) {
                let mut k = 1;
                while used.contains(&format!("{name}_{k}")) {
                    k += 1;
                }
                name = format!("{name}_{k}");
            }
            used.insert(name.clone());
            names.insert(i, name);
        }
    }
    let source = |e: &NodeEntry| -> Source {
        let p = e.node as usize;
        if nodes[p].is_variable() {
            Source::Input(nodes[p].name.clone())
        } else {
            Source::Node {
                node: names.get(&p).cloned().unwrap_or_default(),
                output: e.index as usize,
            }
        }
    };
    let mut net_nodes = Vec::new();
    for (i, t) in translated.into_iter().enumerate() {
        let Some(t) = t else { continue };
        let node_inputs = t
            .data
            .iter()
            .filter_map(|&pos| nodes[i].inputs.get(pos))
            .map(source)
            .collect();
        net_nodes.push(NetNode {
            name: names[&i].clone(),
            element: Element::Layer(t.layer),
            inputs: node_inputs,
        });
    }
    let outputs = sym
        .heads()
        .iter()
        .zip(sym.list_outputs())
        .map(|(h, name)| (name, source(h)))
        .collect();
    let net = Net::graph(inputs, net_nodes, outputs)?;
    Ok(Imported {
        net,
        fallbacks,
        dropped_labels,
    })
}

/// How to export a net.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Do not write `__shape__` hints on inputs (MXNet files normally lack
    /// them; we write them by default so input sizes survive a round trip).
    pub no_shape_hints: bool,
}

/// A net as an MXNet symbol and its arrays (`arg:`/`aux:` keyed).
pub struct Exported {
    /// The graph.
    pub symbol: Symbol,
    /// The arrays, keyed `arg:NAME` / `aux:NAME`.
    pub params: Vec<(String, Tensor)>,
    /// Variables with no array (uninitialised layers).
    pub missing: Vec<String>,
}

fn flatten_net(
    b: &mut Builder,
    net: &Net,
    prefix: &str,
    inputs: &HashMap<String, NodeEntry>,
) -> Result<Vec<NodeEntry>, NetError> {
    let mut outs: HashMap<(String, usize), NodeEntry> = HashMap::new();
    let resolve = |s: &Source,
                   outs: &HashMap<(String, usize), NodeEntry>|
     -> Result<NodeEntry, NetError> {
        match s {
            Source::Input(n) => inputs
                .get(n)
                .copied()
                .ok_or_else(|| NetError::Invalid(format!("no input {n:?}"))),
            Source::Node { node, output } => outs
                .get(&(node.clone(), *output))
                .copied()
                .ok_or_else(|| NetError::Invalid(format!("node {node:?} has no output {output}"))),
        }
    };
    for n in &net.nodes {
        let name = if prefix.is_empty() {
            n.name.clone()
        } else {
            format!("{prefix}_{}", n.name)
        };
        let ins = n
            .inputs
            .iter()
            .map(|s| resolve(s, &outs))
            .collect::<Result<Vec<_>, _>>()?;
        let results = match &n.element {
            Element::Layer(layer) => rules::export_layer(b, &name, layer, &ins)?,
            Element::Net(inner) => {
                let map = inner
                    .inputs
                    .iter()
                    .map(|p| p.name.clone())
                    .zip(ins)
                    .collect();
                flatten_net(b, inner, &name, &map)?
            }
        };
        for (k, e) in results.into_iter().enumerate() {
            outs.insert((n.name.clone(), k), e);
        }
    }
    net.outputs.iter().map(|(_, s)| resolve(s, &outs)).collect()
}

/// Lowers a net to an MXNet graph and its arrays.
pub fn to_symbol(net: &Net, options: &ExportOptions) -> Result<Exported, NetError> {
    let mut b = Builder::new();
    let mut inputs = HashMap::new();
    for p in &net.inputs {
        let shape = if options.no_shape_hints {
            None
        } else {
            p.shape.as_deref()
        };
        inputs.insert(p.name.clone(), b.input(&p.name, shape));
    }
    let heads = flatten_net(&mut b, net, "", &inputs)?;
    let symbol = Symbol::new(b.nodes, heads)?;
    Ok(Exported {
        symbol,
        params: b.params,
        missing: b.missing,
    })
}

/// Writes a net as `symbol_path` (JSON) and `params_path` (`.params`), the
/// pair MXNet 1.9.1 loads with `load_checkpoint` or `SymbolBlock.imports`.
/// Both files are written atomically, the params first.
pub fn export(
    net: &Net,
    symbol_path: &std::path::Path,
    params_path: &std::path::Path,
    options: &ExportOptions,
) -> Result<Exported, NetError> {
    let exported = to_symbol(net, options)?;
    if let Some(m) = exported.missing.first() {
        return Err(NetError::Export {
            layer: m.clone(),
            kind: "array",
            reason: format!(
                "{} array(s) are not initialised (e.g. {m}); initialise the net before exporting",
                exported.missing.len()
            ),
        });
    }
    let mut w = ParamsWriter::new();
    for (k, t) in &exported.params {
        w.push(Some(k), t.to_array());
    }
    w.save(params_path).map_err(|e| NetError::Io {
        path: params_path.display().to_string(),
        error: std::io::Error::other(e.to_string()),
    })?;
    exported
        .symbol
        .save(symbol_path)
        .map_err(|e| NetError::Io {
            path: symbol_path.display().to_string(),
            error: e,
        })?;
    Ok(exported)
}

/// Runs a net on inputs (by input port name): it is lowered to an MXNet
/// graph and run by the executor, the same path `mxnet-io run` takes.
pub fn evaluate(net: &Net, inputs: &HashMap<String, Tensor>) -> Result<Vec<Tensor>, NetError> {
    let exported = to_symbol(net, &ExportOptions::default())?;
    let mut weights = Weights::new();
    for (k, t) in &exported.params {
        let name = k.split_once(':').map_or(k.as_str(), |(_, n)| n);
        weights.insert(name, t.clone());
    }
    let program = Program::compile(&exported.symbol, None)?;
    let shapes = inputs
        .iter()
        .map(|(k, v)| (k.clone(), v.shape.clone()))
        .collect();
    let dtypes = inputs.iter().map(|(k, v)| (k.clone(), v.dtype)).collect();
    let plan = program.bind_typed(&weights, &shapes, &dtypes)?;
    let mut exec = Executor::new(&program, &weights, plan);
    Ok(exec.run(inputs)?)
}

/// Arrays of a net as written to `.params` (for comparison and tests).
pub fn params_arrays(exported: &Exported) -> Vec<(String, Array<'static>)> {
    exported
        .params
        .iter()
        .map(|(k, t)| (k.clone(), t.to_array()))
        .collect()
}
