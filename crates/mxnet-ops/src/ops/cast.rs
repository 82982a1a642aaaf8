//! `Cast` (alias `cast`) and `amp_cast`: convert values to another dtype,
//! with the conversions MXNet's x86 build performs; also the dtype-attribute
//! and value-conversion helpers other op files share.
//!
//! Input: data. Attribute: `dtype` (required): `float16`, `float32`,
//! `float64`, `bfloat16`, `uint8`, `int8`, `int32`, `int64`, `bool`.
//! * float → int32/int64 truncates toward zero; NaN and out-of-range values
//!   become the type's minimum (x86 `cvttss2si`).
//! * float → int8/uint8 goes through int32 and keeps the low byte, so values
//!   wrap modulo 256 (300.5 → 44, −1.7 → 255 as uint8; 128 → −128 as int8).
//! * integer → narrower integer wraps; anything → bool is `x != 0` (NaN and
//!   −0.0: true and false).
//! * float16/bfloat16 outputs are rounded by the executor.
//!
//! `amp_cast` converts only float inputs (float32, float16, bfloat16); other
//! inputs pass through unchanged in their own dtype.

use mxnet_format::DType;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::util::map_unary;

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "Cast",
        build,
        family: "tensor",
        summary: "convert to a dtype (truncating, wrapping as MXNet on x86)",
    },
    OpEntry {
        name: "amp_cast",
        build,
        family: "tensor",
        summary: "mixed-precision cast of float inputs",
    },
];

/// A dtype attribute by MXNet name (`float32`, `int64`, …), or `default`
/// when absent.
pub(crate) fn dtype_attr(a: &Attrs<'_>, key: &str, default: DType) -> Result<DType, AttrError> {
    match a.get(key).map(str::trim) {
        None => Ok(default),
        Some(v) => v.parse::<DType>().map_err(|_| AttrError {
            key: key.into(),
            value: v.into(),
            expected: "a dtype name such as float32 or int64",
        }),
    }
}

/// A required dtype attribute.
pub(crate) fn req_dtype_attr(a: &Attrs<'_>, key: &str) -> Result<DType, AttrError> {
    if a.get(key).is_none() {
        return Err(AttrError {
            key: key.into(),
            value: String::new(),
            expected: "present (it is required)",
        });
    }
    dtype_attr(a, key, DType::F32)
}

/// A float converted to a 64-bit integer as x86 does it (`static_cast`):
/// truncation toward zero; NaN and out-of-range values give `i64::MIN`.
pub(crate) fn f2i64(v: f32) -> i64 {
    if v.is_nan() || !(-9.223_372e18..9.223_372e18).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// A float converted to a 32-bit integer as x86 does it: truncation toward
/// zero; NaN and out-of-range values give `i32::MIN`.
pub(crate) fn f2i32(v: f32) -> i32 {
    if v.is_nan() || !(-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        i32::MIN
    } else {
        v as i32
    }
}

/// Converts `v` (held in a tensor of dtype `from`) to dtype `to`, as a
/// `static_cast` in MXNet's x86 build does; the result is carried in `f32`.
pub(crate) fn cast_value(v: f32, from: DType, to: DType) -> f32 {
    let int = |bits: u32, signed: bool| -> f32 {
        // Integers as i64 (exact for integer sources), floats via int32 for
        // narrow targets and int64 for int64.
        let i: i64 = if from.is_float() {
            if bits == 64 {
                f2i64(v)
            } else {
                i64::from(f2i32(v))
            }
        } else {
            v as i64
        };
        match (bits, signed) {
            (8, true) => f32::from(i as i8),
            (8, false) => f32::from(i as u8),
            (32, _) => (i as i32) as f32,
            _ => i as f32,
        }
    };
    match to {
        DType::Bool => f32::from(u8::from(v != 0.0)),
        DType::U8 => int(8, false),
        DType::I8 => int(8, true),
        DType::I32 => int(32, true),
        DType::I64 => int(64, true),
        _ => v,
    }
}

#[derive(Debug)]
struct Cast {
    dtype: DType,
    /// `amp_cast`: only float inputs are converted.
    amp: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Cast {
        dtype: req_dtype_attr(a, "dtype")?,
        amp: crate::registry::canonical(&a.node().op) == "amp_cast",
    }))
}

impl Cast {
    fn target(&self, from: DType) -> DType {
        let amp_skips = !matches!(from, DType::F32 | DType::F16 | DType::BF16);
        if self.amp && amp_skips {
            from
        } else {
            self.dtype
        }
    }
}

impl Kernel for Cast {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        Ok(vec![inputs[0].to_vec()])
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        vec![self.target(inputs.first().copied().unwrap_or(DType::F32))]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (from, to) = (x.dtype, self.target(x.dtype));
        if to.is_float() || from == to {
            outputs[0].data.copy_from_slice(x.data);
        } else {
            map_unary(x.data, outputs[0].data, move |v| cast_value(v, from, to));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_x86_static_cast() {
        let f = DType::F32;
        assert_eq!(cast_value(300.5, f, DType::U8), 44.0);
        assert_eq!(cast_value(-1.7, f, DType::U8), 255.0);
        assert_eq!(cast_value(128.0, f, DType::I8), -128.0);
        assert_eq!(cast_value(1e10, f, DType::U8), 0.0);
        assert_eq!(cast_value(f32::NAN, f, DType::I32), -2_147_483_648.0);
        assert_eq!(cast_value(3e9, f, DType::I64), 3e9);
        assert_eq!(cast_value(-0.0, f, DType::Bool), 0.0);
        assert_eq!(cast_value(f32::NAN, f, DType::Bool), 1.0);
        assert_eq!(cast_value(300.0, DType::I32, DType::U8), 44.0);
    }
}
