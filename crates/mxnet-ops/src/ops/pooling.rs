//! `Pooling`: max, avg, sum and lp pooling over 1–3 spatial axes, global or
//! windowed, `valid` (⌊⌋) or `full` (⌈⌉) output sizes.
//!
//! A window starts at o·stride − pad and ends at min(start + k, in + pad).
//! `avg` with `count_include_pad` (default True) divides by that length before
//! it is clipped to the input — padding inside the padded border counts,
//! overhang beyond it (full convention) does not; otherwise by the clipped
//! length. `max` ignores padding (a window wholly in padding gives
//! −3.4028235e38, as MXNet). `lp` is (Σ xᵖ)^(1/p) without absolute values.
//! `global_pool` pools each whole plane. `same` is rejected, as in MXNet 1.9.1.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::util::{par_rows, par_rows_reading, with_scratch};

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "Pooling",
        build,
        family: "nn",
        summary: "max/avg/sum/lp pooling, global, valid/full, count_include_pad",
    },
    OpEntry {
        name: "Pooling_v1",
        build,
        family: "nn",
        summary: "legacy pooling (as Pooling)",
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum PoolType {
    Max,
    Avg,
    Sum,
    Lp(f32),
}

#[derive(Debug)]
struct Pooling {
    kind: PoolType,
    global: bool,
    full: bool,
    include_pad: bool,
    /// Spatial rank from the kernel (0 when global without a kernel).
    nd: usize,
    kernel: [usize; 3],
    stride: [usize; 3],
    pad: [usize; 3],
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let global = a.bool("global_pool", false)?;
    let kind = match a.choice("pool_type", &["max", "avg", "sum", "lp"], "max")? {
        "avg" => PoolType::Avg,
        "sum" => PoolType::Sum,
        "lp" => PoolType::Lp(a.opt_int("p_value")?.unwrap_or(2) as f32),
        _ => PoolType::Max,
    };
    let conv = a.choice("pooling_convention", &["valid", "full", "same"], "valid")?;
    if conv == "same" {
        return Err(AttrError {
            key: "pooling_convention".into(),
            value: "same".into(),
            expected: "valid or full (MXNet 1.9.1 cannot run `same` either)",
        });
    }
    let layout = a.string("layout", "None");
    if !matches!(layout, "None" | "NCW" | "NCHW" | "NCDHW") {
        return Err(AttrError {
            key: "layout".into(),
            value: layout.into(),
            expected: "a channels-first layout; channels-last pooling is not supported yet",
        });
    }
    let kernel = a.tuple("kernel", &[])?;
    let nd = kernel.len();
    if nd > 3 || (!global && nd == 0) || kernel.iter().any(|&k| k < 1 && !global) {
        return Err(AttrError {
            key: "kernel".into(),
            value: a.get("kernel").unwrap_or("").into(),
            expected: "1 to 3 positive sizes (required unless global_pool)",
        });
    }
    let per = |key: &str, default: i64| -> Result<[usize; 3], AttrError> {
        let v = a.tuple(key, &[])?;
        let mut out = [default as usize; 3];
        if !v.is_empty() {
            if v.len() != nd || v.iter().any(|&x| x < 0) {
                return Err(AttrError {
                    key: key.into(),
                    value: a.get(key).unwrap_or("").into(),
                    expected: "one non-negative entry per kernel axis",
                });
            }
            for (i, x) in v.iter().enumerate() {
                out[3 - nd + i] = *x as usize;
            }
        }
        Ok(out)
    };
    let mut k = [1usize; 3];
    for (i, x) in kernel.iter().enumerate() {
        k[3 - nd + i] = (*x).max(1) as usize;
    }
    let mut stride = per("stride", 1)?;
    for s in &mut stride {
        *s = (*s).max(1);
    }
    Ok(Box::new(Pooling {
        kind,
        global,
        full: conv == "full",
        include_pad: a.opt_bool("count_include_pad")?.unwrap_or(true),
        nd,
        kernel: k,
        stride,
        pad: per("pad", 0)?,
    }))
}

/// Per padded spatial axis: (input, output, kernel, stride, pad).
type Axis = (usize, usize, usize, usize, usize);

impl Pooling {
    fn spatial_rank(&self, x: &[usize]) -> usize {
        if self.global {
            x.len().saturating_sub(2)
        } else {
            self.nd
        }
    }

    /// Per padded axis: (input, output, kernel, stride, pad).
    fn axes(&self, x: &[usize]) -> Result<[Axis; 3], String> {
        let nd = self.spatial_rank(x);
        if !(1..=3).contains(&nd) || x.len() != nd + 2 {
            return Err(format!(
                "data must be 3-d to 5-d (N, C, spatial…) for a {nd}-d window"
            ));
        }
        let mut out = [(1, 1, 1, 1, 0); 3];
        for i in 0..nd {
            let axis = 3 - nd + i;
            let input = x[2 + i];
            if self.global {
                out[axis] = (input, 1, input, 1, 0);
                continue;
            }
            let (k, s, p) = (self.kernel[axis], self.stride[axis], self.pad[axis]);
            let padded = input + 2 * p;
            if padded < k {
                return Err(format!(
                    "kernel {k} is larger than the padded input {padded}"
                ));
            }
            let o = if self.full {
                1 + (((padded - k) as f32) / s as f32).ceil() as usize
            } else {
                1 + (padded - k) / s
            };
            out[axis] = (input, o, k, s, p);
        }
        Ok(out)
    }
}

impl Kernel for Pooling {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        let axes = self.axes(x)?;
        let nd = self.spatial_rank(x);
        let mut out = x[..2].to_vec();
        out.extend(axes[3 - nd..].iter().map(|a| a.1));
        Ok(vec![out])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let axes = self.axes(x.shape)?;
        let isp: usize = axes.iter().map(|a| a.0).product();
        let osp: usize = axes.iter().map(|a| a.1).product();
        let kind = self.kind;
        let include_pad = self.include_pad;
        // Windows per axis: (start, end) clipped, and the unclipped length.
        let windows: Vec<Vec<(usize, usize, usize)>> = axes
            .iter()
            .map(|&(input, o, k, s, p)| {
                (0..o)
                    .map(|i| {
                        let start = (i * s) as isize - p as isize;
                        let end = (start + k as isize).min((input + p) as isize);
                        let len = (end - start).max(0) as usize;
                        let cs = start.max(0) as usize;
                        let ce = (end.max(0) as usize).min(input);
                        (cs, ce.max(cs), len)
                    })
                    .collect()
            })
            .collect();
        let (ih, iw) = (axes[1].0, axes[2].0);
        if matches!(kind, PoolType::Max | PoolType::Avg | PoolType::Sum)
            && windows[0] == [(0, 1, 1)]
            && iw > 0
            && axes[2].1 > 0
        {
            // 1-D and 2-D max, average and sum are separable.
            let max = kind == PoolType::Max;
            let (ow, kw) = (axes[2].1, axes[2].2);
            // The average's divisor at each output position (the same for
            // every plane), so the division is one vectorised pass.
            let divisors: Vec<f32> = if kind == PoolType::Avg {
                windows[1]
                    .iter()
                    .flat_map(|&(h0, h1, hl)| {
                        windows[2].iter().map(move |&(w0, w1, wl)| {
                            let n = if include_pad {
                                hl * wl
                            } else {
                                (h1 - h0) * (w1 - w0)
                            };
                            n as f32
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            par_rows_reading(outputs[0].data, osp.max(1), isp, |plane, out| {
                let src = &x.data[plane * isp..(plane + 1) * isp];
                with_scratch(ih.max(windows[1].len()) * iw.max(ow) + iw, |scratch| {
                    let (h, w) = (&windows[1][..], &windows[2][..]);
                    if max {
                        separable::<true>(src, iw, h, w, kw, out, scratch);
                    } else {
                        separable::<false>(src, iw, h, w, kw, out, scratch);
                    }
                });
                for (a, &n) in out.iter_mut().zip(&divisors) {
                    *a = if n == 0.0 { 0.0 } else { *a / n };
                }
            });
            return Ok(());
        }
        par_rows(outputs[0].data, osp.max(1), |plane, out| {
            let src = &x.data[plane * isp..(plane + 1) * isp];
            let mut o = 0;
            for &(d0, d1, dl) in &windows[0] {
                for &(h0, h1, hl) in &windows[1] {
                    for &(w0, w1, wl) in &windows[2] {
                        let mut acc = match kind {
                            PoolType::Max => f32::MIN,
                            _ => 0.0,
                        };
                        for d in d0..d1 {
                            for h in h0..h1 {
                                let row = &src[(d * ih + h) * iw..(d * ih + h) * iw + iw];
                                for &v in &row[w0..w1] {
                                    match kind {
                                        PoolType::Max => {
                                            if v > acc {
                                                acc = v
                                            }
                                        }
                                        PoolType::Avg | PoolType::Sum => acc += v,
                                        PoolType::Lp(p) => {
                                            acc += if p == 1.0 {
                                                v
                                            } else if p == 2.0 {
                                                v * v
                                            } else {
                                                v.powf(p)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        out[o] = match kind {
                            PoolType::Avg => {
                                let n = if include_pad {
                                    dl * hl * wl
                                } else {
                                    (d1 - d0) * (h1 - h0) * (w1 - w0)
                                };
                                if n == 0 { 0.0 } else { acc / n as f32 }
                            }
                            PoolType::Lp(p) => {
                                if p == 1.0 {
                                    acc
                                } else if p == 2.0 {
                                    acc.sqrt()
                                } else {
                                    acc.powf(1.0 / p)
                                }
                            }
                            _ => acc,
                        };
                        o += 1;
                    }
                }
            }
        });
        Ok(())
    }
}

/// A pooling window along one axis: clipped start and end, and the
/// unclipped length.
type Win = (usize, usize, usize);

/// Max (`MAX`) or sum pooling of one plane (rows of `iw`) separably: each
/// input row reduced over every output column's window `wins_w`, then
/// those partial rows over each output row's window `wins_h`, into `out`
/// (maxima the other way round, rows first, which leaves the horizontal
/// pass only the output rows; sums keep this order).
/// Full windows of `kw` columns come from a running reduction over `kw`
/// shifted copies of the row, which vectorises; clipped ones are folded.
/// Maxima skip NaNs, as `if v > acc` does; sums add in window order, but
/// for a window over whole rows (global pooling), summed in interleaved
/// partial sums.
fn separable<const MAX: bool>(
    src: &[f32],
    iw: usize,
    wins_h: &[Win],
    wins_w: &[Win],
    kw: usize,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let ow = wins_w.len();
    let combine = |a: f32, v: f32| if MAX { a.max(v) } else { a + v };
    let init = if MAX { f32::MIN } else { 0.0 };
    if let ([(h0, h1, _)], [(w0, w1, _)]) = (wins_h, wins_w)
        && (*w0, *w1) == (0, iw)
    {
        // One window over whole rows (global pooling): one pass, in
        // LANES interleaved partial results (which vectorises), combined
        // pairwise at the end.
        const LANES: usize = 16;
        let all = &src[h0 * iw..h1 * iw];
        let mut lanes = [init; LANES];
        let blocks = all.chunks_exact(LANES);
        let tail = blocks.remainder();
        for b in blocks {
            for (a, &v) in lanes.iter_mut().zip(b) {
                *a = combine(*a, v);
            }
        }
        for (a, &v) in lanes.iter_mut().zip(tail) {
            *a = combine(*a, v);
        }
        let mut n = LANES;
        while n > 1 {
            n /= 2;
            for i in 0..n {
                lanes[i] = combine(lanes[i], lanes[i + n]);
            }
        }
        out[0] = lanes[0];
        return;
    }
    let (part, run) = scratch.split_at_mut(scratch.len() - iw);
    // Starts of the windows that fit in the row.
    let full = (iw + 1).saturating_sub(kw.max(1));
    // One row reduced over every output column's window into `dst`.
    let mut across = |row: &[f32], dst: &mut [f32]| {
        if full > 0 {
            run[..full].copy_from_slice(&row[..full]);
            for j in 1..kw {
                for (r, &v) in run[..full].iter_mut().zip(&row[j..j + full]) {
                    *r = combine(*r, v);
                }
            }
        }
        for (d, &(w0, w1, _)) in dst.iter_mut().zip(wins_w) {
            *d = if w1 - w0 == kw && w0 < full {
                run[w0]
            } else {
                row[w0..w1].iter().fold(init, |a, &v| combine(a, v))
            };
        }
    };
    if MAX {
        // Maxima in either order are the same: rows first, on whole
        // vectors of input rows, so that the horizontal pass (which picks
        // strided window starts) runs on the output rows only.
        let oh = wins_h.len();
        for (dst, &(h0, h1, _)) in part.chunks_exact_mut(iw).take(oh).zip(wins_h) {
            dst.fill(init);
            for r in src[h0 * iw..h1 * iw].chunks_exact(iw) {
                for (a, &v) in dst.iter_mut().zip(r) {
                    *a = combine(*a, v);
                }
            }
        }
        for (row, o) in part.chunks_exact(iw).take(oh).zip(out.chunks_exact_mut(ow)) {
            across(row, o);
        }
        return;
    }
    for (row, dst) in src.chunks_exact(iw).zip(part.chunks_exact_mut(ow)) {
        across(row, dst);
    }
    for (o, &(h0, h1, _)) in out.chunks_exact_mut(ow).zip(wins_h) {
        o.fill(init);
        for p in part[h0 * ow..h1 * ow].chunks_exact(ow) {
            for (a, &v) in o.iter_mut().zip(p) {
                *a = combine(*a, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_over_whole_rows_reduces_every_value() {
        // Planes of 1 to 1000 values: the interleaved partial results, their
        // pairwise combination and the tail must each take every value once.
        for (ih, iw) in [(1, 1), (3, 5), (1, 16), (1, 17), (7, 9), (25, 40)] {
            let n = ih * iw;
            let src: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 8.0)
                .collect();
            let (h, w) = ([(0, ih, ih)], [(0, iw, iw)]);
            let mut scratch = vec![0.0; ih * iw + iw];
            let mut out = [0.0f32];
            separable::<false>(&src, iw, &h, &w, iw, &mut out, &mut scratch);
            let sum: f64 = src.iter().map(|&v| f64::from(v)).sum();
            assert!(
                (f64::from(out[0]) - sum).abs() <= 1e-5 * (1.0 + sum.abs()),
                "{ih}x{iw}"
            );
            let mut high = src.clone();
            high[n / 2] = 1e3;
            high[0] = f32::NAN;
            separable::<true>(&high, iw, &h, &w, iw, &mut out, &mut scratch);
            let want = if n == 1 { f32::MIN } else { 1e3 };
            assert_eq!(out[0], want, "{ih}x{iw}");
        }
    }
}
