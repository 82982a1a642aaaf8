//! `Pooling`: max, avg, sum and lp pooling over 1–3 spatial axes, global or
//! windowed, `valid` (⌊⌋) or `full` (⌈⌉) output sizes.
//!
//! A window starts at o·stride − pad and ends at min(start + k, in + pad).
//! `avg` with `count_include_pad` (default True) divides by that length before
//! it is clipped to the input — padding inside the padded border counts,
//! overhang beyond it (full convention) does not; otherwise by the clipped
//! length. `max` ignores padding (a window wholly in padding gives
//! −3.4028235e38, as MXNet). `lp` is (Σ xᵖ)^(1/p) without absolute values.
//! `global_pool` pools each whole plane. `same` is rejected, as in MXNet 1.9.1.
//!
//! With AVX-512, 2-D max, avg and sum windows up to 16 × 16 at a column
//! stride of 1 or 2 (every CNN's pools) read the input rows in place
//! (`PoolRows`); other windows and CPUs reduce separably, rows then columns
//! (`separable`), through a scratch row.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

#[cfg(target_arch = "x86_64")]
use super::util::Simd;
use super::util::{par_rows, par_rows_reading, with_scratch};

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "Pooling",
        build,
        family: "nn",
        summary: "max/avg/sum/lp pooling, global, valid/full, count_include_pad",
    },
    OpEntry {
        name: "Pooling_v1",
        build,
        family: "nn",
        summary: "legacy pooling (as Pooling)",
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum PoolType {
    Max,
    Avg,
    Sum,
    Lp(f32),
}

#[derive(Debug)]
struct Pooling {
    kind: PoolType,
    global: bool,
    full: bool,
    include_pad: bool,
    /// Spatial rank from the kernel (0 when global without a kernel).
    nd: usize,
    kernel: [usize; 3],
    stride: [usize; 3],
    pad: [usize; 3],
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let global = a.bool("global_pool", false)?;
    let kind = match a.choice("pool_type", &["max", "avg", "sum", "lp"], "max")? {
        "avg" => PoolType::Avg,
        "sum" => PoolType::Sum,
        "lp" => PoolType::Lp(a.opt_int("p_value")?.unwrap_or(2) as f32),
        _ => PoolType::Max,
    };
    let conv = a.choice("pooling_convention", &["valid", "full", "same"], "valid")?;
    if conv == "same" {
        return Err(AttrError {
            key: "pooling_convention".into(),
            value: "same".into(),
            expected: "valid or full (MXNet 1.9.1 cannot run `same` either)",
        });
    }
    let layout = a.string("layout", "None");
    if !matches!(layout, "None" | "NCW" | "NCHW" | "NCDHW") {
        return Err(AttrError {
            key: "layout".into(),
            value: layout.into(),
            expected: "a channels-first layout; channels-last pooling is not supported yet",
        });
    }
    let kernel = a.tuple("kernel", &[])?;
    let nd = kernel.len();
    if nd > 3 || (!global && nd == 0) || kernel.iter().any(|&k| k < 1 && !global) {
        return Err(AttrError {
            key: "kernel".into(),
            value: a.get("kernel").unwrap_or("").into(),
            expected: "1 to 3 positive sizes (required unless global_pool)",
        });
    }
    let per = |key: &str, default: i64| -> Result<[usize; 3], AttrError> {
        let v = a.tuple(key, &[])?;
        let mut out = [default as usize; 3];
        if !v.is_empty() {
            if v.len() != nd || v.iter().any(|&x| x < 0) {
                return Err(AttrError {
                    key: key.into(),
                    value: a.get(key).unwrap_or("").into(),
                    expected: "one non-negative entry per kernel axis",
                });
            }
            for (i, x) in v.iter().enumerate() {
                out[3 - nd + i] = *x as usize;
            }
        }
        Ok(out)
    };
    let mut k = [1usize; 3];
    for (i, x) in kernel.iter().enumerate() {
        k[3 - nd + i] = (*x).max(1) as usize;
    }
    let mut stride = per("stride", 1)?;
    for s in &mut stride {
        *s = (*s).max(1);
    }
    Ok(Box::new(Pooling {
        kind,
        global,
        full: conv == "full",
        include_pad: a.opt_bool("count_include_pad")?.unwrap_or(true),
        nd,
        kernel: k,
        stride,
        pad: per("pad", 0)?,
    }))
}

/// Output vectors per register block of [`PoolRows`].
#[cfg(target_arch = "x86_64")]
const POOL_VECTORS: usize = 4;

/// 2-D max, average and sum pooling at a column stride of 1 or 2 with
/// AVX-512, straight from the input rows: each output row in blocks of up
/// to four vectors, each window tap one masked load of an input row per
/// vector (two and a permutation keeping the even lanes at stride 2),
/// lanes outside the input reading the reduction's identity (the lowest
/// float for maxima, as the reference's initial value, and 0 for sums), so
/// clipped windows, padding and "full" windows past the input need no
/// special case. Maxima are the reference's exactly (NaNs skipped); sums
/// add the taps in window order, row by row, which may differ from the
/// separable path's rounding in the last place. Nothing is copied.
#[cfg(target_arch = "x86_64")]
struct PoolRows {
    max: bool,
    two: bool,
    ih: usize,
    iw: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    ph: usize,
    /// Output vectors per row (vector `v` starts at output column 16v).
    vectors: usize,
    /// Per vector and window column: (first input column, masks of the
    /// one or two loads).
    reads: Vec<(isize, u16, u16)>,
}

#[cfg(target_arch = "x86_64")]
impl PoolRows {
    /// The kernel for this pooling when it applies: AVX-512F, max, average
    /// or sum over a 2-D (or 1-D) window of at most 16 × 16 with a column
    /// stride of 1 or 2.
    fn new(axes: &[Axis; 3], kind: PoolType) -> Option<PoolRows> {
        let (_, _, kd, _, _) = axes[0];
        let (ih, oh, kh, sh, ph) = axes[1];
        let (iw, ow, kw, sw, pw) = axes[2];
        let applies = Simd::detect() == Simd::Avx512
            && matches!(kind, PoolType::Max | PoolType::Avg | PoolType::Sum)
            && axes[0].0 == 1
            && kd == 1
            && (1..=2).contains(&sw)
            && (1..=16).contains(&kh)
            && (1..=16).contains(&kw)
            && oh > 0
            && ow > 0
            && iw > 0;
        if !applies {
            return None;
        }
        let two = sw == 2;
        let mut rows = PoolRows {
            max: kind == PoolType::Max,
            two,
            ih,
            iw,
            oh,
            ow,
            kh,
            kw,
            sh,
            ph,
            vectors: ow.div_ceil(16),
            reads: Vec::new(),
        };
        for c0 in (0..ow).step_by(16) {
            let outputs = (ow - c0).min(16) as isize;
            for j in 0..kw {
                let start = (sw * c0 + j) as isize - pw as isize;
                let mut masks = [0u16; 2];
                for q in 0..(16 * sw) as isize {
                    // Input column start + q feeds output lane q / sw (when
                    // q is a multiple of sw; other lanes are dropped).
                    if q / sw as isize >= outputs || !(0..iw as isize).contains(&(start + q)) {
                        continue;
                    }
                    masks[(q / 16) as usize] |= 1 << (q % 16);
                }
                rows.reads.push((start, masks[0], masks[1]));
            }
        }
        Some(rows)
    }

    /// Pools one plane `x` (ih × iw) into `out` (oh × ow); averages divide
    /// by `divisors` (one per output position; 0 gives 0).
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn plane(&self, x: &[f32], divisors: &[f32], out: &mut [f32]) {
        assert!(
            x.len() >= self.ih * self.iw && out.len() >= self.oh * self.ow,
            "PoolRows: buffers smaller than the plane"
        );
        for r in 0..self.oh {
            let mut v0 = 0;
            while v0 < self.vectors {
                let n = (self.vectors - v0).min(POOL_VECTORS);
                // Every vector of the block is a chain of dependent adds
                // or maxima: as many as the row has, up to four, at once.
                macro_rules! block {
                    ($($v:literal)*) => {
                        match (self.max, self.two, n) {
                            $(
                                (true, false, $v) => self.block::<true, false, $v>(x, divisors, out, r, v0),
                                (true, true, $v) => self.block::<true, true, $v>(x, divisors, out, r, v0),
                                (false, false, $v) => self.block::<false, false, $v>(x, divisors, out, r, v0),
                                (false, true, $v) => self.block::<false, true, $v>(x, divisors, out, r, v0),
                            )*
                            _ => unreachable!("1 to POOL_VECTORS vectors"),
                        }
                    };
                }
                // SAFETY: AVX-512F (this function's contract); the buffers
                // hold the plane (asserted).
                unsafe { block!(1 2 3 4) }
                v0 += n;
            }
        }
    }

    /// Output vectors `v0..v0 + V` of row `r`.
    ///
    /// # Safety
    /// The CPU has AVX-512F; the buffers hold the plane.
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const MAX: bool, const TWO: bool, const V: usize>(
        &self,
        x: &[f32],
        divisors: &[f32],
        out: &mut [f32],
        r: usize,
        v0: usize,
    ) {
        use std::arch::x86_64::*;
        let init = _mm512_set1_ps(if MAX { f32::MIN } else { 0.0 });
        let evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        let mut acc = [init; V];
        for i in 0..self.kh {
            let ir = (r * self.sh + i) as isize - self.ph as isize;
            if ir < 0 || ir >= self.ih as isize {
                continue;
            }
            let row = x[ir as usize * self.iw..].as_ptr();
            for j in 0..self.kw {
                for (v, acc) in acc.iter_mut().enumerate() {
                    let (start, lo, hi) = self.reads[(v0 + v) * self.kw + j];
                    let at = row.wrapping_offset(start);
                    // SAFETY: the lanes in `lo` (and `hi`) are columns
                    // 0..iw of input row `ir`; the rest are not read.
                    let val = unsafe {
                        let a = _mm512_mask_loadu_ps(init, lo, at);
                        if TWO {
                            let b = _mm512_mask_loadu_ps(init, hi, at.wrapping_add(16));
                            _mm512_permutex2var_ps(a, evens, b)
                        } else {
                            a
                        }
                    };
                    // max(val, acc) is acc when val is NaN: NaNs are
                    // skipped, as by the reference's `if v > acc`.
                    *acc = if MAX {
                        _mm512_max_ps(val, *acc)
                    } else {
                        _mm512_add_ps(*acc, val)
                    };
                }
            }
        }
        for (v, &a) in acc.iter().enumerate() {
            let c0 = 16 * (v0 + v);
            let first = r * self.ow + c0;
            let lanes = (self.ow - c0).min(16) as u32;
            let mask = ((1u32 << lanes) - 1) as __mmask16;
            // SAFETY: outputs first..first + lanes are inside `out` (the
            // caller's assertion) and of `divisors` when it is not empty.
            unsafe {
                let a = if divisors.is_empty() {
                    a
                } else {
                    let n = _mm512_maskz_loadu_ps(mask, divisors.as_ptr().add(first));
                    let zero = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(n, _mm512_setzero_ps());
                    _mm512_maskz_div_ps(!zero, a, n)
                };
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(first), mask, a);
            }
        }
    }
}

