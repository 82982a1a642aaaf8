//! Convolution as an implicit GEMM over packed filters (AVX-512). It
//! computes any one-group 2-D window, and runs where it was measured faster
//! than im2col + GEMM ([`faster`]): stride-1 windows larger than 1×1 on maps
//! up to 56 × 56 (resnet's, vgg's and densenet's 3×3 layers, inception's
//! 3×3, 5×5, 1×7 and 7×1 ones), up to 147 × 147 from at most 64 channels,
//! and stride-2 ones from 96 channels onto maps of 12 × 12 and more.
//!
//! `y[f, m] = Σ_c Σ_t w[f, c, t] · P_c[offset_t + m]`, where `P_c` is input
//! channel `c` copied into zero-padded, stride-phase-split planes
//! ([`DwGeometry`], the depthwise layout) so that every kernel tap `t`
//! reads one contiguous run that moves in step with the output position
//! `m` (positions are phase rows as wide as a phase; the few columns past
//! each output row are computed and dropped). A 1×1, stride-1, unpadded
//! convolution reads the input planes in place. Nothing is im2col'd: the
//! GEMM's right-hand side is addressed through the tap offsets.
//!
//! The register block is [`ROWS`] filters × [`COLS`] positions (28 of the
//! 32 AVX-512 registers): for each (channel, tap) it loads two vectors of
//! positions and broadcasts [`ROWS`] weights from a packed panel
//! ([`pack_filters`], done once per plan for constant weights), so the
//! fused multiply-adds outnumber the loads; it prefetches the rows of the
//! channels [`AHEAD`] and the panel ahead. Tasks are bands of output rows
//! × chunks of filter panels; within a task every panel passes over all
//! blocks of the band, whose input stays in L2. Each task's outputs go to
//! a scratch accumulator and are copied out row by row through the
//! epilogue.

use super::convolution::{Convolution, DwGeometry};
use super::epilogue::Epilogue;
use super::util::{SendPtr, Simd, run_tasks, with_scratch};

/// Filters per register block.
pub(crate) const ROWS: usize = 14;

/// Output positions per register block (two AVX-512 vectors).
const COLS: usize = 32;

/// Channels ahead whose inputs the kernel prefetches: consecutive
/// channels are a plane apart, too far for the hardware prefetchers.
const AHEAD: usize = 2;

/// Output positions a band of rows aims for: its input (every channel's
/// rows under it) then stays in L2 while the filter panels pass over it.
const BAND_POSITIONS: usize = 256;

/// Tasks per thread the filters are split into when the bands are few.
const TASKS_PER_THREAD: usize = 4;

/// Whether [`conv_blocked`] computes this convolution: a CPU with AVX-512F
/// and FMA, one group, a 2-D (or 1-D) window with no depth axis, and at
/// least [`ROWS`] filters.
pub(crate) fn applies(conv: &Convolution, xshape: &[usize]) -> bool {
    let win = &conv.win;
    Simd::detect() == Simd::Avx512
        && conv.groups == 1
        && xshape.len() >= 3
        && win.spatial(xshape)[0] == 1
        && win.kernel[0] == 1
        && win.stride[0] == 1
        && win.pad[0] == 0
        && xshape[1] >= 1
        && conv.num_filter >= ROWS
}

/// Largest output map (positions per image) where the path beat the GEMM.
const MAX_POSITIONS: usize = 56 * 56;

/// Largest output map where the path beat the GEMM with at most
/// [`LARGE_MAP_CHANNELS`] input channels.
const MAX_LARGE_POSITIONS: usize = 147 * 147;

/// Most input channels for maps past [`MAX_POSITIONS`].
const LARGE_MAP_CHANNELS: usize = 64;

/// Smallest output map (positions per image) where the path beat the GEMM
/// at a stride of 2.
const MIN_STRIDED_POSITIONS: usize = 12 * 12;

