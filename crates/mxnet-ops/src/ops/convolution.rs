//! `Convolution`: 1-D, 2-D and 3-D convolution with groups, stride, padding
//! and dilation (channels-first layouts).
//!
//! Inputs: data (N, C, *spatial), weight (F, C/groups, *kernel), bias (F)
//! unless `no_bias`. Output size per axis:
//! ⌊(in + 2·pad − dilate·(k−1) − 1)/stride⌋ + 1. Defaults (MXNet 1.9.1):
//! stride, dilate 1; pad 0; num_group 1; no_bias False; layout from the
//! kernel's rank. Computed as im2col + GEMM per image and group; a 1×1,
//! stride-1, unpadded convolution multiplies the input directly.

use rayon::prelude::*;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::gemm::{Mat, sgemm_raw};
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::epilogue::Epilogue;
use super::fully_connected::{FullyConnected, fc_forward};
use super::util::{SendPtr, Simd, per_axis, run_tasks, with_layout_scratch};
use super::{blocked, few_channels, filter_lanes, pointwise, winograd};

pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "Convolution",
    build,
    family: "nn",
    summary: "1-D/2-D/3-D convolution: groups, depthwise, stride, pad, dilation",
}];

/// Geometry of a convolution window over up to three spatial axes, padded
/// to three (leading axes of size 1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    /// Spatial rank (1, 2 or 3).
    pub nd: usize,
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilate: [usize; 3],
    pub pad: [usize; 3],
}

impl Window {
    pub(crate) fn parse(a: &Attrs<'_>) -> Result<Window, AttrError> {
        let kernel = a.req_tuple("kernel")?;
        let nd = kernel.len();
        let bad = |key: &str, v: &[i64]| AttrError {
            key: key.to_owned(),
            value: shape_str(&v.iter().map(|&x| x.max(0) as usize).collect::<Vec<_>>()),
            expected: "a tuple with one positive entry per spatial axis of the kernel",
        };
        if !(1..=3).contains(&nd) {
            return Err(bad("kernel", &kernel));
        }
        let get = |key: &str, default: i64, min: i64| -> Result<[usize; 3], AttrError> {
            let v = per_axis(&a.tuple(key, &[])?, nd, default);
            if v.len() != nd || v.iter().any(|&x| x < min) {
                return Err(bad(key, &v));
            }
            let mut out = [if min == 0 { 0 } else { 1 }; 3];
            for (i, x) in v.iter().enumerate() {
                out[3 - nd + i] = *x as usize;
            }
            Ok(out)
        };
        let mut k = [1usize; 3];
        for (i, x) in kernel.iter().enumerate() {
            if *x < 1 {
                return Err(bad("kernel", &kernel));
            }
            k[3 - nd + i] = *x as usize;
        }
        Ok(Window {
            nd,
            kernel: k,
            stride: get("stride", 1, 1)?,
            dilate: get("dilate", 1, 1)?,
            pad: get("pad", 0, 0)?,
        })
    }

    /// Output spatial sizes for input spatial sizes (padded to 3).
    pub(crate) fn conv_out(&self, input: [usize; 3]) -> Result<[usize; 3], String> {
        let mut out = [1; 3];
        for i in 0..3 {
            let span = self.dilate[i] * (self.kernel[i] - 1) + 1;
            let padded = input[i] + 2 * self.pad[i];
            if padded < span {
                return Err(format!(
                    "kernel {} (dilated) is larger than the padded input",
                    shape_str(&self.kernel[3 - self.nd..])
                ));
            }
            out[i] = (padded - span) / self.stride[i] + 1;
        }
        Ok(out)
    }

    /// Checks that data `x` is (N, C, spatial…) for this window and that
    /// its channels and the `filters` split into `groups`; returns (C,
    /// filters, groups).
    pub(crate) fn grouped(
        &self,
        x: &[usize],
        filters: usize,
        groups: usize,
    ) -> Result<(usize, usize, usize), String> {
        let nd = self.nd;
        if x.len() != nd + 2 {
            return Err(format!("data must be {}-d for a {nd}-d kernel", nd + 2));
        }
        let (c, f, g) = (x[1], filters, groups);
        if c % g != 0 || f % g != 0 {
            return Err(format!(
                "{c} channels and {f} filters do not split into {g} groups"
            ));
        }
        Ok((c, f, g))
    }

    /// The spatial sizes of an NC* shape, padded to three.
    pub(crate) fn spatial(&self, shape: &[usize]) -> [usize; 3] {
        let mut s = [1; 3];
        for i in 0..self.nd {
            s[3 - self.nd + i] = shape[2 + i];
        }
        s
    }

    pub(crate) fn window_len(&self) -> usize {
        self.kernel.iter().product()
    }
}

/// A parsed `Convolution` node.
#[derive(Debug, Clone)]
pub(crate) struct Convolution {
    pub win: Window,
    pub num_filter: usize,
    pub groups: usize,
    pub no_bias: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(parse(a)?))
}

/// The attributes of a `Convolution` node.
pub(crate) fn parse(a: &Attrs<'_>) -> Result<Convolution, AttrError> {
    let win = Window::parse(a)?;
    let layout = a.string("layout", "None");
    let expected = ["NCW", "NCHW", "NCDHW"][win.nd - 1];
    if layout != "None" && layout != expected {
        return Err(AttrError {
            key: "layout".into(),
            value: layout.into(),
            expected: "a channels-first layout (NCW, NCHW, NCDHW); channels-last layouts are not supported yet",
        });
    }
    let groups = a.count("num_group", 1)?.max(1);
    Ok(Convolution {
        win,
        num_filter: a.req_count("num_filter")?,
        groups,
        no_bias: a.bool("no_bias", false)?,
    })
}

impl Kernel for Convolution {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, if self.no_bias { 2 } else { 3 })?;
        let x = inputs[0];
        let nd = self.win.nd;
        let (c, f, g) = self.win.grouped(x, self.num_filter, self.groups)?;
        let mut w = vec![f, c / g];
        w.extend_from_slice(&self.win.kernel[3 - nd..]);
        if inputs[1] != w.as_slice() {
            return Err(format!("weight shape must be {}", shape_str(&w)));
        }
        if !self.no_bias && inputs[2] != [f] {
            return Err(format!("bias shape must be ({f},)"));
        }
        let o = self.win.conv_out(self.win.spatial(x))?;
        let mut out = vec![x[0], f];
        out.extend_from_slice(&o[3 - nd..]);
        Ok(vec![out])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        let Some(Some(x)) = inputs.first() else {
            return Vec::new();
        };
        if x.len() < 2 {
            return Vec::new();
        }
        let mut w = vec![self.num_filter, x[1] / self.groups];
        w.extend_from_slice(&self.win.kernel[3 - self.win.nd..]);
        vec![None, Some(w), Some(vec![self.num_filter])]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let bias = if self.no_bias {
            None
        } else {
            Some(inputs[2].data)
        };
        conv_forward(
            self,
            inputs[0].shape,
            inputs[0].data,
            inputs[1].data,
            &Epilogue::bias(bias),
            outputs[0].shape,
            outputs[0].data,
        );
        Ok(())
    }
}

/// The output positions of a column tile, as runs along the innermost
/// output axis: `(d, h, w0, w1)` covers positions `(d, h, w0..w1)`.
fn tile_runs(out: [usize; 3], j0: usize, j1: usize) -> Vec<(usize, usize, usize, usize)> {
    let [_, oh, ow] = out;
    let mut runs = Vec::with_capacity((j1 - j0) / ow.max(1) + 2);
    let mut j = j0;
    while j < j1 {
        let (row, w0) = (j / ow, j % ow);
        let w1 = ow.min(w0 + (j1 - j));
        runs.push((row / oh, row % oh, w0, w1));
        j += w1 - w0;
    }
    runs
}

