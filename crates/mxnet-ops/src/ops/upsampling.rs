//! Spatial resampling of NCHW data: `UpSampling`,
//! `_contrib_BilinearResize2D` and `_contrib_AdaptiveAvgPooling2D`.
//!
//! * `UpSampling` — scale (required, ≥ 1), sample_type (required),
//!   num_args (required), multi_input_mode = `concat`, num_filter = 0.
//!   `nearest`: num_args 4-d inputs; each is repeated to the first input's
//!   size × scale (input i by the factor out_h/h_i, on both axes, as MXNet
//!   does), then concatenated on axis 1 (`concat`) or added (`sum`, equal
//!   channel counts). `bilinear`: inputs data (N, C, H, W) and weight
//!   (C, 1, K, K), K = 2·scale − scale mod 2; computed as a grouped
//!   Deconvolution with that kernel, stride scale, pad ⌈(scale−1)/2⌉,
//!   num_group C and no bias (num_filter must equal C: shape inference
//!   passes without, as MXNet's does, the forward pass fails). The weight is a real
//!   parameter (MXNet's `Bilinear` initializer fills it), never synthesised.
//! * `_contrib_BilinearResize2D` — data (N, C, H, W), plus `like` in mode
//!   `like`. height = 1, width = 1, scale_height = None, scale_width = None,
//!   mode = `size`, align_corners = True. Output size: `size` — (height,
//!   width), or (⌊H·scale_height⌋, ⌊W·scale_width⌋) when scale_height is
//!   given (MXNet then needs scale_width too and ignores a lone
//!   scale_width); `odd_scale` — even d: ⌊d·scale⌋, odd d: ⌊(d−1)·scale⌋ + 1;
//!   `like` — the second input's H, W; `to_even_down`, `to_even_up`,
//!   `to_odd_down`, `to_odd_up` — the nearest such size. Sampling:
//!   align_corners True: src = dst·(in−1)/(out−1); False: src =
//!   (dst + 0.5)·in/out − 0.5, clamped at 0; then bilinear between ⌊src⌋ and
//!   the next pixel (the last pixel repeats).
//! * `_contrib_AdaptiveAvgPooling2D` — data (N, C, H, W); output_size = ()
//!   → 1×1, one int → square, two ints → (oh, ow). Bin i along an axis of
//!   size H covers [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉) (bins overlap when upsampling).

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::convolution::Window;
use super::deconvolution::Deconv;
use super::util::par_rows;

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "UpSampling",
        build: build_upsampling,
        family: "nn",
        summary: "nearest (multi-input concat/sum) or bilinear (deconvolution) upsampling",
    },
    OpEntry {
        name: "_contrib_BilinearResize2D",
        build: build_resize,
        family: "nn",
        summary: "bilinear resize to a size, scale or like-shape (align_corners)",
    },
    OpEntry {
        name: "_contrib_AdaptiveAvgPooling2D",
        build: build_adaptive,
        family: "nn",
        summary: "average pooling to a fixed output size",
    },
];

fn bad(key: &str, a: &Attrs<'_>, expected: &'static str) -> AttrError {
    AttrError {
        key: key.into(),
        value: a.get(key).unwrap_or("").into(),
        expected,
    }
}

fn check_4d(x: &[usize], what: &str) -> Result<(), String> {
    if x.len() == 4 {
        Ok(())
    } else {
        Err(format!(
            "{what} must be 4-d (N, C, H, W), got {}",
            shape_str(x)
        ))
    }
}

// ----------------------------------------------------------------- UpSampling

#[derive(Debug)]
enum UpSampling {
    Nearest {
        scale: usize,
        num_args: usize,
        sum: bool,
    },
    Bilinear {
        scale: usize,
        num_filter: usize,
        deconv: Box<Deconv>,
    },
}

fn build_upsampling(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let scale = a.req_count("scale")?;
    if scale < 1 {
        return Err(bad("scale", a, "at least 1"));
    }
    let kind = a.choice("sample_type", &["nearest", "bilinear"], "")?;
    if kind.is_empty() {
        return Err(bad("sample_type", a, "present (it is required)"));
    }
    let num_args = a.req_count("num_args")?;
    if num_args < 1 {
        return Err(bad("num_args", a, "at least 1"));
    }
    let sum = a.choice("multi_input_mode", &["concat", "sum"], "concat")? == "sum";
    if kind == "nearest" {
        return Ok(Box::new(UpSampling::Nearest {
            scale,
            num_args,
            sum,
        }));
    }
    let num_filter = a.count("num_filter", 0)?;
    let k = 2 * scale - scale % 2;
    let pad = (scale - 1).div_ceil(2);
    let deconv = Deconv {
        win: Window {
            nd: 2,
            kernel: [1, k, k],
            stride: [1, scale, scale],
            dilate: [1; 3],
            pad: [0, pad, pad],
        },
        adj: [0; 3],
        target: [0; 3],
        num_filter,
        groups: num_filter.max(1),
        no_bias: true,
    };
    Ok(Box::new(UpSampling::Bilinear {
        scale,
        num_filter,
        deconv: Box::new(deconv),
    }))
}

