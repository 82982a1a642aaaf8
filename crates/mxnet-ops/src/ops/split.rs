//! `SliceChannel` (alias `split`): cut an input into `num_outputs` equal parts
//! along an axis.
//!
//! Input: data. Attributes: `num_outputs` (required, ≥ 1), `axis` = 1
//! (negative allowed), `squeeze_axis` = False — drop the split axis, which
//! then must have size exactly `num_outputs`. The axis size must be a
//! multiple of `num_outputs`. Outputs are named `output0…` by MXNet.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::util::axis as norm_axis;

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "SliceChannel",
    build,
    family: "tensor",
    summary: "split into equal parts along an axis",
}];

#[derive(Debug)]
struct Split {
    num: usize,
    axis: i64,
    squeeze: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let num = a.req_count("num_outputs")?;
    if num == 0 {
        return Err(AttrError {
            key: "num_outputs".into(),
            value: "0".into(),
            expected: "at least 1",
        });
    }
    Ok(Box::new(Split {
        num,
        axis: a.int("axis", 1)?,
        squeeze: a.bool("squeeze_axis", false)?,
    }))
}

impl Kernel for Split {
    fn num_outputs(&self) -> usize {
        self.num
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        let ax = norm_axis(self.axis, x.len())?;
        if !x[ax].is_multiple_of(self.num) {
            return Err(format!(
                "axis {ax} of {} cannot be split into {} equal parts",
                shape_str(x),
                self.num
            ));
        }
        let mut out = x.to_vec();
        if self.squeeze {
            if x[ax] != self.num {
                return Err(format!(
                    "squeeze_axis needs axis {ax} of {} to have size num_outputs = {}",
                    shape_str(x),
                    self.num
                ));
            }
            out.remove(ax);
        } else {
            out[ax] /= self.num;
        }
        Ok(vec![out; self.num])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let ax = norm_axis(self.axis, x.shape.len())?;
        let outer: usize = x.shape[..ax].iter().product();
        let inner: usize = x.shape[ax + 1..].iter().product();
        let part = x.shape[ax] / self.num * inner;
        let row = x.shape[ax] * inner;
        if part == 0 {
            return Ok(());
        }
        for (k, out) in outputs.iter_mut().enumerate() {
            for (o, chunk) in out.data.chunks_mut(part).enumerate().take(outer) {
                let start = o * row + k * part;
                chunk.copy_from_slice(&x.data[start..start + part]);
            }
        }
        Ok(())
    }
}
