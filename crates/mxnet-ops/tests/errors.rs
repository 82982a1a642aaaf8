//! The messages users see when a graph cannot run: every unsupported op at
//! once with counts, missing input shapes with how to give them, unknown
//! output names; and `--outputs` to run up to internal outputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use mxnet_format::symbol::{Node, NodeEntry, Symbol};
use mxnet_ops::{Error, Executor, Program, Tensor, Weights};

fn op(op: &str, name: &str, attrs: &[(&str, &str)], inputs: &[u32]) -> Node {
    let inputs = inputs.iter().map(|&i| NodeEntry::new(i, 0)).collect();
    Node::operator(op, name, attrs, inputs)
}

/// data → fc1 → relu → Custom ×2 → WarpCTC.
fn graph() -> Symbol {
    let nodes = vec![
        Node::variable("data"),
        Node::variable("fc1_weight"),
        Node::variable("fc1_bias"),
        op("FullyConnected", "fc1", &[("num_hidden", "4")], &[0, 1, 2]),
        op("Activation", "relu1", &[("act_type", "relu")], &[3]),
        op("Custom", "c1", &[("op_type", "mine")], &[4]),
        op("Custom", "c2", &[("op_type", "mine")], &[5]),
        Node::variable("label"),
        op("WarpCTC", "ctc", &[], &[6, 7]),
    ];
    Symbol::new(nodes, vec![NodeEntry::new(8, 0)]).unwrap()
}

#[test]
fn every_unsupported_op_is_listed_with_counts() {
    let sym = graph();
    let err = Program::compile(&sym, None).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)));
    assert_eq!(
        err.to_string(),
        "2 op type(s) cannot run here (3 node(s)):\n  Custom ×2: c1, c2\n  WarpCTC ×1: ctc\n\
         Run the graph up to outputs before them with --outputs NAME (e.g. a layer's NAME_output)."
    );
}

#[test]
fn internal_outputs_avoid_unsupported_ops() {
    let sym = graph();
    let program = Program::compile(
        &sym,
        Some(&["relu1_output".to_owned(), "fc1_output".to_owned()]),
    )
    .unwrap();
    let mut weights = Weights::new();
    weights.insert(
        "fc1_weight",
        Tensor::new(vec![4, 2], vec![1., 0., 0., 1., -1., 0., 0., -1.]).unwrap(),
    );
    weights.insert("fc1_bias", Tensor::new(vec![4], vec![0.5; 4]).unwrap());
    let shapes = HashMap::from([("data".to_owned(), vec![1, 2])]);
    let plan = program.bind(&weights, &shapes).unwrap();
    let mut exec = Executor::new(&program, &weights, plan);
    let data = Tensor::new(vec![1, 2], vec![1.0, 2.0]).unwrap();
    let outs = exec
        .run(&HashMap::from([("data".to_owned(), data)]))
        .unwrap();
    assert_eq!(program.output_names(), ["relu1_output", "fc1_output"]);
    assert_eq!(outs[1].data, [1.5, 2.5, -0.5, -1.5]);
    assert_eq!(outs[0].data, [1.5, 2.5, 0.0, 0.0]);
}

#[test]
fn unknown_output_names_suggest_real_ones() {
    let sym = graph();
    let err = Program::compile(&sym, Some(&["fc2_output".to_owned()])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no output called \"fc2_output\"; outputs are named like MXNet's get_internals(), e.g. ctc_output, c2_output, c1_output, relu1_output"
    );
}

#[test]
fn a_missing_input_shape_says_how_to_give_it() {
    let sym = graph();
    let program = Program::compile(&sym, Some(&["fc1_output".to_owned()])).unwrap();
    let mut weights = Weights::new();
    weights.insert("fc1_weight", Tensor::zeros(vec![4, 2]));
    weights.insert("fc1_bias", Tensor::zeros(vec![4]));
    let err = program.bind(&weights, &HashMap::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the shape of input(s) \"data\" is not known: the symbol does not store input shapes. \
         Give them with --input-shape data=DIMS (e.g. data=1,3,224,224) or pass their values with --input NAME=FILE"
    );
}

#[test]
fn shape_errors_name_the_node_and_its_input_shapes() {
    let sym = graph();
    let program = Program::compile(&sym, Some(&["fc1_output".to_owned()])).unwrap();
    let mut weights = Weights::new();
    weights.insert("fc1_weight", Tensor::zeros(vec![4, 3]));
    weights.insert("fc1_bias", Tensor::zeros(vec![4]));
    let shapes = HashMap::from([("data".to_owned(), vec![1, 2])]);
    let err = program.bind(&weights, &shapes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node \"fc1\" (FullyConnected): weight shape must be (4, 2) (input shapes (1, 2), (4, 3), (4,))"
    );
}
