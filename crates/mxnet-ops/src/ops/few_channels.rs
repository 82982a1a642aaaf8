//! Direct convolution for layers with few input channels, and for small
//! maps with few filters.
//!
//! The first layer of almost every image network has 3 channels, a 3×3 to
//! 7×7 window, often stride 2: as a GEMM its depth is tiny (27 to 147) and
//! the im2col columns are large, so the GEMM spends its time packing. On
//! small maps with few filters (densenet's 3×3 growth layers, 128 → 32 on
//! 14×14 and 7×7) the GEMM path has one column tile and re-packs all of it
//! for each block of filters. Here the input is copied once into padded,
//! stride-phase-split planes (the depthwise layout, [`DwGeometry`]) and
//! every output is summed in registers over all channels and taps, four
//! filters at a time; tasks are bands of output rows × blocks of filters.

use super::convolution::{Convolution, DwGeometry};
use super::epilogue::Epilogue;
#[cfg(target_arch = "x86_64")]
use super::util::fma_block_avx512;
use super::util::{SendPtr, Simd, images_split_evenly, run_tasks, with_scratch};

/// Most input channels the path takes.
const MAX_CHANNELS: usize = 4;

/// Most channels × taps (the GEMM depth) the path takes: every tap of a
/// block of outputs is read from L1.
const MAX_DEPTH: usize = 160;

/// Outputs per register block (four AVX-512 vectors).
const BLOCK: usize = 64;

/// Filters per register block.
const FILTERS: usize = 4;

/// Output rows per task, at least: on maps whose phase rows are at most 16
/// wide, as many rows as one register block holds (7 × 7 maps: one block
/// of 61 positions, 49 of them outputs, not two of 36 and 27).
const BAND_ROWS: usize = 4;

/// Largest output map (pixels) taken whatever the channels, the most
/// filters, and the most bytes of padded input planes it may copy: on such
/// maps with few filters (densenet's 3×3 growth layers, 128 → 32 on 14×14
/// and 7×7) the GEMM path has one column tile, splits the few filters over
/// the threads and re-packs the whole im2col matrix per filter block, while
/// here every input value is copied once and stays in L2. With many filters
/// (resnet-50's 3×3 layers on 14×14 and 7×7) the GEMM is faster, and 1×1
/// windows are left to the 1×1 kernel and the GEMM. Over 96 or more
/// channels the filter-lanes kernel now takes most of these layers first
/// ([`super::filter_lanes::first`]); 7 × 7 maps at batch 1 stay here.
const SMALL_MAP: usize = 256;
const SMALL_MAP_FILTERS: usize = 64;
const SMALL_MAP_BYTES: usize = 512 << 10;

/// Whether this is a window larger than 1×1 with at most
/// [`SMALL_MAP_FILTERS`] filters over a small output map whose padded input
/// planes fit [`SMALL_MAP_BYTES`].
fn small_map(conv: &Convolution, xshape: &[usize]) -> bool {
    let win = &conv.win;
    let out = match win.conv_out(win.spatial(xshape)) {
        Ok(o) => o,
        Err(_) => return false,
    };
    let geo = DwGeometry::new(win, win.spatial(xshape), out);
    out[1] * out[2] <= SMALL_MAP
        && conv.num_filter <= SMALL_MAP_FILTERS
        && win.window_len() > 1
        && 4 * xshape[1] * geo.phases_len() <= SMALL_MAP_BYTES
}

/// Whether [`conv_few_channels`] computes this convolution: one group, a
/// 2-D (or 1-D) window, at least four filters, and either at most four
/// input channels with a depth of at most 160 or a small map
/// ([`SMALL_MAP`]).
pub(crate) fn applies(conv: &Convolution, xshape: &[usize]) -> bool {
    let win = &conv.win;
    let input = win.spatial(xshape);
    let c = xshape[1];
    conv.groups == 1
        && input[0] == 1
        && win.kernel[0] == 1
        && win.stride[0] == 1
        && win.pad[0] == 0
        && c >= 1
        && conv.num_filter >= FILTERS
        && ((c <= MAX_CHANNELS && c * win.window_len() <= MAX_DEPTH) || small_map(conv, xshape))
}

