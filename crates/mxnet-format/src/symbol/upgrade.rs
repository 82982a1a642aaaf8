//! MXNet's legacy upgrade pipeline (spec §2.12), step for step as
//! `src/nnvm/legacy_json_util.cc` in 1.9.1 applies it on load.
//!
//! Steps run on the nodes in depth-first post-order from the heads, only for
//! files older than the step:
//! 1. below 1.9.1 — hidden keys (`lr_mult`, `ctx_group`, …) become `__key__`
//!    attributes; `weight_lr_mult`-style keys on an op move to that input's
//!    variable;
//! 2. below 0.9.0 — inputs that old files omit (BatchNorm's moving statistics)
//!    are added as new variables named `NODE_INPUT`, each with a copy of the
//!    node's attributes;
//! 3. below 0.9.4 — initialiser hints (`__init__`) on those variables;
//! 4. below 0.9.5 — `argmax`/`argmin` with `axis="-1"` lose the axis.

use super::{Attrs, Node, NodeEntry};
use crate::schema;

/// Keys MXNet stores as hidden `__key__` attributes.
const HIDDEN_KEYS: [&str; 5] = [
    "ctx_group",
    "lr_mult",
    "wd_mult",
    "force_mirroring",
    "mirror_stage",
];

pub(crate) fn apply(nodes: &mut Vec<Node>, order: &[usize], version: i64) {
    if version < 10901 {
        for &i in order {
            fix_hidden_keys(nodes, i);
        }
    }
    if version < 900 {
        for &i in order {
            add_missing_inputs(nodes, i);
        }
    }
    if version < 904 {
        for &i in order {
            add_init_hints(nodes, i);
        }
    }
    if version < 905 {
        for &i in order {
            let n = &mut nodes[i];
            if matches!(n.canonical_op(), "argmax" | "argmin")
                && n.attrs.get("axis").map(String::as_str) == Some("-1")
            {
                n.attrs.remove("axis");
            }
        }
    }
}

/// Whether `key` is (or ends with) a hidden key, the way MXNet tests it:
/// the last occurrence of a hidden key starts the string or ends it.
fn is_hidden(key: &str) -> bool {
    HIDDEN_KEYS.iter().any(|h| {
        key.rfind(h)
            .is_some_and(|pos| pos == 0 || pos == key.len() - h.len())
    })
}

fn fix_hidden_keys(nodes: &mut [Node], i: usize) {
    let hidden: Vec<(String, String)> = {
        let attrs = &mut nodes[i].attrs;
        let keys: Vec<String> = attrs.keys().filter(|k| is_hidden(k)).cloned().collect();
        keys.into_iter()
            .filter_map(|k| attrs.remove(&k).map(|v| (k, v)))
            .collect()
    };
    if hidden.is_empty() {
        return;
    }
    // Input names are computed from the attributes without the hidden keys.
    let input_names = nodes[i].signature().map(|s| s.inputs);
    for (key, value) in hidden {
        let mut moved = false;
        for h in HIDDEN_KEYS {
            let Some(pos) = key.rfind(h) else { continue };
            if pos == 0 && key.len() == h.len() {
                nodes[i].attrs.insert(format!("__{h}__"), value.clone());
                moved = true;
                break;
            }
            if pos > 1 && pos == key.len() - h.len() {
                if nodes[i].is_variable() {
                    break;
                }
                let Some(names) = &input_names else { break };
                // MXNet takes everything before the separator, whatever it is.
                let prefix = &key[..pos - 1];
                if let Some(idx) = names.iter().position(|n| n == prefix)
                    && let Some(&NodeEntry { node, .. }) = nodes[i].inputs.get(idx)
                    && nodes[node as usize].is_variable()
                {
                    nodes[node as usize]
                        .attrs
                        .insert(format!("__{h}__"), value.clone());
                    moved = true;
                }
                break;
            }
        }
        if !moved {
            nodes[i].attrs.insert(key, value);
        }
    }
}

fn add_missing_inputs(nodes: &mut Vec<Node>, i: usize) {
    // Only declared (named) inputs are added: what pre-0.9 files omit are
    // auxiliary states. Numbered inputs come from a count attribute
    // (`num_args`), and a count in a corrupt file is no reason to create
    // thousands of variables per node.
    if nodes[i].is_variable() || schema::has_counted_inputs(&nodes[i].op) {
        return;
    }
    let Some(sig) = nodes[i].signature() else {
        return;
    };
    let have = nodes[i].inputs.len();
    for input in sig.inputs.iter().skip(have) {
        let name = if nodes[i].name.is_empty() {
            input.to_string()
        } else {
            format!("{}_{}", nodes[i].name, input)
        };
        let attrs: Attrs = nodes[i].attrs.clone();
        let var = Node {
            attrs,
            ..Node::variable(name)
        };
        let idx = nodes.len() as u32;
        nodes.push(var);
        nodes[i].inputs.push(NodeEntry::new(idx, 0));
    }
}

fn add_init_hints(nodes: &mut [Node], i: usize) {
    if nodes[i].is_variable() {
        return;
    }
    for &(pos, hint) in schema::init_hints(&nodes[i].op) {
        let Some(e) = nodes[i].inputs.get(pos).copied() else {
            continue;
        };
        let var = &mut nodes[e.node as usize];
        if var.is_variable() && !var.attrs.contains_key("__init__") {
            var.attrs.insert("__init__".to_owned(), hint.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_key_detection_matches_mxnet() {
        assert!(is_hidden("lr_mult"));
        assert!(is_hidden("weight_lr_mult"));
        assert!(
            is_hidden("lr_mult_extra"),
            "prefix match removes it, as MXNet does"
        );
        assert!(!is_hidden("__lr_mult__"));
        assert!(!is_hidden("kernel"));
    }
}
