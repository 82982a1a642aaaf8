//! Reductions: `sum`, `mean`, `prod`, `max`, `min`, `nansum`, `nanprod`
//! (aliases `sum_axis`, `max_axis`, `min_axis`), `norm`, `moments`, and the
//! index searches `argmax`, `argmin`, `argmax_channel`.
//!
//! One input `data`. Attributes and quirks (MXNet 1.9.1, legacy shapes):
//! * sum … nanprod: `axis` = None (int or tuple; None and `()` both mean all
//!   axes), `keepdims` = False, `exclude` = False (reduce the axes *not*
//!   listed). A full reduction without keepdims has shape (1,). Duplicate
//!   axes are rejected. `max`/`min` propagate NaN and reject empty input;
//!   `nansum` skips NaN (an all-NaN slice gives 0), `nanprod` likewise (1).
//! * `norm`: `ord` = 2 (1 or 2), `axis` = None, `keepdims` = False,
//!   `out_dtype` = None (the input dtype). √Σx² or Σ|x| over the axes.
//! * `moments`: `axes` (required in practice: empty is rejected, as MXNet
//!   does), `keepdims` = False. Two outputs: mean and biased variance
//!   (mean of (x − mean)², with the mean in the input dtype).
//! * `argmax`/`argmin`: `axis` = None (flattened index, shape (1,)),
//!   `keepdims` = False; the first occurrence wins, and a NaN counts as the
//!   extreme (the first NaN wins). Indices come back in the *input* dtype.
//!   A 1-D input gives shape (1,) whatever the axis. `argmax_channel` is
//!   argmax over axis 1.
//!
//! Sums accumulate in double precision (MXNet uses compensated summation in
//! the input dtype); integer outputs truncate (so `mean` of int32 truncates).

use mxnet_format::DType;
use rayon::prelude::*;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::numel;

use super::math::store_as;
use super::util::{PAR_GRAIN, axis as norm_axis};

/// The reductions' entries.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "sum",
        build,
        family: "reduce",
        summary: "sum over axes (axis, keepdims, exclude)",
    },
    OpEntry {
        name: "mean",
        build,
        family: "reduce",
        summary: "mean over axes",
    },
    OpEntry {
        name: "prod",
        build,
        family: "reduce",
        summary: "product over axes",
    },
    OpEntry {
        name: "max",
        build,
        family: "reduce",
        summary: "maximum over axes (NaN propagates)",
    },
    OpEntry {
        name: "min",
        build,
        family: "reduce",
        summary: "minimum over axes (NaN propagates)",
    },
    OpEntry {
        name: "nansum",
        build,
        family: "reduce",
        summary: "sum over axes, NaN skipped",
    },
    OpEntry {
        name: "nanprod",
        build,
        family: "reduce",
        summary: "product over axes, NaN skipped",
    },
    OpEntry {
        name: "norm",
        build: build_norm,
        family: "reduce",
        summary: "L1 or L2 norm over axes",
    },
    OpEntry {
        name: "moments",
        build: build_moments,
        family: "reduce",
        summary: "mean and variance over axes",
    },
    OpEntry {
        name: "argmax",
        build: build_search,
        family: "reduce",
        summary: "index of the maximum along an axis (input dtype)",
    },
    OpEntry {
        name: "argmin",
        build: build_search,
        family: "reduce",
        summary: "index of the minimum along an axis (input dtype)",
    },
    OpEntry {
        name: "argmax_channel",
        build: build_search,
        family: "reduce",
        summary: "index of the maximum along axis 1",
    },
];

/// A reduction function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Red {
    Sum,
    Mean,
    Prod,
    Max,
    Min,
    NanSum,
    NanProd,
    Norm1,
    Norm2,
}

/// Which axes to reduce, as the attributes say.
#[derive(Debug, Clone, PartialEq)]
struct Axes {
    /// `None` (or empty): all axes.
    axis: Option<Vec<i64>>,
    keepdims: bool,
    exclude: bool,
}

/// An output shape and, per input axis, whether it is reduced.
type Plan = (Vec<usize>, Vec<bool>);

