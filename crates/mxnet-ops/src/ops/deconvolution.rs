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
//! Computed per image and group as one GEMM (Wᵀ·x, giving a column matrix
//! over kernel offsets × input positions) followed by col2im, which
//! scatter-adds the columns into the output; a 1×1, stride-1, unpadded
//! deconvolution is a single GEMM into the output.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::gemm::{Mat, sgemm};
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::convolution::Window;
use super::util::{par_rows, per_axis};

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
        if x.len() != nd + 2 {
            return Err(format!("data must be {}-d for a {nd}-d kernel", nd + 2));
        }
        let (c, f, g) = (x[1], self.num_filter, self.groups);
        if c % g != 0 || f % g != 0 {
            return Err(format!(
                "{c} channels and {f} filters do not split into {g} groups"
            ));
        }
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

    /// Runs the transposed convolution; shapes are the checked ones.
    pub(crate) fn run(
        &self,
        xshape: &[usize],
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) -> Result<(), String> {
        let win = &self.win;
        let input = win.spatial(xshape);
        let (out, pad) = self.geometry(input)?;
        let (n, c, f, g) = (xshape[0], xshape[1], self.num_filter, self.groups);
        let isp: usize = input.iter().product();
        let osp: usize = out.iter().product();
        let (cg, fg) = (c / g, f / g);
        let klen = win.window_len();
        let rows = fg * klen;
        let direct = klen == 1 && win.stride == [1; 3] && pad == [0; 3] && out == input;
        let mut col = if direct {
            Vec::new()
        } else {
            vec![0f32; rows * isp]
        };
        for b in 0..n {
            for gi in 0..g {
                let xg = &x[(b * c + gi * cg) * isp..(b * c + (gi + 1) * cg) * isp];
                // Weight rows of this group: (cg, fg·klen), read transposed.
                let wg = &w[gi * cg * rows..(gi + 1) * cg * rows];
                let yg = &mut y[(b * f + gi * fg) * osp..(b * f + (gi + 1) * fg) * osp];
                match bias {
                    Some(bv) => {
                        for (fi, plane) in yg.chunks_mut(osp.max(1)).enumerate() {
                            plane.fill(bv[gi * fg + fi]);
                        }
                    }
                    None => yg.fill(0.0),
                }
                if direct {
                    sgemm(
                        fg,
                        isp,
                        cg,
                        Mat::transposed(wg, rows),
                        Mat::rows(xg, isp),
                        yg,
                        osp,
                        true,
                    );
                    continue;
                }
                sgemm(
                    rows,
                    isp,
                    cg,
                    Mat::transposed(wg, rows),
                    Mat::rows(xg, isp),
                    &mut col,
                    isp,
                    false,
                );
                col2im(win, pad, &col, input, out, yg);
            }
        }
        Ok(())
    }
}

/// Scatter-adds `col[(f, kd, kh, kw), (d, h, w)]` into the output planes
/// `y[f]`, each output channel in parallel.
fn col2im(
    win: &Window,
    pad: [usize; 3],
    col: &[f32],
    input: [usize; 3],
    out: [usize; 3],
    y: &mut [f32],
) {
    let [id, ih, iw] = input;
    let [od, oh, ow] = out;
    let [kd, kh, kw] = win.kernel;
    let isp = id * ih * iw;
    let klen = kd * kh * kw;
    let osp = od * oh * ow;
    // Valid input range [lo, hi) along one axis for kernel offset `k`: the
    // positions whose output index i·s + k·dil − pad lands in [0, size).
    let range = |axis: usize, k: usize, n_in: usize, n_out: usize| -> (usize, usize) {
        let s = win.stride[axis];
        let off = (k * win.dilate[axis]) as isize - pad[axis] as isize;
        // i·s + off ≥ 0  ⇔  i ≥ ⌈−off/s⌉
        let lo = if off >= 0 {
            0
        } else {
            ((-off) as usize).div_ceil(s)
        };
        // i·s + off < n_out  ⇔  i < ⌈(n_out − off)/s⌉
        let lim = n_out as isize - off;
        let hi = if lim <= 0 {
            0
        } else {
            (lim as usize).div_ceil(s).min(n_in)
        };
        (lo.min(hi), hi)
    };
    par_rows(y, osp.max(1), |fi, plane| {
        for r in 0..klen {
            let (zd, rem) = (r / (kh * kw), r % (kh * kw));
            let (zh, zw) = (rem / kw, rem % kw);
            let src = &col[(fi * klen + r) * isp..(fi * klen + r + 1) * isp];
            let (d0, d1) = range(0, zd, id, od);
            let (h0, h1) = range(1, zh, ih, oh);
            let (w0, w1) = range(2, zw, iw, ow);
            if w0 >= w1 {
                continue;
            }
            let offw = (zw * win.dilate[2]) as isize - pad[2] as isize;
            for d in d0..d1 {
                let o_d = (d * win.stride[0] + zd * win.dilate[0]) - pad[0];
                for h in h0..h1 {
                    let o_h = (h * win.stride[1] + zh * win.dilate[1]) - pad[1];
                    let row = &src[(d * ih + h) * iw..(d * ih + h + 1) * iw];
                    let dst = &mut plane[(o_d * oh + o_h) * ow..(o_d * oh + o_h + 1) * ow];
                    let s = win.stride[2];
                    let mut o = (w0 * s) as isize + offw;
                    for &v in &row[w0..w1] {
                        dst[o as usize] += v;
                        o += s as isize;
                    }
                }
            }
        }
    });
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
