//! Kernels for the chains the executor fuses at plan time (see
//! `crate::fuse`): Convolution or FullyConnected → BatchNorm → elemwise_add
//! → relu/clip as one step whose epilogue ([`Epilogue`]) applies the later
//! ops to the output while it is in cache. (BatchNorm → relu/clip is a
//! [`BatchNorm`] with its `post` set.)

use crate::kernel::{In, Kernel, Out};

use super::batch_norm::BatchNorm;
use super::convolution::{Convolution, Prepared, conv_forward_prepared};
use super::epilogue::{Epilogue, Post};
use super::fully_connected::{FullyConnected, fc_forward};

/// What happens to a fused chain's BatchNorm.
#[derive(Debug)]
pub(crate) enum BnPart {
    /// The chain has none.
    None,
    /// Folded at plan time: the layer's weights scaled per output channel,
    /// and the per-channel bias that replaces the layer's.
    Folded {
        /// Weights, the layer's layout (empty when the step's
        /// [`FusedLayer::prepared`] filters replace them).
        weight: Vec<f32>,
        /// b·scale + shift (b = 0 without a bias).
        bias: Vec<f32>,
    },
    /// Applied in the epilogue; its gamma, beta, mean and var are inputs
    /// (the layer's weights are not constants).
    Runtime(BatchNorm),
}

/// Scales each of the `rows` rows of `w` (row-major) by `scale[row]` and
/// returns the folded weights and bias: the plan-time BatchNorm fold.
pub(crate) fn fold(
    bn: &BatchNorm,
    w: &[f32],
    bias: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
) -> BnPart {
    let (scale, shift) = bn.scale_shift(gamma, beta, mean, var);
    let rows = scale.len();
    let per = w.len() / rows.max(1);
    let mut weight = w.to_vec();
    for (row, &s) in weight.chunks_mut(per.max(1)).zip(&scale) {
        for v in row {
            *v *= s;
        }
    }
    let bias = (0..rows)
        .map(|c| bias.map_or(0.0, |b| b[c]) * scale[c] + shift[c])
        .collect();
    BnPart::Folded { weight, bias }
}

/// The layer inside a fused chain.
#[derive(Debug)]
pub(crate) enum Layer {
    /// A convolution (channels on axis 1).
    Conv(Convolution),
    /// A dense layer (channels on the last axis).
    Dense(FullyConnected),
}

impl Layer {
    fn no_bias(&self) -> bool {
        match self {
            Layer::Conv(c) => c.no_bias,
            Layer::Dense(d) => d.no_bias,
        }
    }
}

/// Convolution or FullyConnected, then an optional BatchNorm, residual add
/// and activation, as one step.
///
/// Inputs: the data; unless the BatchNorm is folded, the weight and (when
/// the layer has one) the bias, then for [`BnPart::Runtime`] gamma, beta,
/// moving_mean and moving_var; last the residual when `residual`.
#[derive(Debug)]
pub(crate) struct FusedLayer {
    /// The layer.
    pub layer: Layer,
    /// Its BatchNorm.
    pub bn: BnPart,
    /// Whether an `elemwise_add` operand is the last input.
    pub residual: bool,
    /// The activation.
    pub post: Post,
    /// A convolution's filters (folded, when the BatchNorm is) prepared at
    /// plan time for the path that runs them; then they are read instead
    /// of the weights.
    pub prepared: Prepared,
}

impl Kernel for FusedLayer {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        // Plans are bound before fusion; the output is the layer's.
        let _ = inputs;
        Err("a fused step's shapes come from the unfused graph".into())
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let residual = self.residual.then(|| inputs[inputs.len() - 1].data);
        let (w, bias, scale_shift) = match &self.bn {
            BnPart::Folded { weight, bias } => (&weight[..], Some(&bias[..]), None),
            BnPart::None => {
                let bias = (!self.layer.no_bias()).then(|| inputs[2].data);
                (inputs[1].data, bias, None)
            }
            BnPart::Runtime(bn) => {
                let has_bias = !self.layer.no_bias();
                let p = if has_bias { 3 } else { 2 };
                let (scale, mut shift) = bn.scale_shift(
                    inputs[p].data,
                    inputs[p + 1].data,
                    inputs[p + 2].data,
                    inputs[p + 3].data,
                );
                if has_bias {
                    for ((t, &b), &s) in shift.iter_mut().zip(inputs[2].data).zip(&scale) {
                        *t += b * s;
                    }
                }
                (inputs[1].data, None, Some((scale, shift)))
            }
        };
        let epi = Epilogue {
            scale: scale_shift.as_ref().map(|p| &p.0[..]),
            shift: scale_shift.as_ref().map_or(bias, |p| Some(&p.1[..])),
            residual,
            post: self.post,
        };
        let out = &mut outputs[0];
        match &self.layer {
            Layer::Conv(conv) => conv_forward_prepared(
                conv,
                x.shape,
                x.data,
                w,
                &self.prepared,
                &epi,
                out.shape,
                out.data,
            ),
            Layer::Dense(fc) => fc_forward(fc, x.shape, x.data, w, &epi, out.data),
        }
        Ok(())
    }
}