impl Axes {
    /// MXNet's `ReduceAxesShapeImpl`: the output shape and the reduced axes.
    fn plan(&self, ishape: &[usize]) -> Result<Plan, String> {
        let nd = ishape.len();
        let axes = match &self.axis {
            Some(a) if !a.is_empty() => a,
            _ => {
                let oshape = if self.keepdims { vec![1; nd] } else { vec![1] };
                return Ok((oshape, vec![true; nd]));
            }
        };
        let mut norm = Vec::with_capacity(axes.len());
        for &a in axes {
            norm.push(
                norm_axis(a, nd)
                    .map_err(|_| format!("reduction axis {a} is out of range for {nd}-d input"))?,
            );
        }
        norm.sort_unstable();
        if norm.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("reduction axes {axes:?} have duplicates"));
        }
        let listed: Vec<bool> = (0..nd).map(|i| norm.contains(&i)).collect();
        let reduced: Vec<bool> = listed.iter().map(|&l| l != self.exclude).collect();
        let oshape = if self.keepdims {
            ishape
                .iter()
                .zip(&reduced)
                .map(|(&n, &r)| if r { 1 } else { n })
                .collect()
        } else if self.exclude {
            norm.iter().map(|&i| ishape[i]).collect()
        } else {
            let kept: Vec<usize> = ishape
                .iter()
                .zip(&reduced)
                .filter(|(_, r)| !**r)
                .map(|(&n, _)| n)
                .collect();
            if kept.is_empty() { vec![1] } else { kept }
        };
        Ok((oshape, reduced))
    }
}

fn reduce_axes(a: &Attrs<'_>, key: &str) -> Result<Option<Vec<i64>>, AttrError> {
    Ok(match a.get(key).map(str::trim) {
        None | Some("None") => None,
        Some(_) => Some(a.tuple(key, &[])?),
    })
}

#[derive(Debug)]
struct Reduce {
    red: Red,
    axes: Axes,
    out_dtype: Option<DType>,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let name = crate::registry::canonical(&a.node().op);
    let red = match name {
        "sum" => Red::Sum,
        "mean" => Red::Mean,
        "prod" => Red::Prod,
        "max" => Red::Max,
        "min" => Red::Min,
        "nansum" => Red::NanSum,
        "nanprod" => Red::NanProd,
        _ => {
            return Err(AttrError {
                key: "op".into(),
                value: name.into(),
                expected: "a reduction",
            });
        }
    };
    Ok(Box::new(Reduce {
        red,
        axes: Axes {
            axis: reduce_axes(a, "axis")?,
            keepdims: a.bool("keepdims", false)?,
            exclude: a.bool("exclude", false)?,
        },
        out_dtype: None,
    }))
}

fn build_norm(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let red = match a.int("ord", 2)? {
        1 => Red::Norm1,
        2 => Red::Norm2,
        _ => {
            return Err(AttrError {
                key: "ord".into(),
                value: a.get("ord").unwrap_or_default().into(),
                expected: "1 or 2",
            });
        }
    };
    let out_dtype = match a.choice(
        "out_dtype",
        &[
            "None", "float16", "float32", "float64", "int64", "int32", "int8",
        ],
        "None",
    )? {
        "None" => None,
        d => d.parse::<DType>().ok(),
    };
    Ok(Box::new(Reduce {
        red,
        axes: Axes {
            axis: reduce_axes(a, "axis")?,
            keepdims: a.bool("keepdims", false)?,
            exclude: false,
        },
        out_dtype,
    }))
}

/// Input dims with size-1 axes dropped and neighbours of the same kind
/// merged: `(size, reduced)`, never empty.
fn merged_dims(shape: &[usize], reduced: &[bool]) -> Vec<(usize, bool)> {
    let mut dims: Vec<(usize, bool)> = Vec::with_capacity(shape.len());
    for (&n, &r) in shape.iter().zip(reduced) {
        if n == 1 {
            continue;
        }
        match dims.last_mut() {
            Some((m, rr)) if *rr == r => *m *= n,
            _ => dims.push((n, r)),
        }
    }
    if dims.is_empty() {
        dims.push((1, false));
    }
    dims
}

/// Folds every value of `x` (laid out as `dims`) into its output slot of
/// `acc` with `step(acc, value, output index)`; `acc` holds the initial
/// values. Row-wise: the innermost merged axis is contiguous.
fn fold<F>(x: &[f32], dims: &[(usize, bool)], acc: &mut [f64], step: F)
where
    F: Fn(f64, f32, usize) -> f64 + Sync,
{
    if x.is_empty() {
        return;
    }
    let nd = dims.len();
    let (len, last_reduced) = dims[nd - 1];
    // Independent contiguous blocks, one per output: reduce in parallel.
    if last_reduced && nd <= 2 {
        let f = |(o, a): (usize, &mut f64)| {
            *a = x[o * len..(o + 1) * len]
                .iter()
                .fold(*a, |s, &v| step(s, v, o));
        };
        if x.len() >= 2 * PAR_GRAIN && acc.len() > 1 {
            acc.par_iter_mut().enumerate().for_each(f);
        } else {
            acc.iter_mut().enumerate().for_each(f);
        }
        return;
    }
    // Output strides of the outer merged axes (0 on reduced ones).
    let mut ostride = vec![0usize; nd];
    let mut s = if last_reduced { 1 } else { len };
    for d in (0..nd - 1).rev() {
        if !dims[d].1 {
            ostride[d] = s;
            s *= dims[d].0;
        }
    }
    let mut idx = vec![0usize; nd - 1];
    let mut out_off = 0usize;
    for row in x.chunks_exact(len) {
        if last_reduced {
            acc[out_off] = row.iter().fold(acc[out_off], |a, &v| step(a, v, out_off));
        } else {
            for (j, (a, &v)) in acc[out_off..out_off + len].iter_mut().zip(row).enumerate() {
                *a = step(*a, v, out_off + j);
            }
        }
        // Next row: advance the outer counter.
        for d in (0..nd - 1).rev() {
            idx[d] += 1;
            out_off += ostride[d];
            if idx[d] < dims[d].0 {
                break;
            }
            out_off -= ostride[d] * dims[d].0;
            idx[d] = 0;
        }
    }
}

