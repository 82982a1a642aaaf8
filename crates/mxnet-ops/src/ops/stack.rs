//! `stack`: join same-shape inputs along a new axis.
//!
//! Inputs: `num_args` arrays of one shape. Attributes: `axis` = 0, in
//! `[−ndim−1, ndim]` (the new axis's position in the output); `num_args`
//! (required) — the number of inputs.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::util::axis as norm_axis;

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "stack",
    build,
    family: "tensor",
    summary: "join same-shape inputs along a new axis",
}];

#[derive(Debug)]
struct Stack {
    axis: i64,
    num_args: usize,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let num_args = a.req_count("num_args")?;
    if num_args == 0 {
        return Err(AttrError {
            key: "num_args".into(),
            value: "0".into(),
            expected: "at least 1",
        });
    }
    Ok(Box::new(Stack {
        axis: a.int("axis", 0)?,
        num_args,
    }))
}

impl Kernel for Stack {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        if inputs.len() != self.num_args {
            return Err(format!(
                "num_args is {} but there are {} inputs",
                self.num_args,
                inputs.len()
            ));
        }
        let first = inputs[0];
        if let Some(bad) = inputs.iter().find(|s| **s != first) {
            return Err(format!(
                "all inputs must have the same shape, got {} and {}",
                shape_str(first),
                shape_str(bad)
            ));
        }
        let ax = norm_axis(self.axis, first.len() + 1)?;
        let mut out = first.to_vec();
        out.insert(ax, inputs.len());
        Ok(vec![out])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match inputs.iter().find_map(|s| *s) {
            Some(s) => vec![Some(s.to_vec()); inputs.len()],
            None => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let shape = inputs[0].shape;
        let ax = norm_axis(self.axis, shape.len() + 1)?;
        let inner: usize = shape[ax..].iter().product();
        if inner == 0 {
            return Ok(());
        }
        let n = inputs.len();
        for (r, row) in outputs[0].data.chunks_mut(inner).enumerate() {
            let (o, k) = (r / n, r % n);
            row.copy_from_slice(&inputs[k].data[o * inner..(o + 1) * inner]);
        }
        Ok(())
    }
}
