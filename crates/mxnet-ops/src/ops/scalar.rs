//! Tensor–scalar arithmetic and comparison (`_plus_scalar`, `_minus_scalar`,
//! `_rminus_scalar`, `_mul_scalar`, `_div_scalar`, `_rdiv_scalar`,
//! `_power_scalar`, `_rpower_scalar`, `_maximum_scalar`, `_minimum_scalar`,
//! `_mod_scalar`, `_rmod_scalar`, `_hypot_scalar`, `_equal_scalar`,
//! `_not_equal_scalar`, `_greater_scalar`, `_greater_equal_scalar`,
//! `_lesser_scalar`, `_lesser_equal_scalar`; the pre-NNVM spellings such as
//! `_PlusScalar` resolve to them) and `clip`.
//!
//! One input `data`. Attributes: `scalar` = 1 (a double), `is_int` = True.
//! The `r` forms swap the operands (`_rminus_scalar`: s − x, `_rdiv_scalar`:
//! s / x, `_rpower_scalar`: s^x, `_rmod_scalar`: s mod x). Comparisons give
//! 0/1. `mod` takes the divisor's sign and `x mod 0` is 0.
//!
//! Dtypes (MXNet's `NumpyBinaryScalarType`): the output has the input dtype,
//! except integer input with `is_int = False` → float64 and boolean input →
//! int64 (`is_int`) or float64. The scalar is converted to the output dtype
//! before use, so with integer input and the default `is_int` it is
//! truncated (int32 [1, 2, 3] + 0.5 → [1, 2, 3]) and with float16 input it is
//! rounded to half precision; integer results truncate toward zero.
//!
//! `clip`: `a_min`, `a_max` (required floats); x > a_max → a_max, else
//! x < a_min → a_min, else x (NaN passes through). Output dtype = input's.

use mxnet_format::DType;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::elemwise::{Bin, bin_of};
use super::math::{store_all_as, store_as};
use super::util::map_unary;

/// The output dtype of a scalar op for input dtype `d` (MXNet's
/// `NumpyBinaryScalarType`).
pub(crate) fn scalar_out_dtype(d: DType, is_int: bool) -> DType {
    match d {
        DType::Bool if is_int => DType::I64,
        DType::Bool => DType::F64,
        DType::U8 | DType::I8 | DType::I32 | DType::I64 if !is_int => DType::F64,
        d => d,
    }
}

/// The scalar as MXNet uses it: converted to the output dtype of a scalar op
/// on input dtype `d`.
pub(crate) fn scalar_in(d: DType, is_int: bool, s: f64) -> f32 {
    match scalar_out_dtype(d, is_int) {
        DType::F16 => half::f16::from_f64(s).to_f32(),
        DType::BF16 => half::bf16::from_f64(s).to_f32(),
        DType::F32 | DType::F64 => s as f32,
        o => store_as(o, s.trunc() as f32),
    }
}

/// Which function and operand order each op name means: the tensor–tensor
/// op of the same base name ([`bin_of`]), reversed for `_r…_scalar`.
fn scalar_op_of(name: &str) -> Option<(Bin, bool)> {
    let base = name.strip_prefix('_')?.strip_suffix("_scalar")?;
    let (base, reversed) = match base.strip_prefix('r') {
        Some(b @ ("minus" | "div" | "power" | "mod")) => (b, true),
        _ => (base, false),
    };
    Some((bin_of(base)?, reversed))
}

/// The tensor–scalar ops' entries.
pub(crate) static OPS: &[OpEntry] = entries![
    "_plus_scalar" => "x + scalar",
    "_minus_scalar" => "x − scalar",
    "_rminus_scalar" => "scalar − x",
    "_mul_scalar" => "x · scalar",
    "_div_scalar" => "x / scalar",
    "_rdiv_scalar" => "scalar / x",
    "_power_scalar" => "x ^ scalar",
    "_rpower_scalar" => "scalar ^ x",
    "_maximum_scalar" => "max(x, scalar)",
    "_minimum_scalar" => "min(x, scalar)",
    "_mod_scalar" => "x mod scalar",
    "_rmod_scalar" => "scalar mod x",
    "_hypot_scalar" => "√(x² + scalar²)",
    "_equal_scalar" => "x == scalar",
    "_not_equal_scalar" => "x != scalar",
    "_greater_scalar" => "x > scalar",
    "_greater_equal_scalar" => "x >= scalar",
    "_lesser_scalar" => "x < scalar",
    "_lesser_equal_scalar" => "x <= scalar",
];