/// Reduces `x` with `red` into `out` (f32 values of dtype `dtype`).
fn run_reduce(
    red: Red,
    x: &[f32],
    shape: &[usize],
    reduced: &[bool],
    out: &mut [f32],
    dtype: DType,
) {
    let dims = merged_dims(shape, reduced);
    let count: usize = shape
        .iter()
        .zip(reduced)
        .filter(|(_, r)| **r)
        .map(|(&n, _)| n)
        .product();
    let init = match red {
        Red::Prod | Red::NanProd => 1.0,
        Red::Max => f64::NEG_INFINITY,
        Red::Min => f64::INFINITY,
        _ => 0.0,
    };
    let mut acc = vec![init; out.len()];
    match red {
        Red::Sum | Red::Mean => fold(x, &dims, &mut acc, |a, v, _| a + f64::from(v)),
        Red::Prod => fold(x, &dims, &mut acc, |a, v, _| a * f64::from(v)),
        Red::NanSum => fold(x, &dims, &mut acc, |a, v, _| {
            if v.is_nan() { a } else { a + f64::from(v) }
        }),
        Red::NanProd => fold(x, &dims, &mut acc, |a, v, _| {
            if v.is_nan() { a } else { a * f64::from(v) }
        }),
        Red::Max => fold(x, &dims, &mut acc, |a, v, _| {
            let v = f64::from(v);
            if a.is_nan() || a >= v { a } else { v }
        }),
        Red::Min => fold(x, &dims, &mut acc, |a, v, _| {
            let v = f64::from(v);
            if a.is_nan() || a <= v { a } else { v }
        }),
        Red::Norm1 => fold(x, &dims, &mut acc, |a, v, _| a + f64::from(v.abs())),
        Red::Norm2 => fold(x, &dims, &mut acc, |a, v, _| {
            let v = f64::from(v);
            a + v * v
        }),
    }
    for (o, &a) in out.iter_mut().zip(&acc) {
        let v = match red {
            Red::Mean => a / count as f64,
            Red::Norm2 => a.sqrt(),
            _ => a,
        };
        *o = store_as(dtype, v as f32);
    }
}

impl Kernel for Reduce {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        if matches!(self.red, Red::Max | Red::Min) && numel(inputs[0]) == 0 {
            return Err("cannot take the maximum or minimum of an empty array".into());
        }
        Ok(vec![self.axes.plan(inputs[0])?.0])
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        vec![
            self.out_dtype
                .unwrap_or_else(|| inputs.first().copied().unwrap_or(DType::F32)),
        ]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (_, reduced) = self.axes.plan(x.shape)?;
        let dtype = self.out_dtype.unwrap_or(x.dtype);
        run_reduce(self.red, x.data, x.shape, &reduced, outputs[0].data, dtype);
        Ok(())
    }
}

#[derive(Debug)]
struct Moments(Axes);

fn build_moments(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Moments(Axes {
        axis: reduce_axes(a, "axes")?,
        keepdims: a.bool("keepdims", false)?,
        exclude: false,
    })))
}

impl Kernel for Moments {
    fn num_outputs(&self) -> usize {
        2
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        if self.0.axis.as_ref().is_none_or(Vec::is_empty) {
            return Err(
                "axes must list the axes to reduce (for global moments, list all of them)".into(),
            );
        }
        let (oshape, _) = self.0.plan(inputs[0])?;
        Ok(vec![oshape.clone(), oshape])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (_, reduced) = self.0.plan(x.shape)?;
        let [mean_out, var_out, ..] = outputs else {
            return Err("moments has two outputs".into());
        };
        run_reduce(Red::Mean, x.data, x.shape, &reduced, mean_out.data, x.dtype);
        let mean: &[f32] = mean_out.data;
        let dims = merged_dims(x.shape, &reduced);
        let count = (x.data.len() / mean.len().max(1)).max(1) as f64;
        let mut acc = vec![0.0; var_out.data.len()];
        fold(x.data, &dims, &mut acc, |a, v, o| {
            let d = f64::from(v - mean[o]);
            a + d * d
        });
        for (o, a) in var_out.data.iter_mut().zip(&acc) {
            *o = store_as(x.dtype, (a / count) as f32);
        }
        Ok(())
    }
}

