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
use crate::tensor::{numel, shape_str};

pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "FullyConnected",
    build,
    family: "nn",
    summary: "dense layer, flatten or last-axis",
}];

#[derive(Debug)]
struct FullyConnected {
    num_hidden: usize,
    no_bias: bool,
    flatten: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(FullyConnected {
        num_hidden: a.req_count("num_hidden")?,
        no_bias: a.bool("no_bias", false)?,
        flatten: a.bool("flatten", true)?,
    }))
}

impl FullyConnected {
    /// (rows, K) of the data matrix.
    fn dims(&self, x: &[usize]) -> (usize, usize) {
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
        let (m, k) = self.dims(inputs[0].shape);
        let n = self.num_hidden;
        let y = &mut *outputs[0].data;
        let accumulate = !self.no_bias;
        if accumulate {
            let b = inputs[2].data;
            for row in y.chunks_mut(n) {
                row.copy_from_slice(b);
            }
        }
        sgemm(
            m,
            n,
            k,
            Mat::rows(inputs[0].data, k),
            Mat::transposed(inputs[1].data, k),
            y,
            n,
            accumulate,
        );
        Ok(())
    }
}
