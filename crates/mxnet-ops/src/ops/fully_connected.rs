//! `FullyConnected`: y = x·Wᵀ + b.
//!
//! Inputs: data, weight (num_hidden, K), bias (num_hidden) unless `no_bias`.
//! `flatten` = True (default) views data as (N, K) with K the product of the
//! other axes; False applies the layer to the last axis, keeping the others.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::gemm::{Mat, sgemm};
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::epilogue::{Epilogue, Post};
use crate::tensor::{numel, shape_str};

pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "FullyConnected",
    build,
    family: "nn",
    summary: "dense layer, flatten or last-axis",
}];

/// A parsed `FullyConnected` node.
#[derive(Debug, Clone)]
pub(crate) struct FullyConnected {
    pub num_hidden: usize,
    pub no_bias: bool,
    pub flatten: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(parse(a)?))
}

/// The attributes of a `FullyConnected` node.
pub(crate) fn parse(a: &Attrs<'_>) -> Result<FullyConnected, AttrError> {
    Ok(FullyConnected {
        num_hidden: a.req_count("num_hidden")?,
        no_bias: a.bool("no_bias", false)?,
        flatten: a.bool("flatten", true)?,
    })
}

impl FullyConnected {
    /// (rows, K) of the data matrix.
    pub(crate) fn dims(&self, x: &[usize]) -> (usize, usize) {
        if self.flatten {
            (x.first().copied().unwrap_or(1), x.iter().skip(1).product())
        } else {
            let k = x.last().copied().unwrap_or(1);
            (numel(x) / k.max(1), k)
        }
    }
}

impl Kernel for FullyConnected {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, if self.no_bias { 2 } else { 3 })?;
        let x = inputs[0];
        if x.is_empty() {
            return Err("data must have at least one axis".into());
        }
        let (_, k) = self.dims(x);
        if inputs[1] != [self.num_hidden, k] {
            return Err(format!(
                "weight shape must be {}",
                shape_str(&[self.num_hidden, k])
            ));
        }
        if !self.no_bias && inputs[2] != [self.num_hidden] {
            return Err(format!("bias shape must be ({},)", self.num_hidden));
        }
        let out = if self.flatten {
            vec![x[0], self.num_hidden]
        } else {
            let mut o = x.to_vec();
            if let Some(last) = o.last_mut() {
                *last = self.num_hidden;
            }
            o
        };
        Ok(vec![out])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        let Some(Some(x)) = inputs.first() else {
            return Vec::new();
        };
        let (_, k) = self.dims(x);
        vec![
            None,
            Some(vec![self.num_hidden, k]),
            Some(vec![self.num_hidden]),
        ]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let bias = (!self.no_bias).then(|| inputs[2].data);
        fc_forward(
            self,
            inputs[0].shape,
            inputs[0].data,
            inputs[1].data,
            &Epilogue::bias(bias),
            outputs[0].data,
        );
        Ok(())
    }
}

/// y = x·Wᵀ, then the epilogue over the output's columns (one channel per
/// hidden unit). A plain bias is written first and accumulated into, so
/// the unfused layer computes exactly as before.
pub(crate) fn fc_forward(
    fc: &FullyConnected,
    xshape: &[usize],
    x: &[f32],
    w: &[f32],
    epi: &Epilogue<'_>,
    y: &mut [f32],
) {
    let (m, k) = fc.dims(xshape);
    let n = fc.num_hidden;
    let plain_bias = epi.scale.is_none() && epi.residual.is_none() && epi.post == Post::Identity;
    let accumulate = plain_bias && epi.shift.is_some();
    if let (true, Some(b)) = (accumulate, epi.shift) {
        for row in y.chunks_mut(n) {
            row.copy_from_slice(b);
        }
    }
    sgemm(
        m,
        n,
        k,
        Mat::rows(x, k),
        Mat::transposed(w, k),
        y,
        n,
        accumulate,
    );
    if !plain_bias {
        epi.apply_columns(&mut y[..m * n], n, 0);
    }
}
