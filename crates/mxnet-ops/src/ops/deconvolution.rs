//! `Deconvolution`: 1-D, 2-D and 3-D transposed convolution with groups,
//! stride, padding, dilation and output adjustment (channels-first layouts).
//!
//! Inputs: data (N, C, *spatial), weight (C, num_filter/num_group, *kernel) —
//! the transpose of Convolution's layout — and bias (num_filter) only when
//! `no_bias` is False. Output size per axis:
//! stride·(in − 1) + dilate·(k − 1) + 1 − 2·pad + adj.
//!
//! Defaults (MXNet 1.9.1): stride, dilate 1; pad, adj 0; num_group 1;
//! **no_bias True** (unlike Convolution); target_shape () — when any entry is
//! nonzero it overrides pad and adj per axis: total = stride·(in − 1) +
//! dilate·(k − 1) + 1 − target, adj = total mod 2, pad = ⌈total/2⌉ (a zero
//! entry then gives an empty axis, as in MXNet). adj must be smaller than the
//! stride, also when derived from target_shape.
//!
//! Computed per image and group as GEMM + col2im: Wᵀ·x gives a column
//! matrix over (output channel, kernel offset) × input positions, which is
//! scatter-added into the output. The columns are made a tile of input rows
//! at a time (about 1 MiB, so they are still in cache for the scatter);
//! images and groups run in parallel, or blocks of output channels for a
//! single image and group. A 1×1, stride-1, unpadded deconvolution is a
//! single GEMM into the output.

use std::cell::RefCell;
use std::thread::LocalKey;

use rayon::prelude::*;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::gemm::{Mat, sgemm};
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::convolution::Window;
use super::util::per_axis;

pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "Deconvolution",
    build,
    family: "nn",
    summary: "1-D/2-D/3-D transposed convolution: groups, stride, pad, adj, target_shape",
}];

/// A transposed convolution's parameters, shared with bilinear `UpSampling`.
#[derive(Debug, Clone)]
pub(crate) struct Deconv {
    /// Kernel, stride, dilation and (explicit) padding.
    pub win: Window,
    /// Extra output size at the high end per axis (padded to three).
    pub adj: [usize; 3],
    /// Requested output sizes (padded to three; all 0 when not given).
    pub target: [usize; 3],
    /// Output channels.
    pub num_filter: usize,
    /// Channel groups.
    pub groups: usize,
    /// Whether there is no bias input.
    pub no_bias: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let win = Window::parse(a)?;
    let nd = win.nd;
    let layout = a.string("layout", "None");
    let expected = ["NCW", "NCHW", "NCDHW"][nd - 1];
    if layout != "None" && layout != expected {
        return Err(AttrError {
            key: "layout".into(),
            value: layout.into(),
            expected: "a channels-first layout (NCW, NCHW, NCDHW); channels-last layouts are not supported",
        });
    }
    let per = |key: &str| -> Result<[usize; 3], AttrError> {
        let raw = a.tuple(key, &[])?;
        let v = per_axis(&raw, nd, 0);
        if v.len() != nd || v.iter().any(|&x| x < 0) {
            return Err(AttrError {
                key: key.into(),
                value: a.get(key).unwrap_or("").into(),
                expected: "a tuple with one non-negative entry per spatial axis of the kernel",
            });
        }
        let mut out = [0; 3];
        for (i, x) in v.iter().enumerate() {
            out[3 - nd + i] = *x as usize;
        }
        Ok(out)
    };
    let num_filter = a.req_count("num_filter")?;
    if num_filter == 0 {
        return Err(AttrError {
            key: "num_filter".into(),
            value: "0".into(),
            expected: "at least 1",
        });
    }
    Ok(Box::new(Deconv {
        adj: per("adj")?,
        target: per("target_shape")?,
        win,
        num_filter,
        groups: a.count("num_group", 1)?.max(1),
        no_bias: a.bool("no_bias", true)?,
    }))
}

