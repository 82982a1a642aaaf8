//! `slice` (alias `crop` — lower-case `crop` is *slice*, not `Crop`),
//! `slice_axis` and `slice_like`: NumPy-style basic slicing, copied out.
//!
//! * `slice(data)`: `begin`, `end` (required tuples of the same length, at
//!   most ndim; entries may be `None`), `step` = `()` (all 1; entries may be
//!   `None` = 1 or negative, never 0). Only the leading `len(begin)` axes are
//!   sliced. Bounds follow MXNet's `GetIndexRange`: negative values count from
//!   the end, `None` means the natural start/stop for the step's sign, and
//!   out-of-range bounds are clamped (an empty range gives a 0-size axis).
//! * `slice_axis(data)`: `axis`, `begin` (required), `end` (required, may be
//!   `None` = to the end). Negative values count from the end; after that
//!   `0 ≤ begin < end ≤ size` must hold.
//! * `slice_like(data, shape_like)`: `axes` = `()` → every axis (then both
//!   inputs have the same ndim); each sliced axis becomes `[0, size)` of
//!   `shape_like`'s size, which must not exceed data's.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::transpose::gather_strided;
use super::util::{axis as norm_axis, strides};

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "slice",
        build: build_slice,
        family: "tensor",
        summary: "basic slicing with begin/end/step (None and negative steps)",
    },
    OpEntry {
        name: "slice_axis",
        build: build_slice_axis,
        family: "tensor",
        summary: "slice one axis between begin and end",
    },
    OpEntry {
        name: "slice_like",
        build: build_slice_like,
        family: "tensor",
        summary: "slice to the shape of a second input",
    },
];

#[derive(Debug)]
enum Spec {
    Slice {
        begin: Vec<Option<i64>>,
        end: Vec<Option<i64>>,
        step: Vec<Option<i64>>,
    },
    Axis {
        axis: i64,
        begin: i64,
        end: Option<i64>,
    },
    Like {
        axes: Vec<i64>,
    },
}

#[derive(Debug)]
struct Slice(Spec);

fn build_slice(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    for key in ["begin", "end"] {
        if a.get(key).is_none() {
            return Err(AttrError {
                key: key.into(),
                value: String::new(),
                expected: "present (it is required)",
            });
        }
    }
    let begin = a.opt_tuple("begin")?;
    let end = a.opt_tuple("end")?;
    let step = a.opt_tuple("step")?;
    if begin.len() != end.len() {
        return Err(AttrError {
            key: "end".into(),
            value: a.string("end", "").into(),
            expected: "as long as begin",
        });
    }
    if !step.is_empty() && step.len() != begin.len() {
        return Err(AttrError {
            key: "step".into(),
            value: a.string("step", "").into(),
            expected: "empty or as long as begin",
        });
    }
    if step.contains(&Some(0)) {
        return Err(AttrError {
            key: "step".into(),
            value: a.string("step", "").into(),
            expected: "free of zero steps",
        });
    }
    Ok(Box::new(Slice(Spec::Slice { begin, end, step })))
}

fn build_slice_axis(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let end = match a.get("end") {
        None => {
            return Err(AttrError {
                key: "end".into(),
                value: String::new(),
                expected: "present (it is required)",
            });
        }
        Some(_) => a.opt_int("end")?,
    };
    Ok(Box::new(Slice(Spec::Axis {
        axis: a.req_int("axis")?,
        begin: a.req_int("begin")?,
        end,
    })))
}

fn build_slice_like(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Slice(Spec::Like {
        axes: a.tuple("axes", &[])?,
    })))
}

/// Per-axis `(begin, output size, step)` of a slice of `shape`.
type Ranges = Vec<(usize, usize, isize)>;

/// One axis of `slice`, as MXNet's `GetIndexRange` and
/// `SetSliceOpOutputDimSize` compute it.
fn index_range(len: usize, b: Option<i64>, e: Option<i64>, s: i64) -> (usize, usize, isize) {
    if len == 0 {
        return (0, 0, s as isize);
    }
    let len = len as i64;
    let mut bb = b.unwrap_or(if s < 0 { len - 1 } else { 0 });
    let mut ee = e.unwrap_or(if s < 0 { -1 } else { len });
    if bb < 0 {
        bb += len;
    }
    if ee < 0 && e.is_some() {
        ee += len;
    }
    if bb < 0 && s > 0 {
        bb = 0;
    }
    if bb > len - 1 && s < 0 {
        bb = len - 1;
    }
    if bb < 0 || bb > len - 1 {
        bb = -1;
    }
    ee = ee.clamp(-1, len);
    let size = if ee != bb && bb >= 0 {
        if s > 0 {
            if ee > bb { (ee - bb - 1) / s + 1 } else { 0 }
        } else if ee < bb {
            (bb - ee - 1) / (-s) + 1
        } else {
            0
        }
    } else {
        0
    };
    (bb.max(0) as usize, size as usize, s as isize)
}

