//! Selection by condition or by index arrays: `where`, `take`, `pick` (alias
//! `choose_element_0index`), `one_hot`, `gather_nd`, `Embedding`.
//!
//! Index arrays may have any dtype; float indices are truncated toward zero
//! (x86 conversion: NaN and huge values become the most negative index).
//!
//! * `where(condition, x, y)`: x and y of one shape; condition of that shape
//!   or 1-D with x's first size (then it selects whole rows). Any non-zero
//!   (or NaN) condition selects x. Output dtype: x's.
//! * `take(a, indices)`: `axis` = 0 (in `[−r, r−1]`), `mode` = `clip` —
//!   out-of-range indices are clamped; `wrap` — taken modulo the axis size;
//!   `raise` — an index outside `[0, size−1]` is an error. Output shape
//!   a.shape[:axis] + indices.shape + a.shape[axis+1:].
//! * `pick(data, index)`: `axis` = −1 (None is rejected, as in MXNet),
//!   `keepdims` = False, `mode` = `clip` or `wrap`. index has data's shape
//!   without the axis (or with it as size 1); a 1-D data gives shape (1,).
//! * `one_hot(indices)`: `depth` (required), `on_value` = 1, `off_value` = 0,
//!   `dtype` = `float32`. Output indices.shape + (depth,); an index outside
//!   `[0, depth)` gives a row of `off_value`.
//! * `gather_nd(data, indices)`: indices (M, …) with ndim ≥ 2 and M ≤
//!   min(data.ndim, 10) index data's first M axes; output indices.shape[1:] +
//!   data.shape[M:]. Indices in `[−size, size−1]` (negative wrap); others are
//!   an error.
//! * `Embedding(data, weight)`: `input_dim`, `output_dim` (required), weight
//!   (input_dim, output_dim), `dtype` = `float32` (the weight's dtype when
//!   no weight dtype is known; the output has the weight's dtype),
//!   `sparse_grad` ignored. Output data.shape + (output_dim,), rows of weight;
//!   indices are truncated and clamped into `[0, input_dim − 1]`.

use mxnet_format::DType;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::{numel, shape_str};

use super::cast::{cast_value, dtype_attr, f2i64};
use super::util::{axis as norm_axis, fill_indexed, par_rows};

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "where",
        build: build_where,
        family: "tensor",
        summary: "choose x or y by a condition (elementwise or by row)",
    },
    OpEntry {
        name: "take",
        build: build_take,
        family: "tensor",
        summary: "gather slices along an axis (clip, wrap, raise)",
    },
    OpEntry {
        name: "pick",
        build: build_pick,
        family: "tensor",
        summary: "pick one element per position along an axis",
    },
    OpEntry {
        name: "one_hot",
        build: build_one_hot,
        family: "tensor",
        summary: "one-hot encoding of indices",
    },
    OpEntry {
        name: "gather_nd",
        build: build_gather_nd,
        family: "tensor",
        summary: "gather by N-d indices into the leading axes",
    },
    OpEntry {
        name: "Embedding",
        build: build_embedding,
        family: "nn",
        summary: "rows of a weight matrix by (clamped) index",
    },
];

/// How out-of-range indices behave.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Clip,
    Wrap,
    Raise,
}

/// A (truncated) index resolved into `[0, n)` by clamping or wrapping.
#[inline]
fn resolve(v: f32, n: usize, mode: Mode) -> usize {
    let n = n as i64;
    let j = f2i64(v);
    match mode {
        Mode::Clip => j.clamp(0, n - 1) as usize,
        Mode::Wrap | Mode::Raise => j.rem_euclid(n) as usize,
    }
}

/// (outer, size, inner) around `ax`.
fn around(shape: &[usize], ax: usize) -> (usize, usize, usize) {
    (
        shape[..ax].iter().product(),
        shape[ax],
        shape[ax + 1..].iter().product(),
    )
}

// ---- where ----

#[derive(Debug)]
struct Where;

fn build_where(_: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Where))
}

impl Kernel for Where {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 3)?;
        let (c, x, y) = (inputs[0], inputs[1], inputs[2]);
        if x != y {
            return Err(format!(
                "x and y must have the same shape, got {} and {}",
                shape_str(x),
                shape_str(y)
            ));
        }
        let rows = c.len() == 1 && x.len() > 1 && x.first() == c.first();
        if c != x && !rows {
            return Err(format!(
                "condition must have x's shape {} or be 1-D of length {}, got {}",
                shape_str(x),
                x.first().copied().unwrap_or(0),
                shape_str(c)
            ));
        }
        Ok(vec![x.to_vec()])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match (
            inputs.get(1).copied().flatten(),
            inputs.get(2).copied().flatten(),
        ) {
            (Some(x), None) => vec![None, None, Some(x.to_vec())],
            (None, Some(y)) => vec![None, Some(y.to_vec()), None],
            _ => Vec::new(),
        }
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        vec![inputs.get(1).copied().unwrap_or(DType::F32)]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (c, x, y) = (inputs[0], inputs[1], inputs[2]);
        let out = &mut *outputs[0].data;
        if c.shape == x.shape {
            let (c, x, y) = (c.data, x.data, y.data);
            fill_indexed(out, |i| if c[i] != 0.0 { x[i] } else { y[i] });
        } else {
            let row = numel(&x.shape[1..]);
            if row == 0 {
                return Ok(());
            }
            par_rows(out, row, |r, o| {
                let src = if c.data[r] != 0.0 { x.data } else { y.data };
                o.copy_from_slice(&src[r * row..(r + 1) * row]);
            });
        }
        Ok(())
    }
}

