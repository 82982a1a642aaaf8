//! Helpers shared by op files: axes, broadcasting, strides, parallel loops.

use rayon::prelude::*;

/// Normalises a possibly negative axis against `ndim`.
pub fn axis(axis: i64, ndim: usize) -> Result<usize, String> {
    let n = ndim as i64;
    let a = if axis < 0 { axis + n } else { axis };
    if (0..n).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is out of range for {ndim}-d input"))
    }
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!(
                "shapes {} and {} do not broadcast",
                crate::tensor::shape_str(a),
                crate::tensor::shape_str(b)
            ));
        };
    }
    Ok(out)
}

/// Strides to read `shape` (right-aligned) as if broadcast to `out`: 0 on
/// broadcast axes.
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let s = strides(shape);
    let off = out.len() - shape.len();
    (0..out.len())
        .map(|i| {
            if i < off || shape[i - off] == 1 {
                0
            } else {
                s[i - off]
            }
        })
        .collect()
}

/// Elements per parallel task: large enough that scheduling is negligible.
pub const PAR_GRAIN: usize = 1 << 14;

#[allow(dead_code)] // used by the op families being added
/// Applies `f` to each element of `out` with its index, in parallel for
/// large outputs.
pub fn fill_indexed(out: &mut [f32], f: impl Fn(usize) -> f32 + Sync) {
    if out.len() >= 2 * PAR_GRAIN {
        out.par_chunks_mut(PAR_GRAIN)
            .enumerate()
            .for_each(|(c, chunk)| {
                let base = c * PAR_GRAIN;
                for (i, o) in chunk.iter_mut().enumerate() {
                    *o = f(base + i);
                }
            });
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            *o = f(i);
        }
    }
}

/// Maps `x` element-wise into `out` (same length), in parallel for large inputs.
pub fn map_unary(x: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    if out.len() >= 2 * PAR_GRAIN {
        out.par_chunks_mut(PAR_GRAIN)
            .zip(x.par_chunks(PAR_GRAIN))
            .for_each(|(o, i)| {
                for (o, &v) in o.iter_mut().zip(i) {
                    *o = f(v);
                }
            });
    } else {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = f(v);
        }
    }
}

/// Runs `f(i, chunk)` over `out` split into `chunk` sized pieces, in parallel
/// when there is more than one piece and enough work.
pub fn par_rows(out: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if chunk == 0 {
        return;
    }
    if out.len() >= PAR_GRAIN && out.len() / chunk > 1 {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        for (i, c) in out.chunks_mut(chunk).enumerate() {
            f(i, c);
        }
    }
}

#[allow(dead_code)] // used by the op families being added
/// Converts attribute integers to sizes, rejecting negatives.
pub fn sizes(v: &[i64], what: &str) -> Result<Vec<usize>, String> {
    v.iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("{what} has a negative entry {d}")))
        .collect()
}

/// Repeats a per-axis tuple to `n` entries (`()` means `default` everywhere).
pub fn per_axis(v: &[i64], n: usize, default: i64) -> Vec<i64> {
    if v.is_empty() {
        vec![default; n]
    } else {
        v.to_vec()
    }
}

/// The error function (libm's, exact to double precision).
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with a scratch buffer of `len` values (contents unspecified),
/// reused across calls on this thread so large temporaries (im2col columns)
/// are not allocated and page-faulted on every call. Falls back to a fresh
/// buffer if the thread's one is in use.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// An output pointer that may cross threads, for kernels whose tasks write
/// disjoint parts of one output (tiles, rows) that are not contiguous
/// chunks. Users guarantee that no two tasks touch the same element.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);
// SAFETY: the pointer is only dereferenced by tasks writing disjoint
// elements of one live output buffer (see the users' SAFETY comments).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so closures capture the whole `SendPtr`).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// The widest vector instructions this CPU has, for kernels written once,
/// compiled per instruction set with `#[target_feature]` and chosen at run
/// time. `Avx512` means AVX-512F and FMA, `Avx2` AVX2 and FMA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    Avx512,
    Avx2,
    Baseline,
}

impl Simd {
    /// What this CPU has (the standard library caches the answer).
    pub(crate) fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("fma") && has!("avx512f") {
                return Simd::Avx512;
            }
            if has!("fma") && has!("avx2") {
                return Simd::Avx2;
            }
        }
        Simd::Baseline
    }
}
