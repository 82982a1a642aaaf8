//! What a pass hands back: `run` copies the outputs, `run_borrowed` lends
//! them (a step's buffer, an input or a weight passed through), and both
//! hold the latest pass's values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use mxnet_format::symbol::{Node, NodeEntry, Symbol};
use mxnet_ops::{Executor, Program, Tensor, Weights};

/// Outputs: relu(fc1(data)), data itself and fc1's weight.
fn graph() -> Symbol {
    let nodes = vec![
        Node::variable("data"),
        Node::variable("fc1_weight"),
        Node::variable("fc1_bias"),
        Node::operator(
            "FullyConnected",
            "fc1",
            &[("num_hidden", "2")],
            vec![
                NodeEntry::new(0, 0),
                NodeEntry::new(1, 0),
                NodeEntry::new(2, 0),
            ],
        ),
        Node::operator(
            "Activation",
            "relu1",
            &[("act_type", "relu")],
            vec![NodeEntry::new(3, 0)],
        ),
    ];
    let heads = vec![
        NodeEntry::new(4, 0),
        NodeEntry::new(0, 0),
        NodeEntry::new(1, 0),
    ];
    Symbol::new(nodes, heads).unwrap()
}

#[test]
fn borrowed_outputs_are_the_copied_ones_of_the_latest_pass() {
    let sym = graph();
    let program = Program::compile(&sym, None).unwrap();
    let mut weights = Weights::new();
    let w = vec![1.0, -1.0, 2.0, 0.5];
    weights.insert("fc1_weight", Tensor::new(vec![2, 2], w.clone()).unwrap());
    weights.insert("fc1_bias", Tensor::new(vec![2], vec![0.0, -1.0]).unwrap());
    let shapes = HashMap::from([("data".to_owned(), vec![1, 2])]);
    let plan = program.bind(&weights, &shapes).unwrap();
    let mut exec = Executor::new(&program, &weights, plan);
    let input = |a: f32, b: f32| {
        HashMap::from([(
            "data".to_owned(),
            Tensor::new(vec![1, 2], vec![a, b]).unwrap(),
        )])
    };
    // (x, expected relu(W·x + b)): fc1 = [x0 − x1, 2·x0 + 0.5·x1 − 1].
    for (x, want) in [([3.0, 1.0], [2.0, 5.5]), ([-1.0, 2.0], [0.0, 0.0])] {
        let values = input(x[0], x[1]);
        let copied = exec.run(&values).unwrap();
        let borrowed = exec.run_borrowed(&values).unwrap();
        assert_eq!(borrowed.len(), 3);
        assert_eq!(borrowed[0].shape, [1, 2]);
        assert_eq!(&borrowed[0].data[..], &want[..]);
        assert_eq!(&borrowed[1].data[..], &x[..], "the input passed through");
        assert_eq!(&borrowed[2].data[..], &w[..], "the weight passed through");
        for (c, b) in copied.iter().zip(&borrowed) {
            assert_eq!(
                (c.dtype, &c.shape[..], &c.data[..]),
                (b.dtype, b.shape, &b.data[..])
            );
        }
    }
}
