//! Matrix products: `dot`, `batch_dot`, `_linalg_gemm2`, all through
//! [`crate::gemm::sgemm`].
//!
//! * `dot` (lhs, rhs; `transpose_a` = False, `transpose_b` = False): two
//!   vectors give their inner product with shape (1,) (transposes are
//!   rejected). Otherwise lhs is viewed as a matrix (prod(shape[:-1]),
//!   shape[-1]) — or, with `transpose_a`, (shape[0], prod(shape[1:]))
//!   transposed, so its *first* axis is contracted — and rhs as
//!   (shape[0], prod(shape[1:])) — or, with `transpose_b`,
//!   (prod(shape[:-1]), shape[-1]) transposed, so its *last* axis is
//!   contracted (not a full axis reversal). The output shape is lhs's free
//!   axes (if lhs is not 1-D) followed by rhs's free axes (if rhs is not 1-D).
//! * `batch_dot` (lhs, rhs; same attributes): N-D × N-D with N ≥ 3 and equal
//!   leading (batch) axes; a matrix product over the last two axes.
//! * `_linalg_gemm2` (A, B; `transpose_a`, `transpose_b` = False, `alpha` =
//!   1, `axis` = −2): alpha·op(A)·op(B) with matrix rows on `axis` and
//!   columns on the last axis; every other axis is a batch axis and must
//!   match between A and B.
//!
//! `forward_stype` is accepted and ignored (dense only).

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::gemm::{Mat, sgemm};
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::{numel, shape_str};

use super::util::{axis as norm_axis, par_rows, strides};

/// The matrix products' entries.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "dot",
        build: build_dot,
        family: "math",
        summary: "matrix product, N-D (lhs last axis with rhs first axis)",
    },
    OpEntry {
        name: "batch_dot",
        build: build_batch_dot,
        family: "math",
        summary: "batched matrix product over the last two axes",
    },
    OpEntry {
        name: "_linalg_gemm2",
        build: build_gemm2,
        family: "math",
        summary: "alpha·op(A)·op(B), batched, row axis selectable",
    },
];

/// A view of an operand as a matrix and the GEMM sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gemm {
    m: usize,
    n: usize,
    k: usize,
}

impl Gemm {
    /// Row-major `m × k` and `k × n` views of operands stored as (m, k) and
    /// (k, n), or as their transposes when `ta` / `tb`.
    fn operands<'a>(self, a: &'a [f32], ta: bool, b: &'a [f32], tb: bool) -> (Mat<'a>, Mat<'a>) {
        let Gemm { m, n, k } = self;
        let a = if ta {
            Mat::transposed(a, m)
        } else {
            Mat::rows(a, k)
        };
        let b = if tb {
            Mat::transposed(b, k)
        } else {
            Mat::rows(b, n)
        };
        (a, b)
    }
}

/// `transpose_a` and `transpose_b`, which `dot`, `batch_dot` and
/// `_linalg_gemm2` share.
fn transposes(a: &Attrs<'_>) -> Result<(bool, bool), AttrError> {
    Ok((a.bool("transpose_a", false)?, a.bool("transpose_b", false)?))
}

#[derive(Debug)]
struct Dot {
    ta: bool,
    tb: bool,
}

fn build_dot(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let (ta, tb) = transposes(a)?;
    Ok(Box::new(Dot { ta, tb }))
}