/// For one kernel offset along an axis of input size `input`: the output
/// indices `lo..hi` whose input index `o·stride + off` is inside the input.
fn valid_range(off: isize, stride: usize, input: usize, out: usize) -> (usize, usize) {
    let lo = if off < 0 {
        ((-off) as usize).div_ceil(stride)
    } else {
        0
    };
    let hi = if (input as isize) > off {
        ((input as isize - off) as usize).div_ceil(stride).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// im2col of the output positions `j0..j1` (flattened over the output's
/// spatial axes) for `channels` channels of one image:
/// `col[(c, kd, kh, kw) · (j1 − j0) + j − j0]`. Each run of an output row is
/// a copy (stride 1) or a strided gather between zero-filled borders, with
/// no per-element branches.
#[allow(clippy::too_many_arguments)]
pub(crate) fn im2col_tile(
    win: &Window,
    x: &[f32],
    channels: usize,
    input: [usize; 3],
    out: [usize; 3],
    j0: usize,
    j1: usize,
    col: &mut [f32],
    parallel: bool,
) {
    let [id, ih, iw] = input;
    let [kd, kh, kw] = win.kernel;
    let nt = j1 - j0;
    let runs = tile_runs(out, j0, j1);
    let rows_per_channel = kd * kh * kw;
    let sw = win.stride[2];
    let fill = |(c, rows): (usize, &mut [f32])| {
        let xc = &x[c * id * ih * iw..(c + 1) * id * ih * iw];
        for (r, row) in rows.chunks_mut(nt).enumerate() {
            let (zd, rem) = (r / (kh * kw), r % (kh * kw));
            let (zh, zw) = (rem / kw, rem % kw);
            let off = (zw * win.dilate[2]) as isize - win.pad[2] as isize;
            let (lo, hi) = valid_range(off, sw, iw, out[2]);
            let mut o = 0;
            for &(d, h, w0, w1) in &runs {
                let dst = &mut row[o..o + (w1 - w0)];
                o += w1 - w0;
                let zi = (d * win.stride[0] + zd * win.dilate[0]) as isize - win.pad[0] as isize;
                let yi = (h * win.stride[1] + zh * win.dilate[1]) as isize - win.pad[1] as isize;
                if zi < 0 || zi as usize >= id || yi < 0 || yi as usize >= ih {
                    dst.fill(0.0);
                    continue;
                }
                let src = &xc[(zi as usize * ih + yi as usize) * iw..][..iw];
                let (a, b) = (lo.clamp(w0, w1), hi.clamp(w0, w1));
                dst[..a - w0].fill(0.0);
                dst[b.max(a) - w0..].fill(0.0);
                if a < b {
                    let first = (a * sw) as isize + off;
                    let part = &mut dst[a - w0..b - w0];
                    if sw == 1 {
                        part.copy_from_slice(&src[first as usize..first as usize + (b - a)]);
                    } else {
                        for (p, v) in part
                            .iter_mut()
                            .zip(src[first as usize..].iter().step_by(sw))
                        {
                            *p = *v;
                        }
                    }
                }
            }
        }
    };
    let per_channel = rows_per_channel * nt;
    if parallel && channels > 1 && channels * per_channel >= 1 << 16 {
        col[..channels * per_channel]
            .par_chunks_mut(per_channel)
            .enumerate()
            .for_each(fill);
    } else {
        col[..channels * per_channel]
            .chunks_mut(per_channel)
            .enumerate()
            .for_each(fill);
    }
}

/// Depthwise convolution (one filter per group and one channel per group,
/// the MobileNet case) computed directly, one plane per task.
///
/// Each plane is first copied into a zero-padded scratch plane split into
/// `sh × sw` phases (phase `(qh, qw)` holds the padded rows `qh`, `qh + sh`,
/// … and of those the columns `qw`, `qw + sw`, …). In that layout every
/// kernel tap, whatever the stride and dilation, reads one contiguous run
/// of a phase in step with the output, so the whole plane is one long sum
/// over taps: each block of 64 outputs is accumulated in registers over all
/// taps and stored once. The output rows are then read out of the
/// accumulator (whose rows are as wide as a phase) and the epilogue runs on
/// the plane while it is in cache. The loops are compiled for AVX-512 and
/// AVX2 as well as the baseline, chosen at run time.
///
/// At stride 1 on rows at least [`DIRECT_MIN_WIDTH`] wide with AVX-512, the
/// plane is instead read in place ([`DwPlane::run_direct`]): masked loads
/// stand in for the padding, two output rows share each input row's loads,
/// and nothing is copied (1.3–1.6× faster on mobilenet's 56- and 112-wide
/// planes). On narrower maps with a "same" padding (output rows as wide as
/// input rows) each tap is a fixed offset from the output position, so the
/// plane is one flat run of vectors with a mask per tap
/// ([`DwPlane::run_flat`]): 2–2.4× faster on 14×14 and 7×7 planes, whose
/// per-plane copies and calls dominated. At a column stride of 2 each
/// tap's inputs are the even lanes of two masked loads of the input row
/// ([`DwPlane::run_strided`]), again without the copy: 1.2–1.4× faster.
#[allow(clippy::too_many_arguments)]
fn depthwise(
    win: &Window,
    x: &[f32],
    w: &[f32],
    epi: &Epilogue<'_>,
    c: usize,
    input: [usize; 3],
    out: [usize; 3],
    y: &mut [f32],
) {
    let geo = DwGeometry::new(win, input, out);
    if geo.oh == 0 || geo.ow == 0 {
        return;
    }
    let osp = geo.oh * geo.ow;
    let (ih, iw) = (input[1], input[2]);
    let taps = geo.kh * geo.kw;
    let offsets = geo.tap_offsets();
    let simd = Simd::detect();
    #[cfg(target_arch = "x86_64")]
    let direct = (simd == Simd::Avx512 && DwColumns::applies(&geo)).then(|| DwColumns::new(&geo));
    #[cfg(target_arch = "x86_64")]
    let flat = (simd == Simd::Avx512 && direct.is_none() && DwFlat::applies(&geo))
        .then(|| DwFlat::new(&geo));
    #[cfg(target_arch = "x86_64")]
    let strided = (simd == Simd::Avx512 && DwStrided::applies(&geo)).then(|| DwStrided::new(&geo));
    let plane = |(p, yp): (usize, &mut [f32])| {
        let ch = p % c;
        let xp = &x[p * ih * iw..(p + 1) * ih * iw];
        let wp = &w[ch * taps..(ch + 1) * taps];
        let task = DwPlane {
            geo: &geo,
            offsets: &offsets,
            epi,
            channel: ch,
            offset: p * osp,
        };
        #[cfg(target_arch = "x86_64")]
        if let Some(cols) = &direct {
            // SAFETY: `direct` is set only when `Simd::detect` saw AVX-512F
            // and FMA.
            unsafe { task.run_direct(cols, xp, wp, yp) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(flat) = &flat {
            // SAFETY: `flat` is set only when `Simd::detect` saw AVX-512F
            // and FMA.
            unsafe { task.run_flat(flat, xp, wp, yp) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(cols) = &strided {
            // SAFETY: `strided` is set only when `Simd::detect` saw
            // AVX-512F and FMA.
            unsafe { task.run_strided(cols, xp, wp, yp) };
            return;
        }
        super::util::with_scratch(geo.scratch_len(), |scratch| match simd {
            // SAFETY: `Simd::detect` saw the feature on this CPU.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe { dw_plane_avx512(&task, xp, wp, scratch, yp) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { dw_plane_avx2(&task, xp, wp, scratch, yp) },
            _ => task.run::<false>(xp, wp, scratch, yp),
        });
    };
    if y.len() >= 1 << 14 {
        y.par_chunks_mut(osp).enumerate().for_each(plane);
    } else {
        y.chunks_mut(osp).enumerate().for_each(plane);
    }
}

/// Outputs accumulated in registers at a time by the depthwise kernel (four
/// AVX-512 vectors).
const DW_BLOCK: usize = 64;

/// The sizes of one depthwise plane and of its padded, phase-split copy.
#[derive(Clone, Copy)]
pub(crate) struct DwGeometry {
    ih: usize,
    iw: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    ph: usize,
    pw: usize,
    /// Rows per phase: `⌈rows / sh⌉`, where `rows = (oh − 1)·sh + (kh −
    /// 1)·dh + 1` padded rows are read.
    rq: usize,
    /// Columns per phase: `⌈cols / sw⌉`, where `cols = (ow − 1)·sw + (kw −
    /// 1)·dw + 1` padded columns are read.
    pub(crate) wq: usize,
}

impl DwGeometry {
    pub(crate) fn new(win: &Window, input: [usize; 3], out: [usize; 3]) -> DwGeometry {
        let [_, ih, iw] = input;
        let [_, oh, ow] = out;
        let [_, kh, kw] = win.kernel;
        let (sh, sw) = (win.stride[1].max(1), win.stride[2].max(1));
        let (dh, dw) = (win.dilate[1].max(1), win.dilate[2].max(1));
        let rows = (oh.max(1) - 1) * sh + (kh.max(1) - 1) * dh + 1;
        let cols = (ow.max(1) - 1) * sw + (kw.max(1) - 1) * dw + 1;
        DwGeometry {
            ih,
            iw,
            oh,
            ow,
            kh,
            kw,
            sh,
            sw,
            dh,
            dw,
            ph: win.pad[1],
            pw: win.pad[2],
            rq: rows.div_ceil(sh),
            wq: cols.div_ceil(sw),
        }
    }

    /// Floats in one phase.
    fn phase_len(&self) -> usize {
        self.rq * self.wq
    }

    /// Accumulator positions: output row `r`, column `q` is `r·wq + q`;
    /// rounded up to whole register blocks.
    fn acc_len(&self) -> usize {
        ((self.oh - 1) * self.wq + self.ow).next_multiple_of(DW_BLOCK)
    }

    /// Floats in all the phases of one plane.
    pub(crate) fn phases_len(&self) -> usize {
        self.sh * self.sw * self.phase_len()
    }

    /// Scratch floats: the phases, a block of slack that the last blocks
    /// may read past the end of the last phase, then the accumulator.
    fn scratch_len(&self) -> usize {
        self.phases_len() + DW_BLOCK + self.acc_len()
    }

    /// Where tap `(i, j)` starts reading, in kernel order: its phase's
    /// start plus its row and column inside the phase. Output position `m`
    /// of the accumulator reads the scratch at `offset + m`.
    pub(crate) fn tap_offsets(&self) -> Vec<usize> {
        let mut offsets = Vec::with_capacity(self.kh * self.kw);
        for i in 0..self.kh {
            let ro = i * self.dh;
            for j in 0..self.kw {
                let co = j * self.dw;
                let phase = (ro % self.sh) * self.sw + co % self.sw;
                offsets.push(phase * self.phase_len() + (ro / self.sh) * self.wq + co / self.sw);
            }
        }
        offsets
    }

    /// Runs `f(b, phases)` for each of the `n` images of `x` (`c` planes of
    /// ih × iw each), `phases` holding every channel's padded phases
    /// ([`DwGeometry::fill_phases`], [`DwGeometry::phases_len`] floats per
    /// channel) and then `slack` zeros that kernels may read past the last
    /// phase. The channels are filled in parallel when they are many; the
    /// buffer is this thread's layout scratch, reused across calls.
    pub(crate) fn for_each_image_phases(
        &self,
        x: &[f32],
        n: usize,
        c: usize,
        slack: usize,
        mut f: impl FnMut(usize, &[f32]),
    ) {
        let parallel = rayon::current_num_threads() > 1 && c * self.phases_len() >= 1 << 15;
        for b in 0..n {
            self.with_image_phases(x, b, c, slack, parallel, |phases| f(b, phases));
        }
    }

    /// [`DwGeometry::for_each_image_phases`] with the images in parallel,
    /// each filled and passed to `f` on one thread of the pool (its own
    /// layout scratch): for batches of small maps, where one image's work
    /// is too little to split over the threads.
    pub(crate) fn for_each_image_phases_par(
        &self,
        x: &[f32],
        n: usize,
        c: usize,
        slack: usize,
        f: impl Fn(usize, &[f32]) + Sync + Send,
    ) {
        run_tasks(n, |b| {
            self.with_image_phases(x, b, c, slack, false, |phases| f(b, phases))
        });
    }

    /// Runs `f` on image `b`'s padded phases (see
    /// [`DwGeometry::for_each_image_phases`]) in this thread's layout
    /// scratch, its channels filled in parallel if `parallel`.
    fn with_image_phases(
        &self,
        x: &[f32],
        b: usize,
        c: usize,
        slack: usize,
        parallel: bool,
        f: impl FnOnce(&[f32]),
    ) {
        let (isp, channel_len) = (self.ih * self.iw, self.phases_len());
        with_layout_scratch(c * channel_len + slack, |phases| {
            phases[c * channel_len..].fill(0.0);
            let xb = &x[b * c * isp..(b + 1) * c * isp];
            let fill = |(ci, dst): (usize, &mut [f32])| {
                self.fill_phases(&xb[ci * isp..(ci + 1) * isp], dst);
            };
            let planes = &mut phases[..c * channel_len];
            if parallel {
                planes
                    .par_chunks_mut(channel_len)
                    .enumerate()
                    .for_each(fill);
            } else {
                planes.chunks_mut(channel_len).enumerate().for_each(fill);
            }
            f(&*phases);
        });
    }

    /// Copies the plane `x` (ih × iw) into the zero-padded phases.
    #[inline(always)]
    pub(crate) fn fill_phases(&self, x: &[f32], phases: &mut [f32]) {
        let g = *self;
        let phase_len = g.phase_len();
        phases.fill(0.0);
        let rows = g.rq * g.sh;
        let last = g.iw.min((g.wq * g.sw).saturating_sub(g.pw));
        for iy in 0..g.ih {
            // Input row iy is padded row iy + ph, row (iy + ph) / sh of the
            // row phase (iy + ph) % sh; column ix is padded column ix + pw,
            // column (ix + pw) / sw of the column phase (ix + pw) % sw.
            let py = iy + g.ph;
            if py >= rows {
                break;
            }
            let base = (py % g.sh) * g.sw * phase_len + (py / g.sh) * g.wq;
            let src = &x[iy * g.iw..iy * g.iw + last];
            if g.sw == 1 {
                phases[base + g.pw..base + g.pw + last].copy_from_slice(src);
            } else if g.sw == 2 {
                // The common stride: columns 2m and 2m + 1 go to the two
                // phases side by side (a de-interleave that vectorises).
                let (p0, p1) = phases[base..].split_at_mut(phase_len);
                let (r0, r1) = (&mut p0[..g.wq], &mut p1[..g.wq]);
                let (a, b) = if g.pw & 1 == 0 { (r0, r1) } else { (r1, r0) };
                let (a, b) = (&mut a[g.pw >> 1..], &mut b[(g.pw + 1) >> 1..]);
                let pairs = src.chunks_exact(2);
                if let [v] = pairs.remainder() {
                    a[last / 2] = *v;
                }
                for ((x, y), pair) in a.iter_mut().zip(b.iter_mut()).zip(pairs) {
                    *x = pair[0];
                    *y = pair[1];
                }
            } else {
                for (ix, &v) in src.iter().enumerate() {
                    let px = ix + g.pw;
                    phases[base + (px % g.sw) * phase_len + px / g.sw] = v;
                }
            }
        }
    }
}

/// One depthwise plane's task: the geometry, the taps' offsets, and the
/// epilogue with the plane's channel and position in the whole output.
struct DwPlane<'a> {
    geo: &'a DwGeometry,
    offsets: &'a [usize],
    epi: &'a Epilogue<'a>,
    channel: usize,
    offset: usize,
}

impl DwPlane<'_> {
    /// One plane: `x` (ih × iw), `w` (kh × kw) into `y` (oh × ow), then
    /// the epilogue.
    #[inline(always)]
    fn run<const FMA: bool>(&self, x: &[f32], w: &[f32], scratch: &mut [f32], y: &mut [f32]) {
        let g = self.geo;
        let acc_len = g.acc_len();
        let (phases, acc) = scratch.split_at_mut(scratch.len() - acc_len);
        g.fill_phases(x, phases);
        let phases = &*phases;
        for (blk, out) in acc.chunks_exact_mut(DW_BLOCK).enumerate() {
            let m = blk * DW_BLOCK;
            // Taps in kernel order, fused multiply-adds where the CPU has
            // them (as the GEMM paths).
            let mut sum = [0f32; DW_BLOCK];
            for (&off, &wt) in self.offsets.iter().zip(w) {
                let src = &phases[off + m..][..DW_BLOCK];
                for (s, &v) in sum.iter_mut().zip(src) {
                    *s = if FMA { wt.mul_add(v, *s) } else { *s + wt * v };
                }
            }
            out.copy_from_slice(&sum);
        }
        for (r, row) in y.chunks_mut(g.ow).enumerate() {
            row.copy_from_slice(&acc[r * g.wq..r * g.wq + g.ow]);
        }
        self.epi.apply_inline(self.channel, y, self.offset);
    }
}

/// The narrowest output rows the direct depthwise kernel
/// ([`DwPlane::run_direct`]) takes: on narrower rows most lanes of its
/// row-wise blocks would be idle, and the padded copy's blocks, which span
/// rows, are better.
const DIRECT_MIN_WIDTH: usize = 32;

/// Vectors per register block of the direct depthwise kernel.
const DIRECT_VECTORS: usize = 4;

/// Where the direct depthwise kernel reads each tap column of each block
/// of an output row: the input column of the block's first lane and the
/// lanes inside both the input row (the rest is padding, read as zero) and
/// the output row. The same for every row and plane.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct DwColumns {
    /// Per block: its first output column and its vectors (1 to 4).
    blocks: Vec<(usize, usize)>,
    /// Per block, tap column and vector: (input column, lane mask).
    reads: Vec<(isize, u16)>,
    /// Per block and vector: the lanes inside the output row.
    stores: Vec<u16>,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl DwColumns {
    /// Whether the direct kernel computes planes of this geometry: stride 1
    /// and rows at least [`DIRECT_MIN_WIDTH`] wide.
    fn applies(g: &DwGeometry) -> bool {
        g.sh == 1 && g.sw == 1 && g.ow >= DIRECT_MIN_WIDTH
    }

    fn new(g: &DwGeometry) -> DwColumns {
        // Lanes `lo..hi` of 16 (both clamped to 0..=16) as a mask.
        let lanes = |lo: isize, hi: isize| -> u16 {
            let (lo, hi) = (lo.clamp(0, 16) as u32, hi.clamp(0, 16) as u32);
            if hi <= lo {
                0
            } else {
                (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as u16
            }
        };
        let (ow, iw) = (g.ow as isize, g.iw as isize);
        let mut cols = DwColumns {
            blocks: Vec::new(),
            reads: Vec::new(),
            stores: Vec::new(),
        };
        for c0 in (0..g.ow).step_by(16 * DIRECT_VECTORS) {
            let vectors = (g.ow - c0).div_ceil(16).min(DIRECT_VECTORS);
            cols.blocks.push((c0, vectors));
            for j in 0..g.kw {
                for v in 0..DIRECT_VECTORS {
                    let first = (c0 + 16 * v) as isize;
                    let start = first + (j * g.dw) as isize - g.pw as isize;
                    let mask = lanes(-start, (iw - start).min(ow - first));
                    cols.reads.push((start, mask));
                }
            }
            for v in 0..DIRECT_VECTORS {
                let first = (c0 + 16 * v) as isize;
                cols.stores.push(lanes(0, ow - first));
            }
        }
        cols
    }
}

impl DwPlane<'_> {
    /// A stride-1 plane computed straight from the input rows, with no
    /// padded copy: each output row in blocks of up to four vectors, each
    /// tap one masked load of an input row per vector (lanes over the
    /// padding read as zero), taps in kernel order with fused
    /// multiply-adds, so every sum is the one [`DwPlane::run`] computes;
    /// then the epilogue on the plane.
    ///
    /// # Safety
    /// The CPU has AVX-512F and FMA; `cols` is [`DwColumns::new`] of this
    /// plane's geometry.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn run_direct(&self, cols: &DwColumns, x: &[f32], w: &[f32], y: &mut [f32]) {
        let g = self.geo;
        assert!(
            x.len() >= g.ih * g.iw && w.len() >= g.kh * g.kw && y.len() >= g.oh * g.ow,
            "run_direct: buffers smaller than the plane"
        );
        for r in (0..g.oh).step_by(2) {
            for (b, &(c0, vectors)) in cols.blocks.iter().enumerate() {
                let at = DirectBlock {
                    g,
                    cols,
                    block: b,
                    c0,
                    row: r,
                    pair: r + 1 < g.oh,
                };
                // SAFETY: the CPU has AVX-512F and FMA (this function's
                // contract); the buffers hold the plane (asserted).
                unsafe {
                    match vectors {
                        4 => direct_block::<4>(&at, x, w, y),
                        3 => direct_block::<3>(&at, x, w, y),
                        2 => direct_block::<2>(&at, x, w, y),
                        _ => direct_block::<1>(&at, x, w, y),
                    }
                }
            }
        }
        self.epi
            .apply_inline(self.channel, &mut y[..g.oh * g.ow], self.offset);
    }
}

/// One block of [`DwPlane::run_direct`]: `block` (first column `c0`) of
/// output row `row`, and of the next row when `pair`.
struct DirectBlock<'a> {
    g: &'a DwGeometry,
    cols: &'a DwColumns,
    block: usize,
    c0: usize,
    row: usize,
    pair: bool,
}

/// [`DirectBlock`] with `V` vectors per row: the two rows share each input
/// row's loads (with a dilation of 1, input row `r + t` feeds tap row `t`
/// of output row `r` and tap row `t − 1` of row `r + 1`), so there are 2·V
/// independent sums.
///
/// # Safety
/// The CPU has AVX-512F and FMA; `x`, `w` and `y` hold the plane's input,
/// taps and output.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn direct_block<const V: usize>(at: &DirectBlock<'_>, x: &[f32], w: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    let (g, r, pair) = (at.g, at.row, at.pair);
    let (kh, kw, dh) = (g.kh, g.kw, g.dh);
    let reads =
        &at.cols.reads[at.block * kw * DIRECT_VECTORS..(at.block + 1) * kw * DIRECT_VECTORS];
    let mut acc = [[_mm512_setzero_ps(); V]; 2];
    // Input rows r + t − ph for t in 0..span.
    let span = (kh - 1) * dh + 2;
    let tap = |t: usize| (t.is_multiple_of(dh) && t / dh < kh).then_some(t / dh);
    for t in 0..span {
        let (i0, i1) = (tap(t), if pair && t > 0 { tap(t - 1) } else { None });
        let ir = (r + t) as isize - g.ph as isize;
        if (i0.is_none() && i1.is_none()) || ir < 0 || ir >= g.ih as isize {
            continue;
        }
        let row = x[ir as usize * g.iw..].as_ptr();
        for (j, tap) in reads.chunks_exact(DIRECT_VECTORS).enumerate() {
            let vals: [__m512; V] = std::array::from_fn(|v| {
                let (start, mask) = tap[v];
                // SAFETY: the lanes in `mask` are columns 0..iw of input
                // row `ir`; the rest are not read.
                unsafe { _mm512_maskz_loadu_ps(mask, row.wrapping_offset(start)) }
            });
            if let Some(i) = i0 {
                let wt = _mm512_set1_ps(w[i * kw + j]);
                for v in 0..V {
                    acc[0][v] = _mm512_fmadd_ps(wt, vals[v], acc[0][v]);
                }
            }
            if let Some(i) = i1 {
                let wt = _mm512_set1_ps(w[i * kw + j]);
                for v in 0..V {
                    acc[1][v] = _mm512_fmadd_ps(wt, vals[v], acc[1][v]);
                }
            }
        }
    }
    let stores = &at.cols.stores[at.block * DIRECT_VECTORS..];
    for (k, acc) in acc.iter().enumerate().take(1 + pair as usize) {
        let out = y[(r + k) * g.ow + at.c0..].as_mut_ptr();
        for v in 0..V {
            // SAFETY: the lanes in `stores[v]` are columns c0 + 16·v… of
            // output row r + k, inside `y`.
            unsafe { _mm512_mask_storeu_ps(out.add(16 * v), stores[v], acc[v]) };
        }
    }
}

/// Vectors per register block of the flat depthwise kernel.
const FLAT_VECTORS: usize = 8;

/// Where the flat depthwise kernel ([`DwPlane::run_flat`]) reads: at
/// stride 1 with output rows as wide as input rows, output position `m`
/// (row-major over the plane) takes tap `t` from input position `m +
/// offsets[t]`, in the lanes of `masks[t·vectors + v]` for its vector `v`
/// (lanes whose input falls in the padding, or past the plane, are not
/// read). The same for every plane.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct DwFlat {
    offsets: Vec<isize>,
    masks: Vec<u16>,
    vectors: usize,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl DwFlat {
    /// Whether the flat kernel computes planes of this geometry: stride 1
    /// and output rows as wide as the input rows (a "same" padding).
    fn applies(g: &DwGeometry) -> bool {
        g.sh == 1 && g.sw == 1 && g.ow == g.iw && g.oh > 0 && g.ow > 0
    }

    fn new(g: &DwGeometry) -> DwFlat {
        let osp = g.oh * g.ow;
        let vectors = osp.div_ceil(16);
        let mut flat = DwFlat {
            offsets: Vec::with_capacity(g.kh * g.kw),
            masks: Vec::with_capacity(g.kh * g.kw * vectors),
            vectors,
        };
        for i in 0..g.kh {
            let di = (i * g.dh) as isize - g.ph as isize;
            for j in 0..g.kw {
                let dj = (j * g.dw) as isize - g.pw as isize;
                flat.offsets.push(di * g.iw as isize + dj);
                for v in 0..vectors {
                    let mut mask = 0u16;
                    for l in 0..16 {
                        let m = 16 * v + l;
                        let (r, c) = ((m / g.ow) as isize, (m % g.ow) as isize);
                        let (ir, ic) = (r + di, c + dj);
                        if m < osp
                            && (0..g.ih as isize).contains(&ir)
                            && (0..g.iw as isize).contains(&ic)
                        {
                            mask |= 1 << l;
                        }
                    }
                    flat.masks.push(mask);
                }
            }
        }
        flat
    }
}

impl DwPlane<'_> {
    /// A stride-1 "same" plane as one flat run of positions: blocks of up
    /// to [`FLAT_VECTORS`] vectors, each tap one masked load per vector at
    /// a fixed offset from the output position, taps in kernel order with
    /// fused multiply-adds (so every sum is the one [`DwPlane::run`]
    /// computes); no copy, no scratch; then the epilogue on the plane. For
    /// small maps, where the padded copy's fixed costs per plane dominate.
    ///
    /// # Safety
    /// The CPU has AVX-512F and FMA; `flat` is [`DwFlat::new`] of this
    /// plane's geometry.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn run_flat(&self, flat: &DwFlat, x: &[f32], w: &[f32], y: &mut [f32]) {
        let g = self.geo;
        let osp = g.oh * g.ow;
        assert!(
            x.len() >= g.ih * g.iw && w.len() >= flat.offsets.len() && y.len() >= osp,
            "run_flat: buffers smaller than the plane"
        );
        let mut v0 = 0;
        while v0 < flat.vectors {
            let n = (flat.vectors - v0).min(FLAT_VECTORS);
            // SAFETY: the CPU has AVX-512F and FMA (this function's
            // contract); the buffers hold the plane (asserted).
            unsafe {
                match n {
                    8 => flat_block::<8>(flat, v0, x, w, y, osp),
                    7 => flat_block::<7>(flat, v0, x, w, y, osp),
                    6 => flat_block::<6>(flat, v0, x, w, y, osp),
                    5 => flat_block::<5>(flat, v0, x, w, y, osp),
                    4 => flat_block::<4>(flat, v0, x, w, y, osp),
                    3 => flat_block::<3>(flat, v0, x, w, y, osp),
                    2 => flat_block::<2>(flat, v0, x, w, y, osp),
                    _ => flat_block::<1>(flat, v0, x, w, y, osp),
                }
            }
            v0 += n;
        }
        self.epi
            .apply_inline(self.channel, &mut y[..osp], self.offset);
    }
}