impl Slice {
    fn ranges(&self, x: &[usize], like: Option<&[usize]>) -> Result<Ranges, String> {
        let mut r: Ranges = x.iter().map(|&d| (0, d, 1)).collect();
        match &self.0 {
            Spec::Slice { begin, end, step } => {
                if x.is_empty() {
                    return Err("slice needs an input with at least one axis".into());
                }
                if begin.len() > x.len() {
                    return Err(format!(
                        "begin has {} entries, more than the {} axes of the input",
                        begin.len(),
                        x.len()
                    ));
                }
                for i in 0..begin.len() {
                    let s = step.get(i).copied().flatten().unwrap_or(1);
                    r[i] = index_range(x[i], begin[i], end[i], s);
                }
            }
            Spec::Axis { axis, begin, end } => {
                let ax = norm_axis(*axis, x.len())?;
                let size = x[ax] as i64;
                if size == 0 {
                    r[ax] = (0, 0, 1);
                } else {
                    let b = if *begin < 0 { begin + size } else { *begin };
                    let e = match end {
                        None => size,
                        Some(e) if *e < 0 => e + size,
                        Some(e) => *e,
                    };
                    if e > size || b >= e || b < 0 {
                        return Err(format!(
                            "begin {begin} and end {} do not select a non-empty range of axis {ax} (size {size})",
                            end.map_or("None".to_owned(), |e| e.to_string())
                        ));
                    }
                    r[ax] = (b as usize, (e - b) as usize, 1);
                }
            }
            Spec::Like { axes } => {
                let like = like.unwrap_or(&[]);
                let list: Vec<usize> = if axes.is_empty() {
                    if like.len() != x.len() {
                        return Err(format!(
                            "shape_like {} must have as many axes as data {}",
                            shape_str(like),
                            shape_str(x)
                        ));
                    }
                    (0..x.len()).collect()
                } else {
                    axes.iter()
                        .map(|&a| {
                            let ax = norm_axis(a, x.len())?;
                            if ax >= like.len() {
                                return Err(format!(
                                    "axis {a} is out of range for shape_like {}",
                                    shape_str(like)
                                ));
                            }
                            Ok(ax)
                        })
                        .collect::<Result<_, String>>()?
                };
                for ax in list {
                    if like[ax] > x[ax] {
                        return Err(format!(
                            "shape_like {} is larger than data {} on axis {ax}",
                            shape_str(like),
                            shape_str(x)
                        ));
                    }
                    r[ax] = (0, like[ax], 1);
                }
            }
        }
        Ok(r)
    }
}

impl Kernel for Slice {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        let like = matches!(self.0, Spec::Like { .. });
        expect_inputs(inputs, if like { 2 } else { 1 })?;
        let r = self.ranges(inputs[0], inputs.get(1).copied())?;
        Ok(vec![r.iter().map(|&(_, n, _)| n).collect()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let r = self.ranges(x.shape, inputs.get(1).map(|i| i.shape))?;
        let s = strides(x.shape);
        let base: isize = r
            .iter()
            .zip(&s)
            .map(|(&(b, _, _), &st)| (b * st) as isize)
            .sum();
        let shape: Vec<usize> = r.iter().map(|&(_, n, _)| n).collect();
        let step: Vec<isize> = r
            .iter()
            .zip(&s)
            .map(|(&(_, _, k), &st)| k * st as isize)
            .collect();
        gather_strided(x.data, base, &shape, &step, outputs[0].data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::index_range;

    #[test]
    fn ranges_follow_get_index_range() {
        // NumPy: a[::-1] of 5, a[2:0:-1], a[-2:], a[10:], a[:-10:-1].
        assert_eq!(index_range(5, None, None, -1), (4, 5, -1));
        assert_eq!(index_range(4, Some(2), Some(0), -1), (2, 2, -1));
        assert_eq!(index_range(4, Some(-2), None, 1), (2, 2, 1));
        assert_eq!(index_range(4, Some(10), None, 1).1, 0);
        assert_eq!(index_range(4, None, Some(-10), -1), (3, 4, -1));
        assert_eq!(index_range(5, Some(1), Some(4), 2), (1, 2, 2));
    }
}
