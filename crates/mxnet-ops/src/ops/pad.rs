//! `Pad` (alias `pad`): pad the spatial axes of a 4-D or 5-D array.
//!
//! Input: data (N, C, H, W) or (N, C, D, H, W). Attributes: `mode`
//! (required): `constant`, `edge` (repeat the border value) or `reflect`
//! (mirror without repeating the border, NumPy's `reflect`); `pad_width`
//! (required): 2·ndim non-negative numbers, (before, after) per axis, the
//! first four (N and C) 0; `constant_value` = 0. Reflection needs every pad
//! smaller than its axis (MXNet checks H and W; D is held to the same rule
//! here), and edge padding needs non-empty padded axes.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::util::{par_rows, strides};

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "Pad",
    build,
    family: "tensor",
    summary: "pad spatial axes (constant, edge, reflect)",
}];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Constant,
    Edge,
    Reflect,
}

#[derive(Debug)]
struct Pad {
    mode: Mode,
    width: Vec<usize>,
    value: f32,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let mode = match a.get("mode") {
        None => {
            return Err(AttrError {
                key: "mode".into(),
                value: String::new(),
                expected: "present (it is required)",
            });
        }
        Some(_) => match a.choice("mode", &["constant", "edge", "reflect"], "constant")? {
            "edge" => Mode::Edge,
            "reflect" => Mode::Reflect,
            _ => Mode::Constant,
        },
    };
    let raw = a.req_tuple("pad_width")?;
    let bad = |expected| AttrError {
        key: "pad_width".into(),
        value: a.string("pad_width", "").into(),
        expected,
    };
    let width = raw
        .iter()
        .map(|&w| usize::try_from(w))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("a tuple of non-negative integers"))?;
    if width.len() != 8 && width.len() != 10 {
        return Err(bad(
            "8 or 10 numbers (before, after for each axis of a 4-D or 5-D input)",
        ));
    }
    if width[..4].iter().any(|&w| w != 0) {
        return Err(bad("0 for the first two axes (N and C)"));
    }
    Ok(Box::new(Pad {
        mode,
        width,
        value: a.float("constant_value", 0.0)? as f32,
    }))
}

/// Where output index `o` of an axis of size `n` padded by `before` reads
/// from, or `None` for the constant.
fn source(mode: Mode, o: usize, n: usize, before: usize) -> Option<usize> {
    let i = o as isize - before as isize;
    let n = n as isize;
    let j = match mode {
        Mode::Constant if i < 0 || i >= n => return None,
        Mode::Constant => i,
        Mode::Edge => i.clamp(0, n - 1),
        Mode::Reflect => {
            if i < 0 {
                -i
            } else if i >= n {
                2 * (n - 1) - i
            } else {
                i
            }
        }
    };
    Some(j as usize)
}

impl Kernel for Pad {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        if x.len() != 4 && x.len() != 5 {
            return Err(format!("data must be 4-D or 5-D, got {}", shape_str(x)));
        }
        if self.width.len() != 2 * x.len() {
            return Err(format!(
                "pad_width has {} numbers, a {}-D input needs {}",
                self.width.len(),
                x.len(),
                2 * x.len()
            ));
        }
        for (d, &n) in x.iter().enumerate().skip(2) {
            let (b, a) = (self.width[2 * d], self.width[2 * d + 1]);
            match self.mode {
                Mode::Reflect if b >= n || a >= n => {
                    return Err(format!(
                        "reflect padding ({b}, {a}) of axis {d} must be smaller than its size {n}"
                    ));
                }
                Mode::Edge if n == 0 && b + a > 0 => {
                    return Err(format!("edge padding of empty axis {d}"));
                }
                _ => {}
            }
        }
        Ok(vec![
            x.iter()
                .enumerate()
                .map(|(d, &n)| n + self.width[2 * d] + self.width[2 * d + 1])
                .collect(),
        ])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let os = outputs[0].shape;
        let nd = os.len();
        let xs = strides(x.shape);
        // Per-axis source maps (-1: constant).
        let maps: Vec<Vec<isize>> = (0..nd)
            .map(|d| {
                (0..os[d])
                    .map(|o| {
                        source(self.mode, o, x.shape[d], self.width[2 * d])
                            .map_or(-1, |j| j as isize)
                    })
                    .collect()
            })
            .collect();
        let last = os[nd - 1];
        let map_last = &maps[nd - 1];
        let value = self.value;
        par_rows(outputs[0].data, last, |row, o| {
            let (mut rem, mut off, mut inside) = (row, 0usize, true);
            for d in (0..nd - 1).rev() {
                let j = maps[d][rem % os[d]];
                rem /= os[d];
                if j < 0 {
                    inside = false;
                    break;
                }
                off += j as usize * xs[d];
            }
            if !inside {
                o.fill(value);
                return;
            }
            for (v, &j) in o.iter_mut().zip(map_last) {
                *v = if j < 0 {
                    value
                } else {
                    x.data[off + j as usize]
                };
            }
        });
        Ok(())
    }
}
