//! The op implementations, one file per op or family. To add an op: write its
//! file with a `pub(crate) static OPS: &[OpEntry]`, then add one `mod` line and
//! one entry in [`LISTS`].

use crate::registry::OpEntry;

pub(crate) mod util;

mod activation;
mod batch_norm;
mod concat;
pub(crate) mod convolution;
mod dot;
mod elemwise;
mod fully_connected;
mod identity;
mod math;
mod pooling;
mod reduce;
mod reshape;
mod scalar;
mod softmax;
mod sort;

/// Every op file's entries.
pub(crate) static LISTS: &[&[OpEntry]] = &[
    activation::OPS,
    batch_norm::OPS,
    concat::OPS,
    convolution::OPS,
    dot::OPS,
    elemwise::OPS,
    elemwise::SUM_OPS,
    fully_connected::OPS,
    identity::OPS,
    math::OPS,
    math::PARAM_OPS,
    pooling::OPS,
    reduce::OPS,
    reshape::OPS,
    scalar::OPS,
    scalar::CLIP_OPS,
    softmax::OPS,
    sort::OPS,
];