/// The convolution of `x` (N, C, H, W) with `w` (F, C, kh, kw) into `y`,
/// then the epilogue; `conv` and `xshape` must satisfy [`applies`]. Sums
/// run over channels, then kernel rows, then columns, with fused
/// multiply-adds where the CPU has them.
pub(crate) fn conv_few_channels(
    conv: &Convolution,
    xshape: &[usize],
    x: &[f32],
    w: &[f32],
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
    if n == 0 || osp == 0 {
        return;
    }
    let channel_len = geo.phases_len();
    let taps = geo.tap_offsets();
    let offsets: Vec<usize> = (0..c)
        .flat_map(|ci| taps.iter().map(move |&t| ci * channel_len + t))
        .collect();
    let depth = offsets.len();
    assert!(
        x.len() >= n * c * isp && w.len() >= f * depth && y.len() >= n * f * osp,
        "conv_few_channels: buffers smaller than their shapes"
    );
    let simd = Simd::detect();
    let band_rows = band_rows(&geo);
    let bands = geo.oh.div_ceil(band_rows);
    let threads = rayon::current_num_threads();
    // A batch that splits evenly: whole images per thread, all of an
    // image's bands and filters in order, each thread laying out its own
    // images' phases (no barrier per image). First layers at batch 8, per
    // layer in the nets (2 threads, Zen 4), against bands of one image at a
    // time over both threads: inception-v3's 0.67×, mobilenet's 0.83×,
    // densenet-121's 0.88×, mobilenet v2's 0.89×, squeezenet's 0.91×,
    // resnet-18's 0.93×, vgg-11's 0.99×.
    let per_image = images_split_evenly(n);
    // Else few bands (small maps): blocks of filters as separate tasks
    // too, at least four tasks per thread.
    let chunks = if per_image {
        1
    } else {
        (4 * threads).div_ceil(bands).clamp(1, f.div_ceil(FILTERS))
    };
    let per_chunk = f.div_ceil(chunks).next_multiple_of(FILTERS);
    let chunks = f.div_ceil(per_chunk);
    let yp = SendPtr(y.as_mut_ptr());
    // Task t (a band of rows × a block of filters) of image b.
    let task = |b: usize, phases: &[f32], t: usize| {
        let (band, chunk) = (t / chunks, t % chunks);
        let task = Band {
            geo: &geo,
            offsets: &offsets,
            phases,
            w,
            f0: chunk * per_chunk,
            f1: ((chunk + 1) * per_chunk).min(f),
            epi,
            r0: band * band_rows,
            r1: ((band + 1) * band_rows).min(geo.oh),
            y0: b * f * osp,
        };
        // SAFETY: image b's output starts at y0 inside `y` (asserted).
        let yb = SendPtr(unsafe { yp.get().add(task.y0) });
        with_scratch(task.acc_len() * (task.f1 - task.f0), |acc| match simd {
            // SAFETY: `Simd::detect` saw the features on this CPU; the
            // band writes only its own rows of each output plane.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe { band_avx512(&task, acc, yb) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { band_avx2(&task, acc, yb) },
            // SAFETY: the band's rows, as above.
            _ => unsafe { task.run::<BASELINE>(acc, yb) },
        });
    };
    // Slack that the last blocks may read past the last phase.
    let slack = geo.wq * band_rows + BLOCK;
    if per_image {
        geo.for_each_image_phases_par(x, n, c, slack, |b, phases| {
            (0..bands * chunks).for_each(|t| task(b, phases, t));
        });
    } else {
        geo.for_each_image_phases(x, n, c, slack, |b, phases| {
            run_tasks(bands * chunks, |t| task(b, phases, t));
        });
    }
}

/// Output rows per band: at least [`BAND_ROWS`] (or a register block's
/// worth of phase rows), and up to twice that many where the band's rows
/// fill its register blocks better: a band's accumulators run from its
/// first output to its last, padding columns included, rounded up to
/// whole blocks of [`BLOCK`], so 4 rows of a 112-wide map (phase rows of
/// 115: 457 positions in 8 blocks) leave 11 % of the blocks' lanes empty
/// where 5 rows (572 in 9) leave 3 %.
fn band_rows(geo: &DwGeometry) -> usize {
    let least = BAND_ROWS.max(BLOCK / geo.wq);
    if least >= geo.oh {
        return least;
    }
    let lanes = |r: usize| ((r - 1) * geo.wq + geo.ow).next_multiple_of(BLOCK);
    // The most outputs per lane computed; the fewest rows among equals.
    (least..=(2 * least).min(geo.oh))
        .max_by(|&a, &b| {
            let (ea, eb) = (a * geo.ow * lanes(b), b * geo.ow * lanes(a));
            ea.cmp(&eb).then(b.cmp(&a))
        })
        .unwrap_or(least)
}