/// Fewest input channels where the path beat the GEMM at a stride of 2.
const MIN_STRIDED_CHANNELS: usize = 96;

/// Whether the path is the faster one for this convolution (which must
/// satisfy [`applies`]), as measured per layer against the im2col + GEMM
/// path on resnet-18/50, inception-v3 and vgg-11 shapes (2 threads,
/// AVX-512): windows larger than 1×1 at stride 1 on maps of at most 56 × 56
/// outputs, where it was 4–20 % faster at batch 1 and even at batch 8 (an
/// Intel Xeon); at stride 2 from 96 channels on maps from 12 × 12 to
/// 56 × 56 outputs, 8–46 % faster on a Zen 4 (resnet-50 v2's 3×3 ones
/// 0.73–0.88× the GEMM's time at batch 1, 0.9× at batch 8, inception's
/// 0.54–0.92×), where 8 × 8 and 7 × 7 outputs were 3–30 % slower, and 64
/// channels 12 % slower at batch 8; on maps up to 147 × 147 from at most
/// 64 channels, 4–16 % faster on the Zen 4 (inception's 32-channel layers
/// on 147 × 147 0.84–0.92× at batch 1, 0.89–0.95× at batch 8, vgg's
/// 64→128 on 112 × 112 0.96×), where 80 channels on 71 × 71 were 5 %
/// slower at batch 8. On larger maps (73 × 73 and up) the GEMM was up to
/// 15 % faster; on 1×1 windows, whose GEMM needs no im2col, 10–30 % faster.
pub(crate) fn faster(conv: &Convolution, xshape: &[usize]) -> bool {
    let win = &conv.win;
    let out = match win.conv_out(win.spatial(xshape)) {
        Ok(o) => o,
        Err(_) => return false,
    };
    let positions = out[1] * out[2];
    let stride_ok = match (win.stride[1], win.stride[2]) {
        (1, 1) => true,
        (2, 2) => positions >= MIN_STRIDED_POSITIONS && xshape[1] >= MIN_STRIDED_CHANNELS,
        _ => false,
    };
    let size_ok = positions <= MAX_POSITIONS
        || positions <= MAX_LARGE_POSITIONS && xshape[1] <= LARGE_MAP_CHANNELS;
    win.window_len() > 1 && win.stride[0] == 1 && stride_ok && size_ok
}

/// Floats in the packed filters of [`pack_filters`].
pub(crate) fn packed_len(filters: usize, depth: usize) -> usize {
    filters * depth
}

/// The filters `w` (`filters` × `depth`, row-major: depth is channels ×
/// taps) packed for the kernel: panel `p` holds filters `p·ROWS ..` (fewer
/// in the last panel), starts at `p·ROWS·depth`, and stores weight `(f, d)`
/// at `d·rows + (f − p·ROWS)`, where `rows` is the panel's filter count.
pub(crate) fn pack_filters(w: &[f32], filters: usize, depth: usize) -> Vec<f32> {
    assert!(
        w.len() >= filters * depth,
        "pack_filters: weights too short"
    );
    let mut out = vec![0f32; packed_len(filters, depth)];
    for p0 in (0..filters).step_by(ROWS) {
        let rows = (filters - p0).min(ROWS);
        let panel = &mut out[p0 * depth..(p0 + rows) * depth];
        for r in 0..rows {
            let src = &w[(p0 + r) * depth..(p0 + r + 1) * depth];
            for (d, &v) in src.iter().enumerate() {
                panel[d * rows + r] = v;
            }
        }
    }
    out
}

