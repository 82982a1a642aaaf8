//! 1×1 convolutions (stride 1, no padding, one group) computed straight
//! from the NCHW layout with AVX-512: `y[f, p] = Σ_c w[f, c] · x[c, p]`.
//!
//! The input rows are already the GEMM's right-hand side, contiguous along
//! the pixels, so nothing is packed: a register block holds four filters ×
//! 64 pixels (16 vectors); for each input channel it loads four vectors of
//! that channel's row and broadcasts four weights, so each channel costs
//! four loads, four broadcasts and 16 fused multiply-adds. A block of
//! pixels of every channel (at most 64 × C floats) stays in the L2 cache
//! while all filters pass over it. The last block of a row is masked, so
//! nothing is read or written past a row. The epilogue runs on each
//! block's outputs while they are in L1.
//!
//! At batch 1 on small maps this replaces a GEMM call that packed the whole
//! input once per block of filters.

use super::convolution::Convolution;
use super::epilogue::Epilogue;
use super::util::{SendPtr, Simd, fma_block_avx512, run_tasks};

/// Pixels per register block (four AVX-512 vectors).
const BLOCK: usize = 64;

/// Filters per register block.
const FILTERS: usize = 4;

/// Multiply-adds per task, roughly: enough to amortise a task hand-off.
const TASK_WORK: usize = 1 << 20;

/// Where the path beats the GEMM, measured per layer on mobilenet v1/v2,
/// resnet-50 and densenet-121 at batch 1 (2 threads, AVX-512): with few
/// filters (the GEMM then packs the input once per small block of filters)
/// and either few channels (a block of every channel stays in L1) or a
/// small map (the GEMM's packing dominates). With many filters or channels
/// on large maps the GEMM's cache blocking wins, and below 128 pixels most
/// lanes of a block are masked off; on maps of 112 × 112 and more, where
/// the outputs stream through memory, neither wins clearly. 192 filters
/// are already many: mobilenet v2's 32 → 192 on 28 × 28 took 0.07–0.12 ms
/// here and 0.05–0.06 ms on the GEMM, squeezenet's 48 → 192 on 27 × 27
/// 0.085 and 0.075 ms (per layer in the whole net, `--profile node`).
const MIN_PIXELS: usize = 128;
const MAX_PIXELS: usize = 4096;
const MIN_FILTERS: usize = 24;
const MAX_FILTERS: usize = 160;
pub(crate) const L1_CHANNELS: usize = 160;
const SMALL_MAP: usize = 256;
/// Squeezing many channels into 16 to 48 filters, the GEMM's filter
/// blocks are mostly idle whatever the channels: squeezenet's 128 → 16 on
/// 54 × 54 took 0.11 ms here and 0.20 ms on the GEMM, its 384 → 48 on
/// 27 × 27 0.20 and 0.32 ms, inception's 288 → 48 on 35 × 35 0.20 and 0.25
/// ms (per layer in the whole net). At 64 filters the GEMM won again
/// (resnet-50's 256 → 64 on 56 × 56: 0.44 ms there, 0.52–0.66 here).
const SQUEEZE_FILTERS: std::ops::RangeInclusive<usize> = 16..=48;

/// Whether [`conv_pointwise`] computes this convolution: a 1×1 window,
/// stride 1, no padding, one group, a CPU with AVX-512F and FMA, and a
/// shape where it beats the GEMM (see [`MIN_PIXELS`]).
pub(crate) fn applies(conv: &Convolution, xshape: &[usize]) -> bool {
    let win = &conv.win;
    let (c, f) = (xshape[1], conv.num_filter);
    let sp: usize = xshape[2..].iter().product();
    (MIN_PIXELS..=MAX_PIXELS).contains(&sp)
        && (((MIN_FILTERS..=MAX_FILTERS).contains(&f) && (c <= L1_CHANNELS || sp <= SMALL_MAP))
            || SQUEEZE_FILTERS.contains(&f))
        && conv.groups == 1
        && win.window_len() == 1
        && win.stride == [1; 3]
        && win.pad == [0; 3]
        && Simd::detect() == Simd::Avx512
}