/// Instruction sets [`Band::run`] is compiled for: no FMA, FMA (AVX2), and
/// AVX-512 with the hand-written register block ([`fma_block_avx512`]).
const BASELINE: u8 = 0;
const FMA: u8 = 1;
const AVX512: u8 = 2;

/// Output rows `r0..r1` of every filter of one image.
struct Band<'a> {
    geo: &'a DwGeometry,
    /// Where each (channel, tap) reads, in weight order.
    offsets: &'a [usize],
    phases: &'a [f32],
    w: &'a [f32],
    /// The filters `f0..f1` this task computes.
    f0: usize,
    f1: usize,
    epi: &'a Epilogue<'a>,
    r0: usize,
    r1: usize,
    /// Position of this image's output in the whole output.
    y0: usize,
}

impl Band<'_> {
    /// Accumulator positions per filter: rows as wide as a phase, rounded
    /// up to whole blocks.
    fn acc_len(&self) -> usize {
        ((self.r1 - self.r0 - 1) * self.geo.wq + self.geo.ow).next_multiple_of(BLOCK)
    }

    /// Computes the band of filters `f0..f1` into `acc` (filter-major) and
    /// copies its rows into the image's output at `y`, applying the
    /// epilogue.
    ///
    /// # Safety
    /// `y` points at this image's output (filters × oh × ow floats) and no
    /// other task writes rows `r0..r1` of filters `f0..f1` of it.
    #[inline(always)]
    unsafe fn run<const ISA: u8>(&self, acc: &mut [f32], y: SendPtr) {
        let g = self.geo;
        let len = self.acc_len();
        let start = self.r0 * g.wq;
        let depth = self.offsets.len();
        let full = self.f0 + (self.f1 - self.f0) / FILTERS * FILTERS;
        for m in (0..len).step_by(BLOCK) {
            for f0 in (self.f0..full).step_by(FILTERS) {
                self.block::<FILTERS, ISA>(f0, start + m, depth, acc, len, m);
            }
            for f0 in full..self.f1 {
                self.block::<1, ISA>(f0, start + m, depth, acc, len, m);
            }
        }
        let (osp, ow) = (g.oh * g.ow, g.ow);
        for fi in self.f0..self.f1 {
            for r in self.r0..self.r1 {
                let off = fi * osp + r * ow;
                // SAFETY: row r of filter fi's plane, owned by this task.
                let row = unsafe { std::slice::from_raw_parts_mut(y.get().add(off), ow) };
                let src = &acc[(fi - self.f0) * len + (r - self.r0) * g.wq..][..ow];
                self.epi.apply_from_inline(fi, src, row, self.y0 + off);
            }
        }
    }

    /// `FB` filters from `f0` over the block of outputs at phase position
    /// `pos`, stored at `m` of each filter's accumulator (`len` apart).
    #[inline(always)]
    fn block<const FB: usize, const ISA: u8>(
        &self,
        f0: usize,
        pos: usize,
        depth: usize,
        acc: &mut [f32],
        len: usize,
        m: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if ISA == AVX512 {
            let src = &self.phases[pos..];
            let w = &self.w[f0 * depth..(f0 + FB) * depth];
            let acc = &mut acc[(f0 - self.f0) * len + m..];
            assert!(acc.len() >= (FB - 1) * len + BLOCK);
            // SAFETY: ISA is AVX512 only inside `band_avx512`, which runs
            // only where `Simd::detect` saw AVX-512F and FMA; `acc` holds FB
            // rows of a block, `len` apart (asserted).
            unsafe { fma_block_avx512::<FB>(self.offsets, src, w, acc.as_mut_ptr(), len, BLOCK) };
            return;
        }
        let mut sum = [[0f32; BLOCK]; FB];
        for (t, &off) in self.offsets.iter().enumerate() {
            let src = &self.phases[off + pos..][..BLOCK];
            for (k, s) in sum.iter_mut().enumerate() {
                let wt = self.w[(f0 + k) * depth + t];
                for (s, &v) in s.iter_mut().zip(src) {
                    *s = if ISA == BASELINE {
                        *s + wt * v
                    } else {
                        wt.mul_add(v, *s)
                    };
                }
            }
        }
        for (k, s) in sum.iter().enumerate() {
            acc[(f0 - self.f0 + k) * len + m..][..BLOCK].copy_from_slice(s);
        }
    }
}