impl Deconv {
    /// Effective (pad, adj) per padded axis for the input spatial sizes.
    fn pads(&self, input: [usize; 3]) -> Result<([usize; 3], [usize; 3]), String> {
        let w = &self.win;
        if self.target.iter().all(|&t| t == 0) {
            return Ok((w.pad, self.adj));
        }
        let mut pad = [0; 3];
        let mut adj = [0; 3];
        for i in 3 - w.nd..3 {
            let full =
                w.stride[i] * input[i].saturating_sub(1) + w.dilate[i] * (w.kernel[i] - 1) + 1;
            if full < self.target[i] {
                return Err(format!(
                    "target_shape {} is too big for the input: at most {full} on axis {}",
                    shape_str(&self.target[3 - w.nd..]),
                    i + w.nd - 3
                ));
            }
            let total = full - self.target[i];
            adj[i] = total % 2;
            pad[i] = total.div_ceil(2);
        }
        Ok((pad, adj))
    }

    /// Output spatial sizes (padded to three) and the effective pads.
    fn geometry(&self, input: [usize; 3]) -> Result<([usize; 3], [usize; 3]), String> {
        let w = &self.win;
        let (pad, adj) = self.pads(input)?;
        let mut out = [1; 3];
        for i in 3 - w.nd..3 {
            if adj[i] >= w.stride[i] {
                return Err(format!(
                    "adj {} must be smaller than stride {}",
                    adj[i], w.stride[i]
                ));
            }
            let full = w.stride[i] * input[i].saturating_sub(1)
                + w.dilate[i] * (w.kernel[i] - 1)
                + 1
                + adj[i];
            if input[i] == 0 || full < 2 * pad[i] {
                return Err(format!(
                    "padding {} leaves no output for input size {}",
                    pad[i], input[i]
                ));
            }
            out[i] = full - 2 * pad[i];
        }
        Ok((out, pad))
    }

    /// Output shape for a data shape, checking weight and bias shapes.
    pub(crate) fn out_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        expect_inputs(inputs, if self.no_bias { 2 } else { 3 })?;
        let x = inputs[0];
        let nd = self.win.nd;
        let (c, f, _) = self.win.grouped(x, self.num_filter, self.groups)?;
        let w = self.weight_shape(c);
        if inputs[1] != w.as_slice() {
            return Err(format!("weight must have shape {}", shape_str(&w)));
        }
        if !self.no_bias && inputs[2] != [f] {
            return Err(format!("bias must have shape ({f},)"));
        }
        let (o, _) = self.geometry(self.win.spatial(x))?;
        let mut out = vec![x[0], f];
        out.extend_from_slice(&o[3 - nd..]);
        Ok(out)
    }

    fn weight_shape(&self, channels: usize) -> Vec<usize> {
        let mut w = vec![channels, self.num_filter / self.groups];
        w.extend_from_slice(&self.win.kernel[3 - self.win.nd..]);
        w
    }

    /// Runs the transposed convolution; shapes are the checked ones. Images
    /// and groups run in parallel; a single image and group parallelises
    /// its GEMM and its scatter instead.
    pub(crate) fn run(
        &self,
        xshape: &[usize],
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) -> Result<(), String> {
        let input = self.win.spatial(xshape);
        let (out, pad) = self.geometry(input)?;
        let (n, c, f, g) = (xshape[0], xshape[1], self.num_filter, self.groups);
        let isp: usize = input.iter().product();
        let osp: usize = out.iter().product();
        let (cg, fg) = (c / g, f / g);
        let rows = fg * self.win.window_len();
        let geo = Scatter::new(&self.win, pad, input, out);
        let task = |i: usize, yg: &mut [f32], par: bool| {
            let (b, gi) = (i / g, i % g);
            geo.group(
                &x[(b * c + gi * cg) * isp..(b * c + (gi + 1) * cg) * isp],
                // Weight rows of this group: (cg, fg·klen).
                &w[gi * cg * rows..(gi + 1) * cg * rows],
                bias.map(|bv| &bv[gi * fg..(gi + 1) * fg]),
                cg,
                fg,
                yg,
                par,
            );
        };
        let chunk = (fg * osp).max(1);
        if n * g > 1 {
            y.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(i, yg)| task(i, yg, false));
        } else {
            for (i, yg) in y.chunks_mut(chunk).enumerate() {
                task(i, yg, true);
            }
        }
        Ok(())
    }
}

