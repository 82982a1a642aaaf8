//! The op implementations, one file per op or family. To add an op: write its
//! file with a `pub(crate) static OPS: &[OpEntry]`, then add one `mod` line and
//! one entry in [`LISTS`].

use crate::registry::OpEntry;

pub(crate) mod util;

mod activation;
mod batch_norm;
mod broadcast;
mod cast;
mod concat;
pub(crate) mod convolution;
mod crop;
mod depth_space;
mod dims;
mod dot;
mod elemwise;
mod foreach;
mod fully_connected;
mod identity;
mod indexing;
mod init;
mod math;
mod pad;
mod pooling;
mod reduce;
mod reshape;
mod scalar;
mod sequence;
mod slice;
mod softmax;
mod sort;
mod split;
mod stack;
mod tile;
mod transpose;

/// Every op file's entries.
pub(crate) static LISTS: &[&[OpEntry]] = &[
    activation::OPS,
    batch_norm::OPS,
    broadcast::OPS,
    cast::OPS,
    concat::OPS,
    convolution::OPS,
    crop::OPS,
    depth_space::OPS,
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
    pad::OPS,
    pooling::OPS,
    reduce::OPS,
    reshape::OPS,
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
];