/// Per padded spatial axis: (input, output, kernel, stride, pad).
type Axis = (usize, usize, usize, usize, usize);

impl Pooling {
    fn spatial_rank(&self, x: &[usize]) -> usize {
        if self.global {
            x.len().saturating_sub(2)
        } else {
            self.nd
        }
    }

    /// Per padded axis: (input, output, kernel, stride, pad).
    fn axes(&self, x: &[usize]) -> Result<[Axis; 3], String> {
        let nd = self.spatial_rank(x);
        if !(1..=3).contains(&nd) || x.len() != nd + 2 {
            return Err(format!(
                "data must be 3-d to 5-d (N, C, spatial…) for a {nd}-d window"
            ));
        }
        let mut out = [(1, 1, 1, 1, 0); 3];
        for i in 0..nd {
            let axis = 3 - nd + i;
            let input = x[2 + i];
            if self.global {
                out[axis] = (input, 1, input, 1, 0);
                continue;
            }
            let (k, s, p) = (self.kernel[axis], self.stride[axis], self.pad[axis]);
            let padded = input + 2 * p;
            if padded < k {
                return Err(format!(
                    "kernel {k} is larger than the padded input {padded}"
                ));
            }
            let o = if self.full {
                1 + (((padded - k) as f32) / s as f32).ceil() as usize
            } else {
                1 + (padded - k) / s
            };
            out[axis] = (input, o, k, s, p);
        }
        Ok(out)
    }
}

