//! Shapes of unset arrays inferred as MXNet infers them, so that a graph
//! whose weights are not yet known binds (e.g. to initialise them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use mxnet_format::symbol::{Node, NodeEntry, Symbol};
use mxnet_ops::{Executor, Program, Tensor, Weights};

fn op(op: &str, name: &str, attrs: &[(&str, &str)], inputs: &[u32]) -> Node {
    let inputs = inputs.iter().map(|&i| NodeEntry::new(i, 0)).collect();
    Node::operator(op, name, attrs, inputs)
}

fn inputs_of(sym: &Symbol, data: Vec<usize>) -> Vec<(String, Vec<usize>)> {
    let program = Program::compile(sym, None).unwrap();
    let shapes = HashMap::from([("data".to_owned(), data)]);
    let plan = program.bind(&Weights::new(), &shapes).unwrap();
    let mut inputs = plan.inputs().to_vec();
    inputs.sort();
    inputs
}

#[test]
fn prelu_slopes_are_one_per_channel() {
    let nodes = vec![
        Node::variable("data"),
        Node::variable("p_gamma"),
        op("LeakyReLU", "p", &[("act_type", "prelu")], &[0, 1]),
    ];
    let sym = Symbol::new(nodes, vec![NodeEntry::new(2, 0)]).unwrap();
    assert_eq!(
        inputs_of(&sym, vec![2, 5, 3, 3]),
        [
            ("data".to_owned(), vec![2, 5, 3, 3]),
            ("p_gamma".to_owned(), vec![5])
        ]
    );
}

/// MXNet infers bilinear UpSampling's weight and output from the data
/// whatever num_filter says; only its forward pass needs num_filter = C.
#[test]
fn bilinear_upsampling_infers_without_num_filter_and_runs_with_it() {
    let graph = |num_filter: &str| {
        let nodes = vec![
            Node::variable("data"),
            Node::variable("up_weight"),
            op(
                "UpSampling",
                "up",
                &[
                    ("num_args", "2"),
                    ("num_filter", num_filter),
                    ("sample_type", "bilinear"),
                    ("scale", "2"),
                ],
                &[0, 1],
            ),
        ];
        Symbol::new(nodes, vec![NodeEntry::new(2, 0)]).unwrap()
    };
    let sym = graph("0");
    assert_eq!(
        inputs_of(&sym, vec![1, 3, 4, 5]),
        [
            ("data".to_owned(), vec![1, 3, 4, 5]),
            ("up_weight".to_owned(), vec![3, 1, 4, 4])
        ]
    );
    let run = |sym: &Symbol| {
        let program = Program::compile(sym, None).unwrap();
        let mut weights = Weights::new();
        weights.insert(
            "up_weight",
            Tensor::new(vec![3, 1, 4, 4], vec![0.25; 48]).unwrap(),
        );
        let shapes = HashMap::from([("data".to_owned(), vec![1, 3, 4, 5])]);
        let plan = program.bind(&weights, &shapes).unwrap();
        assert_eq!(plan.output_shapes(), [[1, 3, 8, 10]]);
        let mut exec = Executor::new(&program, &weights, plan);
        let data = Tensor::new(vec![1, 3, 4, 5], vec![1.0; 60]).unwrap();
        exec.run(&HashMap::from([("data".to_owned(), data)]))
    };
    let err = run(&sym).unwrap_err().to_string();
    assert!(
        err.contains("num_filter must equal the 3 data channels"),
        "{err}"
    );
    let out = run(&graph("3")).unwrap();
    assert_eq!(out[0].shape, [1, 3, 8, 10]);
}
