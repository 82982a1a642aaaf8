//! The softmax family and the training head whose forward is a softmax.
//!
//! * `softmax` (axis −1, `temperature`, `use_length` with a length input,
//!   `dtype` for the output), `log_softmax`, `softmin` (softmax of −x).
//! * `SoftmaxActivation`: mode `instance` (default) over the last axis;
//!   `channel` over axis 1.
//! * `SoftmaxOutput` (alias `Softmax`): by default over the flattened
//!   non-batch axes; `multi_output` over axis 1; `preserve_shape` over the
//!   last axis. Its label input is not read at inference.

use mxnet_format::DType;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::util::{axis as norm_axis, par_rows};

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "softmax",
        build: build_softmax,
        family: "nn",
        summary: "softmax along an axis (temperature, use_length)",
    },
    OpEntry {
        name: "log_softmax",
        build: build_softmax,
        family: "nn",
        summary: "log of softmax along an axis",
    },
    OpEntry {
        name: "softmin",
        build: build_softmax,
        family: "nn",
        summary: "softmax of −x along an axis",
    },
    OpEntry {
        name: "SoftmaxActivation",
        build: build_activation,
        family: "nn",
        summary: "softmax over the last axis (instance) or axis 1 (channel)",
    },
    OpEntry {
        name: "SoftmaxOutput",
        build: build_output,
        family: "loss",
        summary: "softmax training head; label unused at inference",
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Axis {
    /// One axis (may be negative).
    Index(i64),
    /// Everything after axis 0, as one axis.
    FlattenRest,
}

#[derive(Debug)]
struct Softmax {
    axis: Axis,
    temperature: f32,
    log: bool,
    negate: bool,
    use_length: bool,
    dtype: Option<DType>,
    /// Inputs not read (SoftmaxOutput's label).
    unused: &'static [usize],
}

fn build_softmax(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let name = crate::registry::canonical(&a.node().op);
    let dtype = match a.get("dtype").map(str::trim) {
        None | Some("None") => None,
        Some(d) => Some(d.parse::<DType>().map_err(|_| AttrError {
            key: "dtype".into(),
            value: d.into(),
            expected: "a dtype name such as float32",
        })?),
    };
    Ok(Box::new(Softmax {
        axis: Axis::Index(a.int("axis", -1)?),
        temperature: a.opt_float("temperature")?.unwrap_or(1.0) as f32,
        log: name == "log_softmax",
        negate: name == "softmin",
        use_length: a.bool("use_length", false)?,
        dtype,
        unused: &[],
    }))
}

fn build_activation(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let axis = match a.choice("mode", &["instance", "channel"], "instance")? {
        "channel" => Axis::Index(1),
        _ => Axis::Index(-1),
    };
    Ok(Box::new(Softmax {
        axis,
        temperature: 1.0,
        log: false,
        negate: false,
        use_length: false,
        dtype: None,
        unused: &[],
    }))
}

fn build_output(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let axis = if a.bool("multi_output", false)? {
        Axis::Index(1)
    } else if a.bool("preserve_shape", false)? {
        Axis::Index(-1)
    } else {
        Axis::FlattenRest
    };
    Ok(Box::new(Softmax {
        axis,
        temperature: 1.0,
        log: false,
        negate: false,
        use_length: false,
        dtype: None,
        unused: &[1],
    }))
}

impl Softmax {
    /// (outer, length of the softmax axis, inner) for a shape.
    fn split(&self, shape: &[usize]) -> Result<(usize, usize, usize), String> {
        match self.axis {
            Axis::FlattenRest => {
                let n = shape.first().copied().unwrap_or(1);
                Ok((n, shape.iter().skip(1).product(), 1))
            }
            Axis::Index(a) => {
                let ax = norm_axis(a, shape.len())?;
                Ok((
                    shape[..ax].iter().product(),
                    shape[ax],
                    shape[ax + 1..].iter().product(),
                ))
            }
        }
    }
}

impl Kernel for Softmax {
    fn unused_inputs(&self) -> &[usize] {
        self.unused
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, if self.use_length { 2 } else { 1 })?;
        self.split(inputs[0])?;
        Ok(vec![inputs[0].to_vec()])
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        vec![
            self.dtype
                .unwrap_or_else(|| inputs.first().copied().unwrap_or(DType::F32)),
        ]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (_, len, inner) = self.split(x.shape)?;
        let lengths = if self.use_length {
            Some(inputs[1].data)
        } else {
            None
        };
        let (t, log, neg) = (self.temperature, self.log, self.negate);
        let block = len * inner;
        par_rows(outputs[0].data, block.max(1), |o, out| {
            let src = &x.data[o * block..o * block + out.len()];
            for i in 0..inner {
                // The valid length of this row along the axis.
                let valid = match lengths {
                    Some(l) => (l.get(o * inner + i).copied().unwrap_or(len as f32).max(0.0)
                        as usize)
                        .min(len),
                    None => len,
                };
                let at = |k: usize| k * inner + i;
                let val = |k: usize| {
                    let v = src[at(k)] / t;
                    if neg { -v } else { v }
                };

                let mut mx = f32::NEG_INFINITY;
                for k in 0..valid {
                    mx = mx.max(val(k));
                }
                let mut sum = 0.0f32;
                for k in 0..valid {
                    let e = (val(k) - mx).exp();
                    out[at(k)] = e;
                    sum += e;
                }
                for k in 0..valid {
                    out[at(k)] = if log {
                        val(k) - mx - sum.ln()
                    } else {
                        out[at(k)] / sum
                    };
                }
                for k in valid..len {
                    out[at(k)] = 0.0;
                }
            }
        });
        Ok(())
    }
}
