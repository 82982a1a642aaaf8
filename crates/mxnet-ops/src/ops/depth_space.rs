//! `depth_to_space` and `space_to_depth`: move (b × b) blocks between the
//! channel axis and the spatial axes of a 4-D NCHW array.
//!
//! Input: data (N, C, H, W). Attribute: `block_size` b (required, > 0).
//! * `depth_to_space` uses DCR order: (N, C, H, W) → reshape
//!   (N, b, b, C/b², H, W) → transpose (0, 3, 4, 1, 5, 2) →
//!   (N, C/b², H·b, W·b). C must be a multiple of b².
//! * `space_to_depth` is its inverse: (N, C, H/b, b, W/b, b) → transpose
//!   (0, 3, 5, 1, 2, 4) → (N, C·b², H/b, W/b). H and W must be multiples of b.
//!
//! MXNet also rejects 0-size N, C, H or W.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::transpose::gather_strided;

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "depth_to_space",
        build,
        family: "tensor",
        summary: "move channel blocks into space (DCR order)",
    },
    OpEntry {
        name: "space_to_depth",
        build,
        family: "tensor",
        summary: "move spatial blocks into channels",
    },
];

#[derive(Debug)]
struct DepthSpace {
    block: usize,
    to_space: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let block = a.req_count("block_size")?;
    if block == 0 {
        return Err(AttrError {
            key: "block_size".into(),
            value: "0".into(),
            expected: "a positive integer",
        });
    }
    Ok(Box::new(DepthSpace {
        block,
        to_space: crate::registry::canonical(&a.node().op) == "depth_to_space",
    }))
}

impl Kernel for DepthSpace {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        let b = self.block;
        let &[n, c, h, w] = x else {
            return Err(format!(
                "data must be 4-D (N, C, H, W), got {}",
                shape_str(x)
            ));
        };
        if x.contains(&0) {
            return Err(format!("data {} must not have a 0-size axis", shape_str(x)));
        }
        if self.to_space {
            if !c.is_multiple_of(b * b) {
                return Err(format!(
                    "channels {c} must be a multiple of block_size² = {}",
                    b * b
                ));
            }
            Ok(vec![vec![n, c / (b * b), h * b, w * b]])
        } else {
            if !h.is_multiple_of(b) || !w.is_multiple_of(b) {
                return Err(format!(
                    "height {h} and width {w} must be multiples of block_size {b}"
                ));
            }
            Ok(vec![vec![n, c * b * b, h / b, w / b]])
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
        let n = x.shape[0];
        let b = self.block;
        let (shape, step): ([usize; 6], [usize; 6]) = if self.to_space {
            // Output viewed as (N, C', H, b, W, b) reads
            // in[n, (i·b + j)·C' + c', h, w].
            let c2 = c / (b * b);
            (
                [n, c2, h, b, w, b],
                [c * h * w, h * w, w, b * c2 * h * w, 1, c2 * h * w],
            )
        } else {
            // Output viewed as (N, b, b, C, H/b, W/b) reads
            // in[n, c, h'·b + i, w'·b + j].
            (
                [n, b, b, c, h / b, w / b],
                [c * h * w, w, 1, h * w, b * w, b],
            )
        };
        let step: Vec<isize> = step.iter().map(|&s| s as isize).collect();
        gather_strided(x.data, 0, &shape, &step, outputs[0].data);
        Ok(())
    }
}
