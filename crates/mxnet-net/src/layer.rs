//! Layers: the closed, high-level vocabulary nets are made of.
//!
//! Each layer has options (a [`LayerKind`] variant), named arrays (weights,
//! biases, moving statistics; `None` while uninitialised) and ports. The set
//! follows the Wolfram Language's layers; [`LayerKind::MXNetOp`] carries any
//! MXNet op no rule translates, unchanged, so nothing is lost.

use serde::{Deserialize, Serialize};

use mxnet_ops::Tensor;

/// Pooling and aggregation functions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum PoolingFunction {
    /// Maximum.
    Max,
    /// Mean.
    Mean,
    /// Sum.
    Total,
    /// (Σ xᵖ)^(1/p).
    Lp(u32),
}

/// Which output size a pooling window gives (MXNet's `pooling_convention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum PoolingConvention {
    /// ⌊(in + 2·pad − k)/stride⌋ + 1.
    Valid,
    /// ⌈(in + 2·pad − k)/stride⌉ + 1.
    Full,
}

/// Element-wise functions (Activation, LeakyReLU and the unary math family).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum ElementwiseFunction {
    /// max(x, 0).
    Ramp,
    /// 1/(1 + e⁻ˣ).
    LogisticSigmoid,
    /// tanh x.
    Tanh,
    /// log(1 + eˣ).
    SoftPlus,
    /// x/(1 + |x|).
    SoftSign,
    /// x if x > 0 else α(eˣ − 1).
    Elu(f64),
    /// λ·(x if x > 0 else α(eˣ − 1)) with SELU's fixed constants.
    Selu,
    /// 0.5·x·(1 + erf(x/√2)).
    Gelu,
    /// x if x > 0 else slope·x.
    LeakyRamp(f64),
    /// A unary math op by its MXNet name (`exp`, `sqrt`, `sin`, …).
    Math(String),
    /// x + c, x − c, c − x, x·c, x/c, c/x, xᶜ, max(x, c), min(x, c) by MXNet's
    /// scalar-op name (`_plus_scalar`, …) and the scalar.
    Scalar(String, f64),
    /// clip(x, lo, hi).
    Clip(f64, f64),
}

/// Functions that combine several same-shape (or broadcastable) inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum ThreadingFunction {
    /// a + b (+ …).
    Plus,
    /// a − b.
    Subtract,
    /// a · b.
    Times,
    /// a / b.
    Divide,
    /// max(a, b).
    Max,
    /// min(a, b).
    Min,
    /// aᵇ.
    Power,
}

/// Padding modes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum PaddingMode {
    /// A constant value.
    Fixed(f64),
    /// Repeat the edge value.
    Edge,
    /// Mirror without repeating the edge.
    Reflected,
}

/// Resampling methods of [`LayerKind::Resize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum ResizeMethod {
    /// Nearest neighbour (MXNet `UpSampling` nearest).
    Nearest,
    /// Bilinear with a learned kernel (MXNet `UpSampling` bilinear: a grouped
    /// deconvolution whose weights are an array of the layer).
    BilinearKernel,
    /// Bilinear interpolation (MXNet `_contrib_BilinearResize2D`).
    Bilinear {
        /// Corner alignment (`align_corners`).
        align_corners: bool,
    },
}

/// Recurrent layer options shared by LSTM, GRU and basic RNN layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecurrentOptions {
    /// Hidden state size.
    pub hidden: usize,
    /// Stacked layers.
    pub layers: usize,
    /// Run in both directions and concatenate.
    pub bidirectional: bool,
    /// Whether the initial states are inputs of the layer (else zeros).
    pub state_inputs: bool,
    /// Whether the final states are outputs of the layer.
    pub state_outputs: bool,
    /// Input feature size (when known).
    pub input_size: Option<usize>,
    /// Dropout between layers (training only).
    pub dropout: f64,
}

