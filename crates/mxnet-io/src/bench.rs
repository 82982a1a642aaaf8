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

/// Values per independently seeded chunk of [`random_normal`].
const NORMAL_CHUNK: usize = 1 << 14;

/// Deterministic standard-normal values (Box–Muller over a xorshift
/// generator), the same for a `seed` on every machine and thread count:
/// chunks of 16,384 values, each from its own seed, are made in
/// parallel (a batch of 224 × 224 images is over a million values, which
/// took 23 ms one by one, a tenth of a small net's load time).
pub fn random_normal(n: usize, seed: u64) -> Vec<f32> {
    use rayon::prelude::*;
    let mut out = vec![0f32; n];
    out.par_chunks_mut(NORMAL_CHUNK)
        .enumerate()
        .for_each(|(k, chunk)| {
            // SplitMix64 of (seed, chunk) seeds the chunk's xorshift.
            let mut z = seed.wrapping_add((k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let mut s = (z ^ (z >> 31)) | 1;
            let mut next = || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 + 0.5) / (1u64 << 24) as f32
            };
            for pair in chunk.chunks_mut(2) {
                let (u, v) = (next(), next());
                let r = (-2.0 * u.ln()).sqrt();
                let (sin, cos) = (std::f32::consts::TAU * v).sin_cos();
                pair[0] = r * cos;
                if let Some(b) = pair.get_mut(1) {
                    *b = r * sin;
                }
            }
        });
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
    exec.run_borrowed(&values).map_err(exec_err)?;
    let first_output_ms = start.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    for _ in 0..warmup {
        exec.run_borrowed(&values).map_err(exec_err)?;
    }
    let warmup_ms = t.elapsed().as_secs_f64() * 1e3;
    if let Some(by) = profile {
        exec.enable_profiling(by);
    }
    let mut run_ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        exec.run_borrowed(&values).map_err(exec_err)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_values_are_standard_and_the_same_on_any_thread_count() {
        let n = 5 * NORMAL_CHUNK + 3;
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| random_normal(n, 42));
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| random_normal(n, 42));
        assert_eq!(one.len(), n);
        assert!(
            one.iter()
                .zip(&three)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        assert_ne!(random_normal(n, 43), one, "another seed, other values");
        let mean = one.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
        let var = one
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "mean {mean}, variance {var}"
        );
        // Chunks are not copies of one another.
        assert_ne!(one[..NORMAL_CHUNK], one[NORMAL_CHUNK..2 * NORMAL_CHUNK]);
        let tails = one.iter().filter(|x| x.abs() > 3.0).count() as f64 / n as f64;
        assert!((0.001..0.005).contains(&tails), "P(|x| > 3) = {tails}");
    }
}