/// Which extreme an index search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extreme {
    Max,
    Min,
}

#[derive(Debug)]
struct Search {
    extreme: Extreme,
    axis: Option<i64>,
    keepdims: bool,
}

fn build_search(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let name = crate::registry::canonical(&a.node().op);
    Ok(Box::new(match name {
        "argmax_channel" => Search {
            extreme: Extreme::Max,
            axis: Some(1),
            keepdims: false,
        },
        _ => Search {
            extreme: if name == "argmin" {
                Extreme::Min
            } else {
                Extreme::Max
            },
            axis: a.opt_int("axis")?,
            keepdims: a.bool("keepdims", false)?,
        },
    }))
}

impl Search {
    /// (output shape, outer, axis length, inner).
    fn split(&self, shape: &[usize]) -> Result<(Vec<usize>, usize, usize, usize), String> {
        let nd = shape.len();
        let total = numel(shape);
        let axis = match self.axis {
            Some(a) if nd > 1 => norm_axis(a, nd)?,
            Some(a) => {
                // 0-d and 1-d inputs: the only axis (0 or −1) is the whole array.
                if !(a == 0 || a == -1) {
                    return Err(format!("axis {a} is out of range for {nd}-d input"));
                }
                let oshape = if self.keepdims { vec![1; nd] } else { vec![1] };
                return Ok((oshape, 1, total, 1));
            }
            None => {
                let oshape = if self.keepdims { vec![1; nd] } else { vec![1] };
                return Ok((oshape, 1, total, 1));
            }
        };
        let mut oshape = shape.to_vec();
        if self.keepdims {
            oshape[axis] = 1;
        } else {
            oshape.remove(axis);
        }
        Ok((
            oshape,
            shape[..axis].iter().product(),
            shape[axis],
            shape[axis + 1..].iter().product(),
        ))
    }
}

impl Kernel for Search {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let (oshape, _, n, _) = self.split(inputs[0])?;
        if n == 0 && numel(inputs[0]) > 0 {
            return Err("cannot search along an empty axis".into());
        }
        Ok(vec![oshape])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (_, outer, n, inner) = self.split(x.shape)?;
        let out = &mut *outputs[0].data;
        if out.is_empty() || n == 0 {
            out.fill(0.0);
            return Ok(());
        }
        let max = self.extreme == Extreme::Max;
        let init = if max {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        };
        // MXNet's rule: the index moves when the running extreme changes
        // from a non-NaN value (so the first NaN sticks).
        let search = |best: &mut Vec<f32>, o: usize, dst: &mut [f32]| {
            best.clear();
            best.resize(inner, init);
            dst.fill(0.0);
            for k in 0..n {
                let row = &x.data[(o * n + k) * inner..(o * n + k + 1) * inner];
                for ((b, d), &v) in best.iter_mut().zip(dst.iter_mut()).zip(row) {
                    let old = *b;
                    if old.is_nan() {
                        continue;
                    }
                    let keep = if max { old >= v } else { old <= v };
                    if !keep {
                        *b = v;
                        if v != old {
                            *d = k as f32;
                        }
                    }
                }
            }
        };
        if x.data.len() >= 2 * PAR_GRAIN && outer > 1 {
            out.par_chunks_mut(inner)
                .enumerate()
                .for_each_init(Vec::new, |best, (o, d)| search(best, o, d));
        } else {
            let mut best = Vec::with_capacity(inner);
            for (o, d) in out.chunks_mut(inner).enumerate() {
                search(&mut best, o, d);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axes(axis: &[i64], keepdims: bool, exclude: bool) -> Axes {
        Axes {
            axis: Some(axis.to_vec()),
            keepdims,
            exclude,
        }
    }

    #[test]
    fn fold_handles_interleaved_reduced_axes() {
        // (2, 3, 4) reduced over axes 0 and 2.
        let x: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let (oshape, reduced) = axes(&[0, 2], false, false).plan(&[2, 3, 4]).unwrap();
        assert_eq!(oshape, vec![3]);
        let mut out = vec![0.0; 3];
        run_reduce(Red::Sum, &x, &[2, 3, 4], &reduced, &mut out, DType::F32);
        let want: Vec<f32> = (0..3)
            .map(|j| {
                (0..2)
                    .flat_map(|i| (0..4).map(move |k| (i * 12 + j * 4 + k) as f32))
                    .sum()
            })
            .collect();
        assert_eq!(out, want);
        assert!(axes(&[1, -2], false, false).plan(&[2, 3, 4]).is_err());
        assert_eq!(
            axes(&[1], true, true).plan(&[2, 3, 4]).unwrap().0,
            vec![1, 3, 1]
        );
    }
}