/// The convolution of `x` (N, C, *spatial) with `w` (F, C) into `y` (N, F,
/// *spatial), then the epilogue; `conv` must satisfy [`applies`]. Each
/// output is summed over channels in order with fused multiply-adds.
pub(crate) fn conv_pointwise(
    conv: &Convolution,
    xshape: &[usize],
    x: &[f32],
    w: &[f32],
    epi: &Epilogue<'_>,
    y: &mut [f32],
) {
    let (n, c, f) = (xshape[0], xshape[1], conv.num_filter);
    let sp: usize = xshape[2..].iter().product();
    assert!(
        x.len() >= n * c * sp && w.len() >= f * c && y.len() >= n * f * sp,
        "conv_pointwise: buffers smaller than their shapes"
    );
    if n == 0 || f == 0 || sp == 0 {
        return;
    }
    if c == 0 {
        y[..n * f * sp].fill(0.0);
        for (p, plane) in y[..n * f * sp].chunks_mut(sp).enumerate() {
            epi.apply(p % f, plane, p * sp);
        }
        return;
    }
    // Tasks: (image, run of pixel blocks, run of filter blocks), each about
    // TASK_WORK multiply-adds, at least two per thread when there is work.
    let blocks = sp.div_ceil(BLOCK);
    let fblocks = f.div_ceil(FILTERS);
    let per_block = BLOCK * FILTERS * c;
    let threads = rayon::current_num_threads();
    let want = (n * blocks * fblocks * per_block / TASK_WORK)
        .max(2 * threads)
        .max(1);
    let per_image = want.div_ceil(n);
    // Split pixels first (the input block is shared by all filters), then
    // filters when an image has too few pixel blocks.
    let pixel_tasks = per_image.min(blocks);
    let filter_tasks = per_image.div_ceil(pixel_tasks).min(fblocks);
    let (bpt, fpt) = (blocks.div_ceil(pixel_tasks), fblocks.div_ceil(filter_tasks));
    let (pixel_tasks, filter_tasks) = (blocks.div_ceil(bpt), fblocks.div_ceil(fpt));
    // Where each channel's row starts: the taps of the register block.
    let rows: Vec<usize> = (0..c).map(|ch| ch * sp).collect();
    let yp = SendPtr(y.as_mut_ptr());
    let task = |t: usize| {
        let (b, rest) = (
            t / (pixel_tasks * filter_tasks),
            t % (pixel_tasks * filter_tasks),
        );
        let (pt, ft) = (rest / filter_tasks, rest % filter_tasks);
        let (p0, p1) = (pt * bpt * BLOCK, ((pt + 1) * bpt * BLOCK).min(sp));
        let (f0, f1) = (ft * fpt * FILTERS, ((ft + 1) * fpt * FILTERS).min(f));
        let xb = &x[b * c * sp..(b + 1) * c * sp];
        // SAFETY: `applies` saw AVX-512F and FMA; this task alone writes
        // filters f0..f1 × pixels p0..p1 of image b, inside `y` (asserted).
        unsafe { run_avx512(xb, sp, c, &rows, w, epi, yp, b * f * sp, p0, p1, f0, f1) };
    };
    run_tasks(n * pixel_tasks * filter_tasks, task);
}