impl Kernel for UpSampling {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        match self {
            UpSampling::Nearest {
                scale,
                num_args,
                sum,
            } => {
                if inputs.len() != *num_args {
                    return Err(format!(
                        "expects num_args = {num_args} inputs, got {}",
                        inputs.len()
                    ));
                }
                let first = inputs[0];
                check_4d(first, "every input")?;
                let (oh, ow) = (first[2] * scale, first[3] * scale);
                let mut channels = 0;
                for (i, s) in inputs.iter().enumerate() {
                    check_4d(s, "every input")?;
                    if s[0] != first[0] {
                        return Err(format!(
                            "input {i} has batch size {}, not {}",
                            s[0], first[0]
                        ));
                    }
                    let fits = s[2] > 0
                        && s[3] > 0
                        && oh % s[2] == 0
                        && ow % s[3] == 0
                        && oh / s[2] == ow / s[3];
                    if !fits {
                        return Err(format!(
                            "input {i} ({}, {}) does not upsample by one integer factor to ({oh}, {ow})",
                            s[2], s[3]
                        ));
                    }
                    if *sum {
                        if i > 0 && s[1] != channels {
                            return Err(
                                "inputs must have equal channels when multi_input_mode is sum"
                                    .into(),
                            );
                        }
                        channels = s[1];
                    } else {
                        channels += s[1];
                    }
                }
                Ok(vec![vec![first[0], channels, oh, ow]])
            }
            UpSampling::Bilinear {
                scale,
                num_filter,
                deconv,
            } => {
                expect_inputs(inputs, 2)?;
                let x = inputs[0];
                check_4d(x, "data")?;
                if *num_filter != x[1] {
                    // MXNet's shape inference ignores num_filter (its forward
                    // pass fails), so inference passes here too: an
                    // uninitialised layer's weight shape is still inferred.
                    return Ok(vec![vec![x[0], x[1], x[2] * scale, x[3] * scale]]);
                }
                let out = deconv.out_shape(inputs)?;
                debug_assert_eq!(out[2], x[2] * scale);
                Ok(vec![out])
            }
        }
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match (self, inputs.first()) {
            (UpSampling::Bilinear { scale, .. }, Some(Some(x))) if x.len() == 4 => {
                let k = 2 * scale - scale % 2;
                vec![None, Some(vec![x[1], 1, k, k])]
            }
            _ => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        match self {
            UpSampling::Bilinear {
                deconv, num_filter, ..
            } => {
                let c = inputs[0].shape.get(1).copied().unwrap_or(0);
                if *num_filter != c {
                    return Err(format!(
                        "num_filter must equal the {c} data channels for bilinear upsampling"
                    ));
                }
                deconv.run(
                    inputs[0].shape,
                    inputs[0].data,
                    inputs[1].data,
                    None,
                    outputs[0].data,
                )
            }
            UpSampling::Nearest { sum, .. } => {
                let oshape = outputs[0].shape;
                let (cout, oh, ow) = (oshape[1], oshape[2], oshape[3]);
                let sum = *sum;
                par_rows(outputs[0].data, (oh * ow).max(1), |p, plane| {
                    let (b, co) = (p / cout, p % cout);
                    if sum {
                        for (i, x) in inputs.iter().enumerate() {
                            let c = x.shape[1];
                            nearest_plane(x, b * c + co, oh, ow, plane, i > 0);
                        }
                    } else {
                        let mut base = 0;
                        for x in inputs {
                            let c = x.shape[1];
                            if co < base + c {
                                nearest_plane(x, b * c + co - base, oh, ow, plane, false);
                                break;
                            }
                            base += c;
                        }
                    }
                });
                Ok(())
            }
        }
    }
}

/// Writes (or adds) plane `p` of `x` repeated to `oh × ow` into `out`.
fn nearest_plane(x: &In<'_>, p: usize, oh: usize, ow: usize, out: &mut [f32], add: bool) {
    let (h, w) = (x.shape[2], x.shape[3]);
    let s = oh / h;
    let src = &x.data[p * h * w..(p + 1) * h * w];
    for (oy, orow) in out.chunks_mut(ow).enumerate() {
        let row = &src[(oy / s) * w..(oy / s + 1) * w];
        for (chunk, &v) in orow.chunks_mut(s).zip(row) {
            for o in chunk {
                if add {
                    *o += v;
                } else {
                    *o = v;
                }
            }
        }
    }
}