/// [`Band::run`] compiled for AVX-512 with FMA.
///
/// # Safety
/// The CPU has AVX-512F and FMA; as for [`Band::run`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn band_avx512(t: &Band<'_>, acc: &mut [f32], y: SendPtr) {
    // SAFETY: passed on from the caller.
    unsafe { t.run::<AVX512>(acc, y) }
}

/// [`Band::run`] compiled for AVX2 with FMA.
///
/// # Safety
/// The CPU has AVX2 and FMA; as for [`Band::run`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn band_avx2(t: &Band<'_>, acc: &mut [f32], y: SendPtr) {
    // SAFETY: passed on from the caller.
    unsafe { t.run::<FMA>(acc, y) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::convolution::tests::{check_against_gemm_path_on_1_and_2_threads, square_conv};
    use crate::ops::epilogue::Post;

    /// Every shape the path takes, against the im2col + GEMM path (itself
    /// tested against a naive convolution), with a bias, a residual and a
    /// clip fused.
    #[test]
    fn matches_the_gemm_path() {
        // (channels, filters, kernel, stride, dilation, pad, height, width)
        for (c, f, k, s, d, p, h, wd) in [
            (3, 32, 3, 2, 1, 1, 224, 224),
            (3, 64, 7, 2, 1, 3, 61, 47),
            (3, 96, 7, 2, 1, 0, 57, 57),
            (1, 5, 3, 1, 1, 1, 9, 70),
            (2, 7, 5, 3, 2, 4, 30, 31),
            (4, 4, 1, 1, 1, 0, 5, 3),
            (3, 9, 3, 1, 2, 0, 17, 130),
            (128, 32, 3, 1, 1, 1, 14, 14),
            (128, 32, 3, 1, 1, 1, 7, 7),
            (40, 30, 3, 2, 1, 1, 9, 13),
        ] {
            let conv = square_conv(k, s, d, p, f, 1);
            let xs = [2, c, h, wd];
            assert!(applies(&conv, &xs));
            // One thread: bands of every image in turn; two: the batch of
            // two as whole images per thread.
            let what = format!("{c}→{f} k{k} s{s} d{d} p{p} on {h}×{wd}");
            check_against_gemm_path_on_1_and_2_threads(
                &conv,
                &xs,
                Post::Clip(-3.0, 6.0),
                &what,
                conv_few_channels,
            );
        }
    }

    #[test]
    fn takes_few_channel_layers_and_small_maps_with_few_filters() {
        let xs = |c: usize, h: usize| [1, c, h, h];
        assert!(applies(&square_conv(7, 2, 1, 3, 64, 1), &xs(3, 224)));
        assert!(!applies(&square_conv(3, 1, 1, 1, 64, 1), &xs(16, 64)));
        assert!(!applies(&square_conv(7, 2, 1, 3, 64, 1), &xs(4, 64)));
        assert!(!applies(&square_conv(3, 1, 1, 1, 2, 1), &xs(3, 64)));
        assert!(!applies(&square_conv(3, 1, 1, 1, 64, 3), &xs(3, 64)));
        // Small maps: densenet's growth layers, not resnet's 3×3 layers.
        assert!(applies(&square_conv(3, 1, 1, 1, 32, 1), &xs(128, 14)));
        assert!(applies(&square_conv(3, 1, 1, 1, 32, 1), &xs(128, 7)));
        assert!(
            !applies(&square_conv(3, 1, 1, 1, 32, 1), &xs(128, 28)),
            "large map"
        );
        assert!(
            !applies(&square_conv(3, 1, 1, 1, 256, 1), &xs(256, 14)),
            "many filters"
        );
        assert!(
            !applies(&square_conv(1, 1, 1, 0, 32, 1), &xs(128, 14)),
            "1×1"
        );
        assert!(
            !applies(&square_conv(3, 1, 1, 1, 32, 1), &xs(4096, 14)),
            "planes too big"
        );
    }
}
