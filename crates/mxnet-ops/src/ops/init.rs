//! Ops that make arrays from attributes or from another array's shape:
//! `_zeros`, `_ones`, `_full`, `_arange`, `zeros_like`, `ones_like`,
//! `shape_array`, `size_array`, `_contrib_arange_like`.
//!
//! * `_zeros`, `_ones`, `_full` (no inputs): `shape` = `()`; `dtype` =
//!   `float32`; `ctx` ignored; `_full` also `value` (required, converted to
//!   the dtype as a `static_cast`). In legacy (non-NumPy) graphs a 0 in
//!   `shape` means "unknown": the shape keeps its 0s here and the executor
//!   completes it from the consumer (Gluon RNN begin states rely on this).
//! * `_arange` (no inputs): `start` (required), `stop` = None (then the range
//!   is `[0, start)`), `step` = 1 (≠ 0), `repeat` = 1 (> 0) — each value
//!   repeated, `infer_range` = False (True with no `stop`: the length comes
//!   from the consumer), `dtype` = `float32`. Length
//!   ⌈(stop − start)/step⌉·repeat, which must be positive. Value i is
//!   `start + ⌊i/repeat⌋·step` computed in the output dtype (integer dtypes
//!   truncate start and step first).
//! * `zeros_like`, `ones_like` (data): the input's shape and dtype.
//! * `shape_array` (data): the shape as an int64 vector; `size_array`
//!   (data): the element count as int64, shape (1,).
//! * `_contrib_arange_like` (data): `start` = 0, `step` = 1, `repeat` = 1,
//!   `axis` = None — output of data's shape (or, with an axis, 1-D of that
//!   axis's size) filled like `_arange`, in data's dtype.

use mxnet_format::DType;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::cast::{cast_value, dtype_attr};
use super::util::{axis as norm_axis, fill_indexed};

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "_zeros",
        build: build_fill,
        family: "init",
        summary: "array of zeros (0 dims inferred from the consumer)",
    },
    OpEntry {
        name: "_ones",
        build: build_fill,
        family: "init",
        summary: "array of ones (0 dims inferred from the consumer)",
    },
    OpEntry {
        name: "_full",
        build: build_fill,
        family: "init",
        summary: "array filled with a value",
    },
    OpEntry {
        name: "_arange",
        build: build_arange,
        family: "init",
        summary: "evenly spaced values (start, stop, step, repeat)",
    },
    OpEntry {
        name: "zeros_like",
        build: build_like,
        family: "init",
        summary: "zeros of the input's shape and dtype",
    },
    OpEntry {
        name: "ones_like",
        build: build_like,
        family: "init",
        summary: "ones of the input's shape and dtype",
    },
    OpEntry {
        name: "shape_array",
        build: build_like,
        family: "init",
        summary: "the input's shape as an int64 vector",
    },
    OpEntry {
        name: "size_array",
        build: build_like,
        family: "init",
        summary: "the input's element count as int64",
    },
    OpEntry {
        name: "_contrib_arange_like",
        build: build_arange_like,
        family: "init",
        summary: "evenly spaced values shaped like the input (or one axis)",
    },
];

/// `_zeros` / `_ones` / `_full`.
#[derive(Debug)]
struct Fill {
    shape: Vec<usize>,
    dtype: DType,
    value: f32,
}

fn build_fill(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let name = crate::registry::canonical(&a.node().op);
    let shape = a.non_negative(
        "shape",
        &a.tuple("shape", &[])?,
        "a tuple of non-negative sizes",
    )?;
    let dtype = dtype_attr(a, "dtype", DType::F32)?;
    let value = match name {
        "_full" => a.req_float("value")? as f32,
        "_ones" => 1.0,
        _ => 0.0,
    };
    Ok(Box::new(Fill {
        shape,
        dtype,
        value: cast_value(value, DType::F64, dtype),
    }))
}

impl Kernel for Fill {
    fn infer_shapes(&self, _: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![self.shape.clone()])
    }

    fn infer_dtypes(&self, _: &[DType]) -> Vec<DType> {
        vec![self.dtype]
    }

    fn forward(&self, _: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        outputs[0].data.fill(self.value);
        Ok(())
    }
}

/// The arithmetic of MXNet's `range_fwd`: value i is
/// `start + ⌊i/repeat⌋·step` in the output dtype.
#[derive(Debug, Clone, Copy)]
struct Range {
    start: f64,
    step: f64,
    repeat: usize,
}

impl Range {
    fn fill(&self, dtype: DType, out: &mut [f32]) {
        let rep = self.repeat.max(1);
        match dtype {
            DType::F64 => {
                fill_indexed(out, |i| (self.start + (i / rep) as f64 * self.step) as f32);
            }
            d if d.is_float() => {
                let (s, k) = (self.start as f32, self.step as f32);
                fill_indexed(out, |i| s + (i / rep) as f32 * k);
            }
            d => {
                // Integer dtypes: start and step are truncated to the type.
                let (s, k) = (self.start as i64, self.step as i64);
                fill_indexed(out, |i| {
                    cast_value((s + (i / rep) as i64 * k) as f32, DType::I64, d)
                });
            }
        }
    }
}

#[derive(Debug)]
struct Arange {
    range: Range,
    /// Output length; `None` when it comes from the consumer (infer_range).
    len: Option<usize>,
    dtype: DType,
}

