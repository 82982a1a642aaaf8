//! Deformable convolutions: `_contrib_DeformableConvolution` (v1) and
//! `_contrib_ModulatedDeformableConvolution` (v2, DCNv2), as MXNet 1.9.1's
//! CPU kernels compute them.
//!
//! Inputs: data (N, C, H, W), offset (N, dg·2·kh·kw, Ho, Wo), for v2 mask
//! (N, dg·kh·kw, Ho, Wo), weight (F, C/groups, kh, kw) and bias (F) unless
//! `no_bias`. Attributes as `Convolution` (2-D `kernel` required, `stride`,
//! `dilate`, `pad`, `num_filter`, `num_group`) plus `num_deformable_group`
//! (dg, default 1: channel c uses offset group c / (C/dg)); `workspace`,
//! `im2col_step` and `layout` only steer MXNet's memory use.
//!
//! Tap (i, j) of output (y, x) reads the input at
//! (y·sh − ph + i·dh + Δh, x·sw − pw + j·dw + Δw), where Δh and Δw are offset
//! channels 2·(i·kw + j) and 2·(i·kw + j) + 1 of its group, bilinearly:
//! * v1 samples points with 0 ≤ h < H and 0 ≤ w < W (others read 0); a point
//!   in the last row or column uses that row or column for both neighbours;
//! * v2 samples points with −1 < h < H and −1 < w < W, neighbours outside
//!   the map counting as 0, and multiplies each tap by its mask value
//!   (mask channel i·kw + j of the group).
//!
//! The sampled columns then go through one GEMM per group, as in MXNet.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::gemm::{Mat, sgemm};
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::convolution::Window;
use super::util::par_rows;

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "_contrib_DeformableConvolution",
        build: build_v1,
        family: "nn",
        summary: "deformable 2-D convolution (learned sampling offsets)",
    },
    OpEntry {
        name: "_contrib_ModulatedDeformableConvolution",
        build: build_v2,
        family: "nn",
        summary: "modulated deformable 2-D convolution (offsets and masks, DCNv2)",
    },
];

#[derive(Debug)]
struct Deformable {
    win: Window,
    num_filter: usize,
    groups: usize,
    deformable_groups: usize,
    no_bias: bool,
    /// v2: a mask input scales every tap; sampling bounds as described.
    modulated: bool,
}

fn build_v1(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(parse(a, false)?))
}

fn build_v2(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(parse(a, true)?))
}

fn parse(a: &Attrs<'_>, modulated: bool) -> Result<Deformable, AttrError> {
    let win = Window::parse(a)?;
    if win.nd != 2 {
        return Err(AttrError {
            key: "kernel".into(),
            value: a.string("kernel", "").into(),
            expected: "a 2-D kernel (MXNet implements deformable convolution in 2-D only)",
        });
    }
    Ok(Deformable {
        win,
        num_filter: a.req_count("num_filter")?,
        groups: a.count("num_group", 1)?.max(1),
        deformable_groups: a.count("num_deformable_group", 1)?.max(1),
        no_bias: a.bool("no_bias", false)?,
        modulated,
    })
}

impl Deformable {
    /// Input positions: data, offset, [mask], weight, [bias].
    fn weight_at(&self) -> usize {
        if self.modulated { 3 } else { 2 }
    }

    fn taps(&self) -> usize {
        self.win.kernel[1] * self.win.kernel[2]
    }

    /// The expected shapes of every input after data, given data's.
    fn expected(&self, x: &[usize]) -> Result<Vec<Vec<usize>>, String> {
        let (c, f, g) = self.win.grouped(x, self.num_filter, self.groups)?;
        let dg = self.deformable_groups;
        if c % dg != 0 || f % dg != 0 {
            return Err(format!(
                "{c} channels and {f} filters do not split into {dg} deformable groups"
            ));
        }
        let o = self.win.conv_out(self.win.spatial(x))?;
        let (ho, wo, t) = (o[1], o[2], self.taps());
        let mut v = vec![vec![x[0], dg * 2 * t, ho, wo]];
        if self.modulated {
            v.push(vec![x[0], dg * t, ho, wo]);
        }
        v.push(vec![f, c / g, self.win.kernel[1], self.win.kernel[2]]);
        if !self.no_bias {
            v.push(vec![f]);
        }
        Ok(v)
    }
}

