//! Sorting along an axis: `topk`, `sort`, `argsort`.
//!
//! One input `data`. Attributes (MXNet 1.9.1 defaults):
//! * `topk`: `axis` = −1 (None: the flattened array), `k` = 1 (k ≤ 0 means
//!   the whole axis), `ret_typ` = `indices` (`value`, `both`, `mask`),
//!   `is_ascend` = False, `dtype` = float32 (of the indices). `value` has
//!   one visible output (of two), `both` two: values then indices; `mask`
//!   is 0/1 in the input dtype at the input's shape.
//! * `sort`: `axis` = −1, `is_ascend` = True — the sorted values.
//! * `argsort`: `axis` = −1, `is_ascend` = True, `dtype` = float32 — the
//!   indices that sort.
//!
//! With `axis` None the output is 1-D (k,) and indices are flat indices.
//! Indices are float32 by default, not the input dtype. Each lane is sorted
//! as MXNet sorts it: its indices with `std::sort` when k·8 > n (always for
//! `sort` and `argsort`) and `std::partial_sort` otherwise, under `<`
//! (ascending) or `>` on the values, with libstdc++'s algorithms step for
//! step ([`super::std_sort`]). So equal values (−0 and +0 included) come out
//! in MXNet's order, which is not their original one, and NaN lands where
//! those comparisons put it. MXNet rejects float16 input to these ops; it
//! is accepted here.

use mxnet_format::DType;
use rayon::prelude::*;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::numel;

use super::math::store_all_as;
use super::std_sort;
use super::util::{PAR_GRAIN, axis as norm_axis};

/// The sorting ops' entries.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "topk",
        build,
        family: "tensor",
        summary: "k largest/smallest along an axis: indices, values, both or mask",
    },
    OpEntry {
        name: "sort",
        build,
        family: "tensor",
        summary: "sorted values along an axis",
    },
    OpEntry {
        name: "argsort",
        build,
        family: "tensor",
        summary: "indices that sort along an axis (float32 by default)",
    },
];

/// What `topk` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ret {
    Value,
    Indices,
    Mask,
    Both,
}

#[derive(Debug)]
struct TopK {
    axis: Option<i64>,
    /// k ≤ 0: the whole axis.
    k: i64,
    ret: Ret,
    ascend: bool,
    /// Dtype of the indices.
    dtype: DType,
}

const INDEX_DTYPES: &[&str] = &["uint8", "int32", "int64", "float16", "float32", "float64"];

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let name = crate::registry::canonical(&a.node().op);
    let axis = match a.get("axis") {
        None => Some(-1),
        Some(_) => a.opt_int("axis")?,
    };
    let dtype = || -> Result<DType, AttrError> {
        let d = a.choice("dtype", INDEX_DTYPES, "float32")?;
        d.parse::<DType>().map_err(|_| AttrError {
            key: "dtype".into(),
            value: d.into(),
            expected: "an index dtype",
        })
    };
    let op = match name {
        "sort" => TopK {
            axis,
            k: 0,
            ret: Ret::Value,
            ascend: a.bool("is_ascend", true)?,
            dtype: DType::F32,
        },
        "argsort" => TopK {
            axis,
            k: 0,
            ret: Ret::Indices,
            ascend: a.bool("is_ascend", true)?,
            dtype: dtype()?,
        },
        _ => TopK {
            axis,
            k: a.int("k", 1)?,
            ret: match a.choice("ret_typ", &["value", "indices", "mask", "both"], "indices")? {
                "value" => Ret::Value,
                "mask" => Ret::Mask,
                "both" => Ret::Both,
                _ => Ret::Indices,
            },
            ascend: a.bool("is_ascend", false)?,
            dtype: dtype()?,
        },
    };
    Ok(Box::new(op))
}

/// How the input is split: `outer` lanes groups of `n` values `inner` apart,
/// keeping `k` of each.
struct Split {
    oshape: Vec<usize>,
    outer: usize,
    n: usize,
    inner: usize,
    k: usize,
}

impl TopK {
    fn split(&self, shape: &[usize]) -> Result<Split, String> {
        let (outer, n, inner, axis) = match self.axis {
            None => (1, numel(shape), 1, None),
            Some(a) => {
                let ax = norm_axis(a, shape.len())?;
                (
                    shape[..ax].iter().product(),
                    shape[ax],
                    shape[ax + 1..].iter().product(),
                    Some(ax),
                )
            }
        };
        let k = if self.k <= 0 {
            n
        } else {
            usize::try_from(self.k).unwrap_or(usize::MAX)
        };
        if k > n {
            return Err(format!(
                "k must be at most {n} (the length sorted), got {k}"
            ));
        }
        let oshape = match (self.ret, axis) {
            (Ret::Mask, _) => shape.to_vec(),
            (_, None) => vec![k],
            (_, Some(ax)) => {
                let mut s = shape.to_vec();
                s[ax] = k;
                s
            }
        };
        Ok(Split {
            oshape,
            outer,
            n,
            inner,
            k,
        })
    }
}

