//! `Concat` (alias `concat`) and `_rnn_param_concat`: join inputs along
//! `dim` (default 1; Gluon's RNN parameter packing writes 0).

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::util::axis;

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "Concat",
        build,
        family: "tensor",
        summary: "join inputs along an axis",
    },
    OpEntry {
        name: "_rnn_param_concat",
        build,
        family: "tensor",
        summary: "join RNN parameters along an axis",
    },
];

#[derive(Debug)]
struct Concat {
    dim: i64,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Concat {
        dim: a.int("dim", 1)?,
    }))
}

impl Kernel for Concat {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let first = inputs[0];
        let ax = axis(self.dim, first.len())?;
        let mut out = first.to_vec();
        out[ax] = 0;
        for s in inputs {
            if s.len() != first.len()
                || s.iter().enumerate().any(|(i, d)| i != ax && *d != first[i])
            {
                return Err(format!(
                    "inputs {} and {} differ outside axis {ax}",
                    shape_str(first),
                    shape_str(s)
                ));
            }
            out[ax] += s[ax];
        }
        Ok(vec![out])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let shape = outputs[0].shape;
        let ax = axis(self.dim, shape.len())?;
        let outer: usize = shape[..ax].iter().product();
        let inner: usize = shape[ax + 1..].iter().product();
        let out = &mut *outputs[0].data;
        let row = shape[ax] * inner;
        let mut offset = 0;
        for x in inputs {
            let chunk = x.shape[ax] * inner;
            for o in 0..outer {
                out[o * row + offset..o * row + offset + chunk]
                    .copy_from_slice(&x.data[o * chunk..(o + 1) * chunk]);
            }
            offset += chunk;
        }
        Ok(())
    }
}
