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
use crate::gemm::{Mat, sgemm};
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::util::per_axis;

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

#[derive(Debug)]
pub(crate) struct Convolution {
    pub win: Window,
    pub num_filter: usize,
    pub groups: usize,
    pub no_bias: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
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
    Ok(Box::new(Convolution {
        win,
        num_filter: a.req_count("num_filter")?,
        groups,
        no_bias: a.bool("no_bias", false)?,
    }))
}

impl Kernel for Convolution {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, if self.no_bias { 2 } else { 3 })?;
        let x = inputs[0];
        let nd = self.win.nd;
        if x.len() != nd + 2 {
            return Err(format!("data must be {}-d for a {nd}-d kernel", nd + 2));
        }
        let (c, f, g) = (x[1], self.num_filter, self.groups);
        if c % g != 0 || f % g != 0 {
            return Err(format!(
                "{c} channels and {f} filters do not split into {g} groups"
            ));
        }
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
            bias,
            outputs[0].shape,
            outputs[0].data,
        );
        Ok(())
    }
}

/// im2col over three spatial axes: `col[(c, kd, kh, kw), (od, oh, ow)]` for
/// `channels` channels of one image.
#[allow(clippy::too_many_arguments)]
pub(crate) fn im2col(
    win: &Window,
    x: &[f32],
    channels: usize,
    input: [usize; 3],
    out: [usize; 3],
    col: &mut [f32],
) {
    let [id, ih, iw] = input;
    let [od, oh, ow] = out;
    let [kd, kh, kw] = win.kernel;
    let osp = od * oh * ow;
    let rows_per_channel = kd * kh * kw;
    let fill = |(c, rows): (usize, &mut [f32])| {
        let xc = &x[c * id * ih * iw..(c + 1) * id * ih * iw];
        for (r, row) in rows.chunks_mut(osp).enumerate() {
            let (zd, rem) = (r / (kh * kw), r % (kh * kw));
            let (zh, zw) = (rem / kw, rem % kw);
            let mut o = 0;
            for d in 0..od {
                let zi = (d * win.stride[0] + zd * win.dilate[0]) as isize - win.pad[0] as isize;
                for h in 0..oh {
                    let yi =
                        (h * win.stride[1] + zh * win.dilate[1]) as isize - win.pad[1] as isize;
                    let inside_dh = zi >= 0 && (zi as usize) < id && yi >= 0 && (yi as usize) < ih;
                    let base = if inside_dh {
                        (zi as usize * ih + yi as usize) * iw
                    } else {
                        0
                    };
                    for w in 0..ow {
                        let xi =
                            (w * win.stride[2] + zw * win.dilate[2]) as isize - win.pad[2] as isize;
                        row[o] = if inside_dh && xi >= 0 && (xi as usize) < iw {
                            xc[base + xi as usize]
                        } else {
                            0.0
                        };
                        o += 1;
                    }
                }
            }
        }
    };
    let per_channel = rows_per_channel * osp;
    if col.len() >= 1 << 16 {
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
/// the MobileNet case) computed directly: per plane, per kernel tap, a
/// vectorisable pass over each output row.
#[allow(clippy::too_many_arguments)]
fn depthwise(
    win: &Window,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    c: usize,
    input: [usize; 3],
    out: [usize; 3],
    y: &mut [f32],
) {
    let [_, ih, iw] = input;
    let [_, oh, ow] = out;
    let [_, kh, kw] = win.kernel;
    let (sh, sw) = (win.stride[1], win.stride[2]);
    let (dh, dw) = (win.dilate[1], win.dilate[2]);
    let (ph, pw) = (win.pad[1] as isize, win.pad[2] as isize);
    let plane = |(p, yp): (usize, &mut [f32])| {
        let ch = p % c;
        let xp = &x[p * ih * iw..(p + 1) * ih * iw];
        let wp = &w[ch * kh * kw..(ch + 1) * kh * kw];
        yp.fill(bias.map_or(0.0, |b| b[ch]));
        for (r, yrow) in yp.chunks_mut(ow).enumerate() {
            for i in 0..kh {
                let iy = (r * sh + i * dh) as isize - ph;
                if iy < 0 || iy as usize >= ih {
                    continue;
                }
                let xrow = &xp[iy as usize * iw..(iy as usize + 1) * iw];
                for j in 0..kw {
                    let wv = wp[i * kw + j];
                    let off = (j * dw) as isize - pw;
                    // Output columns whose input column off + o*sw is inside the row.
                    let lo = if off < 0 {
                        ((-off) as usize).div_ceil(sw)
                    } else {
                        0
                    };
                    let hi = if (iw as isize) > off {
                        (((iw as isize - off) as usize).div_ceil(sw)).min(ow)
                    } else {
                        0
                    };
                    if lo >= hi {
                        continue;
                    }
                    if sw == 1 {
                        let start = (lo as isize + off) as usize;
                        let src = &xrow[start..start + (hi - lo)];
                        for (o, &v) in yrow[lo..hi].iter_mut().zip(src) {
                            *o += wv * v;
                        }
                    } else {
                        for (k, o) in yrow[lo..hi].iter_mut().enumerate() {
                            *o += wv * xrow[(((lo + k) * sw) as isize + off) as usize];
                        }
                    }
                }
            }
        }
    };
    let osp = oh * ow;
    if y.len() >= 1 << 14 {
        y.par_chunks_mut(osp).enumerate().for_each(plane);
    } else {
        y.chunks_mut(osp).enumerate().for_each(plane);
    }
}

pub(crate) fn conv_forward(
    conv: &Convolution,
    xshape: &[usize],
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    yshape: &[usize],
    y: &mut [f32],
) {
    let win = &conv.win;
    let (n, c, f, g) = (xshape[0], xshape[1], conv.num_filter, conv.groups);
    let input = win.spatial(xshape);
    let out = win.spatial(yshape);
    let isp: usize = input.iter().product();
    let osp: usize = out.iter().product();
    let (cg, fg) = (c / g, f / g);
    let klen = cg * win.window_len();
    if g == c && f == c && win.kernel[0] == 1 && win.stride[0] == 1 && win.pad[0] == 0 {
        depthwise(win, x, w, bias, c, input, out, y);
        return;
    }
    let direct = win.window_len() == 1 && win.stride == [1; 3] && win.pad == [0; 3];
    let scratch = if direct { 0 } else { klen * osp };
    super::util::with_scratch(scratch, |col| {
        for b in 0..n {
            for gi in 0..g {
                let xg = &x[(b * c + gi * cg) * isp..(b * c + (gi + 1) * cg) * isp];
                let wg = &w[gi * fg * klen..(gi + 1) * fg * klen];
                let yg = &mut y[(b * f + gi * fg) * osp..(b * f + (gi + 1) * fg) * osp];
                let rhs = if direct {
                    Mat::rows(xg, osp)
                } else {
                    im2col(win, xg, cg, input, out, col);
                    Mat::rows(col, osp)
                };
                match bias {
                    Some(bv) => {
                        for (fi, row) in yg.chunks_mut(osp).enumerate() {
                            row.fill(bv[gi * fg + fi]);
                        }
                        sgemm(fg, osp, klen, Mat::rows(wg, klen), rhs, yg, osp, true);
                    }
                    None => sgemm(fg, osp, klen, Mat::rows(wg, klen), rhs, yg, osp, false),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn depthwise_path_matches_a_naive_convolution() {
        for (stride, dilate, pad, k) in [
            (1, 1, 1, 3),
            (2, 1, 1, 3),
            (1, 2, 2, 3),
            (2, 1, 0, 5),
            (3, 2, 3, 3),
            (1, 1, 0, 1),
        ] {
            let c = 5;
            let conv = Convolution {
                win: Window {
                    nd: 2,
                    kernel: [1, k, k],
                    stride: [1, stride, stride],
                    dilate: [1, dilate, dilate],
                    pad: [0, pad, pad],
                },
                num_filter: c,
                groups: c,
                no_bias: false,
            };
            let xs = [2, c, 9, 11];
            let x: Vec<f32> = (0..2 * c * 99)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let w: Vec<f32> = (0..c * k * k)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
                .collect();
            let b: Vec<f32> = (0..c).map(|i| i as f32 * 0.1).collect();
            let (ys, want) = naive(&conv, &xs, &x, &w, &b);
            let mut got = vec![0f32; want.len()];
            conv_forward(&conv, &xs, &x, &w, Some(&b), &ys, &mut got);
            for (a, e) in got.iter().zip(&want) {
                assert!(
                    (a - e).abs() < 1e-4,
                    "stride {stride} dilate {dilate} pad {pad} k {k}: {a} vs {e}"
                );
            }
        }
    }
}
