//! Normalisation layers other than BatchNorm.
//!
//! * `InstanceNorm` — data (N, C, …) at least 3-d, gamma (C), beta (C);
//!   eps = 1e-3. Per (n, c) mean and biased variance over the remaining
//!   axes: y = γ_c·(x − μ)/√(σ² + eps) + β_c.
//! * `LayerNorm` — data, gamma (d), beta (d) with d = data.shape[axis];
//!   axis = −1, eps = 1e-5, output_mean_var = False (True adds the visible
//!   outputs mean and std, shaped like data with `axis` set to 1). Normalises
//!   over the single axis `axis`.
//! * `GroupNorm` — data (N, C, …) at least 3-d, gamma and beta of shape
//!   (num_groups,) — in 1.9.1 they scale each *group*, not each channel;
//!   num_groups = 1, eps = 1e-5, output_mean_var = False (True adds mean and
//!   std of shape (N, num_groups)).
//! * `L2Normalization` — data; eps = 1e-10; mode `instance` (over all axes
//!   but 0), `channel` (over axis 1) or `spatial` (over axes 2…; these two
//!   need 3-d data). y = x/√(Σx² + eps). The hidden norm output is not
//!   computed.
//! * `LRN` — data (N, C, H, W); nsize (required), alpha = 1e-4, beta = 0.75,
//!   knorm = 2. y_c = x_c·(knorm + alpha/nsize·Σ x_c'²)^−beta over the
//!   2⌊(nsize−1)/2⌋ + 1 channels c' centred on c (clipped at the edges): an
//!   even nsize still sums an odd window but divides by nsize, as MXNet's
//!   oneDNN path does. The hidden tmp_norm output is not computed.
//!
//! Statistics are accumulated in f32 with two passes (mean, then squared
//! deviations), as MXNet does.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::util::{axis as norm_axis, par_rows};

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "InstanceNorm",
        build: build_instance,
        family: "nn",
        summary: "instance normalisation: per (sample, channel) statistics",
    },
    OpEntry {
        name: "LayerNorm",
        build: build_layer,
        family: "nn",
        summary: "layer normalisation over one axis (output_mean_var)",
    },
    OpEntry {
        name: "GroupNorm",
        build: build_group,
        family: "nn",
        summary: "group normalisation with per-group gamma/beta (output_mean_var)",
    },
    OpEntry {
        name: "L2Normalization",
        build: build_l2,
        family: "nn",
        summary: "L2 normalisation per instance, channel or spatial plane",
    },
    OpEntry {
        name: "LRN",
        build: build_lrn,
        family: "nn",
        summary: "local response normalisation across channels",
    },
];

/// Mean and biased variance of `x`, two-pass in f32 with eight partial sums
/// (vectorisable; MXNet's CPU kernels also reduce in SIMD lanes).
fn moments(x: &[f32]) -> (f32, f32) {
    if x.is_empty() {
        return (0.0, 0.0);
    }
    let n = x.len() as f32;
    let mean = lanes_sum(x, |v| v) / n;
    let var = lanes_sum(x, |v| (v - mean) * (v - mean)) / n;
    (mean, var)
}

/// Σ f(v) over `x` in eight interleaved partial sums.
#[inline(always)]
fn lanes_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in rest {
        s += f(v);
    }
    s
}

fn eps_attr(a: &Attrs<'_>, default: f64) -> Result<f32, AttrError> {
    Ok(a.float("eps", default)? as f32)
}

// ---------------------------------------------------------------- InstanceNorm

#[derive(Debug)]
struct InstanceNorm {
    eps: f32,
}

fn build_instance(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(InstanceNorm {
        eps: eps_attr(a, 1e-3)?,
    }))
}