/// The convolution of `x` (N, C, H, W) with the packed filters `packed`
/// ([`pack_filters`] of the F × C × kh × kw weights) into `y`, then the
/// epilogue; `conv` and `xshape` must satisfy [`applies`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_blocked(
    conv: &Convolution,
    xshape: &[usize],
    x: &[f32],
    packed: &[f32],
    epi: &Epilogue<'_>,
    yshape: &[usize],
    y: &mut [f32],
) {
    let win = &conv.win;
    let (n, c, f) = (xshape[0], xshape[1], conv.num_filter);
    let input = win.spatial(xshape);
    let out = win.spatial(yshape);
    let geo = DwGeometry::new(win, input, out);
    let (isp, osp) = (input[1] * input[2], geo.oh * geo.ow);
    let taps = geo.tap_offsets();
    let depth = c * taps.len();
    assert!(
        x.len() >= n * c * isp && packed.len() >= packed_len(f, depth) && y.len() >= n * f * osp,
        "conv_blocked: buffers smaller than their shapes"
    );
    if n == 0 || osp == 0 {
        return;
    }
    // A 1×1, stride-1, unpadded window reads the planes in place: the
    // single phase is the plane itself.
    let in_place = win.window_len() == 1 && win.stride == [1; 3] && win.pad == [0; 3];
    let channel_len = if in_place { isp } else { geo.phases_len() };
    let threads = rayon::current_num_threads();
    let band_rows = BAND_POSITIONS.div_ceil(geo.wq).clamp(1, geo.oh);
    let bands = geo.oh.div_ceil(band_rows);
    let panels = f.div_ceil(ROWS);
    let chunks = (TASKS_PER_THREAD * threads)
        .div_ceil(bands)
        .clamp(1, panels);
    let per_chunk = panels.div_ceil(chunks);
    let chunks = panels.div_ceil(per_chunk);
    let tasks = bands * chunks;
    let y0 = SendPtr(y.as_mut_ptr());
    let run_image = |b: usize, src: &[f32]| {
        let yp = SendPtr(y0.get().wrapping_add(b * f * osp));
        let task = |t: usize| {
            let (band, chunk) = (t / chunks, t % chunks);
            let task = Task {
                geo: &geo,
                taps: &taps,
                channels: c,
                channel_len,
                src,
                w: packed,
                f0: chunk * per_chunk * ROWS,
                f1: ((chunk + 1) * per_chunk * ROWS).min(f),
                r0: band * band_rows,
                r1: ((band + 1) * band_rows).min(geo.oh),
                epi,
                y0: b * f * osp,
            };
            with_scratch(task.acc_len() * (task.f1 - task.f0), |acc| {
                // SAFETY: `applies` saw AVX-512F and FMA on this CPU; the
                // task writes only rows r0..r1 of its filters' planes.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    task_avx512(&task, acc, yp)
                }
                #[cfg(not(target_arch = "x86_64"))]
                unreachable!("conv_blocked needs AVX-512 ({acc:p}, {:p})", yp.get())
            });
        };
        run_tasks(tasks, task);
    };
    if in_place {
        for b in 0..n {
            run_image(b, &x[b * c * isp..(b + 1) * c * isp]);
        }
        return;
    }
    // Slack that the last blocks read (and drop) past the last phase.
    geo.for_each_image_phases(x, n, c, COLS, run_image);
}

/// Output rows `r0..r1` of filters `f0..f1` of one image.
struct Task<'a> {
    geo: &'a DwGeometry,
    /// Where each tap reads in a channel's planes, in kernel order.
    taps: &'a [usize],
    channels: usize,
    /// Floats per channel in `src`.
    channel_len: usize,
    /// The image's padded phase planes (or its planes, read in place).
    src: &'a [f32],
    /// All filters, packed ([`pack_filters`]).
    w: &'a [f32],
    /// Filters `f0..f1`; `f0` is a multiple of [`ROWS`].
    f0: usize,
    f1: usize,
    r0: usize,
    r1: usize,
    epi: &'a Epilogue<'a>,
    /// Position of this image's output in the whole output.
    y0: usize,
}

