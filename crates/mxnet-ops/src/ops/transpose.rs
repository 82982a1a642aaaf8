//! `transpose` and `SwapAxis` (alias `swapaxes`): axis permutations, plus the
//! strided gather every view-like op of the tensor family uses.
//!
//! * `transpose(data)`: `axes` = `()` reverses all axes; otherwise a
//!   permutation of `0..ndim` (MXNet rejects negative entries).
//! * `SwapAxis(data)`: `dim1` = 0, `dim2` = 0 (both may be negative); equal
//!   dims give the identity.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::util::{PAR_GRAIN, axis as norm_axis, par_rows, strides};

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "transpose",
        build: build_transpose,
        family: "tensor",
        summary: "permute axes (default: reverse them)",
    },
    OpEntry {
        name: "SwapAxis",
        build: build_swap,
        family: "tensor",
        summary: "swap two axes",
    },
];

/// Copies a strided view of `src` into `out` (row-major, shape `shape`):
/// element `(i_0, …, i_{n−1})` comes from `src[base + Σ i_d·step_d]`.
/// Steps may be negative (reversed slices) or 0 (broadcasting). The caller
/// guarantees every addressed element is inside `src`.
pub(crate) fn gather_strided(
    src: &[f32],
    base: isize,
    shape: &[usize],
    step: &[isize],
    out: &mut [f32],
) {
    if out.is_empty() {
        return;
    }
    // Drop size-1 axes and merge axes that are contiguous in the source.
    let mut dims: Vec<(usize, isize)> = Vec::with_capacity(shape.len());
    for (&n, &s) in shape.iter().zip(step) {
        if n == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(last) if last.1 == s * n as isize => *last = (last.0 * n, s),
            _ => dims.push((n, s)),
        }
    }
    let Some(&(len, inner)) = dims.last() else {
        out[0] = src[base as usize];
        return;
    };
    let outer = &dims[..dims.len() - 1];
    // Rows of the last merged axis, a block of rows per task.
    let rows_per_block = (PAR_GRAIN / len).max(1);
    par_rows(out, rows_per_block * len, |blk, o| {
        // Multi-index of the block's first row, then an odometer.
        let mut idx = vec![0usize; outer.len()];
        let mut rem = blk * rows_per_block;
        for d in (0..outer.len()).rev() {
            idx[d] = rem % outer[d].0;
            rem /= outer[d].0;
        }
        let mut off: isize = base
            + idx
                .iter()
                .zip(outer)
                .map(|(&i, &(_, s))| i as isize * s)
                .sum::<isize>();
        for row in o.chunks_mut(len) {
            if inner == 1 {
                let start = off as usize;
                row.copy_from_slice(&src[start..start + len]);
            } else {
                let mut p = off;
                for v in row.iter_mut() {
                    *v = src[p as usize];
                    p += inner;
                }
            }
            for d in (0..outer.len()).rev() {
                idx[d] += 1;
                off += outer[d].1;
                if idx[d] < outer[d].0 {
                    break;
                }
                off -= outer[d].1 * outer[d].0 as isize;
                idx[d] = 0;
            }
        }
    });
}

/// Copies `x` permuted: output axis `i` is input axis `perm[i]`.
pub(crate) fn permute(x: &[f32], shape: &[usize], perm: &[usize], out: &mut [f32]) {
    let s = strides(shape);
    let oshape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let step: Vec<isize> = perm.iter().map(|&p| s[p] as isize).collect();
    gather_strided(x, 0, &oshape, &step, out);
}

#[derive(Debug)]
enum Perm {
    /// `transpose` axes (empty: reverse).
    Axes(Vec<i64>),
    /// `SwapAxis` dims.
    Swap(i64, i64),
}

#[derive(Debug)]
struct Transpose(Perm);

fn build_transpose(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Transpose(Perm::Axes(a.tuple("axes", &[])?))))
}

fn build_swap(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Transpose(Perm::Swap(
        a.int("dim1", 0)?,
        a.int("dim2", 0)?,
    ))))
}

impl Transpose {
    fn perm(&self, ndim: usize) -> Result<Vec<usize>, String> {
        match &self.0 {
            Perm::Axes(axes) if axes.is_empty() => Ok((0..ndim).rev().collect()),
            Perm::Axes(axes) => {
                if axes.len() != ndim {
                    return Err(format!(
                        "axes {axes:?} must list all {ndim} axes of the input"
                    ));
                }
                // MXNet rejects negative entries here (unlike most axes).
                let perm = axes
                    .iter()
                    .map(|&a| {
                        usize::try_from(a)
                            .ok()
                            .filter(|&a| a < ndim)
                            .ok_or_else(|| format!("axes entry {a} must be in [0, {ndim})"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut seen = vec![false; ndim];
                for &p in &perm {
                    if std::mem::replace(&mut seen[p], true) {
                        return Err(format!("axes {axes:?} repeat axis {p}"));
                    }
                }
                Ok(perm)
            }
            Perm::Swap(d1, d2) => {
                let (a, b) = (norm_axis(*d1, ndim)?, norm_axis(*d2, ndim)?);
                let mut perm: Vec<usize> = (0..ndim).collect();
                perm.swap(a, b);
                Ok(perm)
            }
        }
    }
}

impl Kernel for Transpose {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        let perm = self.perm(x.len())?;
        Ok(vec![perm.iter().map(|&p| x[p]).collect()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let perm = self.perm(x.shape.len())?;
        permute(x.data, x.shape, &perm, outputs[0].data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::gather_strided;

    #[test]
    fn gather_handles_reversed_and_broadcast_steps() {
        let src: Vec<f32> = (0..6).map(|v| v as f32).collect();
        // (2, 3) read with rows reversed and columns stepping by -1.
        let mut out = vec![0.0; 6];
        gather_strided(&src, 5, &[2, 3], &[-3, -1], &mut out);
        assert_eq!(out, [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
        // Broadcast a row three times.
        let mut out = vec![0.0; 9];
        gather_strided(&src, 0, &[3, 3], &[0, 1], &mut out);
        assert_eq!(out, [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
        // Many rows (crosses blocks): transpose of (3, 40000).
        let big: Vec<f32> = (0..120_000).map(|v| v as f32).collect();
        let mut out = vec![0.0; 120_000];
        gather_strided(&big, 0, &[40_000, 3], &[1, 40_000], &mut out);
        assert!(
            out.chunks(3)
                .enumerate()
                .all(|(i, r)| r == [i as f32, (i + 40_000) as f32, (i + 80_000) as f32])
        );
    }
}
