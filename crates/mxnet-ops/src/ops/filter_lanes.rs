//! Convolution with the vector lanes over filters (AVX-512): an implicit
//! GEMM whose register block is [`POSITIONS`] output positions × up to
//! [`MAX_VECTORS`] vectors of 16 filters. For each (channel, tap) it loads
//! the block's filter vectors from a packed panel ([`pack_filters`]) and
//! broadcasts one input value per position, so positions can be any output
//! positions: a block never computes the padding columns that the
//! position-vectorised kernel ([`super::blocked`]) computes and drops (a
//! 7 × 7 map is 49 positions here, 63 there), and 7 divides the side of
//! most CNN maps (7, 14, 28, 35, 56), so blocks come out whole.
//!
//! The input is the image's zero-padded, stride-phase-split planes
//! ([`DwGeometry`], as the blocked kernel reads them): output position
//! `(r, q)` and tap `t` read `P_c[r·wq + q + offset_t]`. Filters are packed
//! in panels of 1–4 vectors (as even as possible, [`panel_widths`]), each
//! panel depth-major, so a block streams its weights in order; the depth is
//! cut into chunks whose weights stay in L2 while every block of a band
//! passes over them, partial sums kept in the task's scratch. Tasks are
//! bands of output positions × chunks of panels; each ends by transposing
//! its sums (position-major) into the output planes through the epilogue.

use super::convolution::{Convolution, DwGeometry};
use super::epilogue::Epilogue;
use super::util::{SendPtr, Simd, images_split_evenly, run_tasks, with_scratch};

/// Output positions per register block.
const POSITIONS: usize = 7;

/// Most vectors of 16 filters per register block (4 × 7 = 28 of the 32
/// AVX-512 registers hold sums).
const MAX_VECTORS: usize = 4;

/// Filters per vector.
const LANES: usize = 16;

/// Bytes of packed weights a depth chunk holds at most: they stay in L2
/// while a band's blocks pass over them.
const CHUNK_BYTES: usize = 256 << 10;

/// Output positions per band (a multiple of [`POSITIONS`]) when the
/// weights are at most [`SMALL_WEIGHTS`].
const BAND_POSITIONS: usize = 16 * POSITIONS;

/// Bytes of packed weights below which bands of [`BAND_POSITIONS`] share them.
const SMALL_WEIGHTS: usize = 1 << 20;

/// Most output positions per band when the weights are larger.
const MAX_BAND_POSITIONS: usize = 64 * POSITIONS;

// A task's block table holds the longest band.
const _: () = assert!(BAND_POSITIONS <= MAX_BAND_POSITIONS);

/// Tasks per thread with weights of at most [`SMALL_WEIGHTS`].
const TASKS_PER_THREAD: usize = 4;

/// Tasks per thread with larger weights (two panels or more per task
/// measured faster than one).
const LARGE_TASKS_PER_THREAD: usize = 2;

/// Channels ahead whose inputs the kernel prefetches.
const AHEAD: usize = 2;

/// Whether [`conv_filter_lanes`] computes this convolution: a CPU with
/// AVX-512F, one group, a 2-D (or 1-D) window with no depth axis, and at
/// least 16 filters.
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
        && conv.num_filter >= LANES
}

/// The vectors of 16 filters of each panel for `filters` filters: as few
/// panels as [`MAX_VECTORS`] allows, their widths as even as possible (5
/// vectors are panels of 3 and 2, not 4 and 1).
pub(crate) fn panel_widths(filters: usize) -> Vec<usize> {
    let v = filters.div_ceil(LANES);
    let k = v.div_ceil(MAX_VECTORS).max(1);
    (0..k).map(|i| v / k + usize::from(i < v % k)).collect()
}

/// Floats in the packed filters of [`pack_filters`].
pub(crate) fn packed_len(filters: usize, depth: usize) -> usize {
    filters.div_ceil(LANES) * LANES * depth
}

/// The filters `w` (`filters` × `depth`, row-major: depth is channels ×
/// taps) packed for the kernel: panel after panel ([`panel_widths`]), a
/// panel of `v` vectors starting with filter `f0` holding weight `(f0 + l,
/// d)` at `d·16v + l` from its start; filters past `filters` are zero.
pub(crate) fn pack_filters(w: &[f32], filters: usize, depth: usize) -> Vec<f32> {
    assert!(
        w.len() >= filters * depth,
        "pack_filters: weights too short"
    );
    let mut out = vec![0f32; packed_len(filters, depth)];
    let mut f0 = 0;
    for v in panel_widths(filters) {
        let width = v * LANES;
        let panel = &mut out[f0 * depth..(f0 + width) * depth];
        for l in 0..width.min(filters.saturating_sub(f0)) {
            let src = &w[(f0 + l) * depth..(f0 + l + 1) * depth];
            for (d, &x) in src.iter().enumerate() {
                panel[d * width + l] = x;
            }
        }
        f0 += width;
    }
    out
}