/// Vectors `v0..v0 + V` of [`DwPlane::run_flat`].
///
/// # Safety
/// The CPU has AVX-512F and FMA; `x` and `y` hold the plane's input and
/// `osp` outputs, `w` its taps.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn flat_block<const V: usize>(
    flat: &DwFlat,
    v0: usize,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    osp: usize,
) {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); V];
    for (t, &off) in flat.offsets.iter().enumerate() {
        let wt = _mm512_set1_ps(w[t]);
        let masks = &flat.masks[t * flat.vectors + v0..][..V];
        let at = x.as_ptr().wrapping_offset(16 * v0 as isize + off);
        for v in 0..V {
            // SAFETY: the lanes in `masks[v]` are input positions inside
            // the plane; the rest are not read.
            let val = unsafe { _mm512_maskz_loadu_ps(masks[v], at.wrapping_add(16 * v)) };
            acc[v] = _mm512_fmadd_ps(wt, val, acc[v]);
        }
    }
    let out = y.as_mut_ptr();
    for (v, &a) in acc.iter().enumerate() {
        let first = 16 * (v0 + v);
        let lanes = (osp - first).min(16) as u32;
        let mask = ((1u32 << lanes) - 1) as __mmask16;
        // SAFETY: lanes `first..first + lanes` are outputs inside `y`.
        unsafe { _mm512_mask_storeu_ps(out.add(first), mask, a) };
    }
}

