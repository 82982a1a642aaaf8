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
use mxnet_ops::{BindOptions, Error, Executor, Program, Tensor, Weights};

#[path = "../../../tests/support/fixtures.rs"]
mod support;
use support::{close_to_mxnet, fixture_models};

/// Models that need ops not implemented yet; the test fails when one passes.
const KNOWN_GAPS: &[&str] = &[];

/// Outputs, output names, the inputs given, nodes that ran fused.
type Run = (Vec<Tensor>, Vec<String>, HashMap<String, Tensor>, usize);

/// Runs a fixture model with the given plan options: its outputs, its
/// output names, the inputs given and how many nodes ran fused.
fn outputs(
    sym: &Symbol,
    weights: &Weights<'_>,
    io: &ParamsFile,
    options: BindOptions,
) -> Result<Run, String> {
    let program = Program::compile(sym, None).map_err(|e| match e {
        Error::Unsupported(_) => format!("unsupported: {e}"),
        e => format!("compile: {e}"),
    })?;
    let mut values = HashMap::new();
    for name in program.free_variables(weights) {
        if let Some(e) = io.get_by_name(&name) {
            values.insert(name, Tensor::from_array(&e.array).unwrap());
        }
    }
    let shapes = values
        .iter()
        .map(|(k, v): (&String, &Tensor)| (k.clone(), v.shape.clone()))
        .collect();
    let plan = program
        .bind_with(weights, &shapes, &HashMap::new(), &options)
        .map_err(|e| format!("bind: {e}"))?;
    let fused = plan.fused_nodes();
    let mut exec = Executor::new(&program, weights, plan);
    let outs = exec.run(&values).map_err(|e| format!("run: {e}"))?;
    Ok((outs, program.output_names().to_vec(), values, fused))
}