/// Whether the path is the faster one for this convolution (which must
/// satisfy [`applies`]), as measured per layer in whole nets at batch 1
/// and 8 on a Zen 4 (2 threads) against the blocked kernel and the
/// im2col + GEMM: stride-1 windows whose padded rows waste 5 % or more of
/// the blocked kernel's work, over 96 or more channels, on maps of 14 to
/// 56 columns or of at most 7 × 7: resnet's 3×3 layers on 28 × 28 maps
/// with 128 filters 0.84–0.88× the blocked kernel's time (batch 1 and 8),
/// on 14 × 14 maps with 256 filters 0.85–0.87× and vgg's with 512
/// 0.80–0.83× (batch 1; Winograd takes them at batch 8), on 7 × 7 maps
/// with 512 filters 0.86–0.94× (batch 1), inception's 1×7 ones on 17 × 17
/// maps 0.82×; and stride-1 windows over at most 64 channels, with a depth
/// below 576 or on maps up to 28 columns wide, where the blocked kernel's
/// blocks are short: squeezenet's 3×3 expand layers (16–64 channels on
/// 54 × 54 and 27 × 27 maps) 0.78–0.91× at batch 8. Elsewhere it was not
/// faster: slower on 8 × 8 maps (1.07–1.10×), with 48 channels and a 5×5
/// window on 35 × 35 (1.1–1.2×), at stride 2 in inception (1.14–1.3×;
/// 0.81–0.87× against the GEMM in resnet-18), and with 64 channels on
/// 56 × 56 maps, whose 58-wide rows waste only 3 % (1.07–1.19×).
pub(crate) fn faster(conv: &Convolution, xshape: &[usize]) -> bool {
    let win = &conv.win;
    let out = match win.conv_out(win.spatial(xshape)) {
        Ok(o) => o,
        Err(_) => return false,
    };
    let (oh, ow) = (out[1], out[2]);
    let kw = (win.kernel[2] - 1) * win.dilate[2].max(1) + 1;
    let wasteful = 20 * ow < 19 * (ow + kw - 1);
    let depth = xshape[1] * win.window_len();
    let many_channels = wasteful
        && xshape[1] >= MIN_CHANNELS
        && ((14..=56).contains(&ow) && oh <= 56
            || oh * ow <= 7 * 7
            || oh * ow <= 8 * 8 && xshape[0] >= 2);
    let few_channels = xshape[1] <= MAX_FEW_CHANNELS
        && (depth < MAX_SHALLOW_DEPTH || ow <= 28)
        && oh * ow <= 56 * 56;
    win.window_len() > 1 && win.stride[1..] == [1, 1] && (many_channels || few_channels)
}

/// Whether the path beats the im2col + GEMM for this convolution (which
/// must satisfy [`applies`]) where the blocked kernel does not take it
/// ([`super::blocked::faster`]), on maps whose positions make whole
/// register blocks: windows at a stride of 2 at batch 1, and 1×1 windows
/// with [`MIN_1X1_WEIGHTS`] or more of weights onto maps of at most 7 × 7
/// at any batch (the GEMM packs the weights on every call; here they are
/// packed once). Measured per layer in whole nets (2 threads, Zen 4):
/// - 3×3 at stride 2, batch 1: resnet-18's 64 → 128 onto 28 × 28 0.77×
///   the GEMM's time and 256 → 512 onto 7 × 7 0.81×, resnet-50 v2's 512 →
///   512 onto 7 × 7 0.81×; at batch 8 those two of resnet-18 were
///   1.06–1.10× (the GEMM then has tiles of eight images to share out),
///   and inception's 192 → 192 and 192 → 320 onto 8 × 8 (64 positions:
///   ten blocks, the last with one) 1.11–1.25× at batch 1.
/// - 1×1 onto 7 × 7: resnet-50's 512 → 2048 0.83–0.88× at batch 1 and
///   0.86–0.87× at batch 8, 2048 → 512 0.91–0.92× and 0.89×, its stride-2
///   1024 → 2048 0.74–0.80× and 0.79–0.87×; mobilenet's 1024 → 1024
///   0.87–0.88× at both batches, 512 → 1024 0.83× at batch 1 and 0.98× at
///   batch 8. resnet-18's stride-2 256 → 512 (0.5 MB of weights, which the
///   GEMM packs within L2) was 1.28× at batch 1, and resnet-50's 1×1 ones
///   at stride 2 onto 28 × 28 1.13–1.31× at batch 1 and onto 14 × 14
///   1.13–1.16× at batch 8.
pub(crate) fn beats_gemm(conv: &Convolution, xshape: &[usize]) -> bool {
    let win = &conv.win;
    let Some(positions) = out_positions(conv, xshape) else {
        return false;
    };
    let whole_blocks = positions % POSITIONS == 0;
    if win.window_len() == 1 {
        whole_blocks
            && positions <= POSITIONS * POSITIONS
            && 4 * xshape[1] * conv.num_filter >= MIN_1X1_WEIGHTS
    } else {
        whole_blocks && win.stride[1..] == [2, 2] && xshape[0] == 1
    }
}