impl Kernel for Deformable {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        let names: &[&str] = match (self.modulated, self.no_bias) {
            (false, true) => &["offset", "weight"],
            (false, false) => &["offset", "weight", "bias"],
            (true, true) => &["offset", "mask", "weight"],
            (true, false) => &["offset", "mask", "weight", "bias"],
        };
        expect_inputs(inputs, names.len() + 1)?;
        let x = inputs[0];
        for ((name, want), got) in names.iter().zip(self.expected(x)?).zip(&inputs[1..]) {
            if want != *got {
                return Err(format!(
                    "{name} must have shape {} for data {}, got {}",
                    shape_str(&want),
                    shape_str(x),
                    shape_str(got)
                ));
            }
        }
        let o = self.win.conv_out(self.win.spatial(x))?;
        Ok(vec![vec![x[0], self.num_filter, o[1], o[2]]])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match inputs.first().copied().flatten() {
            Some(x) => {
                let mut v = vec![None];
                v.extend(self.expected(x).unwrap_or_default().into_iter().map(Some));
                v
            }
            None => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0].shape;
        let (n, c, h, w) = (x[0], x[1], x[2], x[3]);
        let out = &mut *outputs[0].data;
        let (ho, wo) = (outputs[0].shape[2], outputs[0].shape[3]);
        let hw = ho * wo;
        let (f, g, t) = (self.num_filter, self.groups, self.taps());
        let (cg, fg) = (c / g, f / g);
        let weight = inputs[self.weight_at()].data;
        let bias = (!self.no_bias).then(|| inputs[self.weight_at() + 1].data);
        let mask = self.modulated.then(|| inputs[2].data);
        let rows = c * t;
        // Output positions per pass, so the columns stay near 16 MiB.
        let chunk = ((4 << 20) / rows.max(1)).clamp(1, hw.max(1));
        let mut col = vec![0f32; rows * chunk];
        for img in 0..n {
            let data = &inputs[0].data[img * c * h * w..(img + 1) * c * h * w];
            let offset = &inputs[1].data[img * self.deformable_groups * 2 * t * hw..];
            let mask = mask.map(|m| &m[img * self.deformable_groups * t * hw..]);
            let o_img = &mut out[img * f * hw..(img + 1) * f * hw];
            for p0 in (0..hw).step_by(chunk) {
                let p = chunk.min(hw - p0);
                let col = &mut col[..rows * p];
                // Row (ch, tap) of the columns: that tap of every position.
                par_rows(col, p, |row, dst| {
                    let (ch, tap) = (row / t, row % t);
                    let grp = ch / (c / self.deformable_groups);
                    self.sample(
                        &data[ch * h * w..(ch + 1) * h * w],
                        (h, w),
                        (ho, wo),
                        &offset[grp * 2 * t * hw..],
                        mask.map(|m| &m[grp * t * hw..]),
                        tap,
                        p0,
                        dst,
                    );
                });
                for gi in 0..g {
                    sgemm(
                        fg,
                        p,
                        cg * t,
                        Mat::rows(&weight[gi * fg * cg * t..(gi + 1) * fg * cg * t], cg * t),
                        Mat::rows(&col[gi * cg * t * p..(gi + 1) * cg * t * p], p),
                        &mut o_img[gi * fg * hw + p0..],
                        hw,
                        false,
                    );
                }
            }
            if let Some(b) = bias {
                for (plane, &bv) in o_img.chunks_mut(hw).zip(b) {
                    plane.iter_mut().for_each(|v| *v += bv);
                }
            }
        }
        Ok(())
    }
}