/// Filters `f0..f1` over pixels `p0..p1` of one image `x` (C × sp, channel
/// `ch` starting at `rows[ch]`), into the output at `y + y0` (F × sp),
/// then the epilogue.
///
/// # Safety
/// The CPU has AVX-512F and FMA; no other task writes those outputs.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,fma")]
unsafe fn run_avx512(
    x: &[f32],
    sp: usize,
    c: usize,
    rows: &[usize],
    w: &[f32],
    epi: &Epilogue<'_>,
    y: SendPtr,
    y0: usize,
    p0: usize,
    p1: usize,
    f0: usize,
    f1: usize,
) {
    for p in (p0..p1).step_by(BLOCK) {
        let len = BLOCK.min(p1 - p);
        let mut fi = f0;
        while fi < f1 {
            let fb = FILTERS.min(f1 - fi);
            // SAFETY: rows fi..fi + fb, pixels p..p + len: this task's.
            unsafe {
                let (src, out) = (&x[p..], y.get().add(y0 + fi * sp + p));
                let wf = &w[fi * c..(fi + fb) * c];
                match fb {
                    4 => fma_block_avx512::<4>(rows, src, wf, out, sp, len),
                    3 => fma_block_avx512::<3>(rows, src, wf, out, sp, len),
                    2 => fma_block_avx512::<2>(rows, src, wf, out, sp, len),
                    _ => fma_block_avx512::<1>(rows, src, wf, out, sp, len),
                }
            }
            for k in 0..fb {
                let off = y0 + (fi + k) * sp + p;
                // SAFETY: one row segment of this task's block.
                let row = unsafe { std::slice::from_raw_parts_mut(y.get().add(off), len) };
                epi.apply_inline(fi + k, row, off);
            }
            fi += fb;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::convolution::tests::{check_against_gemm_path, square_conv};
    use crate::ops::epilogue::Post;

    #[test]
    fn takes_the_layers_where_it_beats_the_gemm() {
        if Simd::detect() != Simd::Avx512 {
            return;
        }
        let conv = |f| square_conv(1, 1, 1, 0, f, 1);
        assert!(applies(&conv(144), &[1, 24, 56, 56]));
        assert!(applies(&conv(96), &[1, 576, 14, 14]));
        assert!(
            !applies(&conv(64), &[1, 256, 56, 56]),
            "many channels, large map"
        );
        assert!(!applies(&conv(1024), &[1, 256, 14, 14]), "many filters");
        assert!(!applies(&conv(192), &[1, 32, 28, 28]), "192 filters");
        assert!(applies(&conv(160), &[1, 32, 28, 28]));
        assert!(!applies(&conv(160), &[1, 576, 7, 7]), "few pixels");
        assert!(!applies(&conv(8), &[1, 32, 56, 56]), "few filters");
        assert!(applies(&conv(16), &[1, 128, 54, 54]), "squeeze");
        assert!(applies(&conv(48), &[1, 384, 27, 27]), "squeeze");
        assert!(!applies(&conv(64), &[1, 256, 56, 56]), "64 filters");
        assert!(!applies(&conv(64), &[1, 32, 112, 112]), "large map");
        assert!(
            !applies(&square_conv(3, 1, 1, 1, 96, 1), &[1, 16, 56, 56]),
            "3×3"
        );
        assert!(
            !applies(&square_conv(1, 2, 1, 0, 96, 1), &[1, 16, 56, 56]),
            "stride 2"
        );
    }

    /// Against the im2col + GEMM path (itself tested against a naive
    /// convolution), with a bias, a residual and a relu fused: pixel
    /// counts around the block size, filter counts around the register
    /// block, batches of one and three.
    #[test]
    fn matches_the_gemm_path() {
        if Simd::detect() != Simd::Avx512 {
            return;
        }
        for (n, c, f, h, wd) in [
            (1, 16, 96, 112, 112),
            (1, 576, 96, 14, 14),
            (1, 160, 960, 7, 7),
            (3, 5, 7, 8, 8),
            (2, 3, 1, 1, 65),
            (1, 1, 6, 1, 33),
            (1, 64, 9, 3, 11),
            (2, 24, 130, 5, 13),
        ] {
            // The kernel runs whatever `applies` says (shapes outside its
            // range are still computed correctly).
            let conv = square_conv(1, 1, 1, 0, f, 1);
            let what = format!("{n}×{c}→{f} on {h}×{wd}");
            check_against_gemm_path(
                &conv,
                &[n, c, h, wd],
                Post::Relu,
                &what,
                |conv, xs, x, w, epi, _, y| conv_pointwise(conv, xs, x, w, epi, y),
            );
        }
    }
}