/// What a layer computes, with its options.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum LayerKind {
    /// A dense layer: y = x·Wᵀ + b (MXNet `FullyConnected`).
    Linear {
        /// Output size.
        size: usize,
        /// Whether it has a bias.
        bias: bool,
        /// True: flatten all but the first axis; false: act on the last axis.
        flatten: bool,
    },
    /// Convolution (1-D to 3-D, grouped, dilated).
    Convolution {
        /// Output channels.
        channels: usize,
        /// Kernel size per spatial axis.
        kernel: Vec<usize>,
        /// Stride per axis.
        stride: Vec<usize>,
        /// Symmetric padding per axis.
        padding: Vec<usize>,
        /// Dilation per axis.
        dilation: Vec<usize>,
        /// Groups.
        groups: usize,
        /// Whether it has a bias.
        bias: bool,
    },
    /// Transposed convolution.
    Deconvolution {
        /// Output channels.
        channels: usize,
        /// Kernel size per spatial axis.
        kernel: Vec<usize>,
        /// Stride per axis.
        stride: Vec<usize>,
        /// Padding per axis.
        padding: Vec<usize>,
        /// Extra output size per axis (`adj`).
        output_padding: Vec<usize>,
        /// Dilation per axis.
        dilation: Vec<usize>,
        /// Groups.
        groups: usize,
        /// Whether it has a bias.
        bias: bool,
    },
    /// Windowed pooling.
    Pooling {
        /// The pooling function.
        function: PoolingFunction,
        /// Window per spatial axis.
        kernel: Vec<usize>,
        /// Stride per axis.
        stride: Vec<usize>,
        /// Padding per axis.
        padding: Vec<usize>,
        /// Output size rule.
        convention: PoolingConvention,
        /// Whether average pooling counts padding cells.
        count_padding: bool,
    },
    /// Global pooling over all spatial axes (output spatial size 1).
    Aggregation {
        /// The pooling function.
        function: PoolingFunction,
    },
    /// Batch normalisation with moving statistics.
    BatchNormalization {
        /// ε.
        epsilon: f64,
        /// Moving-average momentum (training only).
        momentum: f64,
        /// Channel axis.
        axis: i64,
    },
    /// Instance normalisation.
    InstanceNormalization {
        /// ε.
        epsilon: f64,
    },
    /// Layer normalisation over one axis.
    Normalization {
        /// The normalised axis.
        axis: i64,
        /// ε.
        epsilon: f64,
    },
    /// Group normalisation.
    GroupNormalization {
        /// Groups.
        groups: usize,
        /// ε.
        epsilon: f64,
    },
    /// Local response normalisation across channels.
    LocalResponseNormalization {
        /// Window size.
        size: usize,
        /// α.
        alpha: f64,
        /// β.
        beta: f64,
        /// k.
        bias: f64,
    },
    /// An element-wise function.
    Elementwise {
        /// The function.
        function: ElementwiseFunction,
    },
    /// PReLU: x if x > 0 else slopeᶜ·x, one learned slope per channel.
    ParametricRamp,
    /// Softmax (or log-softmax) along an axis.
    Softmax {
        /// The axis; `None`: all but the first, flattened (MXNet `SoftmaxOutput`).
        axis: Option<i64>,
        /// Log-softmax.
        log: bool,
    },
    /// (N, …) → (N, product).
    Flatten,
    /// Reshape with MXNet's codes (0, −1, −2, −3, −4).
    Reshape {
        /// The codes.
        shape: Vec<i64>,
    },
    /// Permute axes.
    Transpose {
        /// The permutation (empty: reverse).
        axes: Vec<usize>,
    },
    /// Join inputs along an axis.
    Catenate {
        /// The axis.
        axis: i64,
        /// Number of inputs.
        inputs: usize,
    },
    /// Combine inputs element-wise.
    Threading {
        /// The function.
        function: ThreadingFunction,
        /// Number of inputs.
        inputs: usize,
        /// NumPy broadcasting (else identical shapes).
        broadcast: bool,
    },
    /// Sum over axes.
    Total {
        /// The axes (empty: all).
        axes: Vec<i64>,
        /// Keep reduced axes as size 1.
        keep_dims: bool,
    },
    /// Dropout (identity at inference).
    Dropout {
        /// Drop probability.
        probability: f64,
    },
    /// Index → vector lookup.
    Embedding {
        /// Vocabulary size.
        vocabulary: usize,
        /// Vector size.
        size: usize,
    },
    /// Padding of the spatial axes.
    Padding {
        /// (before, after) per axis, all axes.
        padding: Vec<(usize, usize)>,
        /// The mode.
        mode: PaddingMode,
    },
    /// Spatial resizing.
    Resize {
        /// Scale per spatial axis.
        scale: Vec<f64>,
        /// The method.
        method: ResizeMethod,
    },
    /// Repeat a tensor (MXNet `tile`).
    Replicate {
        /// Repetitions per axis.
        reps: Vec<usize>,
    },
    /// Matrix product of two inputs.
    Dot {
        /// Transpose the first input.
        transpose_a: bool,
        /// Transpose the second input.
        transpose_b: bool,
        /// Batched (MXNet `batch_dot`).
        batched: bool,
    },
    /// A slice (MXNet `slice`).
    Part {
        /// Start per leading axis (None: from the start).
        begin: Vec<Option<i64>>,
        /// End per leading axis (None: to the end).
        end: Vec<Option<i64>>,
        /// Step per leading axis.
        step: Vec<Option<i64>>,
    },
    /// An LSTM (gates i, f, g, o).
    LongShortTermMemory(RecurrentOptions),
    /// A GRU (gates r, z, n).
    GatedRecurrent(RecurrentOptions),
    /// A basic recurrent layer.
    BasicRecurrent {
        /// Options.
        #[serde(flatten)]
        options: RecurrentOptions,
        /// `tanh` or `relu`.
        activation: String,
    },
    /// Any MXNet op no rule translates, carried unchanged.
    MXNetOp {
        /// The op, as written.
        op: String,
        /// Its attributes, as written.
        attrs: std::collections::BTreeMap<String, String>,
        /// Number of data inputs.
        inputs: usize,
        /// Visible outputs.
        outputs: usize,
        /// The op's input slots that held arrays: (slot position, slot name, aux).
        array_slots: Vec<(usize, String, bool)>,
        /// Why no rule applied.
        reason: String,
    },
}