thread_local! {
    /// Per-thread column tile, kept between calls.
    static COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread phase accumulators, kept between calls.
    static ACC: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer of `len` values (contents unspecified) taken from a
/// thread-local slot, which a re-entrant call (rayon may run another task on
/// this thread while a GEMM waits) finds empty and allocates for itself.
fn take_scratch(slot: &'static LocalKey<RefCell<Vec<f32>>>, len: usize) -> Vec<f32> {
    let mut v = slot.with(|s| std::mem::take(&mut *s.borrow_mut()));
    v.resize(len, 0.0);
    v
}

/// Returns a scratch buffer to its slot, keeping the larger one.
fn give_scratch(slot: &'static LocalKey<RefCell<Vec<f32>>>, v: Vec<f32>) {
    slot.with(|s| {
        let mut cur = s.borrow_mut();
        if v.capacity() > cur.capacity() {
            *cur = v;
        }
    });
}

/// Bytes of column matrix computed and scattered at a time.
const COL_TILE: usize = 1 << 20;

/// col2im geometry: input column w of a kernel row lands on output column
/// w·s + off. With a width stride s > 1 each output plane is accumulated split
/// by phase (output column mod s), where those targets are contiguous, and
/// interleaved at the end, so every inner loop is a contiguous,
/// vectorisable add.
struct Scatter<'a> {
    win: &'a Window,
    pad: [usize; 3],
    input: [usize; 3],
    out: [usize; 3],
    /// Width stride.
    s: usize,
    /// Phase-row width (the plane's width when s = 1).
    owp: usize,
}

impl<'a> Scatter<'a> {
    fn new(win: &'a Window, pad: [usize; 3], input: [usize; 3], out: [usize; 3]) -> Self {
        let s = win.stride[2];
        Scatter {
            win,
            pad,
            input,
            out,
            s,
            owp: out[2].div_ceil(s),
        }
    }

    /// One image and group: `x` (cg, isp), weight (cg, fg·klen), output
    /// `y` (fg, osp). With `par`, blocks of output channels run in parallel.
    #[allow(clippy::too_many_arguments)]
    fn group(
        &self,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        cg: usize,
        fg: usize,
        y: &mut [f32],
        par: bool,
    ) {
        let osp: usize = self.out.iter().product();
        let klen = self.win.window_len();
        if osp == 0 {
            return;
        }
        if !par || fg < 2 {
            self.block(x, w, fg * klen, bias, cg, fg, y);
            return;
        }
        let fb = fg.div_ceil(rayon::current_num_threads().min(fg));
        y.par_chunks_mut(fb * osp).enumerate().for_each(|(bi, yb)| {
            let (f0, nb) = (bi * fb, yb.len() / osp);
            let bb = bias.map(|bv| &bv[f0..f0 + nb]);
            self.block(x, &w[f0 * klen..], fg * klen, bb, cg, nb, yb);
        });
    }