impl Kernel for Pooling {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        let axes = self.axes(x)?;
        let nd = self.spatial_rank(x);
        let mut out = x[..2].to_vec();
        out.extend(axes[3 - nd..].iter().map(|a| a.1));
        Ok(vec![out])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let axes = self.axes(x.shape)?;
        let isp: usize = axes.iter().map(|a| a.0).product();
        let osp: usize = axes.iter().map(|a| a.1).product();
        let kind = self.kind;
        let include_pad = self.include_pad;
        // Windows per axis: (start, end) clipped, and the unclipped length.
        let windows: Vec<Vec<(usize, usize, usize)>> = axes
            .iter()
            .map(|&(input, o, k, s, p)| {
                (0..o)
                    .map(|i| {
                        let start = (i * s) as isize - p as isize;
                        let end = (start + k as isize).min((input + p) as isize);
                        let len = (end - start).max(0) as usize;
                        let cs = start.max(0) as usize;
                        let ce = (end.max(0) as usize).min(input);
                        (cs, ce.max(cs), len)
                    })
                    .collect()
            })
            .collect();
        let (ih, iw) = (axes[1].0, axes[2].0);
        if matches!(kind, PoolType::Max | PoolType::Avg | PoolType::Sum)
            && windows[0] == [(0, 1, 1)]
            && iw > 0
            && axes[2].1 > 0
        {
            // 1-D and 2-D max, average and sum are separable.
            let max = kind == PoolType::Max;
            if windows[1] == [(0, ih, ih)] && windows[2] == [(0, iw, iw)] {
                // One window over each whole plane (global pooling): many
                // planes per task, each one contiguous pass. Per plane, the
                // general kernels cost more than the pass: mobilenet v2's
                // 8 × 1280 planes of 7 × 7 took 0.35 ms in the net, 0.13
                // this way (MXNet: 0.10).
                par_rows_reading(
                    outputs[0].data,
                    WHOLE_PLANES,
                    WHOLE_PLANES * isp,
                    |b, out| {
                        let planes = x.data[b * WHOLE_PLANES * isp..].chunks_exact(isp);
                        for (o, plane) in out.iter_mut().zip(planes) {
                            let v = if max {
                                whole::<true>(plane)
                            } else {
                                whole::<false>(plane)
                            };
                            *o = if kind == PoolType::Avg {
                                v / isp as f32
                            } else {
                                v
                            };
                        }
                    },
                );
                return Ok(());
            }
            let (ow, kw) = (axes[2].1, axes[2].2);
            // The average's divisor at each output position (the same for
            // every plane), so the division is one vectorised pass.
            let divisors: Vec<f32> = if kind == PoolType::Avg {
                windows[1]
                    .iter()
                    .flat_map(|&(h0, h1, hl)| {
                        windows[2].iter().map(move |&(w0, w1, wl)| {
                            let n = if include_pad {
                                hl * wl
                            } else {
                                (h1 - h0) * (w1 - w0)
                            };
                            n as f32
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            #[cfg(target_arch = "x86_64")]
            if let Some(direct) = PoolRows::new(&axes, kind) {
                par_rows_reading(outputs[0].data, osp.max(1), isp, |plane, out| {
                    let src = &x.data[plane * isp..(plane + 1) * isp];
                    // SAFETY: `PoolRows::new` saw AVX-512F.
                    unsafe { direct.plane(src, &divisors, out) };
                });
                return Ok(());
            }
            par_rows_reading(outputs[0].data, osp.max(1), isp, |plane, out| {
                let src = &x.data[plane * isp..(plane + 1) * isp];
                with_scratch(ih.max(windows[1].len()) * iw.max(ow) + iw, |scratch| {
                    let (h, w) = (&windows[1][..], &windows[2][..]);
                    if max {
                        separable::<true>(src, iw, h, w, kw, out, scratch);
                    } else {
                        separable::<false>(src, iw, h, w, kw, out, scratch);
                    }
                });
                for (a, &n) in out.iter_mut().zip(&divisors) {
                    *a = if n == 0.0 { 0.0 } else { *a / n };
                }
            });
            return Ok(());
        }
        par_rows(outputs[0].data, osp.max(1), |plane, out| {
            let src = &x.data[plane * isp..(plane + 1) * isp];
            let mut o = 0;
            for &(d0, d1, dl) in &windows[0] {
                for &(h0, h1, hl) in &windows[1] {
                    for &(w0, w1, wl) in &windows[2] {
                        let mut acc = match kind {
                            PoolType::Max => f32::MIN,
                            _ => 0.0,
                        };
                        for d in d0..d1 {
                            for h in h0..h1 {
                                let row = &src[(d * ih + h) * iw..(d * ih + h) * iw + iw];
                                for &v in &row[w0..w1] {
                                    match kind {
                                        PoolType::Max => {
                                            if v > acc {
                                                acc = v
                                            }
                                        }
                                        PoolType::Avg | PoolType::Sum => acc += v,
                                        PoolType::Lp(p) => {
                                            acc += if p == 1.0 {
                                                v
                                            } else if p == 2.0 {
                                                v * v
                                            } else {
                                                v.powf(p)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        out[o] = match kind {
                            PoolType::Avg => {
                                let n = if include_pad {
                                    dl * hl * wl
                                } else {
                                    (d1 - d0) * (h1 - h0) * (w1 - w0)
                                };
                                if n == 0 { 0.0 } else { acc / n as f32 }
                            }
                            PoolType::Lp(p) => {
                                if p == 1.0 {
                                    acc
                                } else if p == 2.0 {
                                    acc.sqrt()
                                } else {
                                    acc.powf(1.0 / p)
                                }
                            }
                            _ => acc,
                        };
                        o += 1;
                    }
                }
            }
        });
        Ok(())
    }
}

/// Planes per task of a pooling over whole planes.
const WHOLE_PLANES: usize = 64;

/// The maximum (`MAX`) or sum of `all` in one pass, in 16 interleaved
/// partial results (which vectorises) combined pairwise at the end.
/// Maxima skip NaNs, as `if v > acc` does.
#[inline]
fn whole<const MAX: bool>(all: &[f32]) -> f32 {
    const LANES: usize = 16;
    let combine = |a: f32, v: f32| if MAX { a.max(v) } else { a + v };
    let init = if MAX { f32::MIN } else { 0.0 };
    let mut lanes = [init; LANES];
    let blocks = all.chunks_exact(LANES);
    let tail = blocks.remainder();
    for b in blocks {
        for (a, &v) in lanes.iter_mut().zip(b) {
            *a = combine(*a, v);
        }
    }
    for (a, &v) in lanes.iter_mut().zip(tail) {
        *a = combine(*a, v);
    }
    let mut n = LANES;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            lanes[i] = combine(lanes[i], lanes[i + n]);
        }
    }
    lanes[0]
}

/// A pooling window along one axis: clipped start and end, and the
/// unclipped length.
type Win = (usize, usize, usize);

/// Max (`MAX`) or sum pooling of one plane (rows of `iw`) separably: each
/// input row reduced over every output column's window `wins_w`, then
/// those partial rows over each output row's window `wins_h`, into `out`
/// (maxima the other way round, rows first, which leaves the horizontal
/// pass only the output rows; sums keep this order).
/// Full windows of `kw` columns come from a running reduction over `kw`
/// shifted copies of the row, which vectorises; clipped ones are folded.
/// Maxima skip NaNs, as `if v > acc` does; sums add in window order, but
/// for a window over whole rows (global pooling), summed in interleaved
/// partial sums.
fn separable<const MAX: bool>(
    src: &[f32],
    iw: usize,
    wins_h: &[Win],
    wins_w: &[Win],
    kw: usize,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let ow = wins_w.len();
    let combine = |a: f32, v: f32| if MAX { a.max(v) } else { a + v };
    let init = if MAX { f32::MIN } else { 0.0 };
    if let ([(h0, h1, _)], [(w0, w1, _)]) = (wins_h, wins_w)
        && (*w0, *w1) == (0, iw)
    {
        out[0] = whole::<MAX>(&src[h0 * iw..h1 * iw]);
        return;
    }
    let (part, run) = scratch.split_at_mut(scratch.len() - iw);
    // Starts of the windows that fit in the row.
    let full = (iw + 1).saturating_sub(kw.max(1));
    // One row reduced over every output column's window into `dst`.
    let mut across = |row: &[f32], dst: &mut [f32]| {
        if full > 0 {
            run[..full].copy_from_slice(&row[..full]);
            for j in 1..kw {
                for (r, &v) in run[..full].iter_mut().zip(&row[j..j + full]) {
                    *r = combine(*r, v);
                }
            }
        }
        for (d, &(w0, w1, _)) in dst.iter_mut().zip(wins_w) {
            *d = if w1 - w0 == kw && w0 < full {
                run[w0]
            } else {
                row[w0..w1].iter().fold(init, |a, &v| combine(a, v))
            };
        }
    };
    if MAX {
        // Maxima in either order are the same: rows first, on whole
        // vectors of input rows, so that the horizontal pass (which picks
        // strided window starts) runs on the output rows only.
        let oh = wins_h.len();
        for (dst, &(h0, h1, _)) in part.chunks_exact_mut(iw).take(oh).zip(wins_h) {
            dst.fill(init);
            for r in src[h0 * iw..h1 * iw].chunks_exact(iw) {
                for (a, &v) in dst.iter_mut().zip(r) {
                    *a = combine(*a, v);
                }
            }
        }
        for (row, o) in part.chunks_exact(iw).take(oh).zip(out.chunks_exact_mut(ow)) {
            across(row, o);
        }
        return;
    }
    for (row, dst) in src.chunks_exact(iw).zip(part.chunks_exact_mut(ow)) {
        across(row, dst);
    }
    for (o, &(h0, h1, _)) in out.chunks_exact_mut(ow).zip(wins_h) {
        o.fill(init);
        for p in part[h0 * ow..h1 * ow].chunks_exact(ow) {
            for (a, &v) in o.iter_mut().zip(p) {
                *a = combine(*a, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pools (1, 2, ih, iw) with `p` and compares with a naive pooling:
    /// maxima exactly, sums and averages to 1e-6 relative.
    fn check_against_naive(p: &Pooling, ih: usize, iw: usize) {
        check_planes(p, 2, ih, iw);
    }

    /// [`check_against_naive`] on (1, planes, ih, iw).
    fn check_planes(p: &Pooling, planes: usize, ih: usize, iw: usize) {
        let shape = [1, planes, ih, iw];
        let mut x: Vec<f32> = (0..planes * ih * iw)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 8.0)
            .collect();
        x[ih * iw / 2] = f32::NAN;
        let oshape = p.infer_shapes(&[&shape]).unwrap().remove(0);
        let mut got = vec![f32::NAN; oshape.iter().product()];
        let input = In {
            shape: &shape,
            data: &x,
            dtype: mxnet_format::DType::F32,
        };
        let out = Out {
            shape: &oshape,
            data: &mut got,
        };
        p.forward(&[input], &mut [out]).unwrap();
        let (oh, ow) = (oshape[2], oshape[3]);
        let axis = |o: usize, k: usize, s: usize, pad: usize, n: usize| {
            let start = (o * s) as isize - pad as isize;
            let end = (start + k as isize).min((n + pad) as isize);
            let (lo, hi) = (start.max(0) as usize, (end.max(0) as usize).min(n));
            (lo, hi.max(lo), (end - start).max(0) as usize)
        };
        for plane in 0..planes {
            let src = &x[plane * ih * iw..];
            for r in 0..oh {
                for c in 0..ow {
                    let (h0, h1, hl) = axis(r, p.kernel[1], p.stride[1], p.pad[1], ih);
                    let (w0, w1, wl) = axis(c, p.kernel[2], p.stride[2], p.pad[2], iw);
                    let (mut m, mut sum) = (f32::MIN, 0f64);
                    for h in h0..h1 {
                        for w in w0..w1 {
                            let v = src[h * iw + w];
                            if v > m {
                                m = v;
                            }
                            sum += f64::from(v);
                        }
                    }
                    let n = if p.include_pad {
                        hl * wl
                    } else {
                        (h1 - h0) * (w1 - w0)
                    };
                    let want = match p.kind {
                        PoolType::Max => f64::from(m),
                        PoolType::Sum => sum,
                        _ if n == 0 => 0.0,
                        _ => sum / n as f64,
                    };
                    let a = f64::from(got[(plane * oh + r) * ow + c]);
                    let ok = if p.kind == PoolType::Max {
                        a == want
                    } else {
                        (a.is_nan() && want.is_nan())
                            || (a - want).abs() <= 1e-6 * (1.0 + want.abs())
                    };
                    assert!(
                        ok,
                        "{p:?} on {ih}x{iw}: output ({plane}, {r}, {c}) is {a}, expected {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn windows_pool_as_a_naive_pooling() {
        // Strides 1–3 (2 and 1 take the row kernel with AVX-512, 3 the
        // separable path), padding, "full" windows past the input, average
        // with and without the padding counted, rows of 1–70 outputs (one
        // to four vectors per call of the row kernel).
        for kind in [PoolType::Max, PoolType::Avg, PoolType::Sum] {
            for (k, s, pad, full, include_pad) in [
                (3, 2, 0, true, true),
                (3, 2, 1, false, true),
                (3, 1, 1, false, false),
                (3, 1, 1, false, true),
                (2, 2, 0, false, true),
                (5, 3, 2, true, false),
                (1, 2, 0, false, true),
                (3, 2, 1, true, false),
                // The last window lies wholly in the padding: an average
                // over no values is 0.
                (1, 2, 1, true, false),
            ] {
                let p = Pooling {
                    kind,
                    global: false,
                    full,
                    include_pad,
                    nd: 2,
                    kernel: [1, k, k],
                    stride: [1, s, s],
                    pad: [0, pad, pad],
                };
                for (ih, iw) in [
                    (7, 7),
                    (13, 13),
                    (6, 20),
                    (9, 40),
                    (5, 35),
                    (4, 141),
                    (112, 112),
                ] {
                    if ih + 2 * pad >= k && iw + 2 * pad >= k {
                        check_against_naive(&p, ih, iw);
                    }
                }
            }
        }
    }

    /// Windows over whole planes (global pooling, or a window the size of
    /// the plane) take one pass per plane, many planes per task: every
    /// plane of several tasks and a partial last one, with a NaN.
    #[test]
    fn windows_over_whole_planes_pool_as_a_naive_pooling() {
        for kind in [PoolType::Max, PoolType::Avg, PoolType::Sum] {
            for (global, planes, ih, iw) in [
                (true, 150, 7, 7),
                (false, 70, 7, 7),
                (true, 3, 1, 1),
                (true, 130, 5, 19),
            ] {
                let p = Pooling {
                    kind,
                    global,
                    full: false,
                    include_pad: true,
                    nd: 2,
                    kernel: [1, ih, iw],
                    stride: [1, 1, 1],
                    pad: [0, 0, 0],
                };
                check_planes(&p, planes, ih, iw);
            }
        }
    }

    #[test]
    fn a_window_over_whole_rows_reduces_every_value() {
        // Planes of 1 to 1000 values: the interleaved partial results, their
        // pairwise combination and the tail must each take every value once.
        for (ih, iw) in [(1, 1), (3, 5), (1, 16), (1, 17), (7, 9), (25, 40)] {
            let n = ih * iw;
            let src: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 8.0)
                .collect();
            let (h, w) = ([(0, ih, ih)], [(0, iw, iw)]);
            let mut scratch = vec![0.0; ih * iw + iw];
            let mut out = [0.0f32];
            separable::<false>(&src, iw, &h, &w, iw, &mut out, &mut scratch);
            let sum: f64 = src.iter().map(|&v| f64::from(v)).sum();
            assert!(
                (f64::from(out[0]) - sum).abs() <= 1e-5 * (1.0 + sum.abs()),
                "{ih}x{iw}"
            );
            let mut high = src.clone();
            high[n / 2] = 1e3;
            high[0] = f32::NAN;
            separable::<true>(&high, iw, &h, &w, iw, &mut out, &mut scratch);
            let want = if n == 1 { f32::MIN } else { 1e3 };
            assert_eq!(out[0], want, "{ih}x{iw}");
        }
    }
}