/// Whether the path takes this convolution (which must satisfy
/// [`applies`]) ahead of every other direct kernel, as measured per layer
/// in whole nets on 2 threads (Zen 4), by two rules:
/// - A window larger than 1×1 at stride 1 with at most [`MAX_FEW_FILTERS`]
///   filters over [`MIN_CHANNELS`] or more channels, on maps up to 56 × 56
///   (7 × 7 only in a batch). Each position then fills one to three
///   vectors of filters, while the other kernels split the few filters
///   into short blocks. densenet-121's 3×3 growth layers (128 → 32): on
///   56 × 56 0.90× the blocked kernel's time at batch 1 and 0.96–0.99× at
///   batch 8, on 14 × 14 0.81× and 0.76–0.79×, on 7 × 7 0.65–0.69× at
///   batch 8 the small-map kernel's ([`super::few_channels`]) but
///   1.14–1.28× at batch 1; densenet-161's (192 → 48) 0.89×, 0.82–0.84×
///   and 0.76–0.85× at batch 1 and 8.
/// - A 1×1 window at stride 1 on 14 × 14 maps in a batch, with 128 or more
///   filters over more channels than the 1×1 kernel keeps in L1
///   ([`super::pointwise`], which took them): densenet-121's 256–992 →
///   128 at batch 8 0.81–0.89×. The GEMM's layers of this form run as
///   fast here as there (resnet-50's 1024 → 256, mobilenet's 512 → 512:
///   0.98–1.01×, densenet-161's 384–1968 → 192 0.95–1.06×); 7 × 7 maps
///   were no faster (0.96–1.05×), fewer filters slower (mobilenet v2's
///   384 → 64 1.12–1.15×).
pub(crate) fn first(conv: &Convolution, xshape: &[usize]) -> bool {
    let win = &conv.win;
    let Some(positions) = out_positions(conv, xshape) else {
        return false;
    };
    let (n, c, f) = (xshape[0], xshape[1], conv.num_filter);
    let stride_1 = win.stride[1..] == [1, 1];
    let few_filters = win.window_len() > 1
        && f <= MAX_FEW_FILTERS
        && c >= MIN_CHANNELS
        && positions <= 56 * 56
        && (positions >= 14 * 14 || n >= 2);
    let narrowing_1x1 = win.window_len() == 1
        && win.pad == [0; 3]
        && positions == 14 * 14
        && n >= 2
        && f >= 128
        && c > super::pointwise::L1_CHANNELS;
    stride_1 && (few_filters || narrowing_1x1)
}

/// Output positions per image of `conv` on `xshape`, if its shapes agree.
fn out_positions(conv: &Convolution, xshape: &[usize]) -> Option<usize> {
    let win = &conv.win;
    win.conv_out(win.spatial(xshape)).ok().map(|o| o[1] * o[2])
}

/// Most filters of the few-filters rule of [`first`].
const MAX_FEW_FILTERS: usize = 48;

/// Fewest bytes of weights of the 1×1 rule of [`beats_gemm`]: twice a Zen
/// 4 core's L2 cache. Below it the GEMM packs them within L2; from 1 MiB
/// (mobilenet v2's 960 → 320 and 320 → 1280 on 7 × 7) the kernel was 0.84×
/// to 1.43× the GEMM's time, no net change.
const MIN_1X1_WEIGHTS: usize = 2 << 20;

/// Most input channels of the few-channel rule of [`faster`].
const MAX_FEW_CHANNELS: usize = 64;

/// Depth (channels × taps) below which the few-channel rule of [`faster`]
/// takes maps up to 56 × 56, not only up to 28 columns.
const MAX_SHALLOW_DEPTH: usize = 576;

/// Fewest input channels where the path was measured faster.
const MIN_CHANNELS: usize = 96;

/// One panel: its first filter, its vectors and where it starts in the
/// packed filters.
#[derive(Debug, Clone, Copy)]
struct Panel {
    f0: usize,
    vectors: usize,
    start: usize,
}

