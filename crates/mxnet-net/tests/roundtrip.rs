//! Import → evaluate and import → export → import, for every fixture model
//! made by real MXNet 1.9.1 (`tests/fixtures/{models,nets,spec-examples}`):
//! the imported net computes MXNet's outputs (|ours − mxnet| ≤ 1e-5·scale +
//! 1e-4·|mxnet|), and exporting it and importing the export gives the same
//! layers, options and arrays, and the same outputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use mxnet_format::params::ParamsFile;
use mxnet_format::symbol::Symbol;
use mxnet_net::{Element, ExportOptions, Net, evaluate, import_symbol, to_symbol};
use mxnet_ops::{Tensor, Weights};

#[path = "../../../tests/support/fixtures.rs"]
mod support;
use support::{close_to_mxnet, fixture_models, fixtures};

fn inputs_of(net: &Net, io: &ParamsFile) -> HashMap<String, Tensor> {
    net.inputs
        .iter()
        .filter_map(|p| {
            io.get_by_name(&p.name)
                .map(|e| (p.name.clone(), Tensor::from_array(&e.array).unwrap()))
        })
        .collect()
}

fn compare(name: &str, got: &[Tensor], sym: &Symbol, io: &ParamsFile) -> Result<(), String> {
    let outputs = sym.list_outputs();
    // Files that name outputs otherwise (the spec's Gluon examples call
    // theirs `output`) are matched by position among the non-input arrays.
    let inputs: Vec<String> = sym
        .list_arguments()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let others: Vec<String> = io
        .iter()
        .filter_map(|e| e.name().map(|n| n.into_owned()))
        .filter(|n| !inputs.contains(n))
        .collect();
    let mut compared = 0;
    for (k, t) in got.iter().enumerate() {
        let want = match outputs.get(k).and_then(|n| io.get_by_name(n)) {
            Some(w) => w,
            None if others.len() == got.len() => io.get_by_name(&others[k]).unwrap(),
            None => continue,
        };
        let r = want.array.to_f64_vec().unwrap();
        close_to_mxnet(&format!("{name}: output {k}"), &t.data, &r)?;
        compared += 1;
    }
    if compared == 0 {
        return Err(format!("{name}: no output compared"));
    }
    Ok(())
}

fn same_layers(a: &Net, b: &Net) -> Result<(), String> {
    let (la, lb) = (a.layers(), b.layers());
    if la.len() != lb.len() {
        return Err(format!("{} layers became {}", la.len(), lb.len()));
    }
    for ((na, x), (nb, y)) in la.iter().zip(&lb) {
        if na != nb || x.kind != y.kind {
            return Err(format!(
                "layer {na} ({:?}) became {nb} ({:?})",
                x.kind, y.kind
            ));
        }
        if x.arrays != y.arrays {
            return Err(format!("layer {na}: arrays differ"));
        }
    }
    Ok(())
}

fn check(sym_path: &Path, params_path: &Path, io_path: &Path) -> Result<usize, String> {
    let name = sym_path.file_name().unwrap().to_string_lossy().into_owned();
    let sym = Symbol::open(sym_path).unwrap();
    let params = ParamsFile::open(params_path).unwrap();
    let io = ParamsFile::open(io_path).unwrap();
    let weights = Weights::from_params(&params).unwrap();
    let imported =
        import_symbol(&sym, Some(&weights)).map_err(|e| format!("{name}: import: {e}"))?;
    let net = &imported.net;
    let values = inputs_of(net, &io);
    let out = evaluate(net, &values).map_err(|e| format!("{name}: evaluate: {e}"))?;
    compare(&name, &out, &sym, &io)?;
    // Export and import again.
    let exported =
        to_symbol(net, &ExportOptions::default()).map_err(|e| format!("{name}: export: {e}"))?;
    let mut w2 = Weights::new();
    for (k, t) in &exported.params {
        w2.insert(k.split_once(':').unwrap().1, t.clone());
    }
    let again = import_symbol(&exported.symbol, Some(&w2))
        .map_err(|e| format!("{name}: re-import: {e}"))?;
    same_layers(net, &again.net).map_err(|e| format!("{name}: round trip: {e}"))?;
    let out2 = evaluate(&again.net, &values)
        .map_err(|e| format!("{name}: evaluate after round trip: {e}"))?;
    compare(&name, &out2, &sym, &io)?;
    Ok(imported.fallbacks.len())
}

/// Models whose ops the executor cannot run yet (prefixes); the test fails
/// when one of them passes.
const KNOWN_GAPS: &[&str] = &[];

