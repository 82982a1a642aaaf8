//! Timing forward passes (`mxnet-io bench`).

use std::collections::HashMap;
use std::time::Instant;

use mxnet_ops::{Executor, ProfileBy, Program, Tensor, Weights};

use crate::error::{Error, Result};
use crate::model::Model;

/// Timings of a benchmark.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Time to compile, bind and run the first pass, in ms.
    pub first_output_ms: f64,
    /// Total time of the warm-up passes, in ms.
    pub warmup_ms: f64,
    /// Each timed pass, in ms.
    pub run_ms: Vec<f64>,
    /// The inputs fed, with their shapes.
    pub inputs: Vec<(String, Vec<usize>)>,
    /// Notes (weights file, inputs, aux states).
    pub notes: Vec<String>,
    /// Time per op over the timed runs (when asked): name, calls, total.
    pub profile: Vec<(String, usize, std::time::Duration)>,
}

/// Deterministic standard-normal values (Box–Muller over a xorshift generator).
pub fn random_normal(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (u, v) = (next(), next());
        let r = (-2.0 * u.ln()).sqrt();
        out.push((r * (2.0 * std::f64::consts::PI * v).cos()) as f32);
        out.push((r * (2.0 * std::f64::consts::PI * v).sin()) as f32);
    }
    out.truncate(n);
    out
}

/// Runs `model` with random inputs of `shapes`: one first pass (compile,
/// bind, run), `warmup` untimed passes, then `runs` timed ones, recording
/// the time per op of the timed ones when `profile` says how to group it.
pub fn bench_model(
    model: &Model,
    shapes: &HashMap<String, Vec<usize>>,
    warmup: usize,
    runs: usize,
    profile: Option<ProfileBy>,
) -> Result<BenchReport> {
    let exec_err = |source: mxnet_ops::Error| Error::Exec {
        path: model.symbol_path.clone(),
        error: Box::new(source),
    };
    let start = Instant::now();
    let mut notes = Vec::new();
    let weights = match &model.params {
        Some(p) => {
            notes.push(format!("weights from {}", p.path.display()));
            Weights::from_params(&p.file).map_err(|e| Error::Value {
                path: p.path.clone(),
                array: "?".to_owned(),
                error: e,
            })?
        }
        None => Weights::new(),
    };
    let program = Program::compile(&model.symbol, None).map_err(exec_err)?;
    let plan = program.bind(&weights, shapes).map_err(exec_err)?;
    notes.extend(plan.notes().iter().cloned());
    let inputs: Vec<(String, Vec<usize>)> = plan.inputs().to_vec();
    let values: HashMap<String, Tensor> = inputs
        .iter()
        .enumerate()
        .map(|(k, (name, shape))| {
            let n = mxnet_ops::numel(shape);
            (
                name.clone(),
                Tensor::new(shape.clone(), random_normal(n, 42 + k as u64))
                    .unwrap_or_else(|_| Tensor::zeros(shape.clone())),
            )
        })
        .collect();
    let mut exec = Executor::new(&program, &weights, plan);
    exec.run(&values).map_err(exec_err)?;
    let first_output_ms = start.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    for _ in 0..warmup {
        exec.run(&values).map_err(exec_err)?;
    }
    let warmup_ms = t.elapsed().as_secs_f64() * 1e3;
    if let Some(by) = profile {
        exec.enable_profiling(by);
    }
    let mut run_ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        exec.run(&values).map_err(exec_err)?;
        run_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(BenchReport {
        first_output_ms,
        warmup_ms,
        run_ms,
        inputs,
        notes,
        profile: exec.profile(),
    })
}