/// The convolution of `x` (N, C, H, W) with the packed filters `packed`
/// ([`pack_filters`] of the F × C × kh × kw weights) into `y`, then the
/// epilogue; `conv` and `xshape` must satisfy [`applies`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_filter_lanes(
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
        "conv_filter_lanes: buffers smaller than their shapes"
    );
    if n == 0 || osp == 0 {
        return;
    }
    let mut panels = Vec::new();
    let mut f0 = 0;
    for v in panel_widths(f) {
        panels.push(Panel {
            f0,
            vectors: v,
            start: f0 * depth,
        });
        f0 += v * LANES;
    }
    let channel_len = geo.phases_len();
    let chunk = (CHUNK_BYTES / (taps.len() * MAX_VECTORS * LANES * 4)).clamp(1, c);
    // A batch of small maps with small weights that splits evenly over the
    // threads: whole images per thread, each split into tasks as for one
    // thread (with large weights every thread would read all of them for
    // every image: resnet-18's 512-channel 3×3 on 7 × 7, 9.4 MB, was 1.24×
    // slower so at batch 8).
    let per_image = osp <= PER_IMAGE_POSITIONS
        && packed_len(f, depth) * 4 <= PER_IMAGE_WEIGHTS
        && images_split_evenly(n);
    let threads = if per_image {
        1
    } else {
        rayon::current_num_threads()
    };
    // Weights that fit in L2 are shared by many small bands (each thread
    // keeps them); larger ones are split between tasks over as few bands
    // as possible, since every band reads all the weights of its panels.
    let (band, target) = if packed_len(f, depth) * 4 <= SMALL_WEIGHTS {
        (BAND_POSITIONS, TASKS_PER_THREAD * threads)
    } else {
        (MAX_BAND_POSITIONS, LARGE_TASKS_PER_THREAD * threads)
    };
    let band = band.min(osp).next_multiple_of(POSITIONS);
    let bands = osp.div_ceil(band);
    let chunks = target.div_ceil(bands).clamp(1, panels.len());
    let per_chunk = panels.len().div_ceil(chunks);
    let chunks = panels.len().div_ceil(per_chunk);
    let tasks = bands * chunks;
    // The two loops below build their tasks each in place: one closure
    // making the tasks for both made the batch-1 layers (the second loop)
    // 13-28 % slower in repeated A/Bs, for reasons not found.
    if per_image {
        let y0 = SendPtr(y.as_mut_ptr());
        geo.for_each_image_phases_par(x, n, c, 0, |b, phases| {
            let yp = SendPtr(y0.get().wrapping_add(b * f * osp));
            with_scratch(band * MAX_VECTORS * LANES, |acc| {
                for t in 0..tasks {
                    let (bi, ci) = (t / chunks, t % chunks);
                    let task = Task {
                        geo: &geo,
                        taps: &taps,
                        channels: c,
                        chunk,
                        channel_len,
                        src: phases,
                        w: packed,
                        panels: &panels[ci * per_chunk..((ci + 1) * per_chunk).min(panels.len())],
                        filters: f,
                        m0: bi * band,
                        m1: ((bi + 1) * band).min(osp),
                        epi,
                        y0: b * f * osp,
                    };
                    // SAFETY: as below; this thread owns image b.
                    #[cfg(target_arch = "x86_64")]
                    unsafe {
                        task_avx512(&task, acc, yp)
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    unreachable!("conv_filter_lanes needs AVX-512 ({acc:p}, {:p})", yp.get())
                }
            });
        });
        return;
    }
    let y0 = SendPtr(y.as_mut_ptr());
    geo.for_each_image_phases(x, n, c, 0, |b, phases| {
        let yp = SendPtr(y0.get().wrapping_add(b * f * osp));
        run_tasks(tasks, |t: usize| {
            let (bi, ci) = (t / chunks, t % chunks);
            let task = Task {
                geo: &geo,
                taps: &taps,
                channels: c,
                chunk,
                channel_len,
                src: phases,
                w: packed,
                panels: &panels[ci * per_chunk..((ci + 1) * per_chunk).min(panels.len())],
                filters: f,
                m0: bi * band,
                m1: ((bi + 1) * band).min(osp),
                epi,
                y0: b * f * osp,
            };
            with_scratch(band * MAX_VECTORS * LANES, |acc| {
                // SAFETY: `applies` saw AVX-512F on this CPU; the task
                // writes only positions m0..m1 of its panels' filters.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    task_avx512(&task, acc, yp)
                }
                #[cfg(not(target_arch = "x86_64"))]
                unreachable!("conv_filter_lanes needs AVX-512 ({acc:p}, {:p})", yp.get())
            });
        });
    });
}

/// Largest output map (positions per image) that a batch runs as whole
/// images per thread.
const PER_IMAGE_POSITIONS: usize = 20 * 20;

/// Most bytes of packed weights for a batch run as whole images per thread.
const PER_IMAGE_WEIGHTS: usize = 2 << 20;

/// Output positions `m0..m1` of the filters of `panels`, for one image.
struct Task<'a> {
    geo: &'a DwGeometry,
    /// Where each tap reads in a channel's planes, in kernel order.
    taps: &'a [usize],
    channels: usize,
    /// Channels per depth chunk.
    chunk: usize,
    /// Floats per channel in `src`.
    channel_len: usize,
    /// The image's padded phase planes.
    src: &'a [f32],
    /// All filters, packed ([`pack_filters`]).
    w: &'a [f32],
    panels: &'a [Panel],
    filters: usize,
    m0: usize,
    m1: usize,
    epi: &'a Epilogue<'a>,
    /// Position of this image's output in the whole output.
    y0: usize,
}