// --------------------------------------------------------- BilinearResize2D

#[derive(Debug, Clone, Copy, PartialEq)]
enum ResizeMode {
    Size,
    OddScale,
    Like,
    ToEvenDown,
    ToEvenUp,
    ToOddDown,
    ToOddUp,
}

#[derive(Debug)]
struct BilinearResize {
    mode: ResizeMode,
    height: usize,
    width: usize,
    /// (scale_height, scale_width) when the mode uses them.
    scales: Option<(f32, f32)>,
    align_corners: bool,
}

fn build_resize(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let mode = match a.choice(
        "mode",
        &[
            "size",
            "odd_scale",
            "like",
            "to_even_down",
            "to_even_up",
            "to_odd_down",
            "to_odd_up",
        ],
        "size",
    )? {
        "odd_scale" => ResizeMode::OddScale,
        "like" => ResizeMode::Like,
        "to_even_down" => ResizeMode::ToEvenDown,
        "to_even_up" => ResizeMode::ToEvenUp,
        "to_odd_down" => ResizeMode::ToOddDown,
        "to_odd_up" => ResizeMode::ToOddUp,
        _ => ResizeMode::Size,
    };
    let height = a.count("height", 1)?;
    let width = a.count("width", 1)?;
    if height < 1 {
        return Err(bad("height", a, "at least 1"));
    }
    if width < 1 {
        return Err(bad("width", a, "at least 1"));
    }
    let sh = a.opt_float("scale_height")?;
    let sw = a.opt_float("scale_width")?;
    let scales = match (mode, sh, sw) {
        (ResizeMode::Size, None, _) => None,
        (ResizeMode::Size | ResizeMode::OddScale, Some(h), Some(w)) => Some((h as f32, w as f32)),
        (ResizeMode::Size, Some(_), None) => {
            return Err(bad(
                "scale_width",
                a,
                "given: MXNet needs scale_width whenever scale_height is given",
            ));
        }
        (ResizeMode::OddScale, _, _) => {
            return Err(bad(
                "scale_height",
                a,
                "given together with scale_width in mode odd_scale",
            ));
        }
        _ => None,
    };
    Ok(Box::new(BilinearResize {
        mode,
        height,
        width,
        scales,
        align_corners: a.bool("align_corners", true)?,
    }))
}

impl BilinearResize {
    fn out_size(&self, x: &[usize], like: Option<&[usize]>) -> Result<(usize, usize), String> {
        let (h, w) = (x[2], x[3]);
        let scaled = |d: usize, s: f32| -> i64 { (d as f32 * s) as i64 };
        let (nh, nw): (i64, i64) = match self.mode {
            ResizeMode::Size => match self.scales {
                Some((sh, sw)) => (scaled(h, sh), scaled(w, sw)),
                None => (self.height as i64, self.width as i64),
            },
            ResizeMode::OddScale => {
                let (sh, sw) = self.scales.unwrap_or((1.0, 1.0));
                let odd = |d: usize, s: f32| {
                    if d.is_multiple_of(2) {
                        scaled(d, s)
                    } else {
                        ((d as f32 - 1.0) * s) as i64 + 1
                    }
                };
                (odd(h, sh), odd(w, sw))
            }
            ResizeMode::Like => {
                let l = like.unwrap_or(x);
                (l[2] as i64, l[3] as i64)
            }
            ResizeMode::ToEvenDown => (h as i64 - (h % 2) as i64, w as i64 - (w % 2) as i64),
            ResizeMode::ToEvenUp => (h as i64 + (h % 2) as i64, w as i64 + (w % 2) as i64),
            ResizeMode::ToOddDown => (h as i64 - 1 + (h % 2) as i64, w as i64 - 1 + (w % 2) as i64),
            ResizeMode::ToOddUp => (h as i64 + 1 - (h % 2) as i64, w as i64 + 1 - (w % 2) as i64),
        };
        // MXNet stores the new sizes in 16-bit integers.
        if !(0..=i16::MAX as i64).contains(&nh) || !(0..=i16::MAX as i64).contains(&nw) {
            return Err(format!(
                "output size ({nh}, {nw}) is outside 0..=32767, which MXNet cannot represent"
            ));
        }
        Ok((nh as usize, nw as usize))
    }

