//! The op implementations, one file per op or family. To add an op: write its
//! file with a `pub(crate) static OPS: &[OpEntry]`, then add one `mod` line and
//! one entry in [`LISTS`].

use crate::registry::OpEntry;

/// `entries!["name" => "summary", …]`: the [`OpEntry`] list of a family of
/// ops in the math family that share the `build` function in scope.
macro_rules! entries {
    ($($name:literal => $summary:literal),* $(,)?) => {
        &[$(OpEntry { name: $name, build, family: "math", summary: $summary }),*]
    };
}

pub(crate) mod blocked;
pub(crate) mod epilogue;
pub(crate) mod few_channels;
mod filter_lanes;
pub(crate) mod pointwise;
pub(crate) mod util;

mod activation;
mod attention;
pub(crate) mod batch_norm;
mod broadcast;
mod cast;
mod concat;
pub(crate) mod convolution;
mod crop;
pub(crate) mod deconvolution;
mod deformable;
mod depth_space;
mod detection;
mod dims;
mod dot;
mod elemwise;
mod foreach;
pub(crate) mod fully_connected;
pub(crate) mod fused;
mod identity;
mod indexing;
mod init;
mod math;
mod norm;
mod pad;
mod pooling;
mod reduce;
mod reshape;
mod rnn;
mod scalar;
mod sequence;
mod slice;
mod softmax;
mod sort;
mod split;
mod stack;
mod std_sort;
mod tile;
mod transpose;
mod upsampling;
pub(crate) mod winograd;

/// Every op file's entries.
pub(crate) static LISTS: &[&[OpEntry]] = &[
    activation::OPS,
    batch_norm::OPS,
    broadcast::OPS,
    cast::OPS,
    concat::OPS,
    convolution::OPS,
    crop::OPS,
    deconvolution::OPS,
    attention::OPS,
    deformable::OPS,
    depth_space::OPS,
    detection::OPS,
    dims::OPS,
    dot::OPS,
    elemwise::OPS,
    elemwise::SUM_OPS,
    foreach::OPS,
    fully_connected::OPS,
    identity::OPS,
    indexing::OPS,
    init::OPS,
    math::OPS,
    math::PARAM_OPS,
    norm::OPS,
    pad::OPS,
    pooling::OPS,
    reduce::OPS,
    reshape::OPS,
    rnn::OPS,
    scalar::CLIP_OPS,
    scalar::OPS,
    sequence::OPS,
    slice::OPS,
    softmax::OPS,
    sort::OPS,
    split::OPS,
    stack::OPS,
    tile::OPS,
    transpose::OPS,
    upsampling::OPS,
];