impl Task<'_> {
    /// Computes the task, panel by panel, into `acc` (position-major sums
    /// of one panel) and copies each panel's sums into the image's output
    /// at `y` through the epilogue.
    ///
    /// # Safety
    /// The CPU has AVX-512F and FMA; `y` points at this image's output
    /// (filters × oh × ow floats) and no other task writes positions
    /// `m0..m1` of the panels' filters.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn run(&self, acc: &mut [f32], y: SendPtr) {
        let g = self.geo;
        let (osp, len) = (g.oh * g.ow, self.m1 - self.m0);
        let depth = self.channels * self.taps.len();
        let last = self.m1 - 1;
        let last_read = (last / g.ow) * g.wq + last % g.ow;
        let last_tap = self.taps.iter().copied().max().unwrap_or(0);
        assert!(
            (self.channels - 1) * self.channel_len + last_tap + last_read < self.src.len()
                && acc.len() >= len.next_multiple_of(POSITIONS) * MAX_VECTORS * LANES,
            "conv_filter_lanes: task out of bounds"
        );
        // Each block's input offsets (r·wq + q per position; a short last
        // block repeats its last position), the same for every panel and
        // depth chunk.
        let mut blocks = [[0usize; POSITIONS]; MAX_BAND_POSITIONS / POSITIONS];
        assert!(
            len <= MAX_BAND_POSITIONS,
            "conv_filter_lanes: band longer than its block table"
        );
        for (k, offs) in blocks.iter_mut().take(len.div_ceil(POSITIONS)).enumerate() {
            let m = self.m0 + k * POSITIONS;
            for (i, o) in offs.iter_mut().enumerate() {
                let p = m + i.min(self.m1 - m - 1);
                *o = (p / g.ow) * g.wq + p % g.ow;
            }
        }
        for panel in self.panels {
            let width = panel.vectors * LANES;
            assert!(
                self.w.len() >= panel.start + depth * width,
                "conv_filter_lanes: panel out of bounds"
            );
            for c0 in (0..self.channels).step_by(self.chunk) {
                let c1 = (c0 + self.chunk).min(self.channels);
                let w = self.w[panel.start + c0 * self.taps.len() * width..].as_ptr();
                for (m, offs) in (self.m0..self.m1).step_by(POSITIONS).zip(&blocks) {
                    let np = (self.m1 - m).min(POSITIONS);
                    let sums = acc[(m - self.m0) * width..].as_mut_ptr();
                    // SAFETY: every read is of channel c < channels at a
                    // tap offset plus a position offset ≤ last_read
                    // (asserted inside `src`); the panel holds depth ×
                    // width weights (asserted); `sums` has np × width
                    // floats inside `acc` (asserted).
                    unsafe {
                        block(
                            np,
                            panel.vectors,
                            self.src.as_ptr(),
                            offs,
                            self.taps,
                            c0..c1,
                            self.channel_len,
                            w,
                            sums,
                            c0 > 0,
                        )
                    };
                }
            }
            let filters = width.min(self.filters - panel.f0);
            // SAFETY: positions m0..m1 of the panel's filters' planes,
            // owned by this task; `acc` holds len × width sums (asserted).
            unsafe {
                transpose_out(
                    acc,
                    width,
                    len,
                    filters,
                    y.get().add(panel.f0 * osp + self.m0),
                    osp,
                )
            };
            for fi in panel.f0..panel.f0 + filters {
                let off = fi * osp + self.m0;
                // SAFETY: as above.
                let row = unsafe { std::slice::from_raw_parts_mut(y.get().add(off), len) };
                self.epi.apply_inline(fi, row, self.y0 + off);
            }
        }
    }
}

/// Copies the position-major sums `acc` (`len` positions × `width`
/// filters) to `filters` ≤ `width` output rows of `len` floats, `stride`
/// apart from `out`: 16 × 16 blocks transposed in registers, so each row
/// is written in whole vectors (a scalar copy read one float per position
/// `width` floats apart).
///
/// # Safety
/// The CPU has AVX-512F; `acc` holds `len × width` floats, `width` is a
/// multiple of 16, and `out + l·stride` holds `len` floats for `l <
/// filters`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_out(
    acc: &[f32],
    width: usize,
    len: usize,
    filters: usize,
    out: *mut f32,
    stride: usize,
) {
    use std::arch::x86_64::*;
    assert!(
        acc.len() >= len * width && width.is_multiple_of(LANES) && filters <= width,
        "transpose_out: operands"
    );
    for l0 in (0..filters).step_by(LANES) {
        for j0 in (0..len).step_by(LANES) {
            let nj = (len - j0).min(LANES);
            let mut r = [_mm512_setzero_ps(); LANES];
            for (k, r) in r.iter_mut().take(nj).enumerate() {
                // SAFETY: position j0 + k < len, filters l0..l0 + 16 <
                // width (a multiple of 16): inside `acc` (asserted).
                *r = unsafe { _mm512_loadu_ps(acc.as_ptr().add((j0 + k) * width + l0)) };
            }
            let t = transpose16(r);
            let mask = ((1u32 << nj) - 1) as __mmask16;
            for (l, &v) in t.iter().take(filters - l0).enumerate() {
                // SAFETY: row l0 + l < filters, positions j0..j0 + nj ≤
                // len (the caller's promise).
                unsafe { _mm512_mask_storeu_ps(out.add((l0 + l) * stride + j0), mask, v) };
            }
        }
    }
}

