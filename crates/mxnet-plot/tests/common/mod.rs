//! Helpers shared by the tests and the bench.

#![allow(dead_code)]

use std::path::PathBuf;

use mxnet_format::symbol::{Node, NodeEntry, Symbol};

/// A fixture file under the repository's `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

/// Opens a fixture symbol.
pub fn open(rel: &str) -> Symbol {
    match Symbol::open(fixture(rel)) {
        Ok(s) => s,
        Err(e) => panic!("cannot read fixture {rel}: {e}"),
    }
}

fn op(op: &str, name: String, attrs: &[(&str, &str)], inputs: Vec<NodeEntry>) -> Node {
    Node::operator(op, name, attrs, inputs)
}

/// A residual net of `blocks` blocks of conv → bn → relu → conv → bn →
/// add(skip) → relu: 7 ops and 12 variables per block, plus a data input.
pub fn synthetic_resnet(blocks: usize) -> Symbol {
    let mut nodes = vec![Node::variable("data")];
    let mut x = NodeEntry::new(0, 0);
    let push = |nodes: &mut Vec<Node>, n: Node| {
        nodes.push(n);
        NodeEntry::new((nodes.len() - 1) as u32, 0)
    };
    for b in 0..blocks {
        let skip = x;
        let mut h = x;
        for k in 0..2 {
            let p = format!("block{b}_conv{k}");
            let w = push(&mut nodes, Node::variable(format!("{p}_weight")));
            h = push(
                &mut nodes,
                op(
                    "Convolution",
                    p,
                    &[
                        ("kernel", "(3, 3)"),
                        ("pad", "(1, 1)"),
                        ("num_filter", "64"),
                        ("no_bias", "True"),
                    ],
                    vec![h, w],
                ),
            );
            let p = format!("block{b}_bn{k}");
            let mut ins = vec![h];
            for s in ["gamma", "beta", "moving_mean", "moving_var"] {
                ins.push(push(&mut nodes, Node::variable(format!("{p}_{s}"))));
            }
            h = push(&mut nodes, op("BatchNorm", p, &[], ins));
            if k == 0 {
                h = push(
                    &mut nodes,
                    op(
                        "Activation",
                        format!("block{b}_relu{k}"),
                        &[("act_type", "relu")],
                        vec![h],
                    ),
                );
            }
        }
        h = push(
            &mut nodes,
            op("elemwise_add", format!("block{b}_add"), &[], vec![h, skip]),
        );
        x = push(
            &mut nodes,
            op(
                "Activation",
                format!("block{b}_out"),
                &[("act_type", "relu")],
                vec![h],
            ),
        );
    }
    match Symbol::new(nodes, vec![x]) {
        Ok(s) => s,
        Err(e) => panic!("synthetic graph is invalid: {e}"),
    }
}