impl Deformable {
    /// Samples tap `tap` of one channel (`plane`, h × w) for output positions
    /// `p0 ..` (as many as `dst` holds), with the offsets (and mask) of its
    /// deformable group.
    #[allow(clippy::too_many_arguments)]
    fn sample(
        &self,
        plane: &[f32],
        (h, w): (usize, usize),
        (ho, wo): (usize, usize),
        offset: &[f32],
        mask: Option<&[f32]>,
        tap: usize,
        p0: usize,
        dst: &mut [f32],
    ) {
        let kw = self.win.kernel[2];
        let (i, j) = (tap / kw, tap % kw);
        let [_, sh, sw] = self.win.stride;
        let [_, dh, dw] = self.win.dilate;
        let [_, ph, pw] = self.win.pad;
        let hw = ho * wo;
        let (dy, dx) = (&offset[2 * tap * hw..], &offset[(2 * tap + 1) * hw..]);
        let (hf, wf) = (h as f32, w as f32);
        for (k, d) in dst.iter_mut().enumerate() {
            let pos = p0 + k;
            let (y, x) = (pos / wo, pos % wo);
            // MXNet adds the integer tap position to the offset in float.
            let hi = (y * sh + i * dh) as i64 - ph as i64;
            let wi = (x * sw + j * dw) as i64 - pw as i64;
            let him = hi as f32 + dy[pos];
            let wim = wi as f32 + dx[pos];
            *d = match mask {
                None if him >= 0.0 && wim >= 0.0 && him < hf && wim < wf => {
                    bilinear_clamped(plane, h, w, him, wim)
                }
                None => 0.0,
                Some(m) if him > -1.0 && wim > -1.0 && him < hf && wim < wf => {
                    bilinear_zero(plane, h, w, him, wim) * m[tap * hw + pos]
                }
                // 0 · mask, as MXNet writes it (a NaN mask stays NaN).
                Some(m) => 0.0 * m[tap * hw + pos],
            };
        }
    }
}

/// v1's bilinear sample of a point inside the map: a point in the last row
/// (column) takes that row (column) for both neighbours.
fn bilinear_clamped(plane: &[f32], h: usize, w: usize, mut y: f32, mut x: f32) -> f32 {
    let (ylo, xlo) = (y.floor() as usize, x.floor() as usize);
    let yhi = if ylo >= h - 1 {
        y = ylo as f32;
        h - 1
    } else {
        ylo + 1
    };
    let xhi = if xlo >= w - 1 {
        x = xlo as f32;
        w - 1
    } else {
        xlo + 1
    };
    let (ly, lx) = (y - ylo as f32, x - xlo as f32);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    let v = |r: usize, c: usize| plane[r * w + c];
    hy * hx * v(ylo, xlo) + hy * lx * v(ylo, xhi) + ly * hx * v(yhi, xlo) + ly * lx * v(yhi, xhi)
}

/// v2's bilinear sample of a point with −1 < y < h, −1 < x < w: neighbours
/// outside the map count as 0.
fn bilinear_zero(plane: &[f32], h: usize, w: usize, y: f32, x: f32) -> f32 {
    let (ylo, xlo) = (y.floor() as i64, x.floor() as i64);
    let (yhi, xhi) = (ylo + 1, xlo + 1);
    let (ly, lx) = (y - ylo as f32, x - xlo as f32);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    let (h, w) = (h as i64, w as i64);
    let v = |r: i64, c: i64| {
        if r >= 0 && c >= 0 && r < h && c < w {
            plane[(r * w + c) as usize]
        } else {
            0.0
        }
    };
    let (v1, v2, v3, v4) = (v(ylo, xlo), v(ylo, xhi), v(yhi, xlo), v(yhi, xhi));
    hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4
}