impl Kernel for InstanceNorm {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 3)?;
        let x = inputs[0];
        if x.len() < 3 {
            return Err("data must be at least 3-d (N, C, …)".into());
        }
        for (i, name) in [(1, "gamma"), (2, "beta")] {
            if inputs[i] != [x[1]] {
                return Err(format!("{name} must have shape ({},)", x[1]));
            }
        }
        Ok(vec![x.to_vec()])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match inputs.first() {
            Some(Some(x)) if x.len() >= 3 => vec![None, Some(vec![x[1]]), Some(vec![x[1]])],
            _ => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let c = x.shape[1];
        let inner: usize = x.shape[2..].iter().product();
        let (gamma, beta) = (inputs[1].data, inputs[2].data);
        let eps = self.eps;
        par_rows(outputs[0].data, inner.max(1), |row, out| {
            let src = &x.data[row * inner..row * inner + out.len()];
            let (mean, var) = moments(src);
            let ch = row % c;
            let scale = gamma[ch] / (var + eps).sqrt();
            let shift = beta[ch];
            for (o, &v) in out.iter_mut().zip(src) {
                *o = (v - mean) * scale + shift;
            }
        });
        Ok(())
    }
}

// ------------------------------------------------------------------ LayerNorm

#[derive(Debug)]
struct LayerNorm {
    axis: i64,
    eps: f32,
    mean_var: bool,
}

fn build_layer(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(LayerNorm {
        axis: a.int("axis", -1)?,
        eps: eps_attr(a, 1e-5)?,
        mean_var: a.bool("output_mean_var", false)?,
    }))
}

