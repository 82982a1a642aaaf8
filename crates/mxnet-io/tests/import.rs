//! The import elements against what MXNet 1.9.1 reported for the fixtures
//! (`tests/fixtures/manifest.json`, written by the generator from real MXNet).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::PathBuf;

use mxnet_io::{ArrayPath, Element, Error, ImportOptions, Imported, import};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn manifest() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["files"].as_object().unwrap().clone()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn input_names(path: &PathBuf, array_path: ArrayPath) -> (Vec<String>, Vec<String>, Vec<String>) {
    let r = import(
        path,
        Element::InputNames,
        &ImportOptions {
            array_path,
            ..Default::default()
        },
    )
    .unwrap();
    let Imported::InputNames(n) = r.value else {
        panic!("not InputNames")
    };
    (n.inputs, n.labels, r.notes)
}

/// Spec §3.2: inputs are the arguments that have no `arg:` array; aux
/// states are never inputs. Expected values come from MXNet's own
/// `list_arguments()` and the names MXNet wrote into the params file.
#[test]
fn input_names_follow_the_rule_with_params() {
    let m = manifest();
    let mut checked = 0;
    for (path, entry) in &m {
        let Some(params) = entry["params"].as_str() else {
            continue;
        };
        let arg_keys: HashSet<String> = m[params]["arrays"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["name"].as_str()?.strip_prefix("arg:").map(str::to_owned))
            .collect();
        let expected: Vec<String> = strings(&entry["arguments"])
            .into_iter()
            .filter(|a| !arg_keys.contains(a))
            .collect();
        let (inputs, labels, notes) = input_names(&fixtures().join(path), ArrayPath::Automatic);
        let mut got = inputs.clone();
        got.extend(labels.iter().cloned());
        got.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got, want, "{path}");
        assert!(
            notes
                .iter()
                .any(|n| n.contains(params.rsplit('/').next().unwrap())),
            "{path}: the note should name {params}: {notes:?}"
        );
        for l in &labels {
            assert!(l.ends_with("_label"), "{path}: {l} reported as a label");
        }
        checked += 1;
    }
    assert!(checked >= 11, "only {checked} models");
}

/// Without params, weights are recognised by the op slots they feed; the
/// inputs must come out the same.
#[test]
fn input_names_without_params_match_the_params_rule() {
    let m = manifest();
    for (path, entry) in &m {
        if entry["kind"] != "symbol" || !path.starts_with("models/") {
            continue;
        }
        let file = fixtures().join(path);
        let with = input_names(&file, ArrayPath::Automatic);
        let without = input_names(&file, ArrayPath::None);
        assert_eq!(with.0, without.0, "{path}: inputs");
        assert_eq!(with.1, without.1, "{path}: labels");
    }
    for (path, _) in m.iter().filter(|(p, _)| p.starts_with("zoo/")) {
        let (inputs, labels, _) = input_names(&fixtures().join(path), ArrayPath::None);
        assert_eq!(inputs, ["data"], "{path}");
        assert!(labels.is_empty());
    }
}