    /// `fb` output channels of one image and group, sequentially: `w` starts
    /// at the block's first weight column, rows `ldw` apart.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        x: &[f32],
        w: &[f32],
        ldw: usize,
        bias: Option<&[f32]>,
        cg: usize,
        fb: usize,
        y: &mut [f32],
    ) {
        let [id, ih, iw] = self.input;
        let isp = id * ih * iw;
        let osp: usize = self.out.iter().product();
        let rows = fb * self.win.window_len();
        let fill = |y: &mut [f32]| {
            for (fi, plane) in y.chunks_mut(osp).enumerate() {
                plane.fill(bias.map_or(0.0, |bv| bv[fi]));
            }
        };
        let direct =
            rows == fb && self.win.stride == [1; 3] && self.pad == [0; 3] && self.out == self.input;
        if direct {
            fill(y);
            sgemm(
                fb,
                isp,
                cg,
                Mat::transposed(w, ldw),
                Mat::rows(x, isp),
                y,
                osp,
                true,
            );
            return;
        }
        // Column tiles of whole input rows, about COL_TILE bytes each, so
        // the column matrix stays in cache between the GEMM and the scatter.
        let in_rows = id * ih;
        let tile_rows = (COL_TILE / (4 * rows * iw).max(1)).clamp(1, in_rows.max(1));
        let mut col = take_scratch(&COL, rows * tile_rows * iw);
        // Phase-split accumulators when the width stride is above 1.
        let mut acc = take_scratch(
            &ACC,
            if self.s == 1 {
                0
            } else {
                fb * self.plane_len()
            },
        );
        let target: &mut [f32] = if self.s == 1 {
            fill(y);
            y
        } else {
            acc.fill(0.0);
            &mut acc
        };
        let mut r0 = 0;
        while r0 < in_rows {
            let r1 = (r0 + tile_rows).min(in_rows);
            let len = (r1 - r0) * iw;
            // The tile's input columns: every channel's rows r0..r1.
            let tile = Mat {
                data: &x[r0 * iw..],
                rs: isp,
                cs: 1,
            };
            sgemm(
                rows,
                len,
                cg,
                Mat::transposed(w, ldw),
                tile,
                &mut col,
                len,
                false,
            );
            self.scatter(&col[..rows * len], r0, r1, target);
            r0 = r1;
        }
        if self.s > 1 {
            self.interleave(&acc, bias, y);
        }
        give_scratch(&COL, col);
        give_scratch(&ACC, acc);
    }

    /// Accumulator length per output channel.
    fn plane_len(&self) -> usize {
        self.s * self.out[0] * self.out[1] * self.owp
    }

    /// Valid input range [lo, hi) along `axis` for kernel offset `k`: the
    /// positions whose output index i·s + k·dil − pad lands in the output.
    fn range(&self, axis: usize, k: usize) -> (usize, usize) {
        let s = self.win.stride[axis];
        let off = (k * self.win.dilate[axis]) as isize - self.pad[axis] as isize;
        // i·s + off ≥ 0  ⇔  i ≥ ⌈−off/s⌉
        let lo = if off >= 0 {
            0
        } else {
            ((-off) as usize).div_ceil(s)
        };
        // i·s + off < n_out  ⇔  i < ⌈(n_out − off)/s⌉
        let lim = self.out[axis] as isize - off;
        let hi = if lim <= 0 {
            0
        } else {
            (lim as usize).div_ceil(s).min(self.input[axis])
        };
        (lo.min(hi), hi)
    }

    /// Adds the column tile `col[(f, kd, kh, kw), (row, w)]` for the input
    /// rows [r0, r1) (flattened (d, h)) into the per-channel accumulators.
    fn scatter(&self, col: &[f32], r0: usize, r1: usize, acc: &mut [f32]) {
        let (win, pad) = (self.win, self.pad);
        let [_, ih, iw] = self.input;
        let [od, oh, _] = self.out;
        let [kd, kh, kw] = win.kernel;
        let klen = kd * kh * kw;
        let len = (r1 - r0) * iw;
        let (s, owp) = (self.s, self.owp);
        let prow = od * oh * owp;
        for (fi, plane) in acc.chunks_mut(self.plane_len()).enumerate() {
            for r in 0..klen {
                let (zd, rem) = (r / (kh * kw), r % (kh * kw));
                let (zh, zw) = (rem / kw, rem % kw);
                let src = &col[(fi * klen + r) * len..(fi * klen + r + 1) * len];
                let (d0, d1) = self.range(0, zd);
                let (h0, h1) = self.range(1, zh);
                let (w0, w1) = self.range(2, zw);
                if w0 >= w1 {
                    continue;
                }
                let off = (zw * win.dilate[2]) as isize - pad[2] as isize;
                let phase = off.rem_euclid(s as isize) as usize;
                // Output column w·s + off is phase-row column w + ⌊off/s⌋.
                let start = (w0 as isize + off.div_euclid(s as isize)) as usize;
                let part = &mut plane[phase * prow..(phase + 1) * prow];
                for q in r0..r1 {
                    let (d, h) = (q / ih, q % ih);
                    if d < d0 || d >= d1 || h < h0 || h >= h1 {
                        continue;
                    }
                    let o_d = (d * win.stride[0] + zd * win.dilate[0]) - pad[0];
                    let o_h = (h * win.stride[1] + zh * win.dilate[1]) - pad[1];
                    let row = &src[(q - r0) * iw + w0..(q - r0) * iw + w1];
                    let base = (o_d * oh + o_h) * owp + start;
                    for (o, &v) in part[base..base + row.len()].iter_mut().zip(row) {
                        *o += v;
                    }
                }
            }
        }
    }

    /// Writes bias + the phase-split accumulators into the output planes.
    fn interleave(&self, acc: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
        let [od, oh, ow] = self.out;
        let (s, owp) = (self.s, self.owp);
        let prow = od * oh * owp;
        let plane_len = self.plane_len();
        for (fi, plane) in y.chunks_mut(od * oh * ow).enumerate() {
            let b = bias.map_or(0.0, |bv| bv[fi]);
            let a = &acc[fi * plane_len..(fi + 1) * plane_len];
            // Every output column belongs to exactly one phase: column
            // j·s + p is phase p's column j.
            for (row, out_row) in plane.chunks_mut(ow).enumerate() {
                let at = |p: usize| &a[p * prow + row * owp..p * prow + (row + 1) * owp];
                if s == 2 {
                    let (p0, p1) = (at(0), at(1));
                    let mut pairs = out_row.chunks_exact_mut(2);
                    for ((o, &u), &v) in (&mut pairs).zip(p0).zip(p1) {
                        o[0] = b + u;
                        o[1] = b + v;
                    }
                    if let ([o], Some(&u)) = (pairs.into_remainder(), p0.get(ow / 2)) {
                        *o = b + u;
                    }
                } else {
                    for (j, o) in out_row.chunks_mut(s).enumerate() {
                        for (p, o) in o.iter_mut().enumerate() {
                            *o = b + a[p * prow + row * owp + j];
                        }
                    }
                }
            }
        }
    }
}

