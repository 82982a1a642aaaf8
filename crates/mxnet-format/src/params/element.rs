//! Native element types and their little-endian encoding.

use half::{bf16, f16};

use crate::dtype::DType;

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that holds the elements of one MXNet dtype.
///
/// Implemented for `f32`, `f64`, [`half::f16`], [`half::bf16`], `u8`, `i32`,
/// `i8`, `i64` and `bool`. Sealed: the set follows [`DType`].
pub trait Element:
    Copy + Default + Send + Sync + std::fmt::Debug + 'static + sealed::Sealed
{
    /// The dtype this type holds.
    const DTYPE: DType;
    /// Decodes one element from exactly `DTYPE.size()` little-endian bytes.
    fn read_le(bytes: &[u8]) -> Self;
    /// Appends the little-endian encoding.
    fn put_le(self, out: &mut Vec<u8>);
    /// The value as `f64` (exact for every type but `i64` beyond 2^53).
    fn to_f64(self) -> f64;
}

macro_rules! element {
    ($t:ty, $d:expr, $n:expr, |$v:ident| $to:expr) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = $d;
            #[inline]
            fn read_le(bytes: &[u8]) -> Self {
                let mut b = [0u8; $n];
                b.copy_from_slice(&bytes[..$n]);
                <$t>::from_le_bytes(b)
            }
            #[inline]
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn to_f64(self) -> f64 {
                let $v = self;
                $to
            }
        }
    };
}

element!(f32, DType::F32, 4, |v| f64::from(v));
element!(f64, DType::F64, 8, |v| v);
element!(f16, DType::F16, 2, |v| f64::from(v));
element!(bf16, DType::BF16, 2, |v| f64::from(v));
element!(u8, DType::U8, 1, |v| f64::from(v));
element!(i32, DType::I32, 4, |v| f64::from(v));
element!(i8, DType::I8, 1, |v| f64::from(v));
element!(i64, DType::I64, 8, |v| v as f64);

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    #[inline]
    fn read_le(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
    #[inline]
    fn put_le(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
}

/// Decodes a little-endian block of `dtype` elements into `f32`s, appending to `out`.
pub(crate) fn extend_f32(dtype: DType, bytes: &[u8], out: &mut Vec<f32>) {
    match dtype {
        DType::F32 => match bytemuck::try_cast_slice::<u8, f32>(bytes) {
            Ok(s) if cfg!(target_endian = "little") => out.extend_from_slice(s),
            _ => out.extend(bytes.chunks_exact(4).map(f32::read_le)),
        },
        DType::F64 => out.extend(bytes.chunks_exact(8).map(|c| f64::read_le(c) as f32)),
        DType::F16 => {
            let start = out.len();
            out.resize(start + bytes.len() / 2, 0.0);
            match bytemuck::try_cast_slice::<u8, f16>(bytes) {
                Ok(s) if cfg!(target_endian = "little") => {
                    half::slice::HalfFloatSliceExt::convert_to_f32_slice(s, &mut out[start..])
                }
                _ => {
                    for (o, c) in out[start..].iter_mut().zip(bytes.chunks_exact(2)) {
                        *o = f16::read_le(c).to_f32();
                    }
                }
            }
        }
        DType::BF16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16)),
        ),
        DType::U8 => out.extend(bytes.iter().map(|&b| f32::from(b))),
        DType::I8 => out.extend(bytes.iter().map(|&b| f32::from(b as i8))),
        DType::Bool => out.extend(bytes.iter().map(|&b| if b != 0 { 1.0 } else { 0.0 })),
        DType::I32 => out.extend(bytes.chunks_exact(4).map(|c| i32::read_le(c) as f32)),
        DType::I64 => out.extend(bytes.chunks_exact(8).map(|c| i64::read_le(c) as f32)),
    }
}

/// Decodes a little-endian block of `dtype` elements into `f32`s, writing
/// `out` (whose length is the element count).
pub(crate) fn decode_f32_into(dtype: DType, bytes: &[u8], out: &mut [f32]) {
    let size = dtype.size();
    match dtype {
        DType::F32 => match bytemuck::try_cast_slice::<u8, f32>(bytes) {
            Ok(s) if cfg!(target_endian = "little") => out.copy_from_slice(s),
            _ => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::read_le(c);
                }
            }
        },
        DType::F16 => match bytemuck::try_cast_slice::<u8, f16>(bytes) {
            Ok(s) if cfg!(target_endian = "little") => {
                half::slice::HalfFloatSliceExt::convert_to_f32_slice(s, out)
            }
            _ => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = f16::read_le(c).to_f32();
                }
            }
        },
        _ => {
            // The remaining types are rare in weights; decode through the
            // appending path one chunk at a time to keep memory bounded.
            let mut tmp = Vec::new();
            for (o, c) in out.chunks_mut(4096).zip(bytes.chunks(4096 * size)) {
                tmp.clear();
                extend_f32(dtype, c, &mut tmp);
                o.copy_from_slice(&tmp);
            }
        }
    }
}

/// Decodes a little-endian block of `dtype` elements into `f64`s, appending to `out`.
pub(crate) fn extend_f64(dtype: DType, bytes: &[u8], out: &mut Vec<f64>) {
    let size = dtype.size();
    macro_rules! go {
        ($t:ty) => {
            out.extend(bytes.chunks_exact(size).map(|c| <$t>::read_le(c).to_f64()))
        };
    }
    match dtype {
        DType::F32 => go!(f32),
        DType::F64 => go!(f64),
        DType::F16 => go!(f16),
        DType::BF16 => go!(bf16),
        DType::U8 => go!(u8),
        DType::I8 => go!(i8),
        DType::Bool => go!(bool),
        DType::I32 => go!(i32),
        DType::I64 => go!(i64),
    }
}

/// Reads element `i` of an integer index block as `i64`.
#[inline]
pub(crate) fn index_at(dtype: DType, bytes: &[u8], i: usize) -> i64 {
    match dtype {
        DType::I32 => i64::from(i32::read_le(&bytes[i * 4..])),
        _ => i64::read_le(&bytes[i * 8..]),
    }
}
