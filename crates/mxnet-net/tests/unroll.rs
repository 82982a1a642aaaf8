//! Unrolling recurrent layers: every recurrent fixture made by real MXNet
//! 1.9.1, imported with its arrays and its input shapes set from its
//! `-io.params`, unrolls to a net without recurrent layers that computes
//! MXNet's outputs (|ours − mxnet| ≤ 1e-5·scale + 1e-4·|mxnet|, as in
//! `roundtrip.rs`); its export re-imports as the unrolled layers and still
//! computes them. An unknown sequence length is an error that says how to fix
//! it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use mxnet_format::params::ParamsFile;
use mxnet_format::symbol::Symbol;
use mxnet_net::unroll::unroll;
use mxnet_net::{
    Element, ExportOptions, Layer, LayerKind, Net, Port, RecurrentOptions, evaluate, import_symbol,
    to_symbol,
};
use mxnet_ops::{Tensor, Weights};

#[path = "../../../tests/support/fixtures.rs"]
mod support;
use support::{close_to_mxnet, fixtures};

/// (directory, prefix, params epoch) of every recurrent fixture.
const FIXTURES: &[(&str, &str, &str)] = &[
    ("nets", "rnn_lstm_uni_tnc_states", "0000"),
    ("nets", "rnn_lstm_bi_ntc", "0000"),
    ("nets", "rnn_gru_uni_ntc", "0000"),
    ("nets", "rnn_gru_bi_tnc_states", "0000"),
    ("nets", "rnn_tanh_uni_tnc", "0000"),
    ("nets", "rnn_tanh_bi_ntc_states", "0000"),
    ("nets", "rnn_relu_uni_ntc_states", "0000"),
    ("nets", "rnn_relu_bi_tnc", "0000"),
    ("nets", "text_lstm", "0000"),
    ("nets", "sym_lstm", "0000"),
    ("models", "rnn_lstm", "0003"),
    ("models", "rnn_gru", "0003"),
    ("models", "gluon_lstm", "0000"),
    ("models", "gluon_gru", "0000"),
];

fn is_recurrent(l: &Layer) -> bool {
    matches!(
        l.kind,
        LayerKind::LongShortTermMemory(_)
            | LayerKind::GatedRecurrent(_)
            | LayerKind::BasicRecurrent { .. }
    )
}

fn compare(name: &str, got: &[Tensor], sym: &Symbol, io: &ParamsFile) -> Result<usize, String> {
    let mut compared = 0;
    for (k, (t, out)) in got.iter().zip(sym.list_outputs()).enumerate() {
        let Some(want) = io.get_by_name(&out) else {
            continue;
        };
        let r = want.array.to_f64_vec().unwrap();
        close_to_mxnet(&format!("{name}: output {k}"), &t.data, &r)?;
        compared += 1;
    }
    if compared == 0 {
        return Err(format!("{name}: no output compared"));
    }
    Ok(compared)
}