/// `clip`'s entry.
pub(crate) static CLIP_OPS: &[OpEntry] = &[OpEntry {
    name: "clip",
    build: build_clip,
    family: "math",
    summary: "clip values into [a_min, a_max]",
}];

#[derive(Debug)]
struct Scalar {
    op: Bin,
    reversed: bool,
    scalar: f64,
    is_int: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let name = crate::registry::canonical(&a.node().op);
    let (op, reversed) = scalar_op_of(name).ok_or_else(|| AttrError {
        key: "op".into(),
        value: name.into(),
        expected: "a tensor-scalar op",
    })?;
    Ok(Box::new(Scalar {
        op,
        reversed,
        scalar: a.float("scalar", 1.0)?,
        is_int: a.bool("is_int", true)?,
    }))
}

impl Kernel for Scalar {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        Ok(vec![inputs[0].to_vec()])
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        let d = inputs.first().copied().unwrap_or(DType::F32);
        vec![scalar_out_dtype(d, self.is_int)]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let s = scalar_in(x.dtype, self.is_int, self.scalar);
        let out = &mut *outputs[0].data;
        let op = self.op;
        if self.reversed {
            map_unary(x.data, out, move |v| op.apply(s, v));
        } else {
            match op {
                // The common ones get their own loops.
                Bin::Add => map_unary(x.data, out, move |v| v + s),
                Bin::Sub => map_unary(x.data, out, move |v| v - s),
                Bin::Mul => map_unary(x.data, out, move |v| v * s),
                Bin::Div => map_unary(x.data, out, move |v| v / s),
                _ => map_unary(x.data, out, move |v| op.apply(v, s)),
            }
        }
        store_all_as(scalar_out_dtype(x.dtype, self.is_int), out);
        Ok(())
    }
}

#[derive(Debug)]
struct Clip {
    min: f32,
    max: f32,
}

fn build_clip(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Clip {
        min: a.req_float("a_min")? as f32,
        max: a.req_float("a_max")? as f32,
    }))
}

impl Kernel for Clip {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        Ok(vec![inputs[0].to_vec()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (lo, hi) = (self.min, self.max);
        let out = &mut *outputs[0].data;
        if lo <= hi {
            // Two selects without short-circuit branches, so the loop
            // vectorises; NaN stays NaN (both comparisons are false).
            map_unary(inputs[0].data, out, move |v| {
                let t = if v > hi { hi } else { v };
                if t < lo { lo } else { t }
            });
        } else {
            map_unary(inputs[0].data, out, move |v| {
                if v > hi {
                    hi
                } else if v < lo {
                    lo
                } else {
                    v
                }
            });
        }
        store_all_as(inputs[0].dtype, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_dtypes() {
        assert_eq!(scalar_op_of("_rdiv_scalar"), Some((Bin::Div, true)));
        assert_eq!(scalar_op_of("_rmod_scalar"), Some((Bin::Mod, true)));
        assert_eq!(scalar_op_of("_mod_scalar"), Some((Bin::Mod, false)));
        assert_eq!(scalar_op_of("_lesser_equal_scalar"), Some((Bin::Le, false)));
        assert_eq!(scalar_out_dtype(DType::Bool, true), DType::I64);
        assert_eq!(scalar_out_dtype(DType::I32, false), DType::F64);
        assert_eq!(scalar_in(DType::I32, true, -2.7), -2.0);
        assert_eq!(scalar_in(DType::F16, true, 0.1), 0.099975586);
    }
}
