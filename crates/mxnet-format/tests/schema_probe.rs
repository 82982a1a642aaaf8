//! The op signatures agree with what MXNet 1.9.1 reported for single-op
//! symbols (`tests/fixtures/schema_probe.json`): canonical names, input
//! names, auxiliary states, visible output names and total output counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use mxnet_format::schema::{canonical_name, signature};

#[test]
fn signatures_match_mxnet() {
    let text = std::fs::read_to_string(common::fixtures().join("schema_probe.json")).unwrap();
    let probe: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = probe["cases"].as_array().unwrap();
    let mut checked = 0;
    for case in cases {
        if case.get("error").is_some_and(|e| !e.is_null()) {
            continue;
        }
        let op = case["op"].as_str().unwrap();
        let attrs: BTreeMap<String, String> = case["attrs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let ctx = format!("{op} {attrs:?}");
        assert_eq!(
            canonical_name(op),
            case["canonical"].as_str(),
            "{ctx}: canonical"
        );
        let sig = signature(op, &attrs).unwrap_or_else(|| panic!("{ctx}: no signature"));
        assert_eq!(
            sig.inputs.len() as u64,
            case["node_inputs"].as_u64().unwrap(),
            "{ctx}: inputs"
        );
        let data = case["num_data_inputs"].as_u64().unwrap() as usize;
        let args: Vec<&str> = case["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let aux: Vec<&str> = case["aux"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        // Auto-created variables are named n_<input name>.
        let created: Vec<String> = (data..sig.inputs.len())
            .filter(|p| !sig.aux.contains(p))
            .map(|p| format!("n_{}", sig.inputs[p]))
            .collect();
        assert_eq!(
            &args[data.min(args.len())..],
            created.as_slice(),
            "{ctx}: argument names"
        );
        let aux_names: Vec<String> = sig
            .aux
            .iter()
            .map(|&p| format!("n_{}", sig.inputs[p]))
            .collect();
        assert_eq!(aux, aux_names, "{ctx}: aux");
        let visible: Vec<String> = sig.outputs[..sig.visible]
            .iter()
            .map(|o| format!("n_{o}"))
            .collect();
        let outputs: Vec<&str> = case["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(outputs, visible, "{ctx}: visible outputs");
        assert_eq!(
            sig.num_outputs() as u64,
            case["total_outputs"].as_u64().unwrap(),
            "{ctx}: total outputs"
        );
        checked += 1;
    }
    assert!(checked >= 150, "only {checked} cases checked");
}