impl Task<'_> {
    /// Accumulator positions per filter: the band's rows as wide as a
    /// phase, the last one only as wide as an output row.
    fn acc_len(&self) -> usize {
        (self.r1 - self.r0 - 1) * self.geo.wq + self.geo.ow
    }

    /// Computes the task into `acc` (filter-major, [`Task::acc_len`] per
    /// filter) and copies its rows into the image's output at `y` through
    /// the epilogue.
    ///
    /// # Safety
    /// The CPU has AVX-512F and FMA; `y` points at this image's output
    /// (filters × oh × ow floats) and no other task writes rows `r0..r1` of
    /// filters `f0..f1` of it.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn run(&self, acc: &mut [f32], y: SendPtr) {
        let g = self.geo;
        let len = self.acc_len();
        let start = self.r0 * g.wq;
        let depth = self.channels * self.taps.len();
        // Every read is of `src[(c · channel_len + tap) + start + m]` for a
        // channel c, a tap and m < len.
        let last_tap = self.taps.iter().copied().max().unwrap_or(0);
        assert!(
            (self.channels - 1) * self.channel_len + last_tap + start + len <= self.src.len()
                && acc.len() >= (self.f1 - self.f0) * len
                && self.w.len() >= self.f1 * depth,
            "conv_blocked: task out of bounds"
        );
        let src = self.src[start..].as_ptr();
        for p0 in (self.f0..self.f1).step_by(ROWS) {
            let rows = (self.f1 - p0).min(ROWS);
            let w = self.w[p0 * depth..].as_ptr();
            for m in (0..len).step_by(COLS) {
                let cols = (len - m).min(COLS);
                let out = acc[(p0 - self.f0) * len + m..].as_mut_ptr();
                // SAFETY: reads are inside `src` and the panel (asserted
                // above); the block writes `rows` rows of `cols` floats,
                // `len` apart, inside `acc`.
                unsafe {
                    block(
                        rows,
                        cols,
                        src.add(m),
                        self.channels,
                        self.channel_len,
                        self.taps,
                        w,
                        out,
                        len,
                    )
                };
            }
        }
        let (osp, ow) = (g.oh * g.ow, g.ow);
        for fi in self.f0..self.f1 {
            let acc_f = &acc[(fi - self.f0) * len..(fi - self.f0 + 1) * len];
            if g.wq == ow {
                // Rows back to back: one run.
                let off = fi * osp + self.r0 * ow;
                // SAFETY: rows r0..r1 of filter fi's plane, owned by this
                // task.
                let rows = unsafe { std::slice::from_raw_parts_mut(y.get().add(off), len) };
                self.epi.apply_from_inline(fi, acc_f, rows, self.y0 + off);
                continue;
            }
            for r in self.r0..self.r1 {
                let off = fi * osp + r * ow;
                // SAFETY: row r of filter fi's plane, owned by this task.
                let row = unsafe { std::slice::from_raw_parts_mut(y.get().add(off), ow) };
                let src = &acc_f[(r - self.r0) * g.wq..][..ow];
                self.epi.apply_from_inline(fi, src, row, self.y0 + off);
            }
        }
    }
}

/// [`Task::run`] compiled for AVX-512 with FMA.
///
/// # Safety
/// As for [`Task::run`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn task_avx512(t: &Task<'_>, acc: &mut [f32], y: SendPtr) {
    // SAFETY: passed on from the caller.
    unsafe { t.run(acc, y) }
}