/// Where the stride-2 depthwise kernel ([`DwPlane::run_strided`]) reads
/// each tap column of each output vector: the 32 input columns from the
/// vector's first input column, as two masked loads whose even lanes are
/// the taps' inputs (lanes in the padding, or for outputs past the row, are
/// not read). The same for every row and plane.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct DwStrided {
    /// Per output vector of a row: its first output column.
    vectors: Vec<usize>,
    /// Per vector and tap column: (first input column, masks of the two
    /// loads).
    reads: Vec<(isize, u16, u16)>,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl DwStrided {
    /// Whether the stride-2 kernel computes planes of this geometry: a
    /// column stride of 2 (any row stride).
    fn applies(g: &DwGeometry) -> bool {
        g.sw == 2 && g.ow > 0 && g.oh > 0
    }

    fn new(g: &DwGeometry) -> DwStrided {
        let (iw, ow) = (g.iw as isize, g.ow as isize);
        let mut cols = DwStrided {
            vectors: (0..g.ow).step_by(16).collect(),
            reads: Vec::new(),
        };
        for &c0 in &cols.vectors {
            let outputs = (ow - c0 as isize).min(16);
            for j in 0..g.kw {
                let start = 2 * c0 as isize + (j * g.dw) as isize - g.pw as isize;
                let mut masks = [0u16; 2];
                for q in 0..32isize {
                    // Input column start + q feeds output lane q / 2 when q
                    // is even; odd lanes are read only when in the row.
                    if q / 2 < outputs && (0..iw).contains(&(start + q)) {
                        masks[(q / 16) as usize] |= 1 << (q % 16);
                    }
                }
                cols.reads.push((start, masks[0], masks[1]));
            }
        }
        cols
    }
}