// ---- take ----

#[derive(Debug)]
struct Take {
    axis: i64,
    mode: Mode,
}

fn build_take(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let mode = match a.choice("mode", &["clip", "wrap", "raise"], "clip")? {
        "wrap" => Mode::Wrap,
        "raise" => Mode::Raise,
        _ => Mode::Clip,
    };
    Ok(Box::new(Take {
        axis: a.int("axis", 0)?,
        mode,
    }))
}

impl Kernel for Take {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 2)?;
        let (a, idx) = (inputs[0], inputs[1]);
        let ax = norm_axis(self.axis, a.len())?;
        if a[ax] == 0 && numel(idx) > 0 {
            return Err(format!(
                "cannot take from empty axis {ax} of {}",
                shape_str(a)
            ));
        }
        let out: Vec<usize> = a[..ax]
            .iter()
            .chain(idx)
            .chain(&a[ax + 1..])
            .copied()
            .collect();
        Ok(vec![out])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (a, idx) = (inputs[0], inputs[1]);
        let ax = norm_axis(self.axis, a.shape.len())?;
        let (_, n, inner) = around(a.shape, ax);
        if self.mode == Mode::Raise
            && let Some(bad) = idx
                .data
                .iter()
                .find(|&&v| v.is_nan() || v < 0.0 || v > (n - 1) as f32)
        {
            return Err(format!(
                "take: index {bad} is out of bounds for axis {ax} with size {n}"
            ));
        }
        let rows: Vec<usize> = idx.data.iter().map(|&v| resolve(v, n, self.mode)).collect();
        let k = rows.len();
        let block = k * inner;
        if block == 0 {
            return Ok(());
        }
        par_rows(outputs[0].data, block, |o, dst| {
            let src = &a.data[o * n * inner..(o + 1) * n * inner];
            for (d, &j) in dst.chunks_mut(inner).zip(&rows) {
                d.copy_from_slice(&src[j * inner..(j + 1) * inner]);
            }
        });
        Ok(())
    }
}

// ---- pick ----

#[derive(Debug)]
struct Pick {
    axis: i64,
    keepdims: bool,
    mode: Mode,
}

fn build_pick(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let axis = match a.get("axis") {
        None => -1,
        Some(_) => a.opt_int("axis")?.ok_or_else(|| AttrError {
            key: "axis".into(),
            value: "None".into(),
            expected: "an integer (pick does not support axis=None)",
        })?,
    };
    let mode = match a.choice("mode", &["clip", "wrap"], "clip")? {
        "wrap" => Mode::Wrap,
        _ => Mode::Clip,
    };
    Ok(Box::new(Pick {
        axis,
        keepdims: a.bool("keepdims", false)?,
        mode,
    }))
}

impl Pick {
    /// MXNet's `ReduceAxisShapeImpl` for one axis.
    fn reduced(x: &[usize], ax: usize, keepdims: bool) -> Vec<usize> {
        if x.len() == 1 {
            return vec![1];
        }
        let mut s = x.to_vec();
        if keepdims {
            s[ax] = 1;
        } else {
            s.remove(ax);
        }
        s
    }
}