/// One register block of `rows` ≤ [`ROWS`] filters × `cols` ≤ [`COLS`]
/// positions, dispatched to the kernel compiled for that many rows.
///
/// # Safety
/// As for [`kernel`].
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn block(
    rows: usize,
    cols: usize,
    src: *const f32,
    channels: usize,
    channel_len: usize,
    taps: &[usize],
    w: *const f32,
    out: *mut f32,
    stride: usize,
) {
    use std::arch::x86_64::__mmask16;
    let mask = |v: usize| -> __mmask16 {
        let n = cols.saturating_sub(16 * v).min(16);
        ((1u32 << n) - 1) as __mmask16
    };
    let masks = [mask(0), mask(1)];
    // A block of at most 16 positions (a band's tail) runs on one vector.
    macro_rules! rows {
        ($($r:literal)*) => {
            match (rows, cols > 16) {
                $(
                    ($r, true) => unsafe {
                        kernel::<$r, 2>(src, channels, channel_len, taps, w, out, stride, masks)
                    },
                    ($r, false) => unsafe {
                        kernel::<$r, 1>(src, channels, channel_len, taps, w, out, stride, masks)
                    },
                )*
                _ => unreachable!("a panel has 1 to ROWS filters"),
            }
        };
    }
    rows!(1 2 3 4 5 6 7 8 9 10 11 12 13 14)
}

