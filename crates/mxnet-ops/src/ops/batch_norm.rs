//! `BatchNorm` at inference: y = (x − mean)/√(var + eps)·γ + β along `axis`.
//!
//! Inputs: data, gamma, beta, moving_mean, moving_var (the last two are
//! auxiliary states). MXNet always normalises with the moving statistics at
//! inference, whatever `use_global_stats` says. `fix_gamma` defaults to True,
//! which means γ ≡ 1 whatever the file holds (Gluon writes False). eps
//! defaults to 1e-3; axis to 1. Also `BatchNorm_v1`, `_contrib_SyncBatchNorm`
//! and `CuDNNBatchNorm`, which compute the same at inference.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::epilogue::Post;
use super::util::{axis, par_rows};

/// out = f(x·s + t), one loop per `f` so it vectorises.
#[inline(always)]
fn affine(out: &mut [f32], x: &[f32], s: f32, t: f32, f: impl Fn(f32) -> f32) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v * s + t);
    }
}

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "BatchNorm",
        build,
        family: "nn",
        summary: "batch normalisation with moving statistics (fix_gamma, axis)",
    },
    OpEntry {
        name: "BatchNorm_v1",
        build,
        family: "nn",
        summary: "legacy batch normalisation",
    },
    OpEntry {
        name: "_contrib_SyncBatchNorm",
        build,
        family: "nn",
        summary: "synchronised batch normalisation (inference: as BatchNorm)",
    },
    OpEntry {
        name: "CuDNNBatchNorm",
        build,
        family: "nn",
        summary: "cuDNN batch normalisation (inference: as BatchNorm)",
    },
];

/// A parsed BatchNorm node, with the activation a fused step applies after
/// it (`Post::Identity` for the op itself).
#[derive(Debug, Clone)]
pub(crate) struct BatchNorm {
    pub eps: f64,
    pub fix_gamma: bool,
    pub axis: i64,
    pub post: Post,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(parse(a)?))
}

/// The attributes of a BatchNorm node.
pub(crate) fn parse(a: &Attrs<'_>) -> Result<BatchNorm, AttrError> {
    Ok(BatchNorm {
        eps: a.float("eps", 1e-3)?,
        fix_gamma: a.bool("fix_gamma", true)?,
        axis: a.int("axis", 1)?,
        post: Post::Identity,
    })
}

impl BatchNorm {
    /// Per channel (scale, shift) with y = x·scale + shift, computed in f32
    /// exactly as the standalone op does.
    pub(crate) fn scale_shift(
        &self,
        gamma: &[f32],
        beta: &[f32],
        mean: &[f32],
        var: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let eps = self.eps as f32;
        (0..mean.len())
            .map(|i| {
                let g = if self.fix_gamma { 1.0 } else { gamma[i] };
                let inv = 1.0 / (var[i] + eps).sqrt();
                (g * inv, beta[i] - mean[i] * g * inv)
            })
            .unzip()
    }
}

impl Kernel for BatchNorm {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 5)?;
        let x = inputs[0];
        let ax = axis(self.axis, x.len())?;
        let c = x[ax];
        for (i, name) in [
            (1, "gamma"),
            (2, "beta"),
            (3, "moving_mean"),
            (4, "moving_var"),
        ] {
            if inputs[i] != [c] {
                return Err(format!("{name} must have shape ({c},) for {c} channels"));
            }
        }
        Ok(vec![x.to_vec()])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        let Some(Some(x)) = inputs.first() else {
            return Vec::new();
        };
        let Ok(ax) = axis(self.axis, x.len()) else {
            return Vec::new();
        };
        let c = Some(vec![x[ax]]);
        vec![None, c.clone(), c.clone(), c.clone(), c]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let ax = axis(self.axis, x.shape.len())?;
        let c = x.shape[ax];
        let inner: usize = x.shape[ax + 1..].iter().product();
        // Per channel: y = x·scale + shift, computed in f32 as MXNet does,
        // then the fused activation (if any) in the same pass.
        let (scale, shift) = self.scale_shift(
            inputs[1].data,
            inputs[2].data,
            inputs[3].data,
            inputs[4].data,
        );
        let xd = x.data;
        let post = self.post;
        par_rows(outputs[0].data, inner.max(1), |row, out| {
            let (s, t) = (scale[row % c], shift[row % c]);
            let src = &xd[row * inner..row * inner + out.len()];
            match post {
                Post::Identity => affine(out, src, s, t, |v| v),
                Post::Relu => affine(out, src, s, t, |v| Post::Relu.apply(v)),
                Post::Clip(lo, hi) => affine(out, src, s, t, move |v| Post::Clip(lo, hi).apply(v)),
            }
        });
        Ok(())
    }
}
