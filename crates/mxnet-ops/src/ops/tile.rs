//! `tile`, `repeat` and `reverse`: copies of the input laid side by side or
//! in reverse order.
//!
//! * `tile(data)`: `reps` (required) — copies per axis. Shorter `reps` are
//!   padded with leading 1s; a longer one promotes the input with leading
//!   size-1 axes (output ndim = max of both). `()` gives the input unchanged;
//!   a 0 entry gives a 0-size axis.
//! * `repeat(data)`: `repeats` (required, ≥ 0) — each element is repeated
//!   that many times along `axis` = None (the input is flattened first and the
//!   output is 1-D). `repeats = 0` gives shape `(0,)`.
//! * `reverse(data)` (alias `flip`): `axis` (required) — the axes whose
//!   order is reversed, each in [0, ndim) (MXNet rejects negative ones). An
//!   axis listed twice is reversed twice (so left as is), as in MXNet; `()`
//!   copies the input.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::util::{axis as norm_axis, par_rows, strides};

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "tile",
        build: build_tile,
        family: "tensor",
        summary: "repeat the whole array along each axis",
    },
    OpEntry {
        name: "repeat",
        build: build_repeat,
        family: "tensor",
        summary: "repeat each element along an axis (or flattened)",
    },
    OpEntry {
        name: "reverse",
        build: build_reverse,
        family: "tensor",
        summary: "reverse the order along some axes",
    },
];

#[derive(Debug)]
struct Tile {
    reps: Vec<usize>,
}

fn build_tile(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let reps = a.non_negative(
        "reps",
        &a.req_tuple("reps")?,
        "a tuple of non-negative integers",
    )?;
    Ok(Box::new(Tile { reps }))
}

impl Tile {
    /// The input shape promoted to the output's ndim, and the output shape.
    fn shapes(&self, x: &[usize]) -> (Vec<usize>, Vec<usize>) {
        if self.reps.is_empty() {
            return (x.to_vec(), x.to_vec());
        }
        let n = x.len().max(self.reps.len());
        let pad = |v: &[usize]| -> Vec<usize> {
            let mut p = vec![1; n - v.len()];
            p.extend_from_slice(v);
            p
        };
        let xi = pad(x);
        let r = pad(&self.reps);
        let out = xi.iter().zip(&r).map(|(a, b)| a * b).collect();
        (xi, out)
    }
}

impl Kernel for Tile {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        Ok(vec![self.shapes(inputs[0]).1])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (xs, os) = self.shapes(x.shape);
        let out = &mut *outputs[0].data;
        let Some(&olast) = os.last() else {
            out.copy_from_slice(x.data);
            return Ok(());
        };
        if out.is_empty() {
            return Ok(());
        }
        let nd = os.len();
        let xlast = xs[nd - 1];
        let xstr = strides(&xs);
        par_rows(out, olast, |row, o| {
            // Input row of this output row: outer indices modulo input sizes.
            let (mut rem, mut off) = (row, 0);
            for d in (0..nd - 1).rev() {
                off += (rem % os[d]) % xs[d] * xstr[d];
                rem /= os[d];
            }
            let src = &x.data[off..off + xlast];
            for chunk in o.chunks_mut(xlast) {
                chunk.copy_from_slice(src);
            }
        });
        Ok(())
    }
}

#[derive(Debug)]
struct Repeat {
    repeats: usize,
    axis: Option<i64>,
}

fn build_repeat(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let repeats = a.req_int("repeats")?;
    let repeats = usize::try_from(repeats).map_err(|_| AttrError {
        key: "repeats".into(),
        value: repeats.to_string(),
        expected: "a non-negative integer",
    })?;
    Ok(Box::new(Repeat {
        repeats,
        axis: a.opt_int("axis")?,
    }))
}

impl Repeat {
    /// (outer, axis size, inner) of the input as repeat sees it.
    fn split(&self, x: &[usize]) -> Result<(usize, usize, usize), String> {
        match self.axis {
            None => Ok((1, x.iter().product(), 1)),
            Some(a) => {
                let ax = norm_axis(a, x.len())?;
                Ok((
                    x[..ax].iter().product(),
                    x[ax],
                    x[ax + 1..].iter().product(),
                ))
            }
        }
    }
}

impl Kernel for Repeat {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        self.split(x)?;
        if self.repeats == 0 {
            return Ok(vec![vec![0]]);
        }
        let out = match self.axis {
            None => vec![x.iter().product::<usize>() * self.repeats],
            Some(a) => {
                let ax = norm_axis(a, x.len())?;
                let mut out = x.to_vec();
                out[ax] *= self.repeats;
                out
            }
        };
        Ok(vec![out])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (_, n, inner) = self.split(x.shape)?;
        let out = &mut *outputs[0].data;
        let block = n * inner * self.repeats;
        if block == 0 {
            return Ok(());
        }
        par_rows(out, block, |o, dst| {
            let src = &x.data[o * n * inner..(o + 1) * n * inner];
            for (i, s) in src.chunks(inner).enumerate() {
                for r in 0..self.repeats {
                    let at = (i * self.repeats + r) * inner;
                    dst[at..at + inner].copy_from_slice(s);
                }
            }
        });
        Ok(())
    }
}

#[derive(Debug)]
struct Reverse {
    /// The axes as listed (each listing flips once).
    axes: Vec<usize>,
}

fn build_reverse(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let axes = a.non_negative(
        "axis",
        &a.req_tuple("axis")?,
        "a tuple of non-negative axes",
    )?;
    Ok(Box::new(Reverse { axes }))
}

impl Reverse {
    /// Whether each of `ndim` axes ends up reversed.
    fn flipped(&self, ndim: usize) -> Result<Vec<bool>, String> {
        let mut f = vec![false; ndim];
        for &a in &self.axes {
            let Some(v) = f.get_mut(a) else {
                return Err(format!(
                    "axis {a} is out of range for a {ndim}-d input (negative axes are not accepted)"
                ));
            };
            *v = !*v;
        }
        Ok(f)
    }
}

impl Kernel for Reverse {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        self.flipped(inputs[0].len())?;
        Ok(vec![inputs[0].to_vec()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let out = &mut *outputs[0].data;
        let flip = self.flipped(x.shape.len())?;
        let Some(&last) = x.shape.last() else {
            out.copy_from_slice(x.data);
            return Ok(());
        };
        if out.is_empty() {
            return Ok(());
        }
        let nd = x.shape.len();
        let st = strides(x.shape);
        par_rows(out, last, |row, o| {
            // The input row: each outer index, mirrored on a flipped axis.
            let (mut rem, mut off) = (row, 0);
            for d in (0..nd - 1).rev() {
                let i = rem % x.shape[d];
                rem /= x.shape[d];
                off += if flip[d] { x.shape[d] - 1 - i } else { i } * st[d];
            }
            let src = &x.data[off..off + last];
            if flip[nd - 1] {
                for (o, &v) in o.iter_mut().zip(src.iter().rev()) {
                    *o = v;
                }
            } else {
                o.copy_from_slice(src);
            }
        });
        Ok(())
    }
}