impl DwPlane<'_> {
    /// A plane with a column stride of 2 computed straight from the input
    /// rows: for each output vector and tap, two masked loads of 32 input
    /// columns and one permutation keep the even ones; up to four vectors
    /// of a row at a time; taps in kernel order with fused multiply-adds
    /// (so every sum is the one [`DwPlane::run`] computes); then the
    /// epilogue on the plane. Nothing is copied or de-interleaved first.
    ///
    /// # Safety
    /// The CPU has AVX-512F and FMA; `cols` is [`DwStrided::new`] of this
    /// plane's geometry.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn run_strided(&self, cols: &DwStrided, x: &[f32], w: &[f32], y: &mut [f32]) {
        let g = self.geo;
        assert!(
            x.len() >= g.ih * g.iw && w.len() >= g.kh * g.kw && y.len() >= g.oh * g.ow,
            "run_strided: buffers smaller than the plane"
        );
        for r in 0..g.oh {
            let mut v0 = 0;
            while v0 < cols.vectors.len() {
                let n = (cols.vectors.len() - v0).min(DIRECT_VECTORS);
                // SAFETY: the CPU has AVX-512F and FMA (this function's
                // contract); the buffers hold the plane (asserted).
                unsafe {
                    match n {
                        4 => strided_block::<4>(g, cols, r, v0, x, w, y),
                        3 => strided_block::<3>(g, cols, r, v0, x, w, y),
                        2 => strided_block::<2>(g, cols, r, v0, x, w, y),
                        _ => strided_block::<1>(g, cols, r, v0, x, w, y),
                    }
                }
                v0 += n;
            }
        }
        self.epi
            .apply_inline(self.channel, &mut y[..g.oh * g.ow], self.offset);
    }
}

/// Output vectors `v0..v0 + V` of row `r` for [`DwPlane::run_strided`].
///
/// # Safety
/// The CPU has AVX-512F and FMA; `x`, `w` and `y` hold the plane's input,
/// taps and output; `cols` is [`DwStrided::new`] of `g`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn strided_block<const V: usize>(
    g: &DwGeometry,
    cols: &DwStrided,
    r: usize,
    v0: usize,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
) {
    use std::arch::x86_64::*;
    let kw = g.kw;
    let evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    let mut acc = [_mm512_setzero_ps(); V];
    for i in 0..g.kh {
        let ir = (r * g.sh + i * g.dh) as isize - g.ph as isize;
        if ir < 0 || ir >= g.ih as isize {
            continue;
        }
        let row = x[ir as usize * g.iw..].as_ptr();
        for j in 0..kw {
            let wt = _mm512_set1_ps(w[i * kw + j]);
            for (v, acc) in acc.iter_mut().enumerate() {
                let (start, lo, hi) = cols.reads[(v0 + v) * kw + j];
                let at = row.wrapping_offset(start);
                // SAFETY: the lanes in `lo` and `hi` are columns 0..iw of
                // input row `ir`; the rest are not read.
                let (a, b) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(lo, at),
                        _mm512_maskz_loadu_ps(hi, at.wrapping_add(16)),
                    )
                };
                let val = _mm512_permutex2var_ps(a, evens, b);
                *acc = _mm512_fmadd_ps(wt, val, *acc);
            }
        }
    }
    let out = y[r * g.ow..].as_mut_ptr();
    for (v, &a) in acc.iter().enumerate() {
        let c0 = cols.vectors[v0 + v];
        let lanes = (g.ow - c0).min(16) as u32;
        let mask = ((1u32 << lanes) - 1) as __mmask16;
        // SAFETY: columns c0..c0 + lanes of output row r are inside `y`.
        unsafe { _mm512_mask_storeu_ps(out.add(c0), mask, a) };
    }
}

/// [`DwPlane::run`] compiled for AVX-512 with FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn dw_plane_avx512(t: &DwPlane<'_>, x: &[f32], w: &[f32], scratch: &mut [f32], y: &mut [f32]) {
    t.run::<true>(x, w, scratch, y)
}

/// [`DwPlane::run`] compiled for AVX2 with FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dw_plane_avx2(t: &DwPlane<'_>, x: &[f32], w: &[f32], scratch: &mut [f32], y: &mut [f32]) {
    t.run::<true>(x, w, scratch, y)
}

/// Bytes of im2col columns per tile: the tile and the GEMM's packed panels
/// stay in the L2 cache, and the epilogue finds the output tile there too.
const COL_TILE_BYTES: usize = 512 << 10;

/// Columns (output positions) per tile for a GEMM of depth `klen` over
/// `osp` positions: a multiple of 16 (one AVX-512 vector), at least 64,
/// and the whole image when that is at most 1.5 tiles.
fn tile_cols(klen: usize, osp: usize) -> usize {
    let nt = (COL_TILE_BYTES / (4 * klen.max(1))) / 16 * 16;
    let nt = nt.max(64);
    if osp * 2 <= nt * 3 { osp } else { nt }
}

/// [`tile_cols`] for a convolution, `direct` when its GEMM reads the input
/// in place (1×1, stride 1, no padding), with `fg` filters per group: a
/// direct map that needs several tiles anyway gets tiles whose output (`fg`
/// rows), not only their input, stays in L2. With few channels the input
/// alone allowed tiles of thousands of columns, so a map of two such tiles
/// ran as a few large filter blocks instead: mobilenet v2's 16 → 96 on
/// 112 × 112 (two tiles of 8192 columns, three blocks of 32 filters over
/// two threads) took 0.45–0.49 ms at batch 1, 0.30–0.32 in ten tiles of
/// 1360 (0.89× at batch 8), mobilenet's 32 → 64 on 112 × 112 0.77×.
/// Maps of one tile keep it: resnet-50's 128 → 512 on 28 × 28 as four tiles
/// of 256 was 1.3–1.4× slower than one tile split by filters.
fn tile_cols_direct(direct: bool, klen: usize, fg: usize, osp: usize) -> usize {
    let nt = tile_cols(klen, osp);
    if direct && nt < osp {
        tile_cols(klen.max(fg), osp)
    } else {
        nt
    }
}

/// Filters prepared once, when a plan is made, for the path that will run
/// them ([`prepare`]): Winograd's transformed filters, or the packed panels
/// of a register-blocked kernel.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// Nothing: the path reads the filters as they are.
    None,
    /// [`winograd::transform_filters`] of the filters.
    Winograd(Vec<f32>),
    /// [`blocked::pack_filters`] of the filters.
    Panels(Vec<f32>),
    /// [`filter_lanes::pack_filters`] of the filters.
    FilterPanels(Vec<f32>),
}

impl Prepared {
    /// Whether the path reads the prepared filters, not the plain ones.
    pub(crate) fn replaces_weights(&self) -> bool {
        !matches!(self, Prepared::None)
    }
}

/// Which path [`conv_forward`] takes for this convolution, as a closed
/// choice (so the plan-time preparation and the run agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    FewChannels,
    Pointwise,
    Winograd,
    Blocked,
    FilterLanes,
    /// A 1×1 window over 1×1 maps: a dense layer ([`conv_dense`]).
    Dense,
    Tiled,
}

fn path(conv: &Convolution, xshape: &[usize], winograd_everywhere: bool) -> Path {
    let win = &conv.win;
    if winograd_everywhere && winograd::applies_with(conv, xshape, 1, 1) {
        Path::Winograd
    } else if conv.groups == 1
        && win.window_len() == 1
        && win.pad == [0; 3]
        && xshape.len() >= 3
        && xshape[2..].iter().all(|&d| d == 1)
    {
        Path::Dense
    } else if filter_lanes::applies(conv, xshape) && filter_lanes::first(conv, xshape) {
        Path::FilterLanes
    } else if few_channels::applies(conv, xshape) {
        Path::FewChannels
    } else if pointwise::applies(conv, xshape) {
        Path::Pointwise
    } else if winograd::applies(conv, xshape) {
        Path::Winograd
    } else if filter_lanes::applies(conv, xshape) && filter_lanes::faster(conv, xshape) {
        Path::FilterLanes
    } else if blocked::applies(conv, xshape) && blocked::faster(conv, xshape) {
        Path::Blocked
    } else if filter_lanes::applies(conv, xshape) && filter_lanes::beats_gemm(conv, xshape) {
        Path::FilterLanes
    } else {
        Path::Tiled
    }
}