/// `out[r·stride + i] = Σ_c Σ_t w[(c·T + t)·R + r] · src[c·channel_len +
/// taps[t] + i]` for `r < R` and the lanes `i < 16·V` that `masks` (one
/// per vector of 16) select; `T = taps.len()`. The `R × V` accumulators
/// stay in registers.
///
/// # Safety
/// The CPU has AVX-512F and FMA; every selected lane of every read is
/// inside its allocation (masked-off lanes are not read); `w` holds
/// `channels · T · R` floats; `out` has `R` rows of the selected lanes,
/// `stride` apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const R: usize, const V: usize>(
    src: *const f32,
    channels: usize,
    channel_len: usize,
    taps: &[usize],
    w: *const f32,
    out: *mut f32,
    stride: usize,
    masks: [std::arch::x86_64::__mmask16; 2],
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    let mut wp = w;
    for ci in 0..channels {
        let base = src.wrapping_add(ci * channel_len);
        for &t in taps {
            let p = base.wrapping_add(t);
            // SAFETY: the caller's promise on the reads and on `w`; a
            // prefetch of any address is safe.
            unsafe {
                let ahead = p.wrapping_add(AHEAD * channel_len) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(ahead);
                if V > 1 {
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(124));
                }
                _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add(8 * R) as *const i8);
                let mut v = [_mm512_setzero_ps(); V];
                for (i, v) in v.iter_mut().enumerate() {
                    *v = _mm512_maskz_loadu_ps(masks[i], p.add(16 * i));
                }
                for (r, a) in acc.iter_mut().enumerate() {
                    let wt = _mm512_set1_ps(*wp.add(r));
                    for (a, &v) in a.iter_mut().zip(&v) {
                        *a = _mm512_fmadd_ps(wt, v, *a);
                    }
                }
                wp = wp.add(R);
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        for (i, &a) in a.iter().enumerate() {
            // SAFETY: row r's selected lanes, as the caller promised.
            unsafe { _mm512_mask_storeu_ps(out.add(r * stride + 16 * i), masks[i], a) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::convolution::tests::{check_against_gemm_path, square_conv};
    use crate::ops::epilogue::Post;

    /// Shapes of every kind the path takes, against the im2col + GEMM path
    /// (itself tested against a naive convolution), with a bias, a residual
    /// and a clip fused: 3×3 and 1×1, strides 1 and 2, dilation, odd sizes,
    /// filters not a multiple of a panel, one-row maps.
    #[test]
    fn matches_the_gemm_path() {
        if Simd::detect() != Simd::Avx512 {
            return;
        }
        // (channels, filters, kernel, stride, dilation, pad, height, width)
        for (c, f, k, s, d, p, h, wd) in [
            (64, 64, 3, 1, 1, 1, 56, 56),
            (32, 30, 3, 1, 1, 1, 13, 11),
            (16, 17, 3, 2, 1, 1, 15, 15),
            (96, 30, 3, 2, 1, 0, 35, 35),
            (24, 14, 1, 1, 1, 0, 7, 7),
            (40, 29, 1, 2, 1, 0, 14, 9),
            (8, 45, 5, 1, 2, 4, 9, 20),
            (3, 16, 7, 2, 1, 3, 33, 31),
            (20, 28, 3, 1, 1, 1, 1, 40),
            (20, 28, 1, 1, 1, 0, 1, 1),
            (33, 15, 3, 3, 1, 0, 20, 23),
        ] {
            let conv = square_conv(k, s, d, p, f, 1);
            let xs = [2, c, h, wd];
            assert!(applies(&conv, &xs));
            let what = format!("{c}→{f} k{k} s{s} d{d} p{p} on {h}×{wd}");
            let fast = |conv: &Convolution,
                        xs: &[usize],
                        x: &[f32],
                        w: &[f32],
                        epi: &Epilogue<'_>,
                        ys: &[usize],
                        y: &mut [f32]| {
                let depth = xs[1] * conv.win.window_len();
                let packed = pack_filters(w, conv.num_filter, depth);
                conv_blocked(conv, xs, x, &packed, epi, ys, y);
            };
            check_against_gemm_path(&conv, &xs, Post::Clip(-3.0, 6.0), &what, fast);
        }
    }

    #[test]
    fn is_chosen_for_windows_on_maps_up_to_56x56_at_stride_one_and_some_at_two() {
        let xs = |c: usize, h: usize| [1, c, h, h];
        assert!(faster(&square_conv(3, 1, 1, 1, 64, 1), &xs(64, 56)));
        assert!(faster(&square_conv(3, 1, 1, 1, 512, 1), &xs(512, 7)));
        assert!(
            !faster(&square_conv(3, 1, 1, 0, 192, 1), &xs(80, 73)),
            "large map, 80 channels"
        );
        assert!(faster(&square_conv(3, 1, 1, 0, 64, 1), &xs(32, 149)));
        assert!(faster(&square_conv(3, 1, 1, 1, 128, 1), &xs(64, 112)));
        assert!(
            !faster(&square_conv(3, 1, 1, 1, 64, 1), &xs(64, 224)),
            "224 × 224"
        );
        assert!(
            !faster(&square_conv(3, 2, 1, 1, 128, 1), &xs(64, 56)),
            "stride 2, 64 channels"
        );
        assert!(faster(&square_conv(3, 2, 1, 1, 256, 1), &xs(256, 28)));
        assert!(faster(&square_conv(3, 2, 1, 0, 96, 1), &xs(96, 35)));
        assert!(
            !faster(&square_conv(3, 2, 1, 0, 192, 1), &xs(192, 17)),
            "stride 2 to 8 × 8"
        );
        assert!(
            !faster(&square_conv(3, 3, 1, 1, 256, 1), &xs(256, 56)),
            "stride 3"
        );
        assert!(
            !faster(&square_conv(1, 1, 1, 0, 256, 1), &xs(64, 56)),
            "1×1"
        );
    }

    #[test]
    fn packs_panels_depth_major() {
        // 16 filters × depth 3: a full panel of 14, then one of 2.
        let w: Vec<f32> = (0..48).map(|i| i as f32).collect();
        let p = pack_filters(&w, 16, 3);
        // Panel 0, depth 1, filter 2: w[2·3 + 1].
        assert_eq!(p[14 + 2], 7.0);
        // Panel 1 starts at 14·3; depth 2, its filter 1 (filter 15).
        assert_eq!(p[42 + 2 * 2 + 1], w[15 * 3 + 2]);
    }

    #[test]
    fn takes_grouped_and_3d_convolutions_elsewhere() {
        let ok = Simd::detect() == Simd::Avx512;
        let xs = [1, 64, 14, 14];
        assert_eq!(applies(&square_conv(3, 1, 1, 1, 64, 1), &xs), ok);
        assert!(!applies(&square_conv(3, 1, 1, 1, 64, 2), &xs));
        assert!(!applies(&square_conv(3, 1, 1, 1, 8, 1), &xs), "few filters");
    }
}