/// The transpose of the 16 × 16 matrix whose rows are `r`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose16(r: [std::arch::x86_64::__m512; 16]) -> [std::arch::x86_64::__m512; 16] {
    use std::arch::x86_64::*;
    // Pairs of rows interleaved by floats, then by pairs of floats, then
    // two rounds over 128-bit lanes.
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut u = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        let b = 4 * i;
        u[b] = _mm512_shuffle_ps::<0x44>(t[b], t[b + 2]);
        u[b + 1] = _mm512_shuffle_ps::<0xEE>(t[b], t[b + 2]);
        u[b + 2] = _mm512_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
        u[b + 3] = _mm512_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
    }
    for h in [0, 8] {
        for i in 0..4 {
            t[h + i] = _mm512_shuffle_f32x4::<0x88>(u[h + i], u[h + i + 4]);
            t[h + i + 4] = _mm512_shuffle_f32x4::<0xDD>(u[h + i], u[h + i + 4]);
        }
    }
    for i in 0..8 {
        u[i] = _mm512_shuffle_f32x4::<0x88>(t[i], t[i + 8]);
        u[i + 8] = _mm512_shuffle_f32x4::<0xDD>(t[i], t[i + 8]);
    }
    u
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

/// One register block of `np` ≤ [`POSITIONS`] positions × `vectors` ≤
/// [`MAX_VECTORS`] vectors of filters, dispatched to the kernel compiled
/// for that shape.
///
/// # Safety
/// As for [`kernel`].
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn block(
    np: usize,
    vectors: usize,
    src: *const f32,
    offs: &[usize; POSITIONS],
    taps: &[usize],
    channels: std::ops::Range<usize>,
    channel_len: usize,
    w: *const f32,
    sums: *mut f32,
    accumulate: bool,
) {
    // SAFETY (all arms): passed on from the caller.
    match vectors {
        1 => unsafe {
            positions::<1>(
                np,
                src,
                offs,
                taps,
                channels,
                channel_len,
                w,
                sums,
                accumulate,
            )
        },
        2 => unsafe {
            positions::<2>(
                np,
                src,
                offs,
                taps,
                channels,
                channel_len,
                w,
                sums,
                accumulate,
            )
        },
        3 => unsafe {
            positions::<3>(
                np,
                src,
                offs,
                taps,
                channels,
                channel_len,
                w,
                sums,
                accumulate,
            )
        },
        4 => unsafe {
            positions::<4>(
                np,
                src,
                offs,
                taps,
                channels,
                channel_len,
                w,
                sums,
                accumulate,
            )
        },
        _ => unreachable!("a block has 1 to 4 vectors"),
    }
}

/// [`block`] for `V` vectors: dispatched on the positions.
///
/// # Safety
/// As for [`kernel`].
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn positions<const V: usize>(
    np: usize,
    src: *const f32,
    offs: &[usize; POSITIONS],
    taps: &[usize],
    channels: std::ops::Range<usize>,
    channel_len: usize,
    w: *const f32,
    sums: *mut f32,
    accumulate: bool,
) {
    macro_rules! positions {
        ($($p:literal)*) => {
            match np {
                $(
                    // SAFETY: passed on from the caller.
                    $p => unsafe {
                        kernel::<$p, V>(src, offs, taps, channels, channel_len, w, sums, accumulate)
                    },
                )*
                _ => unreachable!("a block has 1 to 7 positions"),
            }
        };
    }
    positions!(1 2 3 4 5 6 7)
}