impl Kernel for LayerNorm {
    fn num_outputs(&self) -> usize {
        if self.mean_var { 3 } else { 1 }
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 3)?;
        let x = inputs[0];
        let ax = norm_axis(self.axis, x.len())?;
        for (i, name) in [(1, "gamma"), (2, "beta")] {
            if inputs[i] != [x[ax]] {
                return Err(format!("{name} must have shape ({},)", x[ax]));
            }
        }
        let mut out = vec![x.to_vec()];
        if self.mean_var {
            let mut m = x.to_vec();
            m[ax] = 1;
            out.push(m.clone());
            out.push(m);
        }
        Ok(out)
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        let Some(Some(x)) = inputs.first() else {
            return Vec::new();
        };
        match norm_axis(self.axis, x.len()) {
            Ok(ax) => vec![None, Some(vec![x[ax]]), Some(vec![x[ax]])],
            Err(_) => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let ax = norm_axis(self.axis, x.shape.len())?;
        let d = x.shape[ax];
        let inner: usize = x.shape[ax + 1..].iter().product();
        let outer: usize = x.shape[..ax].iter().product();
        let (gamma, beta) = (inputs[1].data, inputs[2].data);
        let eps = self.eps;
        if inner == 1 && !self.mean_var {
            // Rows are contiguous: statistics and output in one parallel pass.
            par_rows(outputs[0].data, d.max(1), |o, out| {
                let src = &x.data[o * d..o * d + out.len()];
                let (mean, var) = moments(src);
                let std = (var + eps).sqrt();
                for (((y, &v), &g), &b) in out.iter_mut().zip(src).zip(gamma).zip(beta) {
                    *y = (v - mean) * g / std + b;
                }
            });
            return Ok(());
        }
        // (mean, std) per (outer, inner) position.
        let mut stats = vec![(0f32, 0f32); outer * inner];
        if inner == 1 {
            for (o, s) in stats.iter_mut().enumerate() {
                let (mean, var) = moments(&x.data[o * d..(o + 1) * d]);
                *s = (mean, (var + eps).sqrt());
            }
        } else {
            for o in 0..outer {
                let block = &x.data[o * d * inner..(o + 1) * d * inner];
                let st = &mut stats[o * inner..(o + 1) * inner];
                for row in block.chunks(inner) {
                    for (s, &v) in st.iter_mut().zip(row) {
                        s.0 += v;
                    }
                }
                for s in st.iter_mut() {
                    s.0 /= d as f32;
                }
                for row in block.chunks(inner) {
                    for (s, &v) in st.iter_mut().zip(row) {
                        let dv = v - s.0;
                        s.1 += dv * dv;
                    }
                }
                for s in st.iter_mut() {
                    s.1 = (s.1 / d as f32 + eps).sqrt();
                }
            }
        }
        let (first, rest) = outputs.split_at_mut(1);
        par_rows(first[0].data, inner.max(1), |row, out| {
            let (o, j) = (row / d, row % d);
            let src = &x.data[row * inner..row * inner + out.len()];
            let st = &stats[o * inner..o * inner + out.len()];
            let (g, b) = (gamma[j], beta[j]);
            for ((y, &v), &(mean, std)) in out.iter_mut().zip(src).zip(st) {
                *y = (v - mean) * g / std + b;
            }
        });
        if let [mean, std] = rest {
            for ((m, s), st) in mean.data.iter_mut().zip(std.data.iter_mut()).zip(&stats) {
                *m = st.0;
                *s = st.1;
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ GroupNorm

#[derive(Debug)]
struct GroupNorm {
    groups: usize,
    eps: f32,
    mean_var: bool,
}

fn build_group(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let groups = a.count("num_groups", 1)?;
    if groups == 0 {
        return Err(AttrError {
            key: "num_groups".into(),
            value: "0".into(),
            expected: "at least 1",
        });
    }
    Ok(Box::new(GroupNorm {
        groups,
        eps: eps_attr(a, 1e-5)?,
        mean_var: a.bool("output_mean_var", false)?,
    }))
}

impl Kernel for GroupNorm {
    fn num_outputs(&self) -> usize {
        if self.mean_var { 3 } else { 1 }
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 3)?;
        let x = inputs[0];
        let g = self.groups;
        if x.len() < 3 {
            return Err("data must be at least 3-d (N, C, …)".into());
        }
        if !x[1].is_multiple_of(g) {
            return Err(format!("{} channels do not split into {g} groups", x[1]));
        }
        for (i, name) in [(1, "gamma"), (2, "beta")] {
            if inputs[i] != [g] {
                return Err(format!(
                    "{name} must have shape ({g},): one value per group in MXNet 1.9.1"
                ));
            }
        }
        let mut out = vec![x.to_vec()];
        if self.mean_var {
            out.push(vec![x[0], g]);
            out.push(vec![x[0], g]);
        }
        Ok(out)
    }

    fn infer_input_shapes(&self, _inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        let g = Some(vec![self.groups]);
        vec![None, g.clone(), g]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let g = self.groups;
        let len = x.data.len() / (x.shape[0] * g).max(1);
        let (gamma, beta) = (inputs[1].data, inputs[2].data);
        let eps = self.eps;
        let stats: Vec<(f32, f32)> = x
            .data
            .chunks(len.max(1))
            .map(|c| {
                let (mean, var) = moments(c);
                (mean, (var + eps).sqrt())
            })
            .collect();
        let (first, rest) = outputs.split_at_mut(1);
        par_rows(first[0].data, len.max(1), |row, out| {
            let src = &x.data[row * len..row * len + out.len()];
            let (mean, std) = stats[row];
            let (ga, be) = (gamma[row % g], beta[row % g]);
            for (y, &v) in out.iter_mut().zip(src) {
                *y = (v - mean) / std * ga + be;
            }
        });
        if let [mean, std] = rest {
            for ((m, s), st) in mean.data.iter_mut().zip(std.data.iter_mut()).zip(&stats) {
                *m = st.0;
                *s = st.1;
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------ L2Normalization

#[derive(Debug, Clone, Copy, PartialEq)]
enum L2Mode {
    Instance,
    Channel,
    Spatial,
}

#[derive(Debug)]
struct L2Norm {
    eps: f32,
    mode: L2Mode,
}

fn build_l2(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let mode = match a.choice("mode", &["instance", "channel", "spatial"], "instance")? {
        "channel" => L2Mode::Channel,
        "spatial" => L2Mode::Spatial,
        _ => L2Mode::Instance,
    };
    Ok(Box::new(L2Norm {
        eps: eps_attr(a, 1e-10)?,
        mode,
    }))
}

impl Kernel for L2Norm {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        let min = if self.mode == L2Mode::Instance { 1 } else { 3 };
        if x.len() < min {
            return Err(format!(
                "data must be at least {min}-d for this mode, got {}",
                shape_str(x)
            ));
        }
        Ok(vec![x.to_vec()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let eps = self.eps;
        let n = x.shape[0];
        let per_sample = x.data.len().checked_div(n).unwrap_or(0);
        match self.mode {
            L2Mode::Instance | L2Mode::Spatial => {
                let row = match self.mode {
                    L2Mode::Instance => per_sample,
                    _ => x.shape[2..].iter().product(),
                };
                par_rows(outputs[0].data, row.max(1), |r, out| {
                    let src = &x.data[r * row..r * row + out.len()];
                    let norm = (src.iter().map(|v| v * v).sum::<f32>() + eps).sqrt();
                    for (y, &v) in out.iter_mut().zip(src) {
                        *y = v / norm;
                    }
                });
            }
            L2Mode::Channel => {
                let inner: usize = x.shape[2..].iter().product();
                par_rows(outputs[0].data, per_sample.max(1), |b, out| {
                    let src = &x.data[b * per_sample..b * per_sample + out.len()];
                    let mut norm = vec![0f32; inner];
                    for row in src.chunks(inner.max(1)) {
                        for (s, &v) in norm.iter_mut().zip(row) {
                            *s += v * v;
                        }
                    }
                    for s in &mut norm {
                        *s = (*s + eps).sqrt();
                    }
                    for (orow, row) in out.chunks_mut(inner.max(1)).zip(src.chunks(inner.max(1))) {
                        for ((y, &v), &s) in orow.iter_mut().zip(row).zip(&norm) {
                            *y = v / s;
                        }
                    }
                });
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------ LRN

#[derive(Debug)]
struct Lrn {
    nsize: usize,
    alpha: f32,
    beta: f32,
    knorm: f32,
}

fn build_lrn(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let nsize = a.req_count("nsize")?;
    if nsize == 0 {
        return Err(AttrError {
            key: "nsize".into(),
            value: "0".into(),
            expected: "a positive window size",
        });
    }
    Ok(Box::new(Lrn {
        nsize,
        alpha: a.float("alpha", 1e-4)? as f32,
        beta: a.float("beta", 0.75)? as f32,
        knorm: a.float("knorm", 2.0)? as f32,
    }))
}

impl Kernel for Lrn {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        if inputs[0].len() != 4 {
            return Err("data must be 4-d (N, C, H, W)".into());
        }
        Ok(vec![inputs[0].to_vec()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let c = x.shape[1];
        let plane = x.shape[2] * x.shape[3];
        let half = (self.nsize - 1) / 2;
        let salpha = self.alpha / self.nsize as f32;
        let (knorm, beta) = (self.knorm, self.beta);
        // One task per sample: a running window sum of squares over channels.
        par_rows(outputs[0].data, (c * plane).max(1), |b, out| {
            let src = &x.data[b * c * plane..b * c * plane + out.len()];
            let mut sum = vec![0f32; plane];
            for ci in 0..c {
                // Window [ci − half, ci + half] clipped to [0, c).
                let lo = ci.saturating_sub(half);
                let hi = (ci + half).min(c - 1);
                sum.fill(0.0);
                for cj in lo..=hi {
                    for (s, &v) in sum.iter_mut().zip(&src[cj * plane..(cj + 1) * plane]) {
                        *s += v * v;
                    }
                }
                let xs = &src[ci * plane..(ci + 1) * plane];
                for ((y, &v), &s) in out[ci * plane..(ci + 1) * plane]
                    .iter_mut()
                    .zip(xs)
                    .zip(&sum)
                {
                    *y = v * (s * salpha + knorm).powf(-beta);
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(k: &dyn Kernel, inputs: &[(Vec<usize>, Vec<f32>)]) -> Vec<Vec<f32>> {
        crate::kernel::run_kernel(k, inputs)
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    // Expected values from MXNet 1.9.1 (output_mean_var=True, eps=0.1).
    #[test]
    fn mean_and_std_outputs_match_mxnet() {
        let ln = LayerNorm {
            axis: -1,
            eps: 0.1,
            mean_var: true,
        };
        let x: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
        let out = run(
            &ln,
            &[
                (vec![2, 6], x),
                (vec![6], vec![1.0; 6]),
                (vec![6], vec![0.0; 6]),
            ],
        );
        assert!(close(&out[0][..3], &[-1.3727425, -0.8236455, -0.2745485]));
        assert!(close(&out[1], &[1.25, 4.25]));
        assert!(close(&out[2], &[0.91058594, 0.91058594]));

        let gn = GroupNorm {
            groups: 2,
            eps: 0.1,
            mean_var: true,
        };
        let x: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        let out = run(
            &gn,
            &[
                (vec![2, 4, 3], x),
                (vec![2], vec![1.0; 2]),
                (vec![2], vec![0.0; 2]),
            ],
        );
        assert!(close(&out[1], &[1.25, 4.25, 7.25, 10.25]));
        assert!(close(&out[2], &[0.91058594; 4]));
    }
}
