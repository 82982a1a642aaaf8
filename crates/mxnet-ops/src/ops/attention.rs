//! The fused attention products of MXNet's `contrib/transformer.cc`, which
//! GluonNLP 0.9–0.10 exports for BERT, RoBERTa, DistilBERT and its
//! Transformer (attribute `heads`, required). Sequences are time-major.
//!
//! * `_contrib_interleaved_matmul_selfatt_qk(qkv)`: qkv (T, N, heads·3·D),
//!   each head's query, key and value side by side (head h of sequence n at
//!   h·3D: q, then k, then v). Output (N·heads, T, T): batch b = n·heads + h,
//!   out[b, i, j] = (q_i · k_j) / √D.
//! * `_contrib_interleaved_matmul_selfatt_valatt(qkv, att)`: att
//!   (N·heads, T, T). Output (T, N, heads·D): out[t, n, h·D + d] =
//!   Σ_j att[b, t, j] · v_j[d].
//! * `_contrib_interleaved_matmul_encdec_qk(q, kv)`: q (Tq, N, heads·D), kv
//!   (Tk, N, heads·2·D) with each head's key then value. Output
//!   (N·heads, Tq, Tk) = (q_i · k_j) / √D.
//! * `_contrib_interleaved_matmul_encdec_valatt(kv, att)`: att
//!   (N·heads, Tq, Tk). Output (Tq, N, heads·D) = Σ_j att[b, t, j] · v_j.
//!
//! Each (sequence, head) is one GEMM over strided views, the batches spread
//! over the threads. MXNet scales the finished dot product by the float
//! 1/√D, as its GEMM's alpha does, and so does this; the sums run in another
//! order than MKL's, so values agree to rounding, not bit for bit.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::gemm::{Mat, sgemm_seq};
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "_contrib_interleaved_matmul_selfatt_qk",
        build: |a| build(a, Kind::SelfQk),
        family: "nn",
        summary: "self-attention scores from interleaved q/k/v (GluonNLP BERT)",
    },
    OpEntry {
        name: "_contrib_interleaved_matmul_selfatt_valatt",
        build: |a| build(a, Kind::SelfValAtt),
        family: "nn",
        summary: "self-attention output: scores times interleaved values",
    },
    OpEntry {
        name: "_contrib_interleaved_matmul_encdec_qk",
        build: |a| build(a, Kind::EncDecQk),
        family: "nn",
        summary: "encoder-decoder attention scores from queries and interleaved k/v",
    },
    OpEntry {
        name: "_contrib_interleaved_matmul_encdec_valatt",
        build: |a| build(a, Kind::EncDecValAtt),
        family: "nn",
        summary: "encoder-decoder attention output: scores times interleaved values",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SelfQk,
    SelfValAtt,
    EncDecQk,
    EncDecValAtt,
}

#[derive(Debug)]
struct Attention {
    kind: Kind,
    heads: usize,
}

fn build(a: &Attrs<'_>, kind: Kind) -> Result<Box<dyn Kernel>, AttrError> {
    let heads = a.req_count("heads")?;
    if heads == 0 {
        return Err(AttrError {
            key: "heads".into(),
            value: "0".into(),
            expected: "a positive number of heads",
        });
    }
    Ok(Box::new(Attention { kind, heads }))
}

/// Where one head of one sequence sits in a time-major (T, N, heads·w·D)
/// array: element d of step t is at `t * row + b * w * D + first * D + d`.
#[derive(Clone, Copy)]
struct Heads<'a> {
    data: &'a [f32],
    /// Values per time step (N · heads · w · D).
    row: usize,
    /// Values per head block (w · D).
    block: usize,
    /// Offset of the wanted part (q, k or v) in a block.
    first: usize,
}

impl<'a> Heads<'a> {
    /// The T × D matrix of batch `b` (rows `row` apart).
    fn mat(&self, b: usize) -> Mat<'a> {
        Mat {
            data: &self.data[b * self.block + self.first..],
            rs: self.row,
            cs: 1,
        }
    }
}

impl Attention {
    /// (head size D, sequences N) after checking the interleaved input
    /// `x` = (T, N, heads·w·D).
    fn split(&self, x: &[usize], w: usize, what: &str) -> Result<(usize, usize), String> {
        let per = self.heads * w;
        if x.len() != 3 || x[2] == 0 || !x[2].is_multiple_of(per) {
            return Err(format!(
                "{what} must be (time, batch, heads·{w}·head size) with heads = {}, got {}",
                self.heads,
                shape_str(x)
            ));
        }
        Ok((x[2] / per, x[1]))
    }

    fn att_shape(&self, n: usize, tq: usize, tk: usize) -> Vec<usize> {
        vec![n * self.heads, tq, tk]
    }
}

