//! Every op against MXNet 1.9.1's own outputs: `tests/fixtures/ops/` holds
//! one case per op and attribute combination, made by
//! `tests/fixtures/ops/generate_ops.py` (inputs, attributes and MXNet's
//! `forward(is_train=False)` outputs). A case passes when the output shapes
//! and dtypes are MXNet's and every value is within the case's tolerance,
//! |ours − mxnet| ≤ atol + rtol·|mxnet| (rtol 1e-4, or 2e-3 — four
//! half-precision ulps — when an input is float16; atol from the output scale).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use mxnet_format::params::ParamsFile;
use mxnet_format::symbol::{Node, NodeEntry, Symbol};
use mxnet_ops::{Error, Executor, Program, Tensor, Weights};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Ops not implemented yet. The test fails if one of them starts passing
/// (remove it from the list) or if any other case fails.
const KNOWN_GAPS: &[&str] = &[];

enum Outcome {
    Pass,
    Unsupported,
    Fail(String),
}

fn symbol_for(case: &Value) -> Symbol {
    if let Some(path) = case["symbol"].as_str() {
        return Symbol::open(fixtures().join(path)).unwrap();
    }
    let names: Vec<String> = case["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, n)| format!("in{i}_{}", n.as_str().unwrap()))
        .collect();
    let mut nodes: Vec<Node> = names.iter().map(Node::variable).collect();
    let attrs = case["attrs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    nodes.push(Node {
        op: case["op"].as_str().unwrap().to_owned(),
        name: "n".to_owned(),
        attrs,
        inputs: (0..names.len())
            .map(|i| NodeEntry::new(i as u32, 0))
            .collect(),
        ..Node::default()
    });
    let op = names.len() as u32;
    let outs = case["num_outputs"].as_u64().unwrap() as u32;
    Symbol::new(nodes, (0..outs).map(|k| NodeEntry::new(op, k)).collect()).unwrap()
}

fn run_case(case: &Value) -> Outcome {
    let file = ParamsFile::open(fixtures().join(case["file"].as_str().unwrap())).unwrap();
    let sym = symbol_for(case);
    let program = match Program::compile(&sym, None) {
        Ok(p) => p,
        Err(Error::Unsupported(_)) => return Outcome::Unsupported,
        Err(e) => return Outcome::Fail(format!("compile: {e}")),
    };
    // Inputs in:k go to the k-th argument in list order of the case.
    let var_names: Vec<String> = if case["symbol"].is_string() {
        case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    } else {
        case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, n)| format!("in{i}_{}", n.as_str().unwrap()))
            .collect()
    };
    let mut values = HashMap::new();
    for (k, name) in var_names.iter().enumerate() {
        let e = file.get_by_name(&format!("in:{k}")).unwrap();
        values.insert(name.clone(), Tensor::from_array(&e.array).unwrap());
    }
    let shapes: HashMap<String, Vec<usize>> = values
        .iter()
        .map(|(k, v)| (k.clone(), v.shape.clone()))
        .collect();
    let dtypes = values.iter().map(|(k, v)| (k.clone(), v.dtype)).collect();
    let weights = Weights::new();
    let plan = match program.bind_typed(&weights, &shapes, &dtypes) {
        Ok(p) => p,
        Err(e) => return Outcome::Fail(format!("bind: {e}")),
    };
    let mut exec = Executor::new(&program, &weights, plan);
    let outs = match exec.run(&values) {
        Ok(o) => o,
        Err(e) => return Outcome::Fail(format!("run: {e}")),
    };
    // Half-precision inputs: MXNet computes some steps in half precision, so
    // allow a few half-precision ulps (2^-10 relative).
    let half_inputs = case["in_dtypes"]
        .as_array()
        .is_some_and(|d| d.iter().any(|t| t == "float16"));
    let rtol = if half_inputs {
        4.0 * 2f64.powi(-11)
    } else {
        case["rtol"].as_f64().unwrap()
    };
    let atol = case["atol"].as_f64().unwrap();
    let unchecked: Vec<u64> = case["unchecked_outputs"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    for (k, out) in outs.iter().enumerate() {
        if unchecked.contains(&(k as u64)) {
            continue;
        }
        let Some(want) = file.get_by_name(&format!("out:{k}")) else {
            continue;
        };
        if out.shape != want.array.shape() {
            return Outcome::Fail(format!(
                "output {k}: shape {:?}, MXNet {:?}",
                out.shape,
                want.array.shape()
            ));
        }
        if out.dtype != want.array.dtype() {
            return Outcome::Fail(format!(
                "output {k}: dtype {}, MXNet {}",
                out.dtype,
                want.array.dtype()
            ));
        }
        let reference = want.array.to_f64_vec().unwrap();
        for (i, (&got, &r)) in out.data.iter().zip(&reference).enumerate() {
            let got = f64::from(got);
            let ok = (got.is_nan() && r.is_nan())
                || got == r
                || (got - r).abs() <= atol + rtol * r.abs();
            if !ok {
                return Outcome::Fail(format!(
                    "output {k}[{i}]: {got} vs MXNet {r} (atol {atol}, rtol {rtol})"
                ));
            }
        }
    }
    Outcome::Pass
}

#[test]
fn every_op_matches_mxnet() {
    let text = std::fs::read_to_string(fixtures().join("ops/cases.json")).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    let mut failures = Vec::new();
    let mut gaps: HashMap<String, usize> = HashMap::new();
    let mut passed = 0;
    let only = std::env::var("MXNET_OPS_CASE").ok();
    for case in cases["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        if only.as_deref().is_some_and(|o| !id.contains(o)) {
            continue;
        }
        let op = case["op"].as_str().unwrap_or("_foreach").to_owned();
        let known_gap = KNOWN_GAPS.contains(&op.as_str());
        match run_case(case) {
            Outcome::Pass if known_gap => {
                failures.push(format!("{id} ({op}) passes: remove {op} from KNOWN_GAPS"))
            }
            Outcome::Pass => passed += 1,
            Outcome::Unsupported | Outcome::Fail(_) if known_gap => {
                *gaps.entry(op).or_default() += 1
            }
            Outcome::Unsupported => failures.push(format!("{id}: {op} is not implemented")),
            Outcome::Fail(why) => failures.push(format!("{id} ({op}): {why}")),
        }
    }
    eprintln!(
        "{passed} cases match MXNet; {} known gaps: {gaps:?}",
        gaps.values().sum::<usize>()
    );
    assert!(
        failures.is_empty(),
        "{} case(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