impl Kernel for TopK {
    fn num_outputs(&self) -> usize {
        if self.ret == Ret::Both { 2 } else { 1 }
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let s = self.split(inputs[0])?;
        Ok(vec![s.oshape; self.num_outputs()])
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        let d = inputs.first().copied().unwrap_or(DType::F32);
        match self.ret {
            Ret::Value | Ret::Mask => vec![d],
            Ret::Indices => vec![self.dtype],
            Ret::Both => vec![d, self.dtype],
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let Split {
            outer, n, inner, k, ..
        } = self.split(x.shape)?;
        let (ret, ascend, data) = (self.ret, self.ascend, x.data);
        let block = if ret == Ret::Mask {
            n * inner
        } else {
            k * inner
        };
        let (first, rest) = outputs.split_first_mut().ok_or("topk needs an output")?;
        if block == 0 || first.data.is_empty() {
            first.data.fill(0.0);
            return Ok(());
        }
        let mut second = match rest.first_mut() {
            Some(o) if ret == Ret::Both => Some(&mut *o.data),
            _ => None,
        };
        // One outer block: every lane i sorted as MXNet sorts it (its
        // indices by value with libstdc++'s std::sort when k·8 > n, else
        // std::partial_sort), its first k written.
        let full = k * 8 > n;
        let lane = u32::try_from(n).map_err(|_| format!("cannot sort {n} values at once"))?;
        let run = |idx: &mut Vec<u32>, o: usize, a: &mut [f32], mut b: Option<&mut [f32]>| {
            if ret == Ret::Mask {
                a.fill(0.0);
            }
            let base = o * n * inner;
            for i in 0..inner {
                let val = |j: u32| data[base + j as usize * inner + i];
                idx.clear();
                idx.extend(0..lane);
                match (ascend, full) {
                    (true, true) => std_sort::sort(idx, &|p, q| val(p) < val(q)),
                    (true, false) => std_sort::partial_sort(idx, k, &|p, q| val(p) < val(q)),
                    (false, true) => std_sort::sort(idx, &|p, q| val(p) > val(q)),
                    (false, false) => std_sort::partial_sort(idx, k, &|p, q| val(p) > val(q)),
                }
                for (j, &s) in idx[..k].iter().enumerate() {
                    let s = s as usize;
                    match ret {
                        Ret::Value => a[j * inner + i] = data[base + s * inner + i],
                        Ret::Indices => a[j * inner + i] = s as f32,
                        Ret::Mask => a[s * inner + i] = 1.0,
                        Ret::Both => {
                            a[j * inner + i] = data[base + s * inner + i];
                            if let Some(b) = b.as_deref_mut() {
                                b[j * inner + i] = s as f32;
                            }
                        }
                    }
                }
            }
        };
        let parallel = data.len() >= 2 * PAR_GRAIN && outer > 1;
        match second.as_deref_mut() {
            Some(b) if parallel => first
                .data
                .par_chunks_mut(block)
                .zip(b.par_chunks_mut(block))
                .enumerate()
                .for_each_init(Vec::new, |idx, (o, (a, b))| run(idx, o, a, Some(b))),
            Some(b) => {
                let mut idx = Vec::with_capacity(n);
                for (o, (a, b)) in first
                    .data
                    .chunks_mut(block)
                    .zip(b.chunks_mut(block))
                    .enumerate()
                {
                    run(&mut idx, o, a, Some(b));
                }
            }
            None if parallel => first
                .data
                .par_chunks_mut(block)
                .enumerate()
                .for_each_init(Vec::new, |idx, (o, a)| run(idx, o, a, None)),
            None => {
                let mut idx = Vec::with_capacity(n);
                for (o, a) in first.data.chunks_mut(block).enumerate() {
                    run(&mut idx, o, a, None);
                }
            }
        }
        // Indices in an integer dtype are exact; values keep their dtype.
        if ret == Ret::Indices {
            store_all_as(self.dtype, first.data);
        }
        if let Some(b) = second {
            store_all_as(self.dtype, b);
        }
        Ok(())
    }
}