impl Kernel for Attention {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        let check_att = |att: &[usize], want: Vec<usize>| {
            if att != want.as_slice() {
                return Err(format!(
                    "attention must have shape {}, got {}",
                    shape_str(&want),
                    shape_str(att)
                ));
            }
            Ok(())
        };
        match self.kind {
            Kind::SelfQk => {
                expect_inputs(inputs, 1)?;
                let x = inputs[0];
                let (_, n) = self.split(x, 3, "queries_keys_values")?;
                Ok(vec![self.att_shape(n, x[0], x[0])])
            }
            Kind::SelfValAtt => {
                expect_inputs(inputs, 2)?;
                let x = inputs[0];
                let (d, n) = self.split(x, 3, "queries_keys_values")?;
                check_att(inputs[1], self.att_shape(n, x[0], x[0]))?;
                Ok(vec![vec![x[0], n, self.heads * d]])
            }
            Kind::EncDecQk => {
                expect_inputs(inputs, 2)?;
                let (q, kv) = (inputs[0], inputs[1]);
                let (d, n) = self.split(q, 1, "queries")?;
                let (dk, nk) = self.split(kv, 2, "keys_values")?;
                if (dk, nk) != (d, n) {
                    return Err(format!(
                        "queries {} and keys_values {} need the same batch and head size",
                        shape_str(q),
                        shape_str(kv)
                    ));
                }
                Ok(vec![self.att_shape(n, q[0], kv[0])])
            }
            Kind::EncDecValAtt => {
                expect_inputs(inputs, 2)?;
                let kv = inputs[0];
                let (d, n) = self.split(kv, 2, "keys_values")?;
                let att = inputs[1];
                if att.len() != 3 {
                    return Err(format!(
                        "attention must be (batch·heads, queries, keys), got {}",
                        shape_str(att)
                    ));
                }
                check_att(att, self.att_shape(n, att[1], kv[0]))?;
                Ok(vec![vec![att[1], n, self.heads * d]])
            }
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        use rayon::prelude::*;
        let out = &mut *outputs[0].data;
        let heads = |data, row, block, first| Heads {
            data,
            row,
            block,
            first,
        };
        match self.kind {
            Kind::SelfQk | Kind::EncDecQk => {
                let (q, k, d, tk) = if self.kind == Kind::SelfQk {
                    let s = inputs[0].shape;
                    let d = s[2] / (3 * self.heads);
                    let x = inputs[0].data;
                    (
                        heads(x, s[1] * s[2], 3 * d, 0),
                        heads(x, s[1] * s[2], 3 * d, d),
                        d,
                        s[0],
                    )
                } else {
                    let (qs, ks) = (inputs[0].shape, inputs[1].shape);
                    let d = qs[2] / self.heads;
                    (
                        heads(inputs[0].data, qs[1] * qs[2], d, 0),
                        heads(inputs[1].data, ks[1] * ks[2], 2 * d, 0),
                        d,
                        ks[0],
                    )
                };
                let tq = outputs[0].shape[1];
                let scale = (1.0 / (d as f64).sqrt()) as f32;
                // One batch (sequence, head) per task: its scores are
                // contiguous. Q_b is tq × d, K_b^T d × tk, both strided.
                out.par_chunks_mut(tq * tk).enumerate().for_each(|(b, o)| {
                    sgemm_seq(tq, tk, d, q.mat(b), k.mat(b).t(), o, tk, false);
                    o.iter_mut().for_each(|v| *v *= scale);
                });
            }
            Kind::SelfValAtt | Kind::EncDecValAtt => {
                let s = inputs[0].shape;
                let (w, first) = if self.kind == Kind::SelfValAtt {
                    (3, 2)
                } else {
                    (2, 1)
                };
                let d = s[2] / (w * self.heads);
                let v = heads(inputs[0].data, s[1] * s[2], w * d, first * d);
                let att = inputs[1].data;
                let (bh, tq, tk) = (s[1] * self.heads, outputs[0].shape[0], s[0]);
                // Each batch into its own tq × d block, then interleaved
                // into the time-major output.
                let blocks: Vec<Vec<f32>> = (0..bh)
                    .into_par_iter()
                    .map(|b| {
                        let mut c = vec![0f32; tq * d];
                        let a = &att[b * tq * tk..(b + 1) * tq * tk];
                        sgemm_seq(tq, d, tk, Mat::rows(a, tk), v.mat(b), &mut c, d, false);
                        c
                    })
                    .collect();
                for (b, c) in blocks.iter().enumerate() {
                    for (t, row) in c.chunks_exact(d).enumerate() {
                        out[(t * bh + b) * d..(t * bh + b + 1) * d].copy_from_slice(row);
                    }
                }
            }
        }
        Ok(())
    }
}