/// The unrolled layers, as a re-import names them (nested `a/b` → `a_b`),
/// by name (the export's depth-first order may interleave the outer net's
/// layers with the unrolled ones differently).
fn flat_layers(net: &Net) -> Vec<(String, Layer)> {
    let mut v: Vec<(String, Layer)> = net
        .layers()
        .into_iter()
        .map(|(n, l)| (n.replace('/', "_"), l.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn check(dir: &str, prefix: &str, epoch: &str) -> Result<String, String> {
    let d = fixtures().join(dir);
    let sym = Symbol::open(d.join(format!("{prefix}-symbol.json"))).unwrap();
    let params = ParamsFile::open(d.join(format!("{prefix}-{epoch}.params"))).unwrap();
    let io = ParamsFile::open(d.join(format!("{prefix}-io.params"))).unwrap();
    let weights = Weights::from_params(&params).unwrap();
    let mut net = import_symbol(&sym, Some(&weights))
        .map_err(|e| format!("{prefix}: import: {e}"))?
        .net;
    let recurrent = net.layers().iter().filter(|(_, l)| is_recurrent(l)).count();
    if recurrent == 0 {
        return Err(format!("{prefix}: no recurrent layer imported"));
    }
    let mut values = HashMap::new();
    for p in net.inputs.clone() {
        let a = io
            .get_by_name(&p.name)
            .ok_or_else(|| format!("{prefix}: io has no input {:?}", p.name))?;
        let t = Tensor::from_array(&a.array).unwrap();
        net.set_input_shape(&p.name, t.shape.clone()).unwrap();
        values.insert(p.name.clone(), t);
    }
    let unrolled = unroll(&net).map_err(|e| format!("{prefix}: unroll: {e}"))?;
    if let Some((n, _)) = unrolled.layers().iter().find(|(_, l)| is_recurrent(l)) {
        return Err(format!("{prefix}: {n} is still recurrent"));
    }
    // The recurrent nodes became nested nets of the same name.
    for n in &net.nodes {
        if let Element::Layer(l) = &n.element
            && is_recurrent(l)
            && !matches!(
                unrolled.node(&n.name).map(|u| &u.element),
                Some(Element::Net(_))
            )
        {
            return Err(format!("{prefix}: {} is not a nested net", n.name));
        }
    }
    let out = evaluate(&unrolled, &values).map_err(|e| format!("{prefix}: evaluate: {e}"))?;
    let compared = compare(prefix, &out, &sym, &io)?;
    // Export, import again: the unrolled layers, the same outputs.
    let exported = to_symbol(&unrolled, &ExportOptions::default())
        .map_err(|e| format!("{prefix}: export: {e}"))?;
    let mut w2 = Weights::new();
    for (k, t) in &exported.params {
        w2.insert(k.split_once(':').unwrap().1, t.clone());
    }
    let again = import_symbol(&exported.symbol, Some(&w2))
        .map_err(|e| format!("{prefix}: re-import: {e}"))?;
    let (want, got) = (flat_layers(&unrolled), flat_layers(&again.net));
    if want.len() != got.len() {
        return Err(format!(
            "{prefix}: {} unrolled layers re-import as {}",
            want.len(),
            got.len()
        ));
    }
    for ((na, a), (nb, b)) in want.iter().zip(&got) {
        if na != nb || a.kind != b.kind || a.arrays != b.arrays {
            return Err(format!(
                "{prefix}: layer {na} ({:?}) re-imports as {nb} ({:?})",
                a.kind, b.kind
            ));
        }
    }
    let out2 = evaluate(&again.net, &values)
        .map_err(|e| format!("{prefix}: evaluate after re-import: {e}"))?;
    compare(prefix, &out2, &sym, &io)?;
    Ok(format!(
        "{prefix}: {recurrent} recurrent layer(s) → {} layers, {compared} output(s) match",
        want.len()
    ))
}

#[test]
fn recurrent_fixtures_unroll_run_and_reimport() {
    let mut failures = Vec::new();
    for (dir, prefix, epoch) in FIXTURES {
        match check(dir, prefix, epoch) {
            Ok(line) => eprintln!("{line}"),
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn lstm_net(shape: Option<Vec<usize>>) -> Net {
    let lstm = Layer::new(LayerKind::LongShortTermMemory(RecurrentOptions {
        hidden: 3,
        layers: 2,
        bidirectional: true,
        state_inputs: false,
        state_outputs: false,
        input_size: Some(2),
        dropout: 0.0,
    }));
    let port = Port {
        shape,
        ..Port::new("data")
    };
    Net::chain(port, vec![("lstm".into(), Element::Layer(lstm))]).unwrap()
}

#[test]
fn unknown_sequence_length_is_an_error_saying_how_to_fix_it() {
    let err = unroll(&lstm_net(None)).unwrap_err().to_string();
    assert!(err.contains("\"lstm\""), "{err}");
    assert!(
        err.contains("sequence length must be fixed for unrolling"),
        "{err}"
    );
    assert!(err.contains("--input-shape data="), "{err}");
    assert!(err.contains("Net::set_input_shape"), "{err}");
    // A known length unrolls, even before the arrays are initialised.
    let net = unroll(&lstm_net(Some(vec![4, 1, 2]))).unwrap();
    assert!(net.layers().iter().all(|(_, l)| !is_recurrent(l)));
    assert!(!net.is_initialized());
}

#[test]
fn nets_without_recurrent_layers_are_unchanged() {
    let sym = Symbol::open(fixtures().join("models/mlp-symbol.json")).unwrap();
    let net = import_symbol(&sym, None).unwrap().net;
    assert_eq!(unroll(&net).unwrap(), net);
}

#[test]
fn recurrent_layers_in_nested_nets_unroll() {
    let mut inner = lstm_net(None);
    inner.inputs[0].name = "x".into();
    inner.nodes[0].inputs = vec![mxnet_net::Source::Input("x".into())];
    let outer = Net::chain(
        Port::with_shape("data", vec![5, 2, 2]),
        vec![("block".into(), Element::Net(inner))],
    )
    .unwrap();
    let mut outer = outer;
    mxnet_net::describe::initialize(&mut outer, 7).unwrap();
    let unrolled = unroll(&outer).unwrap();
    assert!(unrolled.layers().iter().all(|(_, l)| !is_recurrent(l)));
    let x = Tensor::new(
        vec![5, 2, 2],
        (0..20).map(|i| (i as f32 * 0.37).sin()).collect(),
    )
    .unwrap();
    let inputs = HashMap::from([("data".to_owned(), x)]);
    let want = evaluate(&outer, &inputs).unwrap();
    let got = evaluate(&unrolled, &inputs).unwrap();
    assert_eq!(want[0].shape, got[0].shape);
    for (a, b) in want[0].data.iter().zip(&got[0].data) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}

#[test]
fn unrolled_nets_take_any_batch_size_but_only_their_length() {
    let mut net = lstm_net(Some(vec![4, 1, 2]));
    mxnet_net::describe::initialize(&mut net, 3).unwrap();
    let unrolled = unroll(&net).unwrap();
    let input = |t: usize, n: usize| {
        let x = Tensor::new(
            vec![t, n, 2],
            (0..t * n * 2).map(|i| (i as f32 * 0.71).cos()).collect(),
        )
        .unwrap();
        HashMap::from([("data".to_owned(), x)])
    };
    let want = evaluate(&net, &input(4, 3)).unwrap();
    let got = evaluate(&unrolled, &input(4, 3)).unwrap();
    assert_eq!(got[0].shape, [4, 3, 6]);
    for (a, b) in want[0].data.iter().zip(&got[0].data) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
    assert!(evaluate(&unrolled, &input(5, 1)).is_err());
}