    /// Per output index along an axis: (low index, high offset, low weight,
    /// high weight), as MXNet computes them.
    fn axis_taps(&self, input: usize, output: usize) -> Vec<(usize, usize, f32, f32)> {
        let scale = if output > 1 {
            if self.align_corners {
                (input as f32 - 1.0) / (output as f32 - 1.0)
            } else {
                input as f32 / output as f32
            }
        } else {
            0.0
        };
        (0..output)
            .map(|o| {
                let src = if self.align_corners {
                    scale * o as f32
                } else {
                    let s = (f64::from(scale) * (o as f64 + 0.5) - 0.5) as f32;
                    if s < 0.0 { 0.0 } else { s }
                };
                let lo = (src as usize).min(input.saturating_sub(1));
                let step = usize::from(lo + 1 < input);
                let l1 = src - lo as f32;
                (lo, step, 1.0 - l1, l1)
            })
            .collect()
    }
}

impl Kernel for BilinearResize {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        let like = self.mode == ResizeMode::Like;
        expect_inputs(inputs, if like { 2 } else { 1 })?;
        let x = inputs[0];
        check_4d(x, "data")?;
        if like {
            check_4d(inputs[1], "like")?;
        }
        let (oh, ow) = self.out_size(x, inputs.get(1).copied().filter(|_| like))?;
        if (x[2] == 0 || x[3] == 0) && oh * ow > 0 {
            return Err("cannot resize an empty image".into());
        }
        Ok(vec![vec![x[0], x[1], oh, ow]])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (ih, iw) = (x.shape[2], x.shape[3]);
        let (oh, ow) = (outputs[0].shape[2], outputs[0].shape[3]);
        let isp = ih * iw;
        if ih == oh && iw == ow {
            outputs[0].data.copy_from_slice(x.data);
            return Ok(());
        }
        let rows = self.axis_taps(ih, oh);
        let cols = self.axis_taps(iw, ow);
        par_rows(outputs[0].data, (oh * ow).max(1), |p, plane| {
            let src = &x.data[p * isp..(p + 1) * isp];
            for (orow, &(h1, hp, h0l, h1l)) in plane.chunks_mut(ow).zip(&rows) {
                let r0 = &src[h1 * iw..(h1 + 1) * iw];
                let r1 = &src[(h1 + hp) * iw..(h1 + hp + 1) * iw];
                for (o, &(w1, wp, w0l, w1l)) in orow.iter_mut().zip(&cols) {
                    *o = h0l * (w0l * r0[w1] + w1l * r0[w1 + wp])
                        + h1l * (w0l * r1[w1] + w1l * r1[w1 + wp]);
                }
            }
        });
        Ok(())
    }
}

// ------------------------------------------------------ AdaptiveAvgPooling2D

#[derive(Debug)]
struct AdaptiveAvgPool {
    /// Output (height, width).
    size: (usize, usize),
}

fn build_adaptive(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let v = a.tuple("output_size", &[])?;
    if v.iter().any(|&d| d < 1) {
        return Err(bad("output_size", a, "one or two positive sizes"));
    }
    let size = match v.as_slice() {
        [s] => (*s as usize, *s as usize),
        [h, w] => (*h as usize, *w as usize),
        _ => (1, 1),
    };
    Ok(Box::new(AdaptiveAvgPool { size }))
}

/// Bin `i` of `out` over an axis of `input`: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉),
/// computed in f32 as MXNet does.
fn bin(i: usize, out: usize, input: usize) -> (usize, usize) {
    let start = ((i * input) as f32 / out as f32).floor() as usize;
    let end = (((i + 1) * input) as f32 / out as f32).ceil() as usize;
    (start.min(input), end.min(input).max(start.min(input)))
}

impl Kernel for AdaptiveAvgPool {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        check_4d(x, "data")?;
        Ok(vec![vec![x[0], x[1], self.size.0, self.size.1]])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (ih, iw) = (x.shape[2], x.shape[3]);
        let (oh, ow) = self.size;
        let isp = ih * iw;
        let hb: Vec<(usize, usize)> = (0..oh).map(|i| bin(i, oh, ih)).collect();
        let wb: Vec<(usize, usize)> = (0..ow).map(|i| bin(i, ow, iw)).collect();
        par_rows(outputs[0].data, oh * ow, |p, plane| {
            let src = &x.data[p * isp..(p + 1) * isp];
            for (orow, &(h0, h1)) in plane.chunks_mut(ow).zip(&hb) {
                for (o, &(w0, w1)) in orow.iter_mut().zip(&wb) {
                    let mut sum = 0f32;
                    for h in h0..h1 {
                        for &v in &src[h * iw + w0..h * iw + w1] {
                            sum += v;
                        }
                    }
                    *o = sum / (w1 - w0) as f32 / (h1 - h0) as f32;
                }
            }
        });
        Ok(())
    }
}
