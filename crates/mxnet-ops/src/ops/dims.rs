//! `expand_dims` and `squeeze`: add or drop size-1 axes (the values are
//! copied unchanged).
//!
//! * `expand_dims(data)`: `axis` (required), in `[−ndim−1, ndim]`; the new
//!   axis of size 1 lands at that position.
//! * `squeeze(data)`: `axis` = None drops every size-1 axis; a tuple drops
//!   those axes (each must have size 1, no repeats; negative allowed).
//!   Legacy-mode quirk: squeezing every axis away gives shape `(1,)`, not `()`.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::util::axis as norm_axis;

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "expand_dims",
        build: build_expand,
        family: "tensor",
        summary: "insert a size-1 axis",
    },
    OpEntry {
        name: "squeeze",
        build: build_squeeze,
        family: "tensor",
        summary: "drop size-1 axes",
    },
];

#[derive(Debug)]
enum Dims {
    Expand(i64),
    /// `None`: all size-1 axes.
    Squeeze(Option<Vec<i64>>),
}

#[derive(Debug)]
struct ReDim(Dims);

fn build_expand(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(ReDim(Dims::Expand(a.req_int("axis")?))))
}

fn build_squeeze(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let axes = match a.get("axis").map(str::trim) {
        None | Some("None") => None,
        Some(_) => Some(a.tuple("axis", &[])?),
    };
    Ok(Box::new(ReDim(Dims::Squeeze(axes))))
}

impl Kernel for ReDim {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        let out = match &self.0 {
            Dims::Expand(axis) => {
                let at = norm_axis(*axis, x.len() + 1)?;
                let mut out = x.to_vec();
                out.insert(at, 1);
                out
            }
            Dims::Squeeze(None) => {
                let out: Vec<usize> = x.iter().copied().filter(|&d| d != 1).collect();
                if out.is_empty() && !x.is_empty() {
                    vec![1]
                } else {
                    out
                }
            }
            Dims::Squeeze(Some(axes)) => {
                let mut drop = vec![false; x.len()];
                for &a in axes {
                    let a = norm_axis(a, x.len())?;
                    if x[a] != 1 {
                        return Err(format!(
                            "cannot squeeze axis {a} of {}: its size is not 1",
                            shape_str(x)
                        ));
                    }
                    if std::mem::replace(&mut drop[a], true) {
                        return Err(format!("axis {a} is listed twice"));
                    }
                }
                let out: Vec<usize> = x
                    .iter()
                    .zip(&drop)
                    .filter(|(_, d)| !**d)
                    .map(|(s, _)| *s)
                    .collect();
                if out.is_empty() && !x.is_empty() {
                    vec![1]
                } else {
                    out
                }
            }
        };
        Ok(vec![out])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        outputs[0].data.copy_from_slice(inputs[0].data);
        Ok(())
    }
}
