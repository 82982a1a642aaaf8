//! `Activation` (relu, sigmoid, tanh, softrelu, softsign) and `LeakyReLU`
//! (leaky, prelu, elu, selu, gelu, rrelu at inference).
//!
//! LeakyReLU defaults: act_type `leaky`, slope 0.25, lower_bound 0.125,
//! upper_bound 0.334. prelu's gamma has one slope per channel (axis 1) or a
//! single one; rrelu at inference uses the mean slope (lower + upper)/2; selu
//! uses fixed α = 1.6732632423543772, λ = 1.0507009873554805; gelu is the
//! exact erf form.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::util::erf;
use super::util::{map_unary, par_rows};

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "Activation",
        build: build_activation,
        family: "nn",
        summary: "relu, sigmoid, tanh, softrelu, softsign",
    },
    OpEntry {
        name: "LeakyReLU",
        build: build_leaky,
        family: "nn",
        summary: "leaky, prelu, elu, selu, gelu, rrelu (inference)",
    },
];

/// The element-wise functions of `Activation`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Act {
    Relu,
    Sigmoid,
    Tanh,
    SoftRelu,
    SoftSign,
}

impl Act {
    #[inline]
    pub(crate) fn apply(self, x: f32) -> f32 {
        match self {
            // One comparison, false for NaN, so NaN passes through as in MXNet.
            Act::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
            Act::SoftRelu => softrelu(x),
            Act::SoftSign => x / (1.0 + x.abs()),
        }
    }
}

/// log(1 + eˣ), as MXNet computes it (linear beyond 20).
#[inline]
pub(crate) fn softrelu(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

#[derive(Debug)]
struct Activation(Act);

fn build_activation(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let act = match a.choice(
        "act_type",
        &["relu", "sigmoid", "tanh", "softrelu", "softsign"],
        "",
    )? {
        "relu" => Act::Relu,
        "sigmoid" => Act::Sigmoid,
        "tanh" => Act::Tanh,
        "softrelu" => Act::SoftRelu,
        "softsign" => Act::SoftSign,
        _ => {
            return Err(AttrError {
                key: "act_type".into(),
                value: String::new(),
                expected: "present (it is required)",
            });
        }
    };
    Ok(Box::new(Activation(act)))
}

impl Kernel for Activation {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        Ok(vec![inputs[0].to_vec()])
    }
    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        // One loop per function, so each vectorises without a per-element match.
        let (x, out) = (inputs[0].data, &mut *outputs[0].data);
        match self.0 {
            Act::Relu => map_unary(x, out, move |v| Act::Relu.apply(v)),
            Act::Sigmoid => map_unary(x, out, move |v| Act::Sigmoid.apply(v)),
            Act::Tanh => map_unary(x, out, move |v| Act::Tanh.apply(v)),
            Act::SoftRelu => map_unary(x, out, move |v| Act::SoftRelu.apply(v)),
            Act::SoftSign => map_unary(x, out, move |v| Act::SoftSign.apply(v)),
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Leaky {
    Slope(f32),
    /// rrelu at inference: the mean slope; MXNet also returns a mask output
    /// (left uninitialised by MXNet); we fill it with the slope.
    Rrelu(f32),
    Prelu,
    Elu(f32),
    Selu,
    Gelu,
}

#[derive(Debug)]
struct LeakyRelu(Leaky);

fn build_leaky(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let slope = a.float("slope", 0.25)? as f32;
    let kind = match a.choice(
        "act_type",
        &["leaky", "prelu", "rrelu", "elu", "selu", "gelu"],
        "leaky",
    )? {
        "prelu" => Leaky::Prelu,
        "rrelu" => {
            let lo = a.float("lower_bound", 0.125)?;
            let hi = a.float("upper_bound", 0.334)?;
            Leaky::Rrelu(((lo + hi) / 2.0) as f32)
        }
        "elu" => Leaky::Elu(slope),
        "selu" => Leaky::Selu,
        "gelu" => Leaky::Gelu,
        _ => Leaky::Slope(slope),
    };
    Ok(Box::new(LeakyRelu(kind)))
}

impl Kernel for LeakyRelu {
    fn num_outputs(&self) -> usize {
        if matches!(self.0, Leaky::Rrelu(_)) {
            2
        } else {
            1
        }
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        if self.0 == Leaky::Prelu {
            expect_inputs(inputs, 2)?;
            let x = inputs[0];
            let c = x.get(1).copied().unwrap_or(1);
            if inputs[1] != [c] && inputs[1] != [1] {
                return Err(format!("prelu gamma must have shape ({c},) or (1,)"));
            }
        }
        Ok(vec![inputs[0].to_vec(); self.num_outputs()])
    }

    /// prelu's gamma, when not given, is one slope per channel (axis 1), as
    /// MXNet infers it.
    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match (self.0, inputs.first()) {
            (Leaky::Prelu, Some(Some(x))) => vec![None, Some(vec![x.get(1).copied().unwrap_or(1)])],
            _ => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0].data;
        if let (Leaky::Rrelu(s), Some(mask)) = (self.0, outputs.get_mut(1)) {
            mask.data.fill(s);
        }
        let out = &mut *outputs[0].data;
        match self.0 {
            Leaky::Slope(s) | Leaky::Rrelu(s) => {
                map_unary(x, out, move |v| if v > 0.0 { v } else { v * s })
            }
            Leaky::Elu(s) => map_unary(x, out, move |v| if v > 0.0 { v } else { s * v.exp_m1() }),
            Leaky::Selu => {
                const ALPHA: f32 = 1.673_263_2;
                const LAMBDA: f32 = 1.050_701;
                map_unary(x, out, move |v| {
                    LAMBDA * if v > 0.0 { v } else { ALPHA * v.exp_m1() }
                })
            }
            Leaky::Gelu => map_unary(x, out, move |v| {
                0.5 * v * (1.0 + erf(v as f64 / std::f64::consts::SQRT_2) as f32)
            }),
            Leaky::Prelu => {
                let shape = inputs[0].shape;
                let gamma = inputs[1].data;
                let c = shape.get(1).copied().unwrap_or(1);
                let inner: usize = shape.iter().skip(2).product();
                par_rows(out, inner.max(1), |row, o| {
                    let g = if gamma.len() == 1 {
                        gamma[0]
                    } else {
                        gamma[row % c]
                    };
                    let src = &x[row * inner..row * inner + o.len()];
                    for (o, &v) in o.iter_mut().zip(src) {
                        *o = if v > 0.0 { v } else { v * g };
                    }
                });
            }
        }
        Ok(())
    }
}