/// A layer: what it computes and its arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// What it computes.
    pub kind: LayerKind,
    /// Named arrays in a fixed order per kind ("Weights", "Biases", "Scaling",
    /// "MovingMean", …); `None` while uninitialised.
    pub arrays: Vec<(String, Option<Tensor>)>,
}

impl Layer {
    /// A layer without arrays (its array names come from the kind).
    pub fn new(kind: LayerKind) -> Layer {
        let arrays = crate::rules::array_names(&kind)
            .into_iter()
            .map(|n| (n, None))
            .collect();
        Layer { kind, arrays }
    }

    /// The layer's type name ("Convolution", "Linear", "MXNetOp", …).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            LayerKind::Linear { .. } => "Linear",
            LayerKind::Convolution { .. } => "Convolution",
            LayerKind::Deconvolution { .. } => "Deconvolution",
            LayerKind::Pooling { .. } => "Pooling",
            LayerKind::Aggregation { .. } => "Aggregation",
            LayerKind::BatchNormalization { .. } => "BatchNormalization",
            LayerKind::InstanceNormalization { .. } => "InstanceNormalization",
            LayerKind::Normalization { .. } => "Normalization",
            LayerKind::GroupNormalization { .. } => "GroupNormalization",
            LayerKind::LocalResponseNormalization { .. } => "LocalResponseNormalization",
            LayerKind::Elementwise { .. } => "Elementwise",
            LayerKind::ParametricRamp => "ParametricRamp",
            LayerKind::Softmax { .. } => "Softmax",
            LayerKind::Flatten => "Flatten",
            LayerKind::Reshape { .. } => "Reshape",
            LayerKind::Transpose { .. } => "Transpose",
            LayerKind::Catenate { .. } => "Catenate",
            LayerKind::Threading { .. } => "Threading",
            LayerKind::Total { .. } => "Total",
            LayerKind::Dropout { .. } => "Dropout",
            LayerKind::Embedding { .. } => "Embedding",
            LayerKind::Padding { .. } => "Padding",
            LayerKind::Resize { .. } => "Resize",
            LayerKind::Replicate { .. } => "Replicate",
            LayerKind::Dot { .. } => "Dot",
            LayerKind::Part { .. } => "Part",
            LayerKind::LongShortTermMemory(_) => "LongShortTermMemory",
            LayerKind::GatedRecurrent(_) => "GatedRecurrent",
            LayerKind::BasicRecurrent { .. } => "BasicRecurrent",
            LayerKind::MXNetOp { .. } => "MXNetOp",
        }
    }

    /// The array called `name`, if set.
    pub fn array(&self, name: &str) -> Option<&Tensor> {
        self.arrays
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, a)| a.as_ref())
    }

    /// True when every array is set.
    pub fn is_initialized(&self) -> bool {
        self.arrays.iter().all(|(_, a)| a.is_some())
    }
}