#[test]
fn every_fixture_model_imports_runs_and_round_trips() {
    let models = fixture_models(&["models", "nets", "spec-examples"]);
    assert!(models.len() >= 40);
    let mut failures = Vec::new();
    let mut fallbacks = 0;
    for m in &models {
        let name = m.symbol.file_name().unwrap().to_string_lossy().into_owned();
        let gap = KNOWN_GAPS.iter().any(|g| name.starts_with(g));
        match check(&m.symbol, &m.params, &m.io) {
            Ok(_) if gap => failures.push(format!("{name} passes: remove it from KNOWN_GAPS")),
            Ok(f) => fallbacks += f,
            Err(_) if gap => {}
            Err(e) => failures.push(e),
        }
    }
    eprintln!(
        "{} models, {fallbacks} MXNetOp fallback layers",
        models.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn chains_import_as_chains() {
    let sym = Symbol::open(fixtures().join("models/mlp-symbol.json")).unwrap();
    let net = import_symbol(&sym, None).unwrap().net;
    assert_eq!(net.kind(), mxnet_net::NetKind::Chain);
    let sym = Symbol::open(fixtures().join("models/resnet-symbol.json")).unwrap();
    assert_eq!(
        import_symbol(&sym, None).unwrap().net.kind(),
        mxnet_net::NetKind::Graph
    );
    let _ = Element::Net;
}

/// Stored arrays keep their values through import → export when they are
/// not a rule's weights: a stored constant read as data (GluonCV's SSD
/// multiplies the image by `init_scale`) and a weight computed in the graph
/// (GluonNLP's BERT reshapes and concatenates its attention weights before
/// the FullyConnected). Both nodes stay MXNetOp layers holding the arrays;
/// before, the constant became a net input and lost its values, and the
/// FullyConnected became a Linear layer whose own weight was never set.
#[test]
fn stored_constants_and_computed_weights_survive_a_round_trip() {
    let sym = Symbol::from_json(
        r#"{"nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "null", "name": "init_scale", "inputs": []},
            {"op": "broadcast_mul", "name": "scaled", "inputs": [[0, 0, 0], [1, 0, 0]]},
            {"op": "null", "name": "packed_weight", "inputs": []},
            {"op": "Reshape", "name": "weight", "attrs": {"shape": "(4, 3)"}, "inputs": [[3, 0, 0]]},
            {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "4", "no_bias": "True"},
             "inputs": [[2, 0, 0], [4, 0, 0]]}
          ],
          "arg_nodes": [0, 1, 3], "node_row_ptr": [0, 1, 2, 3, 4, 5, 6], "heads": [[5, 0, 0]],
          "attrs": {"mxnet_version": ["int", 10901]}}"#,
    )
    .unwrap();
    let scale = [1.0f32, 2.0, -3.0];
    let w: Vec<f32> = (0..12).map(|i| i as f32 * 0.1 - 0.5).collect();
    let mut weights = Weights::new();
    weights.insert(
        "init_scale",
        Tensor::new(vec![1, 3, 1, 1], scale.to_vec()).unwrap(),
    );
    weights.insert("packed_weight", Tensor::new(vec![12], w.clone()).unwrap());
    let x: Vec<f32> = vec![0.5, -1.0, 2.0, 1.5, 0.25, -0.75];
    // out[n][j] = Σ_c x[n][c] · scale[c] · W[j][c], W = packed weight as 4 × 3.
    let want: Vec<f32> = (0..2)
        .flat_map(|n| {
            let (x, w) = (&x, &w);
            (0..4).map(move |j| (0..3).map(|c| x[n * 3 + c] * scale[c] * w[j * 3 + c]).sum())
        })
        .collect();
    let values: HashMap<String, Tensor> =
        [("data".to_owned(), Tensor::new(vec![2, 3, 1, 1], x).unwrap())].into();
    let close = |got: &[Tensor]| {
        got.len() == 1
            && got[0].data.len() == want.len()
            && got[0]
                .data
                .iter()
                .zip(&want)
                .all(|(a, b)| (a - b).abs() < 1e-5)
    };

    let imported = import_symbol(&sym, Some(&weights)).unwrap();
    let net = &imported.net;
    let inputs: Vec<&str> = net.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(inputs, ["data"], "the stored arrays are not inputs");
    let why = |node: &str| {
        imported
            .fallbacks
            .iter()
            .find(|f| f.node == node)
            .map(|f| f.reason.clone())
            .unwrap_or_default()
    };
    assert!(
        why("scaled").contains("init_scale is a stored array"),
        "{}",
        why("scaled")
    );
    assert!(
        why("fc").contains("computed in the graph (by weight)"),
        "{}",
        why("fc")
    );
    let out = evaluate(net, &values).unwrap();
    assert!(close(&out), "{:?} vs {want:?}", out[0].data);

    let exported = to_symbol(net, &ExportOptions::default()).unwrap();
    assert!(exported.missing.is_empty(), "{:?}", exported.missing);
    let mut w2 = Weights::new();
    for (k, t) in &exported.params {
        w2.insert(k.split_once(':').unwrap().1, t.clone());
    }
    assert_eq!(w2.len(), 2, "both arrays are written");
    let again = import_symbol(&exported.symbol, Some(&w2)).unwrap();
    let out = evaluate(&again.net, &values).unwrap();
    assert!(
        close(&out),
        "after the round trip: {:?} vs {want:?}",
        out[0].data
    );
}
