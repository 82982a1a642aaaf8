//! Whole models against MXNet 1.9.1: every fixture model that has an
//! `-io.params` (inputs and MXNet's outputs, `forward(is_train=False)`) runs
//! through the executor with its paired params file, and every output is
//! within |ours − mxnet| ≤ atol + rtol·|mxnet|, rtol 1e-4 and atol 1e-5 times
//! the output's largest magnitude (at least 1e-5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use mxnet_format::params::ParamsFile;
use mxnet_format::symbol::Symbol;
use mxnet_ops::{Error, Executor, Program, Tensor, Weights};

#[path = "../../../tests/support/fixtures.rs"]
mod support;
use support::{close_to_mxnet, fixture_models};

/// Models that need ops not implemented yet; the test fails when one passes.
const KNOWN_GAPS: &[&str] = &[];

fn run_model(sym_path: &Path, params_path: &Path, io_path: &Path) -> Result<usize, String> {
    let sym = Symbol::open(sym_path).unwrap();
    let params = ParamsFile::open(params_path).unwrap();
    let io = ParamsFile::open(io_path).unwrap();
    let weights = Weights::from_params(&params).unwrap();
    let program = Program::compile(&sym, None).map_err(|e| match e {
        Error::Unsupported(_) => format!("unsupported: {e}"),
        e => format!("compile: {e}"),
    })?;
    let mut values = HashMap::new();
    for name in program.free_variables(&weights) {
        if let Some(e) = io.get_by_name(&name) {
            values.insert(name, Tensor::from_array(&e.array).unwrap());
        }
    }
    let shapes = values
        .iter()
        .map(|(k, v): (&String, &Tensor)| (k.clone(), v.shape.clone()))
        .collect();
    let plan = program
        .bind(&weights, &shapes)
        .map_err(|e| format!("bind: {e}"))?;
    let mut exec = Executor::new(&program, &weights, plan);
    let outs = exec.run(&values).map_err(|e| format!("run: {e}"))?;
    // Outputs by MXNet's name; files that name them otherwise (the spec's
    // Gluon examples call theirs `output`) are matched by position.
    let others: Vec<String> = io
        .iter()
        .filter_map(|e| e.name().map(|n| n.into_owned()))
        .filter(|n| !values.contains_key(n) && !n.ends_with("_label"))
        .collect();
    let mut compared = 0;
    for (k, (name, out)) in program.output_names().iter().zip(&outs).enumerate() {
        let want = match io.get_by_name(name) {
            Some(w) => w,
            None if others.len() == outs.len() => io.get_by_name(&others[k]).unwrap(),
            None => continue,
        };
        let reference = want.array.to_f64_vec().unwrap();
        if out.shape != want.array.shape() {
            return Err(format!(
                "{name}: shape {:?}, MXNet {:?}",
                out.shape,
                want.array.shape()
            ));
        }
        close_to_mxnet(name, &out.data, &reference)?;
        compared += 1;
    }
    if compared == 0 {
        return Err("no output of the io file was compared".into());
    }
    Ok(compared)
}

#[test]
fn every_fixture_model_matches_mxnet() {
    let models = fixture_models(&["models", "spec-examples", "nets"]);
    assert!(models.len() >= 40, "only {} models", models.len());
    let mut failures = Vec::new();
    let mut passed = 0;
    for m in &models {
        let name = m.symbol.file_name().unwrap().to_string_lossy().into_owned();
        let gap = KNOWN_GAPS.iter().any(|g| name.starts_with(g));
        match run_model(&m.symbol, &m.params, &m.io) {
            Ok(_) if gap => failures.push(format!("{name} passes: remove it from KNOWN_GAPS")),
            Ok(_) => passed += 1,
            Err(_) if gap => {}
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    eprintln!("{passed} models match MXNet");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