/// The filters `w` of `conv` on inputs of shape `xshape` prepared for the
/// path that will run them; `winograd_everywhere` takes Winograd's path for
/// every 3×3 stride-1 convolution it can compute (tests).
pub(crate) fn prepare(
    conv: &Convolution,
    xshape: &[usize],
    w: &[f32],
    winograd_everywhere: bool,
) -> Prepared {
    match path(conv, xshape, winograd_everywhere) {
        Path::Winograd => {
            Prepared::Winograd(winograd::transform_filters(w, conv.num_filter, xshape[1]))
        }
        Path::Blocked => Prepared::Panels(blocked::pack_filters(
            w,
            conv.num_filter,
            xshape[1] / conv.groups * conv.win.window_len(),
        )),
        Path::FilterLanes => Prepared::FilterPanels(filter_lanes::pack_filters(
            w,
            conv.num_filter,
            xshape[1] * conv.win.window_len(),
        )),
        _ => Prepared::None,
    }
}

/// Forward convolution of `x` (N, C, *spatial) with `w` into `y`, then the
/// epilogue (`Epilogue::bias` for a plain convolution).
///
/// Windows with few filters over many channels, and some 1×1 layers in a
/// batch, run first by vectors over filters ([`filter_lanes::first`]).
/// Layers with few channels ([`few_channels`]), the 1×1 layers where it is
/// faster ([`pointwise`]) and depthwise layers ([`depthwise`]) run directly.
/// 3×3 stride-1 convolutions with many channels and tiles
/// ([`winograd::applies`]) run by Winograd's F(2×2, 3×3); other windows
/// larger than 1×1 on maps up to 56 × 56, at stride 1 and some at 2, by
/// one of two register-blocked implicit GEMMs where the CPU has AVX-512:
/// vectors over filters ([`filter_lanes`]) where the other's padded rows
/// waste work ([`filter_lanes::faster`]), else vectors over positions
/// ([`blocked`], [`blocked::faster`]), and by vectors over filters too
/// the strided windows at batch 1 and the 1×1 ones with large weights on
/// small maps that neither would take ([`filter_lanes::beats_gemm`]). The
/// filters these three read are transformed or packed on each call;
/// [`conv_forward_prepared`] takes them prepared once.
/// The rest are GEMMs over tiles of output positions ([`conv_tiled`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_forward(
    conv: &Convolution,
    xshape: &[usize],
    x: &[f32],
    w: &[f32],
    epi: &Epilogue<'_>,
    yshape: &[usize],
    y: &mut [f32],
) {
    match path(conv, xshape, false) {
        Path::FewChannels => few_channels::conv_few_channels(conv, xshape, x, w, epi, yshape, y),
        Path::Pointwise => pointwise::conv_pointwise(conv, xshape, x, w, epi, y),
        Path::Winograd | Path::Blocked | Path::FilterLanes => {
            let prepared = prepare(conv, xshape, w, false);
            conv_forward_prepared(conv, xshape, x, w, &prepared, epi, yshape, y);
        }
        Path::Dense => conv_dense(conv, xshape, x, w, epi, y),
        Path::Tiled => conv_tiled(conv, xshape, x, w, epi, yshape, y, None),
    }
}

/// [`conv_forward`] with the filters prepared by [`prepare`] (for this
/// `conv` and `xshape`); `w` is not read unless `prepared` is
/// [`Prepared::None`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_forward_prepared(
    conv: &Convolution,
    xshape: &[usize],
    x: &[f32],
    w: &[f32],
    prepared: &Prepared,
    epi: &Epilogue<'_>,
    yshape: &[usize],
    y: &mut [f32],
) {
    match prepared {
        Prepared::Winograd(u) => winograd::conv_winograd(conv, xshape, x, u, epi, yshape, y),
        Prepared::Panels(p) => blocked::conv_blocked(conv, xshape, x, p, epi, yshape, y),
        Prepared::FilterPanels(p) => {
            filter_lanes::conv_filter_lanes(conv, xshape, x, p, epi, yshape, y)
        }
        Prepared::None => conv_forward(conv, xshape, x, w, epi, yshape, y),
    }
}

/// A convolution with a 1×1 window over 1×1 maps (a classifier written as
/// a convolution): the images' channel vectors (N × C) times the filters
/// (F × C) transposed is the output (N × F), as for a dense layer, so the
/// filters are read once for all the images (not once per image as a
/// matrix-vector product per image would): [`fc_forward`]'s product.
fn conv_dense(
    conv: &Convolution,
    xshape: &[usize],
    x: &[f32],
    w: &[f32],
    epi: &Epilogue<'_>,
    y: &mut [f32],
) {
    let fc = FullyConnected {
        num_hidden: conv.num_filter,
        no_bias: conv.no_bias,
        flatten: true,
    };
    fc_forward(&fc, xshape, x, w, epi, y);
}