impl Kernel for Pick {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 2)?;
        let (x, idx) = (inputs[0], inputs[1]);
        let ax = norm_axis(self.axis, x.len())?;
        let want = Self::reduced(x, ax, idx.len() == x.len());
        if idx != want.as_slice() {
            return Err(format!("index must have shape {}", shape_str(&want)));
        }
        if x[ax] == 0 && numel(idx) > 0 {
            return Err(format!(
                "cannot pick from empty axis {ax} of {}",
                shape_str(x)
            ));
        }
        Ok(vec![Self::reduced(x, ax, self.keepdims)])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match (inputs.first().copied().flatten(), inputs.get(1)) {
            (Some(x), Some(None)) => match norm_axis(self.axis, x.len()) {
                Ok(ax) => vec![None, Some(Self::reduced(x, ax, false))],
                Err(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (x, idx) = (inputs[0], inputs[1]);
        let ax = norm_axis(self.axis, x.shape.len())?;
        let (_, n, inner) = around(x.shape, ax);
        if inner == 0 {
            return Ok(());
        }
        par_rows(outputs[0].data, inner, |o, dst| {
            let src = &x.data[o * n * inner..(o + 1) * n * inner];
            let ids = &idx.data[o * inner..(o + 1) * inner];
            for (t, (d, &v)) in dst.iter_mut().zip(ids).enumerate() {
                *d = src[resolve(v, n, self.mode) * inner + t];
            }
        });
        Ok(())
    }
}

// ---- one_hot ----

#[derive(Debug)]
struct OneHot {
    depth: usize,
    on: f32,
    off: f32,
    dtype: DType,
}

fn build_one_hot(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let dtype = dtype_attr(a, "dtype", DType::F32)?;
    let conv = |v: f64| cast_value(v as f32, DType::F64, dtype);
    Ok(Box::new(OneHot {
        depth: a.req_count("depth")?,
        on: conv(a.float("on_value", 1.0)?),
        off: conv(a.float("off_value", 0.0)?),
        dtype,
    }))
}

impl Kernel for OneHot {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let mut out = inputs[0].to_vec();
        out.push(self.depth);
        Ok(vec![out])
    }

    fn infer_dtypes(&self, _: &[DType]) -> Vec<DType> {
        vec![self.dtype]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let idx = inputs[0];
        if self.depth == 0 {
            return Ok(());
        }
        let depth = self.depth as i64;
        par_rows(outputs[0].data, self.depth, |i, row| {
            row.fill(self.off);
            let j = f2i64(idx.data[i]);
            if (0..depth).contains(&j) {
                row[j as usize] = self.on;
            }
        });
        Ok(())
    }
}

// ---- gather_nd ----

#[derive(Debug)]
struct GatherNd;

fn build_gather_nd(_: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(GatherNd))
}

impl Kernel for GatherNd {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 2)?;
        let (d, i) = (inputs[0], inputs[1]);
        if i.len() < 2 {
            return Err(format!(
                "indices must have at least 2 axes (M, ...), got {}",
                shape_str(i)
            ));
        }
        let m = i[0];
        if m > d.len() || m > 10 {
            return Err(format!(
                "indices address {m} axes; data {} has {} (at most 10 are supported)",
                shape_str(d),
                d.len()
            ));
        }
        Ok(vec![i[1..].iter().chain(&d[m..]).copied().collect()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (d, i) = (inputs[0], inputs[1]);
        let m = i.shape[0];
        let n = numel(&i.shape[1..]);
        let k = numel(&d.shape[m..]);
        if n == 0 || k == 0 {
            return Ok(());
        }
        // Bounds, as MXNet checks them before gathering.
        for (j, &size) in d.shape[..m].iter().enumerate() {
            let lim = size as f32;
            if let Some(bad) = i.data[j * n..(j + 1) * n]
                .iter()
                .find(|&&v| v.is_nan() || v < -lim || v > lim - 1.0)
            {
                return Err(format!(
                    "gather_nd: index {bad} is out of bounds for axis {j} with size {size}"
                ));
            }
        }
        // Row-major strides of the first m axes, in units of k.
        let mut step = vec![k; m];
        for j in (0..m.saturating_sub(1)).rev() {
            step[j] = step[j + 1] * d.shape[j + 1];
        }
        par_rows(outputs[0].data, k, |p, dst| {
            let mut off = 0;
            for (j, (&size, &st)) in d.shape.iter().zip(&step).enumerate() {
                // MXNet adds the size before truncating, then wraps.
                let v = f2i64(i.data[j * n + p] + size as f32);
                off += v.rem_euclid(size as i64) as usize * st;
            }
            dst.copy_from_slice(&d.data[off..off + k]);
        });
        Ok(())
    }
}

// ---- Embedding ----

#[derive(Debug)]
struct Embedding {
    input_dim: usize,
    output_dim: usize,
    dtype: DType,
}

fn build_embedding(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Embedding {
        input_dim: a.req_count("input_dim")?,
        output_dim: a.req_count("output_dim")?,
        dtype: dtype_attr(a, "dtype", DType::F32)?,
    }))
}

impl Kernel for Embedding {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 2)?;
        let (x, w) = (inputs[0], inputs[1]);
        if w != [self.input_dim, self.output_dim] {
            return Err(format!(
                "weight must have shape ({}, {})",
                self.input_dim, self.output_dim
            ));
        }
        if self.input_dim == 0 && numel(x) > 0 {
            return Err("input_dim must be positive to look up indices".into());
        }
        let mut out = x.to_vec();
        out.push(self.output_dim);
        Ok(vec![out])
    }

    fn infer_input_shapes(&self, _: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        vec![None, Some(vec![self.input_dim, self.output_dim])]
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        // MXNet: the weight's dtype when known, else the attribute.
        vec![inputs.get(1).copied().unwrap_or(self.dtype)]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (x, w) = (inputs[0], inputs[1]);
        let k = self.output_dim;
        if k == 0 {
            return Ok(());
        }
        par_rows(outputs[0].data, k, |p, dst| {
            let j = resolve(x.data[p], self.input_dim, Mode::Clip);
            dst.copy_from_slice(&w.data[j * k..(j + 1) * k]);
        });
        Ok(())
    }
}
