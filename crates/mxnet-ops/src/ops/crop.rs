//! `Crop` (capital C; lower-case `crop` is an alias of `slice`): cut an
//! (h, w) window out of the last two axes of a 4-D NCHW array.
//!
//! Inputs: data (N, C, H, W); with `num_args` = 2 also `crop_like`, a 4-D
//! array whose H and W give the window size (its values are not read).
//! Attributes: `num_args` (required, 1 or 2); `h_w` = (0, 0) — the window
//! when `num_args` = 1, each side in [1, input side]; `offset` = (0, 0) —
//! (y, x) of the window's corner, within the input; `center_crop` = False —
//! centre the window instead (offset ⌊(H − h)/2⌋, ⌊(W − w)/2⌋).

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::util::par_rows;

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "Crop",
    build,
    family: "tensor",
    summary: "crop an (h, w) window from NCHW data (fixed or like a second input)",
}];

#[derive(Debug)]
struct Crop {
    num_args: usize,
    offset: (i64, i64),
    h_w: (i64, i64),
    center: bool,
}

fn pair(a: &Attrs<'_>, key: &str) -> Result<(i64, i64), AttrError> {
    match a.tuple(key, &[0, 0])?[..] {
        [y, x] => Ok((y, x)),
        _ => Err(AttrError {
            key: key.into(),
            value: a.string(key, "").into(),
            expected: "a pair like (2, 3)",
        }),
    }
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let num_args = a.req_count("num_args")?;
    if num_args != 1 && num_args != 2 {
        return Err(AttrError {
            key: "num_args".into(),
            value: num_args.to_string(),
            expected: "1 or 2",
        });
    }
    Ok(Box::new(Crop {
        num_args,
        offset: pair(a, "offset")?,
        h_w: pair(a, "h_w")?,
        center: a.bool("center_crop", false)?,
    }))
}

/// A crop window: size (h, w) and corner (y, x).
type Window = ((usize, usize), (usize, usize));

impl Crop {
    /// Output (h, w) and window corner (y, x) for data `x` (4-D).
    fn window(&self, x: &[usize], like: Option<&[usize]>) -> Result<Window, String> {
        if x.len() != 4 {
            return Err(format!(
                "data must be 4-D (N, C, H, W), got {}",
                shape_str(x)
            ));
        }
        let (ih, iw) = (x[2], x[3]);
        let (h, w) = if self.num_args == 1 {
            let (h, w) = self.h_w;
            if h < 1 || h > ih as i64 || w < 1 || w > iw as i64 {
                return Err(format!(
                    "h_w ({h}, {w}) must be within 1 and the input's ({ih}, {iw})"
                ));
            }
            (h as usize, w as usize)
        } else {
            match like {
                Some(&[_, _, h, w]) => (h, w),
                Some(l) => {
                    return Err(format!(
                        "crop_like must be 4-D (N, C, H, W), got {}",
                        shape_str(l)
                    ));
                }
                None => return Err("crop_like input is missing".into()),
            }
        };
        if h > ih || w > iw {
            return Err(format!(
                "crop size ({h}, {w}) is larger than the input's ({ih}, {iw})"
            ));
        }
        let corner = if self.center {
            ((ih - h) / 2, (iw - w) / 2)
        } else {
            let (y, xo) = self.offset;
            if y < 0 || xo < 0 || y as usize > ih - h || xo as usize > iw - w {
                return Err(format!(
                    "offset ({y}, {xo}) puts a ({h}, {w}) window outside the input's ({ih}, {iw})"
                ));
            }
            (y as usize, xo as usize)
        };
        Ok(((h, w), corner))
    }
}

impl Kernel for Crop {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, self.num_args)?;
        let x = inputs[0];
        let ((h, w), _) = self.window(x, inputs.get(1).copied())?;
        Ok(vec![vec![x[0], x[1], h, w]])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let ((h, w), (y0, x0)) = self.window(x.shape, inputs.get(1).map(|i| i.shape))?;
        let (ih, iw) = (x.shape[2], x.shape[3]);
        if w == 0 || h == 0 {
            return Ok(());
        }
        par_rows(outputs[0].data, w, |row, o| {
            let (plane, r) = (row / h, row % h);
            let start = plane * ih * iw + (y0 + r) * iw + x0;
            o.copy_from_slice(&x.data[start..start + w]);
        });
        Ok(())
    }
}