impl Dot {
    /// Output shape and GEMM sizes (vector·vector: m = n = 1).
    fn plan(&self, l: &[usize], r: &[usize]) -> Result<(Vec<usize>, Gemm), String> {
        if l.is_empty() || r.is_empty() {
            return Err("dot does not take 0-d operands".into());
        }
        if l.len() == 1 && r.len() == 1 {
            if self.ta || self.tb {
                return Err("cannot transpose vectors".into());
            }
            if l[0] != r[0] {
                return Err(format!(
                    "vectors must have the same length, got {} and {}",
                    shape_str(l),
                    shape_str(r)
                ));
            }
            return Ok((
                vec![1],
                Gemm {
                    m: 1,
                    n: 1,
                    k: l[0],
                },
            ));
        }
        // lhs: (free dims, contracted size); rhs likewise.
        let (lfree, lk): (&[usize], usize) = if self.ta {
            (&l[1..], l[0])
        } else {
            (&l[..l.len() - 1], l[l.len() - 1])
        };
        let (rfree, rk): (&[usize], usize) = if self.tb {
            (&r[..r.len() - 1], r[r.len() - 1])
        } else {
            (&r[1..], r[0])
        };
        if lk != rk {
            return Err(format!(
                "contracted sizes differ: lhs {} gives {lk}, rhs {} gives {rk}",
                shape_str(l),
                shape_str(r)
            ));
        }
        let mut oshape = Vec::new();
        if l.len() > 1 {
            oshape.extend_from_slice(lfree);
        }
        if r.len() > 1 {
            oshape.extend_from_slice(rfree);
        }
        Ok((
            oshape,
            Gemm {
                m: numel(lfree),
                n: numel(rfree),
                k: lk,
            },
        ))
    }
}

impl Kernel for Dot {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 2)?;
        Ok(vec![self.plan(inputs[0], inputs[1])?.0])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (l, r) = (inputs[0], inputs[1]);
        let (_, g) = self.plan(l.shape, r.shape)?;
        let (a, b) = g.operands(l.data, self.ta, r.data, self.tb);
        sgemm(g.m, g.n, g.k, a, b, outputs[0].data, g.n, false);
        Ok(())
    }
}

#[derive(Debug)]
struct BatchDot {
    ta: bool,
    tb: bool,
}

fn build_batch_dot(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let (ta, tb) = transposes(a)?;
    Ok(Box::new(BatchDot { ta, tb }))
}

impl BatchDot {
    fn plan(&self, l: &[usize], r: &[usize]) -> Result<(Vec<usize>, Gemm), String> {
        let nd = l.len();
        if nd < 3 || r.len() != nd {
            return Err(format!(
                "operands must both be N-D with N >= 3, got {} and {}",
                shape_str(l),
                shape_str(r)
            ));
        }
        if l[..nd - 2] != r[..nd - 2] {
            return Err(format!(
                "leading (batch) axes must be equal, got {} and {}",
                shape_str(l),
                shape_str(r)
            ));
        }
        let (m, lk) = if self.ta {
            (l[nd - 1], l[nd - 2])
        } else {
            (l[nd - 2], l[nd - 1])
        };
        let (n, rk) = if self.tb {
            (r[nd - 2], r[nd - 1])
        } else {
            (r[nd - 1], r[nd - 2])
        };
        if lk != rk {
            return Err(format!(
                "matrix sizes do not match: {} and {} (transpose_a={}, transpose_b={})",
                shape_str(l),
                shape_str(r),
                self.ta,
                self.tb
            ));
        }
        let mut oshape = l[..nd - 2].to_vec();
        oshape.extend([m, n]);
        Ok((oshape, Gemm { m, n, k: lk }))
    }
}

impl Kernel for BatchDot {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 2)?;
        Ok(vec![self.plan(inputs[0], inputs[1])?.0])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (l, r) = (inputs[0], inputs[1]);
        let (_, g) = self.plan(l.shape, r.shape)?;
        let Gemm { m, n, k } = g;
        par_rows(outputs[0].data, m * n, |bi, c| {
            let ad = &l.data[bi * m * k..(bi + 1) * m * k];
            let bd = &r.data[bi * k * n..(bi + 1) * k * n];
            let (a, b) = g.operands(ad, self.ta, bd, self.tb);
            sgemm(m, n, k, a, b, c, n, false);
        });
        Ok(())
    }
}

/// A matrix view with row stride `rs` and unit column stride, optionally
/// transposed.
fn strided(data: &[f32], rs: usize, transpose: bool) -> Mat<'_> {
    if transpose {
        Mat {
            data,
            rs: 1,
            cs: rs,
        }
    } else {
        Mat { data, rs, cs: 1 }
    }
}

#[derive(Debug)]
struct Gemm2 {
    ta: bool,
    tb: bool,
    alpha: f32,
    axis: i64,
}

