//! `broadcast_to`, `broadcast_like` and `broadcast_axis` (alias
//! `broadcast_axes`): stretch size-1 axes; the output keeps the input's ndim.
//!
//! * `broadcast_to(data)`: `shape` = `()` — the target, same ndim as data;
//!   a 0 entry keeps the input's dimension. Other entries must equal the
//!   input's or stretch a size-1 axis.
//! * `broadcast_like(lhs, rhs)`: `lhs_axes` = None, `rhs_axes` = None. With
//!   either missing, lhs is broadcast to rhs's shape (same ndim). Otherwise
//!   both tuples have the same non-zero length and lhs axis `lhs_axes[i]`
//!   (size 1) takes the size of rhs axis `rhs_axes[i]` (negative allowed).
//!   rhs's values are not read.
//! * `broadcast_axis(data)`: `axis` = `()`, `size` = `()` — same length; each
//!   listed axis (size 1, non-negative index) becomes the matching size.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::transpose::gather_strided;
use super::util::{axis as norm_axis, sizes, strides};

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "broadcast_to",
        build: build_to,
        family: "tensor",
        summary: "broadcast to a shape (0 keeps a dimension)",
    },
    OpEntry {
        name: "broadcast_like",
        build: build_like,
        family: "tensor",
        summary: "broadcast to the shape (or some axes) of a second input",
    },
    OpEntry {
        name: "broadcast_axis",
        build: build_axis,
        family: "tensor",
        summary: "broadcast size-1 axes to given sizes",
    },
];

#[derive(Debug)]
enum Target {
    Shape(Vec<i64>),
    Like(Option<(Vec<i64>, Vec<i64>)>),
    Axes(Vec<i64>, Vec<i64>),
}

#[derive(Debug)]
struct Broadcast(Target);

fn build_to(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Broadcast(Target::Shape(a.tuple("shape", &[])?))))
}

fn opt_axes(a: &Attrs<'_>, key: &str) -> Result<Option<Vec<i64>>, AttrError> {
    match a.get(key).map(str::trim) {
        None | Some("None") => Ok(None),
        Some(_) => a.tuple(key, &[]).map(Some),
    }
}

fn build_like(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let axes = match (opt_axes(a, "lhs_axes")?, opt_axes(a, "rhs_axes")?) {
        (Some(l), Some(r)) => {
            if l.len() != r.len() || l.is_empty() {
                return Err(AttrError {
                    key: "rhs_axes".into(),
                    value: a.string("rhs_axes", "").into(),
                    expected: "a non-empty tuple as long as lhs_axes",
                });
            }
            Some((l, r))
        }
        _ => None,
    };
    Ok(Box::new(Broadcast(Target::Like(axes))))
}

fn build_axis(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let axis = a.tuple("axis", &[])?;
    let size = a.tuple("size", &[])?;
    if axis.len() != size.len() || size.iter().any(|&s| s < 0) {
        return Err(AttrError {
            key: "size".into(),
            value: a.string("size", "").into(),
            expected: "non-negative sizes, one per entry of axis",
        });
    }
    Ok(Box::new(Broadcast(Target::Axes(axis, size))))
}

impl Broadcast {
    fn out_shape(&self, x: &[usize], rhs: Option<&[usize]>) -> Result<Vec<usize>, String> {
        let cannot =
            |to: &[usize]| format!("{} cannot be broadcast to {}", shape_str(x), shape_str(to));
        match &self.0 {
            Target::Shape(shape) => {
                let shape = sizes(shape, "shape")?;
                if shape.len() != x.len() {
                    return Err(format!(
                        "{} cannot be broadcast to {}: the target must have {} axes",
                        shape_str(x),
                        shape_str(&shape),
                        x.len()
                    ));
                }
                let out: Vec<usize> = shape
                    .iter()
                    .zip(x)
                    .map(|(&s, &d)| if s == 0 { d } else { s })
                    .collect();
                if out.iter().zip(x).any(|(&o, &d)| o != d && d != 1) {
                    return Err(cannot(&out));
                }
                Ok(out)
            }
            Target::Like(None) => {
                let rhs = rhs.unwrap_or(&[]);
                if rhs.len() != x.len() || rhs.iter().zip(x).any(|(&o, &d)| o != d && d != 1) {
                    return Err(cannot(rhs));
                }
                Ok(rhs.to_vec())
            }
            Target::Like(Some((la, ra))) => {
                let rhs = rhs.unwrap_or(&[]);
                let mut out = x.to_vec();
                for (&l, &r) in la.iter().zip(ra) {
                    let l = norm_axis(l, x.len())?;
                    let r = norm_axis(r, rhs.len())?;
                    if x[l] != 1 {
                        return Err(format!(
                            "axis {l} of {} must have size 1 to take size {} from rhs",
                            shape_str(x),
                            rhs[r]
                        ));
                    }
                    out[l] = rhs[r];
                }
                Ok(out)
            }
            Target::Axes(axes, sizes) => {
                let mut out = x.to_vec();
                for (&a, &s) in axes.iter().zip(sizes) {
                    // MXNet rejects negative axes here.
                    let a = usize::try_from(a)
                        .ok()
                        .filter(|&a| a < x.len())
                        .ok_or_else(|| format!("axis {a} must be in [0, {})", x.len()))?;
                    if x[a] != 1 {
                        return Err(format!(
                            "axis {a} of {} must have size 1 to be broadcast",
                            shape_str(x)
                        ));
                    }
                    out[a] = s as usize;
                }
                Ok(out)
            }
        }
    }
}

impl Kernel for Broadcast {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        let like = matches!(self.0, Target::Like(_));
        expect_inputs(inputs, if like { 2 } else { 1 })?;
        Ok(vec![self.out_shape(inputs[0], inputs.get(1).copied())?])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let out = &mut outputs[0];
        if x.shape == out.shape {
            out.data.copy_from_slice(x.data);
            return Ok(());
        }
        let step: Vec<isize> = strides(x.shape)
            .iter()
            .zip(x.shape)
            .map(|(&s, &d)| if d == 1 { 0 } else { s as isize })
            .collect();
        gather_strided(x.data, 0, out.shape, &step, out.data);
        Ok(())
    }
}