fn build_arange(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let mut start = a.req_float("start")?;
    let mut stop = a.opt_float("stop")?;
    let step = a.float("step", 1.0)?;
    let repeat = a.int("repeat", 1)?;
    let infer_range = a.bool("infer_range", false)?;
    let dtype = dtype_attr(a, "dtype", DType::F32)?;
    let bad = |key: &str, expected| AttrError {
        key: key.into(),
        value: a.string(key, "").into(),
        expected,
    };
    if step == 0.0 {
        return Err(bad("step", "non-zero"));
    }
    if repeat <= 0 {
        return Err(bad("repeat", "positive"));
    }
    if dtype == DType::Bool {
        return Err(bad("dtype", "a numeric dtype (not bool)"));
    }
    if stop.is_none() && !infer_range {
        stop = Some(start);
        start = 0.0;
    }
    let len = match stop {
        None => None,
        Some(stop) => {
            let ok = if step > 0.0 {
                start < stop
            } else {
                start > stop
            };
            if !ok {
                return Err(bad(
                    "stop",
                    "beyond start in the direction of step (the range is empty)",
                ));
            }
            let n = ((stop - start) / step).ceil() * repeat as f64;
            if n >= (1u64 << 31) as f64 {
                return Err(bad("stop", "within 2^31 elements of start"));
            }
            Some(n as usize)
        }
    };
    Ok(Box::new(Arange {
        range: Range {
            start,
            step,
            repeat: repeat as usize,
        },
        len,
        dtype,
    }))
}

impl Kernel for Arange {
    fn infer_shapes(&self, _: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![vec![self.len.unwrap_or(0)]])
    }

    fn infer_dtypes(&self, _: &[DType]) -> Vec<DType> {
        vec![self.dtype]
    }

    fn forward(&self, _: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        self.range.fill(self.dtype, outputs[0].data);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum LikeKind {
    Zeros,
    Ones,
    Shape,
    Size,
}

#[derive(Debug)]
struct Like(LikeKind);

fn build_like(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Like(
        match crate::registry::canonical(&a.node().op) {
            "ones_like" => LikeKind::Ones,
            "shape_array" => LikeKind::Shape,
            "size_array" => LikeKind::Size,
            _ => LikeKind::Zeros,
        },
    )))
}

impl Kernel for Like {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        Ok(vec![match self.0 {
            LikeKind::Zeros | LikeKind::Ones => x.to_vec(),
            LikeKind::Shape => vec![x.len()],
            LikeKind::Size => vec![1],
        }])
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        vec![match self.0 {
            LikeKind::Shape | LikeKind::Size => DType::I64,
            _ => inputs.first().copied().unwrap_or(DType::F32),
        }]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let out = &mut *outputs[0].data;
        match self.0 {
            LikeKind::Zeros => out.fill(0.0),
            LikeKind::Ones => out.fill(1.0),
            LikeKind::Shape => {
                for (o, &d) in out.iter_mut().zip(x.shape) {
                    *o = d as f32;
                }
            }
            LikeKind::Size => out.fill(x.shape.iter().product::<usize>() as f32),
        }
        Ok(())
    }
}

#[derive(Debug)]
struct ArangeLike {
    range: Range,
    axis: Option<i64>,
}

fn build_arange_like(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let repeat = a.int("repeat", 1)?;
    if repeat <= 0 {
        return Err(AttrError {
            key: "repeat".into(),
            value: repeat.to_string(),
            expected: "positive",
        });
    }
    Ok(Box::new(ArangeLike {
        range: Range {
            start: a.float("start", 0.0)?,
            step: a.float("step", 1.0)?,
            repeat: repeat as usize,
        },
        axis: a.opt_int("axis")?,
    }))
}

impl Kernel for ArangeLike {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        Ok(vec![match self.axis {
            None => x.to_vec(),
            Some(a) => vec![x[norm_axis(a, x.len())?]],
        }])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        self.range.fill(inputs[0].dtype, outputs[0].data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use mxnet_format::symbol::{Node, NodeEntry, Symbol};

    use crate::{Executor, Program, Tensor, Weights};

    fn node(op: &str, attrs: &[(&str, &str)], inputs: &[u32]) -> Node {
        let inputs = inputs.iter().map(|&i| NodeEntry::new(i, 0)).collect();
        Node::operator(op, op, attrs, inputs)
    }

    /// `_zeros` with 0 (unknown) dims takes its shape from its consumer:
    /// `where`'s y from x, `SequenceMask`'s lengths from data.
    #[test]
    fn zero_dims_come_from_the_consumer() {
        let nodes = vec![
            Node::variable("data"),
            node("_zeros", &[("shape", "(0, 0)")], &[]),
            node("where", &[], &[0, 0, 1]),
            node("_zeros", &[("shape", "(0,)")], &[]),
            node(
                "SequenceMask",
                &[("use_sequence_length", "True"), ("value", "-1")],
                &[2, 3],
            ),
        ];
        let sym = Symbol::new(nodes, vec![NodeEntry::new(4, 0)]).unwrap();
        let program = Program::compile(&sym, None).unwrap();
        let weights = Weights::new();
        let shapes = HashMap::from([("data".to_owned(), vec![2, 3])]);
        let plan = program.bind(&weights, &shapes).unwrap();
        let mut exec = Executor::new(&program, &weights, plan);
        let data = Tensor::new(vec![2, 3], vec![1.0, 0.0, 2.0, 0.0, 3.0, 4.0]).unwrap();
        let out = exec
            .run(&HashMap::from([("data".to_owned(), data)]))
            .unwrap();
        assert_eq!(out[0].shape, [2, 3]);
        assert_eq!(out[0].data, [-1.0; 6]);
    }
}