/// The direct convolution ([`conv_forward`] without Winograd, the
/// reference its fast paths are tested against), with the columns per tile
/// given (tests) or chosen by [`tile_cols`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_tiled(
    conv: &Convolution,
    xshape: &[usize],
    x: &[f32],
    w: &[f32],
    epi: &Epilogue<'_>,
    yshape: &[usize],
    y: &mut [f32],
    cols: Option<usize>,
) {
    let win = &conv.win;
    let (n, c, f, g) = (xshape[0], xshape[1], conv.num_filter, conv.groups);
    let input = win.spatial(xshape);
    let out = win.spatial(yshape);
    let isp: usize = input.iter().product();
    let osp: usize = out.iter().product();
    let (cg, fg) = (c / g, f / g);
    let klen = cg * win.window_len();
    assert!(
        x.len() >= n * c * isp && y.len() >= n * f * osp && w.len() >= f * klen,
        "conv_forward: buffers smaller than their shapes"
    );
    if g == c
        && f == c
        && input[0] == 1
        && win.kernel[0] == 1
        && win.stride[0] == 1
        && win.pad[0] == 0
    {
        depthwise(win, x, w, epi, c, input, out, y);
        return;
    }
    if n == 0 || f == 0 || osp == 0 {
        return;
    }
    if klen == 0 {
        // No input channels: the output is the epilogue of zeros.
        y.fill(0.0);
        for (p, plane) in y[..n * f * osp].chunks_mut(osp).enumerate() {
            epi.apply(p % f, plane, p * osp);
        }
        return;
    }
    let direct = win.window_len() == 1 && win.stride == [1; 3] && win.pad == [0; 3];
    let threads = rayon::current_num_threads();
    let nt = cols
        .unwrap_or_else(|| tile_cols_direct(direct, klen, fg, osp))
        .max(1);
    let tiles = osp.div_ceil(nt);
    let items = n * g * tiles;
    let yp = SendPtr(y.as_mut_ptr());
    // One tile: im2col (unless direct), GEMM of filter rows f0..f1 of the
    // group, epilogue.
    let tile = |b: usize, gi: usize, j0: usize, j1: usize, f0: usize, f1: usize, col: &[f32]| {
        let xg = &x[(b * c + gi * cg) * isp..(b * c + (gi + 1) * cg) * isp];
        let wg = &w[(gi * fg + f0) * klen..(gi * fg + f1) * klen];
        let rhs = if direct {
            Mat {
                data: &xg[j0..],
                rs: isp,
                cs: 1,
            }
        } else {
            Mat::rows(col, j1 - j0)
        };
        let base = (b * f + gi * fg + f0) * osp + j0;
        // SAFETY: the tile covers rows f0..f1 of this image and group and
        // columns j0..j1, inside `y` (asserted above); the callers give each
        // (image, group, rows, columns) block to exactly one task.
        unsafe {
            sgemm_raw(
                f1 - f0,
                j1 - j0,
                klen,
                Mat::rows(wg, klen),
                rhs,
                yp.get().add(base),
                osp,
                false,
            );
        }
        if !epi.is_identity() {
            for fi in f0..f1 {
                let off = (b * f + gi * fg + fi) * osp + j0;
                // SAFETY: one row of the tile this task owns.
                let row = unsafe { std::slice::from_raw_parts_mut(yp.get().add(off), j1 - j0) };
                epi.apply(gi * fg + fi, row, off);
            }
        }
    };
    let col_len = |j0: usize, j1: usize| if direct { 0 } else { klen * (j1 - j0) };
    let split_filters = threads > 1 && items < 2 * threads && fg >= 32;
    if !split_filters {
        let run = |item: usize| {
            let (bg, t) = (item / tiles, item % tiles);
            let (b, gi) = (bg / g, bg % g);
            let (j0, j1) = (t * nt, ((t + 1) * nt).min(osp));
            super::util::with_scratch(col_len(j0, j1), |col| {
                if !direct {
                    let xg = &x[(b * c + gi * cg) * isp..(b * c + (gi + 1) * cg) * isp];
                    im2col_tile(win, xg, cg, input, out, j0, j1, col, items == 1);
                }
                tile(b, gi, j0, j1, 0, fg, col);
            });
        };
        run_tasks(items, run);
        return;
    }
    // Few tiles: blocks of filters in parallel over a shared im2col.
    let blocks = (2 * threads).min(fg / 16).max(1);
    let rows = fg.div_ceil(blocks).div_ceil(16) * 16;
    for b in 0..n {
        for gi in 0..g {
            let xg = &x[(b * c + gi * cg) * isp..(b * c + (gi + 1) * cg) * isp];
            super::util::with_scratch(col_len(0, osp), |col| {
                if !direct {
                    im2col_tile(win, xg, cg, input, out, 0, osp, col, true);
                }
                let col = &*col;
                (0..fg.div_ceil(rows)).into_par_iter().for_each(|blk| {
                    let (f0, f1) = (blk * rows, ((blk + 1) * rows).min(fg));
                    tile(b, gi, 0, osp, f0, f1, col);
                });
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::epilogue::Post;

    /// A 2-D convolution with a square kernel, stride, dilation and padding.
    pub(crate) fn square_conv(
        k: usize,
        stride: usize,
        dilate: usize,
        pad: usize,
        filters: usize,
        groups: usize,
    ) -> Convolution {
        Convolution {
            win: Window {
                nd: 2,
                kernel: [1, k, k],
                stride: [1, stride, stride],
                dilate: [1, dilate, dilate],
                pad: [0, pad, pad],
            },
            num_filter: filters,
            groups,
            no_bias: false,
        }
    }

    #[test]
    fn direct_tiles_keep_their_output_in_l2_when_a_map_needs_several() {
        // mobilenet v2's 16 → 96 on 112 × 112: 1360 columns, not 8192.
        assert_eq!(tile_cols_direct(true, 16, 96, 112 * 112), 1360);
        assert_eq!(tile_cols_direct(false, 16, 96, 112 * 112), 8192, "im2col");
        // resnet-50's 128 → 512 on 28 × 28: one tile, split by filters.
        assert_eq!(tile_cols_direct(true, 128, 512, 28 * 28), 28 * 28);
    }

    /// [`check_against_gemm_path`] in a pool of one thread and in one of
    /// two, for kernels that split their work by the pool's size.
    pub(crate) fn check_against_gemm_path_on_1_and_2_threads(
        conv: &Convolution,
        xs: &[usize],
        post: Post,
        what: &str,
        fast: impl Fn(&Convolution, &[usize], &[f32], &[f32], &Epilogue<'_>, &[usize], &mut [f32])
        + Sync,
    ) {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let what = format!("{what}, {threads} threads");
            pool.install(|| check_against_gemm_path(conv, xs, post, &what, &fast));
        }
    }

    /// Runs `fast` (a fast path: conv, input shape, x, w, epilogue, output
    /// shape, y) and the im2col + GEMM path on the same deterministic
    /// input, weights, bias and residual with `post` fused, and asserts
    /// they agree within 1e-4 relative; `what` names the case.
    pub(crate) fn check_against_gemm_path(
        conv: &Convolution,
        xs: &[usize],
        post: Post,
        what: &str,
        fast: impl Fn(&Convolution, &[usize], &[f32], &[f32], &Epilogue<'_>, &[usize], &mut [f32]),
    ) {
        let (n, c, f) = (xs[0], xs[1], conv.num_filter);
        let isp: usize = xs[2..].iter().product();
        let x: Vec<f32> = (0..n * c * isp)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let w: Vec<f32> = (0..f * c / conv.groups * conv.win.window_len())
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let bias: Vec<f32> = (0..f).map(|i| i as f32 * 0.1 - 1.0).collect();
        let out = conv.win.conv_out(conv.win.spatial(xs)).unwrap();
        let mut ys = vec![n, f];
        ys.extend_from_slice(&out[3 - conv.win.nd..]);
        let len = n * f * out.iter().product::<usize>();
        let residual: Vec<f32> = (0..len)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 4.0)
            .collect();
        let epi = Epilogue {
            scale: None,
            shift: Some(&bias),
            residual: Some(&residual),
            post,
        };
        let mut want = vec![0f32; len];
        conv_tiled(conv, xs, &x, &w, &epi, &ys, &mut want, None);
        let mut got = vec![f32::NAN; len];
        fast(conv, xs, &x, &w, &epi, &ys, &mut got);
        for (i, (a, e)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - e).abs() <= 1e-4 * (1.0 + e.abs()),
                "{what}: output {i} is {a}, expected {e}"
            );
        }
    }

    /// 1×1 convolutions over 1×1 maps run as a dense layer (one product
    /// for all images: the matrix-vector, `gemm` and few-rows paths), and
    /// match the im2col + GEMM path with a bias, a residual and a clip.
    #[test]
    fn one_by_one_maps_run_as_a_dense_layer() {
        for (n, c, f) in [(1, 64, 10), (3, 7, 5), (8, 1280, 1000), (20, 33, 17)] {
            let conv = square_conv(1, 1, 1, 0, f, 1);
            let xs = [n, c, 1, 1];
            assert_eq!(path(&conv, &xs, false), Path::Dense);
            let what = format!("{n} × {c} → {f}");
            check_against_gemm_path(
                &conv,
                &xs,
                Post::Clip(-3.0, 6.0),
                &what,
                |conv, xs, x, w, epi, _, y| conv_dense(conv, xs, x, w, epi, y),
            );
        }
        let two = square_conv(1, 1, 1, 0, 8, 2);
        assert_ne!(path(&two, &[2, 8, 1, 1], false), Path::Dense, "groups");
        let padded = square_conv(1, 1, 1, 1, 8, 1);
        assert_ne!(path(&padded, &[2, 8, 1, 1], false), Path::Dense, "padding");
    }

    /// A direct, obviously correct 2-D convolution for comparison.
    fn naive(
        conv: &Convolution,
        xs: &[usize],
        x: &[f32],
        w: &[f32],
        b: &[f32],
    ) -> (Vec<usize>, Vec<f32>) {
        let win = &conv.win;
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
        let [_, oh, ow] = win.conv_out([1, h, wd]).unwrap();
        let (f, g) = (conv.num_filter, conv.groups);
        let (cg, fg) = (c / g, f / g);
        let [_, kh, kw] = win.kernel;
        let mut y = vec![0f32; n * f * oh * ow];
        for bi in 0..n {
            for fi in 0..f {
                let gi = fi / fg;
                for r in 0..oh {
                    for q in 0..ow {
                        let mut acc = b[fi];
                        for ci in 0..cg {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let yy = (r * win.stride[1] + i * win.dilate[1]) as isize
                                        - win.pad[1] as isize;
                                    let xx = (q * win.stride[2] + j * win.dilate[2]) as isize
                                        - win.pad[2] as isize;
                                    if yy >= 0 && (yy as usize) < h && xx >= 0 && (xx as usize) < wd
                                    {
                                        let xv = x[((bi * c + gi * cg + ci) * h + yy as usize)
                                            * wd
                                            + xx as usize];
                                        acc += xv * w[((fi * cg + ci) * kh + i) * kw + j];
                                    }
                                }
                            }
                        }
                        y[((bi * f + fi) * oh + r) * ow + q] = acc;
                    }
                }
            }
        }
        (vec![n, f, oh, ow], y)
    }

    #[test]
    fn gemm_path_in_tiles_matches_a_naive_convolution() {
        // (channels, filters, groups, kernel, stride, dilate, pad, h, w)
        for (c, f, g, k, stride, dilate, pad, h, wd) in [
            (3, 8, 1, 3, 1, 1, 1, 9, 11),
            (4, 6, 2, 3, 2, 1, 1, 10, 7),
            (5, 7, 1, 1, 1, 1, 0, 6, 9),
            (5, 7, 1, 1, 2, 1, 0, 9, 9),
            (2, 4, 1, 3, 1, 2, 2, 8, 8),
            (3, 4, 1, 5, 3, 1, 2, 13, 12),
            (2, 3, 1, 2, 1, 1, 0, 3, 2),
            // Enough filters to split them over threads.
            (3, 64, 1, 3, 1, 1, 1, 4, 4),
            (8, 96, 2, 1, 1, 1, 0, 3, 3),
        ] {
            let conv = square_conv(k, stride, dilate, pad, f, g);
            let xs = [2, c, h, wd];
            let x: Vec<f32> = (0..2 * c * h * wd)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let w: Vec<f32> = (0..f * (c / g) * k * k)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
                .collect();
            let b: Vec<f32> = (0..f).map(|i| i as f32 * 0.1 - 0.2).collect();
            let (ys, want) = naive(&conv, &xs, &x, &w, &b);
            for cols in [None, Some(1), Some(5), Some(16)] {
                let mut got = vec![f32::NAN; want.len()];
                let epi = Epilogue::bias(Some(&b));
                conv_tiled(&conv, &xs, &x, &w, &epi, &ys, &mut got, cols);
                for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - e).abs() < 1e-4,
                        "c {c} f {f} g {g} k {k} s {stride} d {dilate} p {pad} tile {cols:?} [{i}]: {a} vs {e}"
                    );
                }
                // With a residual and relu in the epilogue.
                let res: Vec<f32> = (0..want.len()).map(|i| (i % 7) as f32 - 3.0).collect();
                let epi = Epilogue {
                    residual: Some(&res),
                    post: super::super::epilogue::Post::Relu,
                    ..Epilogue::bias(Some(&b))
                };
                conv_tiled(&conv, &xs, &x, &w, &epi, &ys, &mut got, cols);
                for ((a, e), r) in got.iter().zip(&want).zip(&res) {
                    assert!((a - (e + r).max(0.0)).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn depthwise_with_a_depth_axis_is_each_depth_slice_convolved() {
        // A 3-D depthwise convolution with a 1×3×3 window over 3 depth
        // slices: each slice is the 2-D depthwise convolution of that slice.
        let (c, d, h, wd) = (4, 3, 6, 7);
        let mut conv3 = square_conv(3, 1, 1, 1, c, c);
        conv3.win.nd = 3;
        let conv2 = square_conv(3, 1, 1, 1, c, c);
        let x: Vec<f32> = (0..c * d * h * wd)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let w: Vec<f32> = (0..c * 9)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let b: Vec<f32> = (0..c).map(|i| i as f32).collect();
        let epi = Epilogue::bias(Some(&b));
        let mut got = vec![0f32; c * d * h * wd];
        conv_forward(
            &conv3,
            &[1, c, d, h, wd],
            &x,
            &w,
            &epi,
            &[1, c, d, h, wd],
            &mut got,
        );
        for z in 0..d {
            let slice: Vec<f32> = (0..c)
                .flat_map(|ci| x[(ci * d + z) * h * wd..][..h * wd].to_vec())
                .collect();
            let mut want = vec![0f32; c * h * wd];
            conv_forward(
                &conv2,
                &[1, c, h, wd],
                &slice,
                &w,
                &epi,
                &[1, c, h, wd],
                &mut want,
            );
            for ci in 0..c {
                for (i, (a, e)) in got[(ci * d + z) * h * wd..][..h * wd]
                    .iter()
                    .zip(&want[ci * h * wd..][..h * wd])
                    .enumerate()
                {
                    assert!(
                        (a - e).abs() < 1e-4,
                        "channel {ci} slice {z} at {i}: {a} vs {e}"
                    );
                }
            }
        }
    }

    /// Runs one depthwise plane of `conv` over an ih × iw input with
    /// `run` (given the plane task, its geometry, input, weights and an
    /// output one float longer than the plane) and checks that it wrote
    /// every output bit-identical to the padded-copy kernel's, and nothing
    /// past the plane; `applies` must accept the geometry.
    fn check_plane_kernel(
        conv: &Convolution,
        ih: usize,
        iw: usize,
        applies: impl Fn(&DwGeometry) -> bool,
        run: impl Fn(&DwPlane<'_>, &DwGeometry, &[f32], &[f32], &mut [f32]),
    ) {
        let what = format!("{:?} on {ih}x{iw}", conv.win);
        let out = conv.win.conv_out([1, ih, iw]).unwrap();
        let geo = DwGeometry::new(&conv.win, [1, ih, iw], out);
        assert!(applies(&geo), "{what}: the kernel does not apply");
        let x: Vec<f32> = (0..ih * iw)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let w: Vec<f32> = (0..conv.win.window_len())
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 7.0)
            .collect();
        let (scale, shift) = ([0.75f32], [0.125f32]);
        let epi = Epilogue {
            scale: Some(&scale),
            shift: Some(&shift),
            residual: None,
            post: crate::ops::epilogue::Post::Clip(-2.0, 2.0),
        };
        let offsets = geo.tap_offsets();
        let task = DwPlane {
            geo: &geo,
            offsets: &offsets,
            epi: &epi,
            channel: 0,
            offset: 0,
        };
        let n = geo.oh * geo.ow;
        // One float past the plane: the kernel must not write it.
        let (mut want, mut got) = (vec![f32::NAN; n], vec![f32::NAN; n + 1]);
        let mut scratch = vec![0.0; geo.scratch_len()];
        // SAFETY: the callers checked that the CPU has AVX-512F and FMA.
        unsafe { dw_plane_avx512(&task, &x, &w, &mut scratch, &mut want) };
        run(&task, &geo, &x, &w, &mut got);
        assert!(got[n].is_nan(), "{what}: wrote past the plane");
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{what}: output {i}");
        }
    }

    #[test]
    fn flat_depthwise_planes_are_the_padded_copys_sums() {
        // Stride-1 planes whose output rows are as wide as the input rows
        // (the flat kernel's case), small and not square, with padding,
        // dilation, a tail of 1–15 lanes and blocks of 1–8 vectors: every
        // output bit-identical to the padded-copy kernel's.
        if Simd::detect() != Simd::Avx512 {
            return;
        }
        let cases = [
            // (kernel, dilation, padding, input rows × columns)
            ((3, 3), (1, 1), (1, 1), (14, 14)),
            ((3, 3), (1, 1), (1, 1), (7, 7)),
            ((3, 3), (1, 1), (1, 1), (28, 28)),
            ((5, 5), (1, 1), (2, 2), (9, 13)),
            ((3, 3), (2, 2), (2, 2), (10, 6)),
            ((1, 7), (1, 1), (0, 3), (5, 17)),
            ((7, 1), (1, 1), (3, 0), (12, 3)),
            ((3, 3), (1, 1), (1, 1), (1, 1)),
        ];
        for (k, d, p, (ih, iw)) in cases {
            let mut conv = square_conv(k.0, 1, d.0, p.0, 1, 1);
            conv.win.kernel[2] = k.1;
            conv.win.dilate[2] = d.1;
            conv.win.pad[2] = p.1;
            check_plane_kernel(&conv, ih, iw, DwFlat::applies, |task, geo, x, w, y| {
                // SAFETY: the CPU has AVX-512F and FMA (checked above).
                unsafe { task.run_flat(&DwFlat::new(geo), x, w, y) };
            });
        }
    }

    #[test]
    fn strided_depthwise_rows_are_the_padded_copys_sums() {
        // Column stride 2 (row strides 1–3), odd and even input widths,
        // padding past both edges, dilation, rows of 1–70 outputs (tails,
        // blocks of 1–4 vectors): bit-identical to the padded-copy kernel.
        if Simd::detect() != Simd::Avx512 {
            return;
        }
        let cases = [
            // (kernel, row stride, dilation, padding, input rows × columns)
            ((3, 3), 2, (1, 1), (1, 1), (112, 112)),
            ((3, 3), 2, (1, 1), (1, 1), (14, 14)),
            ((3, 3), 2, (1, 1), (1, 1), (7, 7)),
            ((3, 3), 2, (1, 1), (0, 0), (9, 11)),
            ((5, 5), 2, (1, 1), (2, 2), (10, 141)),
            ((3, 3), 1, (2, 2), (2, 2), (8, 33)),
            ((1, 7), 3, (1, 1), (0, 3), (6, 40)),
            ((3, 3), 2, (1, 1), (1, 1), (2, 2)),
        ];
        for (k, sh, d, p, (ih, iw)) in cases {
            let mut conv = square_conv(k.0, 2, d.0, p.0, 1, 1);
            conv.win.kernel[2] = k.1;
            conv.win.stride[1] = sh;
            conv.win.dilate[2] = d.1;
            conv.win.pad[2] = p.1;
            check_plane_kernel(&conv, ih, iw, DwStrided::applies, |task, geo, x, w, y| {
                // SAFETY: the CPU has AVX-512F and FMA (checked above).
                unsafe { task.run_strided(&DwStrided::new(geo), x, w, y) };
            });
        }
    }

    #[test]
    fn direct_depthwise_rows_are_the_padded_copys_sums() {
        // Stride-1 planes wide enough for the direct kernel: every output
        // must be bit-identical to the padded-copy kernel's (same taps in
        // the same order), with padding past both edges, dilation, odd and
        // even row counts, tails of 1–3 vectors and the epilogue.
        if Simd::detect() != Simd::Avx512 {
            return;
        }
        let cases = [
            // (kernel, dilation, padding, input rows × columns)
            ((3, 3), (1, 1), (1, 1), (7, 112)),
            ((3, 3), (1, 1), (1, 1), (6, 56)),
            ((5, 5), (1, 1), (2, 2), (9, 45)),
            ((3, 3), (2, 2), (2, 2), (8, 70)),
            ((1, 7), (1, 1), (0, 3), (5, 33)),
            ((7, 1), (1, 1), (3, 0), (11, 40)),
            ((3, 3), (1, 3), (0, 4), (5, 100)),
            ((3, 5), (2, 1), (3, 1), (4, 64)),
        ];
        for (k, d, p, (ih, iw)) in cases {
            let mut conv = square_conv(k.0, 1, d.0, p.0, 1, 1);
            conv.win.kernel[2] = k.1;
            conv.win.dilate[2] = d.1;
            conv.win.pad[2] = p.1;
            check_plane_kernel(&conv, ih, iw, DwColumns::applies, |task, geo, x, w, y| {
                // SAFETY: the CPU has AVX-512F and FMA (checked above).
                unsafe { task.run_direct(&DwColumns::new(geo), x, w, y) };
            });
        }
    }

    #[test]
    fn depthwise_path_matches_a_naive_convolution() {
        // (kernel, stride, dilation, padding) as (rows, columns), on a
        // small plane (one register block, all tails) and a wide one
        // (several whole blocks, stride phases along both axes).
        let square = |(s, d, p, k): (usize, usize, usize, usize)| ((k, k), (s, s), (d, d), (p, p));
        let cases = [
            (1, 1, 1, 3),
            (2, 1, 1, 3),
            (1, 2, 2, 3),
            (2, 1, 0, 5),
            (3, 2, 3, 3),
            (1, 1, 0, 1),
            (1, 3, 4, 3),
            (2, 2, 1, 3),
            (1, 1, 3, 3),
            (4, 1, 1, 3),
        ]
        .map(square)
        .into_iter()
        .chain([
            ((3, 5), (2, 1), (1, 1), (1, 2)),
            ((3, 3), (1, 2), (1, 1), (0, 1)),
            ((5, 3), (3, 2), (2, 1), (4, 0)),
            ((1, 7), (1, 3), (1, 2), (0, 6)),
        ]);
        for (k, stride, dilate, pad) in cases {
            for (h, wd) in [(9, 11), (23, 57)] {
                let c = 5;
                let mut conv = square_conv(k.0, stride.0, dilate.0, pad.0, c, c);
                conv.win.kernel[2] = k.1;
                conv.win.stride[2] = stride.1;
                conv.win.dilate[2] = dilate.1;
                conv.win.pad[2] = pad.1;
                let xs = [2, c, h, wd];
                let x: Vec<f32> = (0..2 * c * h * wd)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                    .collect();
                let w: Vec<f32> = (0..c * k.0 * k.1)
                    .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
                    .collect();
                let b: Vec<f32> = (0..c).map(|i| i as f32 * 0.1).collect();
                let (ys, want) = naive(&conv, &xs, &x, &w, &b);
                let mut got = vec![f32::NAN; want.len()];
                conv_forward(&conv, &xs, &x, &w, &Epilogue::bias(Some(&b)), &ys, &mut got);
                for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - e).abs() < 1e-4,
                        "{h}×{wd}, kernel {k:?} stride {stride:?} dilate {dilate:?} pad {pad:?}: \
                         output {i} is {a}, expected {e}"
                    );
                }
            }
        }
    }
}