#[test]
fn spec_examples_give_the_documented_inputs() {
    let text = std::fs::read_to_string(fixtures().join("spec-examples/manifest.json")).unwrap();
    let spec: Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for (name, entry) in spec.as_object().unwrap() {
        let Some(rule) = entry.get("inputs_rule_result") else {
            continue;
        };
        let (mut inputs, labels, _) = input_names(
            &fixtures().join("spec-examples").join(name),
            ArrayPath::Automatic,
        );
        inputs.extend(labels);
        assert_eq!(inputs, strings(rule), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn array_elements_list_what_mxnet_saved() {
    let m = manifest();
    for (path, entry) in m.iter().filter(|(_, e)| e["kind"] == "params") {
        let expected: Vec<Option<String>> = entry["arrays"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().map(str::to_owned))
            .collect();
        let r = import(
            fixtures().join(path),
            Element::ArrayNames,
            &ImportOptions::default(),
        )
        .unwrap();
        let Imported::ArrayNames(names) = r.value else {
            panic!()
        };
        assert_eq!(names, expected, "{path}");
        let r = import(
            fixtures().join(path),
            Element::ArrayList,
            &ImportOptions::default(),
        )
        .unwrap();
        let Imported::Arrays { infos, .. } = r.value else {
            panic!()
        };
        for (info, a) in infos.iter().zip(entry["arrays"].as_array().unwrap()) {
            assert_eq!(info.dtype, a["dtype"].as_str().unwrap(), "{path}");
            assert_eq!(info.stype, a["stype"].as_str().unwrap(), "{path}");
        }
    }
}

#[test]
fn array_elements_of_a_symbol_read_its_paired_params() {
    let r = import(
        fixtures().join("models/mlp-symbol.json"),
        Element::ArrayNames,
        &ImportOptions::default(),
    )
    .unwrap();
    assert!(r.notes[0].contains("mlp-0003.params"), "{:?}", r.notes);
    assert!(r.notes[0].contains("highest epoch 3"), "{:?}", r.notes);
    let err = import(
        fixtures().join("models/mlp-symbol.json"),
        Element::ArrayNames,
        &ImportOptions {
            array_path: ArrayPath::None,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::WrongFileForElement { .. }), "{err}");
}

#[test]
fn node_dataset_has_roles_shapes_and_input_slots() {
    let r = import(
        fixtures().join("spec-examples/cnn-symbol.json"),
        Element::NodeDataset,
        &ImportOptions::default(),
    )
    .unwrap();
    let Imported::NodeDataset(rows) = r.value else {
        panic!()
    };
    assert_eq!(rows.len(), 16);
    let w = rows.iter().find(|r| r.name == "conv0_weight").unwrap();
    assert_eq!(w.role, Some("weight"));
    assert_eq!(w.shape.as_deref(), Some(&[4, 1, 3, 3][..]));
    assert_eq!(w.dtype.as_deref(), Some("float32"));
    let bn = rows.iter().find(|r| r.name == "bn0").unwrap();
    let slots: Vec<&str> = bn
        .inputs
        .iter()
        .map(|i| i.slot.as_deref().unwrap())
        .collect();
    assert_eq!(
        slots,
        ["data", "gamma", "beta", "moving_mean", "moving_var"]
    );
    assert_eq!(bn.outputs, 3);
    assert_eq!(
        rows.iter()
            .find(|r| r.name == "bn0_moving_var")
            .unwrap()
            .role,
        Some("aux")
    );
    assert_eq!(
        rows.iter()
            .find(|r| r.name == "softmax_label")
            .unwrap()
            .role,
        Some("label")
    );
}

#[test]
fn node_graph_exports_dot_and_json() {
    let r = import(
        fixtures().join("spec-examples/foreach-symbol.json"),
        Element::NodeGraph,
        &ImportOptions::default(),
    )
    .unwrap();
    let Imported::NodeGraph(g) = r.value else {
        panic!()
    };
    assert_eq!(g.nodes.len(), 3);
    assert_eq!(g.edges.len(), 2);
    let names: Vec<&str> = g.outputs.iter().map(|o| o.2.as_str()).collect();
    assert_eq!(names, ["_foreach0_output0", "_foreach0_output1"]);
    let dot = g.to_dot();
    assert!(dot.starts_with("digraph"));
    assert!(
        dot.contains("n0 -> n2;") && dot.contains("n1 -> n2;"),
        "{dot}"
    );
    let json = serde_json::to_value(&g).unwrap();
    assert_eq!(json["edges"].as_array().unwrap().len(), 2);
}

#[test]
fn wrong_file_for_element_and_unknown_element_are_plain_errors() {
    let err = import(
        fixtures().join("params/dtypes_dict.params"),
        Element::InputNames,
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("dtypes_dict.params"), "{err}");
    let err = "Nets".parse::<Element>().unwrap_err();
    assert!(err.to_string().contains("NodeDataset"), "{err}");
    assert_eq!(
        "arraynames".parse::<Element>().unwrap(),
        Element::ArrayNames
    );
}