impl Kernel for Deconv {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![self.out_shape(inputs)?])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        let Some(Some(x)) = inputs.first() else {
            return Vec::new();
        };
        if x.len() != self.win.nd + 2 {
            return Vec::new();
        }
        vec![
            None,
            Some(self.weight_shape(x[1])),
            Some(vec![self.num_filter]),
        ]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let bias = if self.no_bias {
            None
        } else {
            Some(inputs[2].data)
        };
        self.run(
            inputs[0].shape,
            inputs[0].data,
            inputs[1].data,
            bias,
            outputs[0].data,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Transposed convolution by definition: every input value times the
    /// kernel, scatter-added at position·stride + offset·dilation − pad.
    fn naive(d: &Deconv, xs: &[usize], x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let input = d.win.spatial(xs);
        let (out, pad) = d.geometry(input).unwrap();
        let (n, c, f, g) = (xs[0], xs[1], d.num_filter, d.groups);
        let (cg, fg) = (c / g, f / g);
        let k = d.win.kernel;
        let osp: usize = out.iter().product();
        let mut y = vec![0f32; n * f * osp];
        for b in 0..n {
            for ci in 0..c {
                let gi = ci / cg;
                for fo in 0..fg {
                    let fi = gi * fg + fo;
                    for (p, &v) in x[(b * c + ci) * input.iter().product::<usize>()..]
                        .iter()
                        .take(input.iter().product())
                        .enumerate()
                    {
                        let pos = [
                            p / (input[1] * input[2]),
                            p / input[2] % input[1],
                            p % input[2],
                        ];
                        for z in 0..k[0] * k[1] * k[2] {
                            let kz = [z / (k[1] * k[2]), z / k[2] % k[1], z % k[2]];
                            let o: Vec<isize> = (0..3)
                                .map(|a| {
                                    (pos[a] * d.win.stride[a] + kz[a] * d.win.dilate[a]) as isize
                                        - pad[a] as isize
                                })
                                .collect();
                            if (0..3).all(|a| o[a] >= 0 && (o[a] as usize) < out[a]) {
                                let oi = (o[0] as usize * out[1] + o[1] as usize) * out[2]
                                    + o[2] as usize;
                                let wi = (ci * fg + fo) * k[0] * k[1] * k[2] + z;
                                y[(b * f + fi) * osp + oi] += v * w[wi];
                            }
                        }
                    }
                }
            }
        }
        if let Some(bv) = bias {
            for (i, v) in y.iter_mut().enumerate() {
                *v += bv[i / osp % f];
            }
        }
        y
    }

    fn check(d: Deconv, xs: Vec<usize>) {
        let c = xs[1];
        let ws = d.weight_shape(c);
        let x: Vec<f32> = (0..xs.iter().product())
            .map(|i: usize| (i as f32 * 0.37).sin())
            .collect();
        let w: Vec<f32> = (0..ws.iter().product())
            .map(|i: usize| (i as f32 * 0.11).cos())
            .collect();
        let bias: Vec<f32> = (0..d.num_filter).map(|i| i as f32 * 0.5 - 1.0).collect();
        let b = (!d.no_bias).then_some(bias.as_slice());
        let mut shapes: Vec<&[usize]> = vec![&xs, &ws];
        let bs = [d.num_filter];
        if b.is_some() {
            shapes.push(&bs);
        }
        let ys = d.out_shape(&shapes).unwrap();
        let mut y = vec![f32::NAN; ys.iter().product()];
        d.run(&xs, &x, &w, b, &mut y).unwrap();
        let want = naive(&d, &xs, &x, &w, b);
        for (i, (got, want)) in y.iter().zip(&want).enumerate() {
            assert!((got - want).abs() < 1e-3, "{i}: {got} vs {want}");
        }
    }

    fn deconv(nd: usize, k: [usize; 3], s: [usize; 3], dil: [usize; 3], pad: [usize; 3]) -> Deconv {
        Deconv {
            win: Window {
                nd,
                kernel: k,
                stride: s,
                dilate: dil,
                pad,
            },
            adj: [0; 3],
            target: [0; 3],
            num_filter: 6,
            groups: 2,
            no_bias: false,
        }
    }

    #[test]
    fn three_d_grouped_deconvolution_matches_the_definition() {
        let mut d = deconv(3, [2, 3, 2], [2, 1, 3], [1, 2, 1], [1, 0, 1]);
        d.adj = [1, 0, 2];
        check(d, vec![2, 4, 3, 4, 5]);
    }

    #[test]
    fn tiled_deconvolution_matches_the_definition() {
        // Several column tiles (input rows × 54 kernel rows exceed COL_TILE),
        // width strides 2 and 3 (phase-split paths) and 1.
        for sw in [1, 2, 3] {
            let mut d = deconv(2, [1, 3, 3], [1, 2, sw], [1; 3], [0, 1, 1]);
            d.groups = 1;
            check(d, vec![1, 2, 200, 64]);
        }
    }
}