fn build_gemm2(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let (ta, tb) = transposes(a)?;
    Ok(Box::new(Gemm2 {
        ta,
        tb,
        alpha: a.float("alpha", 1.0)? as f32,
        axis: a.int("axis", -2)?,
    }))
}

impl Gemm2 {
    /// Output shape, the row axis and the GEMM sizes.
    fn plan(&self, a: &[usize], b: &[usize]) -> Result<(Vec<usize>, usize, Gemm), String> {
        let nd = a.len();
        if nd < 2 || b.len() != nd {
            return Err(format!(
                "A and B must have the same number of axes, at least 2, got {} and {}",
                shape_str(a),
                shape_str(b)
            ));
        }
        let axis = norm_axis(self.axis, nd)
            .ok()
            .filter(|&x| x < nd - 1)
            .ok_or_else(|| format!("invalid row axis {}", self.axis))?;
        for i in 0..nd - 1 {
            if i != axis && a[i] != b[i] {
                return Err(format!(
                    "A and B must have the same shape except on the row and column axes, got {} and {}",
                    shape_str(a),
                    shape_str(b)
                ));
            }
        }
        let (m, ak) = if self.ta {
            (a[nd - 1], a[axis])
        } else {
            (a[axis], a[nd - 1])
        };
        let (n, bk) = if self.tb {
            (b[axis], b[nd - 1])
        } else {
            (b[nd - 1], b[axis])
        };
        if ak != bk {
            return Err(format!(
                "matrix sizes do not match for multiplication: {} and {}",
                shape_str(a),
                shape_str(b)
            ));
        }
        let mut oshape = a.to_vec();
        oshape[axis] = m;
        oshape[nd - 1] = n;
        Ok((oshape, axis, Gemm { m, n, k: ak }))
    }
}

impl Kernel for Gemm2 {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 2)?;
        Ok(vec![self.plan(inputs[0], inputs[1])?.0])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (ia, ib) = (inputs[0], inputs[1]);
        let (oshape, axis, Gemm { m, n, k }) = self.plan(ia.shape, ib.shape)?;
        let nd = oshape.len();
        let (sa, sb, so) = (strides(ia.shape), strides(ib.shape), strides(&oshape));
        let (ta, tb) = (self.ta, self.tb);
        let out = &mut *outputs[0].data;
        if out.is_empty() {
            return Ok(());
        }
        if axis == nd - 2 {
            // Contiguous matrices: batches in parallel.
            let (asz, bsz) = (
                ia.shape[nd - 2] * ia.shape[nd - 1],
                ib.shape[nd - 2] * ib.shape[nd - 1],
            );
            par_rows(out, m * n, |bi, c| {
                let a = strided(&ia.data[bi * asz..(bi + 1) * asz], sa[axis], ta);
                let b = strided(&ib.data[bi * bsz..(bi + 1) * bsz], sb[axis], tb);
                sgemm(m, n, k, a, b, c, n, false);
            });
        } else {
            // Rows strided: walk the batch axes (all but `axis` and the last).
            let batch_axes: Vec<usize> = (0..nd - 1).filter(|&i| i != axis).collect();
            let batches: usize = batch_axes.iter().map(|&i| oshape[i]).product();
            let mut idx = vec![0usize; batch_axes.len()];
            for _ in 0..batches {
                let off = |s: &[usize]| {
                    batch_axes
                        .iter()
                        .zip(&idx)
                        .map(|(&d, &i)| i * s[d])
                        .sum::<usize>()
                };
                let (oa, ob, oc) = (off(&sa), off(&sb), off(&so));
                let a = strided(&ia.data[oa..], sa[axis], ta);
                let b = strided(&ib.data[ob..], sb[axis], tb);
                sgemm(m, n, k, a, b, &mut out[oc..], so[axis], false);
                for d in (0..batch_axes.len()).rev() {
                    idx[d] += 1;
                    if idx[d] < oshape[batch_axes[d]] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
        }
        if self.alpha != 1.0 {
            let alpha = self.alpha;
            for v in out.iter_mut() {
                *v *= alpha;
            }
        }
        Ok(())
    }
}
