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
use super::util::transpose;
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

    /// With many rows (BERT's 128 tokens), the weight transposed once: the
    /// GEMM crate packs a transposed right-hand side value by value on
    /// every call, a row-major one with contiguous copies (128 × 3072 →
    /// 768: 9.7 → 3.2 ms). Few rows keep the weight as it is, read a row
    /// per output by the few-rows kernel, and no second copy.
    fn prepare(
        &self,
        shapes: &[&[usize]],
        constants: &[Option<&[f32]>],
    ) -> Option<Box<dyn Kernel>> {
        let w = (*constants.get(1)?)?;
        let (m, k) = self.dims(shapes.first()?);
        let n = self.num_hidden;
        if m < TRANSPOSED_MIN_ROWS || w.len() != n * k {
            return None;
        }
        Some(Box::new(PreparedFc {
            fc: self.clone(),
            wt: transpose(w, n, k),
        }))
    }
}

/// Rows from which a FullyConnected reads its weight transposed at plan
/// time (see [`FullyConnected::prepare`]).
const TRANSPOSED_MIN_ROWS: usize = 16;

/// A [`FullyConnected`] with its constant weight stored transposed (K × N).
#[derive(Debug)]
struct PreparedFc {
    fc: FullyConnected,
    wt: Vec<f32>,
}

impl Kernel for PreparedFc {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        self.fc.infer_shapes(inputs)
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let bias = (!self.fc.no_bias).then(|| inputs[2].data);
        fc_product(
            &self.fc,
            inputs[0].shape,
            inputs[0].data,
            Mat::rows(&self.wt, self.fc.num_hidden),
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
    let (_, k) = fc.dims(xshape);
    fc_product(fc, xshape, x, Mat::transposed(w, k), epi, y);
}

/// [`fc_forward`] with the weight given as the K × N right-hand side.
fn fc_product(
    fc: &FullyConnected,
    xshape: &[usize],
    x: &[f32],
    w: Mat<'_>,
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
    sgemm(m, n, k, Mat::rows(x, k), w, y, n, accumulate);
    if !plain_bias {
        epi.apply_columns(&mut y[..m * n], n, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::run_kernel;

    #[test]
    fn a_prepared_weight_gives_the_products_of_the_weight_as_stored() {
        // Flattened and last-axis layers, with and without bias, below and
        // above the row count that makes a transposed copy.
        for (flatten, no_bias, xshape) in [
            (true, false, vec![40, 3, 7]),
            (false, true, vec![6, 5, 21]),
            (false, false, vec![2, 3, 21]),
        ] {
            let fc = FullyConnected {
                num_hidden: 13,
                no_bias,
                flatten,
            };
            let (m, k) = fc.dims(&xshape);
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1)
                .collect();
            let w: Vec<f32> = (0..13 * k)
                .map(|i| ((i * 5 % 13) as f32 - 6.0) * 0.05)
                .collect();
            let mut inputs = vec![(xshape.clone(), x), (vec![13, k], w)];
            if !no_bias {
                inputs.push((vec![13], (0..13).map(|i| i as f32 * 0.25).collect()));
            }
            let shapes: Vec<&[usize]> = inputs.iter().map(|(s, _)| s.as_slice()).collect();
            let constants: Vec<Option<&[f32]>> = inputs
                .iter()
                .enumerate()
                .map(|(i, (_, v))| (i == 1).then_some(v.as_slice()))
                .collect();
            let want = run_kernel(&fc, &inputs);
            match fc.prepare(&shapes, &constants) {
                Some(prepared) => {
                    assert!(m >= TRANSPOSED_MIN_ROWS, "{m} rows");
                    let got = run_kernel(prepared.as_ref(), &inputs);
                    let worst = got[0]
                        .iter()
                        .zip(&want[0])
                        .map(|(a, b)| (a - b).abs())
                        .fold(0f32, f32::max);
                    assert!(worst < 1e-5, "{xshape:?}: {worst}");
                }
                None => assert!(m < TRANSPOSED_MIN_ROWS, "{m} rows not prepared"),
            }
        }
    }

    #[test]
    fn transposing_keeps_every_value() {
        for (rows, cols) in [(1, 1), (3, 70), (65, 33), (100, 1)] {
            let m: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = super::super::util::transpose(&m, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], m[r * cols + c], "{rows}x{cols} ({r}, {c})");
                }
            }
        }
    }
}