fn run_model(
    sym_path: &Path,
    params_path: &Path,
    io_path: &Path,
    options: BindOptions,
) -> Result<usize, String> {
    let sym = Symbol::open(sym_path).unwrap();
    let params = ParamsFile::open(params_path).unwrap();
    let io = ParamsFile::open(io_path).unwrap();
    let weights = Weights::from_params(&params).unwrap();
    let (outs, names, values, _) = outputs(&sym, &weights, &io, options)?;
    // Outputs by MXNet's name; files that name them otherwise (the spec's
    // Gluon examples call theirs `output`) are matched by position.
    let others: Vec<String> = io
        .iter()
        .filter_map(|e| e.name().map(|n| n.into_owned()))
        .filter(|n| !values.contains_key(n) && !n.ends_with("_label"))
        .collect();
    let mut compared = 0;
    for (k, (name, out)) in names.iter().zip(&outs).enumerate() {
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

/// Runs a fixture model once per set of options.
fn run_with(m: &support::FixtureModel, options: &[BindOptions]) -> Vec<Run> {
    let sym = Symbol::open(&m.symbol).unwrap();
    let params = ParamsFile::open(&m.params).unwrap();
    let io = ParamsFile::open(&m.io).unwrap();
    let weights = Weights::from_params(&params).unwrap();
    options
        .iter()
        .map(|o| outputs(&sym, &weights, &io, o.clone()).unwrap())
        .collect()
}

const FUSED: BindOptions = BindOptions {
    fuse: true,
    fold: true,
    winograd_everywhere: false,
};
const UNFOLDED: BindOptions = BindOptions {
    fuse: true,
    fold: false,
    winograd_everywhere: false,
};
const UNFUSED: BindOptions = BindOptions {
    fuse: false,
    fold: false,
    winograd_everywhere: false,
};
/// Every folded 3×3 convolution by Winograd, even where it is slower: the
/// fixtures are too small for the default thresholds.
const WINOGRAD: BindOptions = BindOptions {
    fuse: true,
    fold: true,
    winograd_everywhere: true,
};

#[test]
fn every_fixture_model_matches_mxnet() {
    every_model_matches_mxnet(FUSED);
}

#[test]
fn every_fixture_model_matches_mxnet_unfused() {
    every_model_matches_mxnet(UNFUSED);
}

/// Winograd's convolution matches MXNet on every fixture model, and it does
/// run: the outputs of the models with 3×3 convolutions change (by rounding).
#[test]
fn every_fixture_model_matches_mxnet_with_winograd() {
    every_model_matches_mxnet(WINOGRAD);
    let mut changed = 0;
    for m in fixture_models(&["models", "spec-examples", "nets"]) {
        let runs = run_with(&m, &[FUSED, WINOGRAD]);
        if runs[0]
            .0
            .iter()
            .zip(&runs[1].0)
            .any(|(a, b)| a.data != b.data)
        {
            changed += 1;
        }
    }
    eprintln!("{changed} models ran Winograd convolutions");
    assert!(
        changed >= 10,
        "only {changed} models ran Winograd convolutions"
    );
}

fn every_model_matches_mxnet(options: BindOptions) {
    let models = fixture_models(&["models", "spec-examples", "nets"]);
    assert!(models.len() >= 40, "only {} models", models.len());
    let mut failures = Vec::new();
    let mut passed = 0;
    for m in &models {
        let name = m.symbol.file_name().unwrap().to_string_lossy().into_owned();
        let gap = KNOWN_GAPS.iter().any(|g| name.starts_with(g));
        match run_model(&m.symbol, &m.params, &m.io, options.clone()) {
            Ok(_) if gap => failures.push(format!("{name} passes: remove it from KNOWN_GAPS")),
            Ok(_) => passed += 1,
            Err(_) if gap => {}
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    eprintln!("{passed} models match MXNet ({options:?})");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Plans compute an RNN's weight-only ops (the reshapes and
/// `_rnn_param_concat` Gluon exports) once, when they are made; none
/// without fusion; the RNN then packs its recurrent weights once too.
/// (`fused_plans_match_unfused_plans` checks the values.)
#[test]
fn weight_only_ops_are_folded_into_constants_and_rnns_prepared() {
    for (name, at_least) in [("gluon_lstm", 5), ("gluon_gru", 5)] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models");
        let sym = Symbol::open(dir.join(format!("{name}-symbol.json"))).unwrap();
        let params = ParamsFile::open(dir.join(format!("{name}-0000.params"))).unwrap();
        let io = ParamsFile::open(dir.join(format!("{name}-io.params"))).unwrap();
        let weights = Weights::from_params(&params).unwrap();
        let program = Program::compile(&sym, None).unwrap();
        let shapes: HashMap<String, Vec<usize>> = program
            .free_variables(&weights)
            .into_iter()
            .filter_map(|n| {
                let e = io.get_by_name(&n)?;
                Some((n, e.array.shape().to_vec()))
            })
            .collect();
        for (options, folds) in [(FUSED, true), (UNFUSED, false)] {
            let plan = program
                .bind_with(&weights, &shapes, &HashMap::new(), &options)
                .unwrap();
            let n = plan.folded_nodes();
            assert_eq!(n >= at_least, folds, "{name}: {n} nodes folded");
            if !folds {
                assert_eq!(n, 0, "{name}");
            }
            // The RNN, whose parameters are then constants, packs its
            // recurrent weights once.
            let prepared = plan.prepared_nodes();
            assert_eq!(prepared, usize::from(folds), "{name}: {prepared} prepared");
        }
    }
}

/// Fused plans compute what unfused ones do: every output of every fixture
/// model within 1e-5 of the unfused value, relative to the output's
/// largest magnitude, with BatchNorm folded into the weights and with it
/// applied after the GEMM; and the CNN nets do fuse.
#[test]
fn fused_plans_match_unfused_plans() {
    let mut failures = Vec::new();
    let mut fused_models = 0;
    for m in fixture_models(&["models", "spec-examples", "nets"]) {
        let name = m.symbol.file_name().unwrap().to_string_lossy().into_owned();
        let mut runs = run_with(&m, &[UNFUSED, FUSED, UNFOLDED]).into_iter();
        let mut next = || runs.next().unwrap();
        let ((plain, _, _, none), (fused, _, _, count), (unfolded, _, _, same)) =
            (next(), next(), next());
        assert_eq!(none, 0);
        assert_eq!(count, same);
        if count > 0 {
            fused_models += 1;
        }
        let is_cnn = [
            "resnet",
            "mobilenet",
            "vgg",
            "inception",
            "densenet",
            "squeezenet",
        ]
        .iter()
        .any(|n| name.starts_with(n));
        if m.dir == "nets" && is_cnn && count == 0 {
            failures.push(format!("{name}: nothing fused"));
        }
        let pairs = fused.iter().zip(&plain).chain(unfolded.iter().zip(&plain));
        for (k, (a, b)) in pairs.enumerate() {
            assert_eq!(a.shape, b.shape);
            let scale = b.data.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
            let worst = a
                .data
                .iter()
                .zip(&b.data)
                .map(|(x, y)| (x - y).abs() / scale)
                .fold(0f32, f32::max);
            if worst.is_nan() || worst > 1e-5 {
                failures.push(format!(
                    "{name} output {k}: fused differs by {worst:e} of its scale"
                ));
            }
        }
    }
    eprintln!("{fused_models} models have fused steps");
    assert!(fused_models >= 15, "only {fused_models} models fuse");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
