//! The structure of the SVG pictures of small fixtures.

mod common;

use std::collections::HashMap;

use mxnet_format::symbol::{Node, NodeEntry, Symbol};
use mxnet_plot::{
    Diagram, DiagramEdge, DiagramNode, NodeKind, OpFamily, PlotError, PlotOptions, render_svg,
};
use resvg::usvg::roxmltree;

fn svg(sym: &Symbol, opts: &PlotOptions) -> String {
    match render_svg(sym, opts) {
        Ok(s) => s,
        Err(e) => panic!("render failed: {e}"),
    }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Parses the SVG as XML and returns the text of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    let doc = match roxmltree::Document::parse(svg) {
        Ok(d) => d,
        Err(e) => panic!("not well-formed XML: {e}"),
    };
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn gluon_resnet_boxes_labels_and_edges() {
    let sym = common::open("models/gluon_resnet-symbol.json");
    let out = svg(&sym, &PlotOptions::default());
    // 10 ops, the data input, one graph output; parameters folded.
    assert_eq!(count(&out, "class=\"node op "), 10);
    assert_eq!(count(&out, "class=\"node input\""), 1);
    assert_eq!(count(&out, "class=\"node output\""), 1);
    assert_eq!(count(&out, "class=\"node parameter\""), 0);
    assert_eq!(count(&out, "class=\"node op convolution\""), 4);
    assert_eq!(count(&out, "class=\"node op normalization\""), 2);
    // data→conv0, data→conv2 (shortcut), 9 op→op edges, fc→output.
    assert_eq!(count(&out, "class=\"edge\""), 12);
    assert_eq!(count(&out, "marker-end=\"url(#arrow)\""), 12);
    let t = texts(&out);
    for want in [
        "Convolution 3×3, 4",
        "Convolution 1×1, 4",
        "gres_conv0_fwd",
        "weight 4×?×3×3",
        "bias 4",
        "BatchNorm",
        "gamma, beta, mean, var",
        "Activation relu",
        "elemwise_add",
        "Pooling global avg",
        "FullyConnected 3",
        "data",
        "gres_dense0_fwd_output",
        "convolution / dense",
        "graph output",
    ] {
        assert!(
            t.iter().any(|s| s == want),
            "missing text {want:?} in {t:?}"
        );
    }
    assert!(out.contains("font-family=\"DejaVu Sans"));
    assert!(out.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
}

#[test]
fn output_is_deterministic() {
    for rel in [
        "models/gluon_resnet-symbol.json",
        "zoo/squeezenet1.0-symbol.json",
        "models/rnn_lstm-symbol.json",
    ] {
        let sym = common::open(rel);
        let opts = PlotOptions {
            title: Some(rel.to_owned()),
            ..PlotOptions::default()
        };
        let a = svg(&sym, &opts);
        let b = svg(&sym, &opts);
        assert!(a == b, "{rel}: two renders differ");
        // And on another thread (fresh hash seeds, other dagre ids).
        let c = std::thread::scope(|s| s.spawn(|| svg(&sym, &opts)).join());
        assert!(c.is_ok_and(|c| c == a), "{rel}: render on a thread differs");
    }
}

#[test]
fn all_variables_draws_every_parameter() {
    let sym = common::open("models/gluon_resnet-symbol.json");
    let opts = PlotOptions {
        all_variables: true,
        ..PlotOptions::default()
    };
    let out = svg(&sym, &opts);
    assert_eq!(count(&out, "class=\"node parameter\""), 14);
    assert_eq!(count(&out, "class=\"edge\""), 12 + 14);
    assert_eq!(count(&out, "marker-end=\"url(#arrow-dim)\""), 14);
    let t = texts(&out);
    assert!(t.iter().any(|s| s == "gres_conv0_weight 4×?×3×3"), "{t:?}");
    assert!(
        t.iter().any(|s| s == "gres_batchnorm0_running_var"),
        "{t:?}"
    );
    assert!(!t.iter().any(|s| s == "weight 4×?×3×3"));
}

#[test]
fn loss_labels_are_dimmed() {
    let sym = common::open("spec-examples/cnn-symbol.json");
    let out = svg(&sym, &PlotOptions::default());
    assert_eq!(count(&out, "class=\"node label\""), 1);
    assert_eq!(count(&out, "class=\"node op loss\""), 1);
    assert!(texts(&out).iter().any(|s| s == "softmax_label"));
    assert_eq!(count(&out, "marker-end=\"url(#arrow-dim)\""), 1);
}

#[test]
fn shapes_label_edges() {
    let sym = common::open("models/gluon_resnet-symbol.json");
    let mut shapes = HashMap::new();
    for (i, n) in sym.nodes().iter().enumerate() {
        shapes.insert(
            (i, 0),
            if n.is_variable() {
                vec![4, 3]
            } else {
                vec![1, 4, 8, 8]
            },
        );
    }
    let opts = PlotOptions {
        shapes: Some(shapes),
        ..PlotOptions::default()
    };
    let out = svg(&sym, &opts);
    // One label per producing op (10), none on edges out of variables.
    assert_eq!(count(&out, "class=\"edge-label\""), 10);
    let t = texts(&out);
    assert!(t.iter().any(|s| s == "1×4×8×8"));
    // The caller's shapes override the hints in the boxes too.
    assert!(t.iter().any(|s| s == "weight 4×3"), "{t:?}");
}

#[test]
fn multiple_outputs_name_their_edges() {
    let sym = common::open("models/rnn_lstm-symbol.json");
    let out = svg(&sym, &PlotOptions::default());
    assert_eq!(count(&out, "class=\"node output\""), 3);
    let t = texts(&out);
    for want in ["RNN lstm 4", "output", "state_output", "statecell_output"] {
        assert!(t.iter().any(|s| s == want), "missing {want:?} in {t:?}");
    }
}

fn node(op: &str, name: &str, inputs: Vec<NodeEntry>) -> Node {
    Node {
        op: op.to_owned(),
        name: name.to_owned(),
        inputs,
        ..Node::default()
    }
}

#[test]
fn labels_are_escaped_and_unknown_ops_marked() {
    let nodes = vec![
        Node::variable("x<&>\"'"),
        node("MySecretOp", "odd & <name>", vec![NodeEntry::new(0, 0)]),
        node("relu", "r", vec![NodeEntry::new(1, 0)]),
    ];
    let sym = match Symbol::new(nodes, vec![NodeEntry::new(2, 0)]) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let out = svg(&sym, &PlotOptions::default());
    assert!(out.contains("odd &amp; &lt;name&gt;"));
    assert!(out.contains("x&lt;&amp;&gt;&quot;&apos;"));
    assert_eq!(count(&out, "class=\"node op unknown\""), 1);
    assert_eq!(count(&out, "class=\"node op activation\""), 1);
    // Well-formed, and the texts come back unescaped.
    let t = texts(&out);
    assert!(t.iter().any(|s| s == "odd & <name>"));
    assert!(t.iter().any(|s| s == "unknown op"));
}

#[test]
fn every_fixture_symbol_draws() {
    let mut drawn = 0;
    for dir in ["zoo", "models", "spec-examples"] {
        let Ok(entries) = std::fs::read_dir(common::fixture(dir)) else {
            panic!("no fixture directory {dir}");
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if !path.to_string_lossy().ends_with(".json") {
                continue;
            }
            let Ok(sym) = Symbol::open(&path) else {
                continue; // manifests and other JSON
            };
            let out = svg(&sym, &PlotOptions::default());
            let ops = sym.nodes().iter().filter(|n| !n.is_variable()).count();
            assert_eq!(count(&out, "class=\"node op "), ops, "{}", path.display());
            texts(&out);
            drawn += 1;
        }
    }
    assert!(drawn >= 20, "only {drawn} fixtures drawn");
}

#[test]
fn diagrams_of_anything() {
    let mut d = Diagram::new();
    d.title = Some("a net by layers".to_owned());
    let x = d.add_node(DiagramNode::new(NodeKind::Input, "Input").line("3×224×224"));
    let c = d.add_node(
        DiagramNode::new(NodeKind::Op(OpFamily::Convolution), "ConvolutionLayer")
            .line("64 channels"),
    );
    let r = d.add_node(DiagramNode::new(NodeKind::Op(OpFamily::Activation), "Ramp"));
    let o = d.add_node(DiagramNode::new(NodeKind::Output, "Output"));
    d.add_edge(DiagramEdge::new(x, c).label("3×224×224"));
    d.add_edge(DiagramEdge::new(c, r).label("64×112×112"));
    d.add_edge(DiagramEdge::new(r, o));
    d.add_edge(DiagramEdge::new(r, r)); // self-loops are not drawn
    let out = match d.to_svg() {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(count(&out, "class=\"node "), 4);
    assert_eq!(count(&out, "class=\"edge\""), 3);
    assert_eq!(count(&out, "class=\"edge-label\""), 2);
    assert!(texts(&out).iter().any(|s| s == "a net by layers"));

    d.add_edge(DiagramEdge::new(0, 9));
    assert!(matches!(
        d.to_svg(),
        Err(PlotError::BadEdge {
            edge: 4,
            to: 9,
            nodes: 4,
            ..
        })
    ));
    // A cycle still draws (one edge reversed by the layout).
    let mut cyc = Diagram::new();
    let a = cyc.add_node(DiagramNode::new(NodeKind::Op(OpFamily::Other), "a"));
    let b = cyc.add_node(DiagramNode::new(NodeKind::Op(OpFamily::Other), "b"));
    cyc.add_edge(DiagramEdge::new(a, b));
    cyc.add_edge(DiagramEdge::new(b, a));
    assert!(cyc.to_svg().is_ok());
    // So does nothing at all.
    assert!(Diagram::new().to_svg().is_ok());
}

#[test]
fn small_svg_snapshot() {
    let sym = common::open("models/mlp-symbol.json");
    let opts = PlotOptions {
        title: Some("mlp".to_owned()),
        ..PlotOptions::default()
    };
    insta::assert_snapshot!("mlp_svg", svg(&sym, &opts));
}