/// `sums[i·16V + l] (+)= Σ_{c ∈ channels} Σ_t w[((c − c₀)·T + t)·16V + l]
/// · src[c·channel_len + taps[t] + offs[i]]` for positions `i < P` and
/// lanes `l < 16V`, where `T = taps.len()` and `c₀` is the first channel;
/// `+=` when `accumulate`. The `P × V` sums stay in registers.
///
/// # Safety
/// The CPU has AVX-512F and FMA; every read is inside its allocation; `w`
/// holds the channels' `T · 16V` weights each; `sums` holds `P · 16V`
/// floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const P: usize, const V: usize>(
    src: *const f32,
    offs: &[usize; POSITIONS],
    taps: &[usize],
    channels: std::ops::Range<usize>,
    channel_len: usize,
    w: *const f32,
    sums: *mut f32,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); V]; P];
    if accumulate {
        for (i, a) in acc.iter_mut().enumerate() {
            for (v, a) in a.iter_mut().enumerate() {
                // SAFETY: inside `sums` (the caller's promise).
                *a = unsafe { _mm512_loadu_ps(sums.add((i * V + v) * LANES)) };
            }
        }
    }
    let mut wp = w;
    for c in channels {
        let base = src.wrapping_add(c * channel_len);
        let ahead = base.wrapping_add(AHEAD * channel_len) as *const i8;
        // A prefetch of any address is safe.
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(4 * offs[0]));
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(4 * offs[P - 1]));
        for &t in taps {
            let p = base.wrapping_add(t);
            // SAFETY: the caller's promise on the reads and on `w`.
            unsafe {
                let mut wv = [_mm512_setzero_ps(); V];
                for (v, wv) in wv.iter_mut().enumerate() {
                    *wv = _mm512_loadu_ps(wp.add(v * LANES));
                }
                for (i, a) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*p.add(offs[i]));
                    for (a, &wv) in a.iter_mut().zip(&wv) {
                        *a = _mm512_fmadd_ps(wv, x, *a);
                    }
                }
                wp = wp.add(V * LANES);
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        for (v, &a) in a.iter().enumerate() {
            // SAFETY: inside `sums` (the caller's promise).
            unsafe { _mm512_storeu_ps(sums.add((i * V + v) * LANES), a) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::convolution::tests::{check_against_gemm_path_on_1_and_2_threads, square_conv};
    use crate::ops::epilogue::Post;

    #[test]
    fn is_chosen_where_the_blocked_kernel_wastes_its_padded_columns() {
        if Simd::detect() != Simd::Avx512 {
            return;
        }
        let xs = |c: usize, h: usize| [1, c, h, h];
        let conv3 = |f: usize| square_conv(3, 1, 1, 1, f, 1);
        assert!(faster(&conv3(128), &xs(128, 28)));
        assert!(faster(&conv3(512), &xs(512, 7)));
        assert!(!faster(&conv3(64), &xs(64, 56)), "56-wide rows");
        assert!(faster(&conv3(256), &xs(256, 14)), "14 × 14");
        assert!(!faster(&conv3(256), &xs(256, 13)), "13 × 13");
        assert!(!faster(&conv3(384), &xs(448, 8)), "8 × 8");
        assert!(faster(&conv3(384), &[8, 448, 8, 8]), "8 × 8 in a batch");
        assert!(!faster(&conv3(64), &xs(64, 56)), "64 channels on 56 × 56");
        assert!(faster(&conv3(64), &xs(16, 54)), "squeezenet's expand");
        assert!(faster(&conv3(256), &xs(64, 27)), "squeezenet's expand");
        assert!(
            !faster(&square_conv(5, 1, 1, 2, 64, 1), &xs(48, 35)),
            "5×5 over 48 channels"
        );
        assert!(
            !faster(&square_conv(3, 2, 1, 1, 128, 1), &xs(128, 28)),
            "stride 2"
        );
    }

    #[test]
    fn takes_strided_and_heavy_1x1_windows_from_the_gemm_onto_whole_blocks() {
        let s2 = |f: usize, p: usize| square_conv(3, 2, 1, p, f, 1);
        assert!(beats_gemm(&s2(128, 1), &[1, 64, 56, 56]), "onto 28 × 28");
        assert!(beats_gemm(&s2(512, 1), &[1, 256, 14, 14]), "onto 7 × 7");
        assert!(!beats_gemm(&s2(128, 1), &[8, 64, 56, 56]), "batch 8");
        assert!(!beats_gemm(&s2(192, 0), &[1, 192, 17, 17]), "onto 8 × 8");
        let pw1 = |f: usize| square_conv(1, 1, 1, 0, f, 1);
        assert!(beats_gemm(&pw1(1024), &[1, 1024, 7, 7]), "1×1 on 7 × 7");
        assert!(!beats_gemm(&pw1(2048), &[1, 1024, 8, 8]), "1×1 on 8 × 8");
        let pw2 = |f: usize| square_conv(1, 2, 1, 0, f, 1);
        assert!(beats_gemm(&pw2(2048), &[8, 1024, 14, 14]), "1×1 onto 7 × 7");
        assert!(beats_gemm(&pw2(512), &[1, 1024, 14, 14]), "2 MB onto 7 × 7");
        assert!(
            !beats_gemm(&pw2(512), &[1, 256, 14, 14]),
            "0.5 MB onto 7 × 7"
        );
        assert!(
            !beats_gemm(&pw2(512), &[1, 1024, 56, 56]),
            "1×1 onto 28 × 28"
        );
        assert!(
            !faster(&square_conv(1, 1, 1, 0, 64, 1), &[1, 64, 28, 28]),
            "1×1 at stride 1"
        );
        assert!(
            !beats_gemm(&square_conv(3, 1, 1, 1, 128, 1), &[1, 64, 28, 28]),
            "stride 1"
        );
    }

    #[test]
    fn takes_few_filters_and_narrowing_1x1_windows_first() {
        let conv3 = |f: usize| square_conv(3, 1, 1, 1, f, 1);
        let xs = |n: usize, c: usize, hw: usize| [n, c, hw, hw];
        assert!(first(&conv3(32), &xs(1, 128, 56)), "densenet's growth");
        assert!(first(&conv3(48), &xs(8, 192, 14)), "densenet-161's");
        assert!(first(&conv3(32), &xs(8, 128, 7)), "7 × 7 in a batch");
        assert!(!first(&conv3(32), &xs(1, 128, 7)), "7 × 7 alone");
        assert!(!first(&conv3(64), &xs(1, 128, 28)), "64 filters");
        assert!(!first(&conv3(32), &xs(1, 64, 28)), "64 channels");
        assert!(!first(&conv3(32), &xs(1, 128, 112)), "112 × 112");
        assert!(
            !first(&square_conv(3, 2, 1, 1, 32, 1), &xs(1, 128, 28)),
            "stride 2"
        );
        let pw = |f: usize| square_conv(1, 1, 1, 0, f, 1);
        assert!(first(&pw(128), &xs(8, 512, 14)), "densenet's 1×1");
        assert!(!first(&pw(128), &xs(1, 512, 14)), "1×1 at batch 1");
        assert!(!first(&pw(128), &xs(8, 512, 7)), "1×1 on 7 × 7");
        assert!(!first(&pw(128), &xs(8, 160, 14)), "1×1 over 160 channels");
        assert!(!first(&pw(64), &xs(8, 384, 14)), "1×1 to 64 filters");
        assert!(!first(&pw(32), &xs(1, 128, 28)), "1×1 with few filters");
    }

    #[test]
    fn sums_are_copied_out_transposed() {
        if Simd::detect() != Simd::Avx512 {
            return;
        }
        // 37 positions × 48 filters, 45 of them copied into rows 50 apart.
        let (len, width, filters, stride) = (37, 48, 45, 50);
        let acc: Vec<f32> = (0..len * width).map(|i| i as f32).collect();
        let mut out = vec![-1f32; filters * stride];
        // SAFETY: AVX-512F (checked); the buffers hold the shapes.
        unsafe { transpose_out(&acc, width, len, filters, out.as_mut_ptr(), stride) };
        for l in 0..filters {
            for j in 0..stride {
                let want = if j < len { acc[j * width + l] } else { -1.0 };
                assert_eq!(out[l * stride + j], want, "filter {l}, position {j}");
            }
        }
    }

    #[test]
    fn panels_are_as_even_as_four_vectors_allow() {
        assert_eq!(panel_widths(16), [1]);
        assert_eq!(panel_widths(17), [2]);
        assert_eq!(panel_widths(64), [4]);
        assert_eq!(panel_widths(80), [3, 2]);
        assert_eq!(panel_widths(96), [3, 3]);
        assert_eq!(panel_widths(160), [4, 3, 3]);
        assert_eq!(panel_widths(512), [4; 8]);
    }

    #[test]
    fn packs_panels_depth_major_with_zero_filters_past_the_end() {
        // 70 filters × depth 3: panels of 3 vectors and 2 (80 filters).
        let w: Vec<f32> = (0..210).map(|i| i as f32 + 1.0).collect();
        let p = pack_filters(&w, 70, 3);
        assert_eq!(p.len(), 80 * 3);
        // Panel 0 (48 wide), depth 2, filter 5: w[5·3 + 2].
        assert_eq!(p[2 * 48 + 5], w[17]);
        // Panel 1 (32 wide) starts at 48·3; depth 1, its filter 21
        // (filter 69).
        assert_eq!(p[144 + 32 + 21], w[69 * 3 + 1]);
        // Its lane 22 is filter 70, past the end.
        assert_eq!(p[144 + 32 + 22], 0.0);
    }

    /// Shapes of every kind the path takes, against the im2col + GEMM path
    /// (itself tested against a naive convolution), with a bias, a residual
    /// and a clip fused: 3×3, 5×5 and 7×7, strides 1 to 3, dilation, odd
    /// sizes, filters not a multiple of 16, maps not a multiple of 7, depth
    /// in several chunks.
    #[test]
    fn matches_the_gemm_path() {
        if Simd::detect() != Simd::Avx512 {
            return;
        }
        // (channels, filters, kernel, stride, dilation, pad, height, width)
        for (c, f, k, s, d, p, h, wd) in [
            (64, 64, 3, 1, 1, 1, 14, 14),
            (32, 30, 3, 1, 1, 1, 13, 11),
            (16, 17, 3, 2, 1, 1, 15, 15),
            (8, 80, 5, 1, 2, 4, 9, 20),
            (3, 16, 7, 2, 1, 3, 33, 31),
            (20, 48, 3, 1, 1, 1, 1, 40),
            (33, 112, 3, 3, 1, 0, 20, 23),
            (600, 64, 3, 1, 1, 1, 7, 7),
            (24, 176, 3, 1, 1, 1, 17, 17),
            (24, 40, 3, 2, 1, 1, 46, 46),
            (40, 70, 1, 2, 1, 0, 14, 14),
            (40, 64, 1, 1, 1, 0, 9, 7),
            (128, 32, 3, 1, 1, 1, 14, 14),
            (200, 128, 1, 1, 1, 0, 14, 14),
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
                conv_filter_lanes(conv, xs, x, &packed, epi, ys, y);
            };
            // One thread: the images in turn; two: the batch of two as
            // whole images per thread (maps up to 20 × 20).
            check_against_gemm_path_on_1_and_2_threads(
                &conv,
                &xs,
                Post::Clip(-3.0, 6.0),
                &what,
                fast,
            );
        }
    }
}
