//! The op implementations, one file per op or family. To add an op: write its
//! file with a `pub(crate) static OPS: &[OpEntry]`, then add one `mod` line and
//! one entry in [`LISTS`].

use crate::registry::OpEntry;

pub(crate) mod util;

mod activation;
mod batch_norm;
mod concat;
pub(crate) mod convolution;
pub(crate) mod deconvolution;
mod detection;
mod elemwise;
mod fully_connected;
mod identity;
mod norm;
mod pooling;
mod reshape;
mod rnn;
mod softmax;
mod upsampling;

/// Every op file's entries.
pub(crate) static LISTS: &[&[OpEntry]] = &[
    activation::OPS,
    batch_norm::OPS,
    concat::OPS,
    convolution::OPS,
    deconvolution::OPS,
    detection::OPS,
    elemwise::OPS,
    elemwise::SUM_OPS,
    fully_connected::OPS,
    identity::OPS,
    norm::OPS,
    pooling::OPS,
    reshape::OPS,
    rnn::OPS,
    softmax::OPS,
    upsampling::OPS,
];
