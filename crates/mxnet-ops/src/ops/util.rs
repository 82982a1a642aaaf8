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
    par_rows_reading(out, chunk, chunk, f)
}

/// [`par_rows`] where each piece of `chunk` outputs reads `reads` inputs:
/// the work is counted in the larger of the two, so that reductions with
/// few outputs (a global pooling) still run in parallel.
pub fn par_rows_reading(
    out: &mut [f32],
    chunk: usize,
    reads: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    if chunk == 0 {
        return;
    }
    let work = out.len() / chunk * chunk.max(reads);
    if work >= PAR_GRAIN && out.len() / chunk > 1 {
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
    static LAYOUT: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with a buffer of `len` values (contents unspecified) for an
/// input laid out anew once per call (padded phase planes), reused across
/// calls on this thread: a fresh allocation of a few MB costs its page
/// faults on every call. It is apart from [`with_scratch`]'s buffer, which
/// the tasks reading the layout use, also on this thread. Falls back to a
/// fresh buffer if the thread's one is in use.
pub fn with_layout_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_buffer(&LAYOUT, len, f)
}

/// Runs `f` with the first `len` values of this thread's `key` buffer
/// (grown as needed), or with a fresh buffer if it is in use.
fn with_buffer<R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Runs `task(0..tasks)`, in parallel on the current pool when it has more
/// than one thread and there is more than one task, else in order here.
pub(crate) fn run_tasks(tasks: usize, task: impl Fn(usize) + Sync + Send) {
    use rayon::prelude::*;
    if rayon::current_num_threads() > 1 && tasks > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Whether a batch of `n` images splits evenly over the current pool's
/// threads (more than one), so that kernels whose images are too small to
/// split can give each thread whole images
/// ([`super::convolution::DwGeometry::for_each_image_phases_par`]).
pub(crate) fn images_split_evenly(n: usize) -> bool {
    let threads = rayon::current_num_threads();
    threads > 1 && n >= threads && n.is_multiple_of(threads)
}

/// Runs `f` with a scratch buffer of `len` values (contents unspecified),
/// reused across calls on this thread so large temporaries (im2col columns)
/// are not allocated and page-faulted on every call. Falls back to a fresh
/// buffer if the thread's one is in use.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_buffer(&SCRATCH, len, f)
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

/// The register block of the hand-written direct convolutions (the
/// few-channel and 1×1 kernels): `FB` filters × `len` ≤ 64 outputs with
/// AVX-512, `out[k·stride + i] = Σ_t w[k·T + t] · src[offsets[t] + i]` over
/// the `T = offsets.len()` taps in order, by fused multiply-adds from zero.
/// The `FB × 4` accumulators and a tap's four input vectors stay in
/// registers: each tap is four loads, `FB` broadcasts and `4·FB` FMAs.
/// Lanes from `len` on are neither read nor written.
///
/// # Safety
/// The CPU has AVX-512F and FMA; `out` has `FB` rows of `len` writable
/// floats, `stride` apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
pub(crate) unsafe fn fma_block_avx512<const FB: usize>(
    offsets: &[usize],
    src: &[f32],
    w: &[f32],
    out: *mut f32,
    stride: usize,
    len: usize,
) {
    use std::arch::x86_64::*;
    let depth = offsets.len();
    assert!(
        len <= 64 && w.len() >= FB * depth,
        "fma_block_avx512: operands"
    );
    let mask = |v: usize| -> __mmask16 {
        let n = len.saturating_sub(16 * v).min(16);
        ((1u32 << n) - 1) as __mmask16
    };
    let masks = [mask(0), mask(1), mask(2), mask(3)];
    let mut s = [[_mm512_setzero_ps(); 4]; FB];
    for (t, &off) in offsets.iter().enumerate() {
        let x = src[off..off + len].as_ptr();
        // SAFETY: lanes below `len` are inside `src` (sliced above);
        // masked-off lanes are not read.
        let v = unsafe {
            [
                _mm512_maskz_loadu_ps(masks[0], x),
                _mm512_maskz_loadu_ps(masks[1], x.wrapping_add(16)),
                _mm512_maskz_loadu_ps(masks[2], x.wrapping_add(32)),
                _mm512_maskz_loadu_ps(masks[3], x.wrapping_add(48)),
            ]
        };
        for (k, sk) in s.iter_mut().enumerate() {
            let wt = _mm512_set1_ps(w[k * depth + t]);
            for (a, &vi) in sk.iter_mut().zip(&v) {
                *a = _mm512_fmadd_ps(wt, vi, *a);
            }
        }
    }
    for (k, sk) in s.iter().enumerate() {
        for (i, &a) in sk.iter().enumerate() {
            // SAFETY: row k's lanes below `len`, as the caller promised.
            unsafe { _mm512_mask_storeu_ps(out.wrapping_add(k * stride + 16 * i), masks[i], a) };
        }
    }
}

/// A row-major `rows × cols` matrix transposed (`cols × rows`, row-major),
/// for weights rearranged once at plan time.
pub(crate) fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut t = vec![0f32; rows * cols];
    if rows == 0 {
        return t;
    }
    // Blocks of 32 × 32, so both sides stay in L1; 32 output rows a task.
    t.par_chunks_mut(32 * rows)
        .enumerate()
        .for_each(|(blk, out)| {
            let c0 = blk * 32;
            for r0 in (0..rows).step_by(32) {
                for r in r0..(r0 + 32).min(rows) {
                    for (k, o) in out.chunks_exact_mut(rows).enumerate() {
                        o[r] = m[r * cols + c0 + k];
                    }
                }
            }
        });
    t
}
