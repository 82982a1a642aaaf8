//! `Reshape` (with MXNet's special codes) and `Flatten`: views that copy.
//!
//! Reshape codes (spec §4.4): `0` copies an input dimension, `-1` infers one
//! dimension, `-2` copies all remaining ones, `-3` merges two, `-4` splits one
//! into the next two codes (one may be −1). `reverse` applies the codes
//! right-to-left. The deprecated `target_shape` (0 = infer) is honoured when
//! `shape` is empty. `Flatten` gives (N, product of the rest); 1-D → (N, 1).

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::{numel, shape_str};

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "Reshape",
        build: build_reshape,
        family: "tensor",
        summary: "reshape with codes 0, -1, -2, -3, -4 and reverse",
    },
    OpEntry {
        name: "Flatten",
        build: build_flatten,
        family: "tensor",
        summary: "(N, ...) -> (N, product)",
    },
];

#[derive(Debug)]
enum Spec {
    Codes { codes: Vec<i64>, reverse: bool },
    Target(Vec<i64>),
    Flatten,
}

#[derive(Debug)]
struct Reshape(Spec);

fn build_reshape(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let codes = a.tuple("shape", &[])?;
    let target = a.tuple("target_shape", &[])?;
    let spec = if codes.is_empty() && !target.is_empty() {
        Spec::Target(target)
    } else {
        Spec::Codes {
            codes,
            reverse: a.bool("reverse", false)?,
        }
    };
    Ok(Box::new(Reshape(spec)))
}

fn build_flatten(_: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Reshape(Spec::Flatten)))
}

/// MXNet's reshape inference (`InferReshapeShape`).
pub(crate) fn reshape_codes(
    src: &[usize],
    codes: &[i64],
    reverse: bool,
) -> Result<Vec<usize>, String> {
    let mut d: Vec<usize> = src.to_vec();
    let mut p: Vec<i64> = codes.to_vec();
    if reverse {
        d.reverse();
        p.reverse();
    }
    let bad = |m: &str| {
        format!(
            "shape {} cannot be reshaped with {:?}: {m}",
            shape_str(src),
            codes
        )
    };
    let mut out: Vec<usize> = Vec::new();
    let mut src_idx = 0;
    let mut inferred: Option<usize> = None;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            0 => {
                out.push(
                    *d.get(src_idx)
                        .ok_or_else(|| bad("code 0 past the last input axis"))?,
                );
                src_idx += 1;
            }
            -1 => {
                if inferred.is_some() {
                    return Err(bad("more than one -1"));
                }
                inferred = Some(out.len());
                out.push(1);
                src_idx += 1;
            }
            -2 => {
                out.extend_from_slice(d.get(src_idx..).unwrap_or(&[]));
                src_idx = d.len();
            }
            -3 => {
                let (a, b) = match (d.get(src_idx), d.get(src_idx + 1)) {
                    (Some(a), Some(b)) => (*a, *b),
                    _ => return Err(bad("-3 needs two input axes")),
                };
                out.push(a * b);
                src_idx += 2;
            }
            -4 => {
                let d0 = *d
                    .get(src_idx)
                    .ok_or_else(|| bad("-4 past the last input axis"))?;
                src_idx += 1;
                let (mut a, mut b) = match (p.get(i + 1), p.get(i + 2)) {
                    (Some(a), Some(b)) => (*a, *b),
                    _ => return Err(bad("-4 needs two following codes")),
                };
                i += 2;
                if a == -1 && b == -1 {
                    return Err(bad("split dims cannot both be -1"));
                }
                if a == -1 {
                    a = if b == 0 { 0 } else { d0 as i64 / b };
                }
                if b == -1 {
                    b = if a == 0 { 0 } else { d0 as i64 / a };
                }
                if a < 0 || b < 0 || (a * b) as usize != d0 {
                    return Err(bad("-4 split does not multiply to the input axis"));
                }
                out.push(a as usize);
                out.push(b as usize);
            }
            v if v > 0 => {
                out.push(v as usize);
                src_idx += 1;
            }
            v => return Err(bad(&format!("unknown code {v}"))),
        }
        i += 1;
    }
    if let Some(k) = inferred {
        let rest: usize = out
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, v)| *v)
            .product();
        if rest == 0 || !numel(src).is_multiple_of(rest) {
            return Err(bad("the -1 dimension cannot be inferred"));
        }
        out[k] = numel(src) / rest;
    }
    if reverse {
        out.reverse();
    }
    if numel(&out) != numel(src) {
        return Err(bad(&format!(
            "{} elements cannot become {}",
            numel(src),
            shape_str(&out)
        )));
    }
    Ok(out)
}

impl Kernel for Reshape {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        let out = match &self.0 {
            Spec::Flatten => {
                vec![x.first().copied().unwrap_or(1), x.iter().skip(1).product()]
            }
            Spec::Codes { codes, reverse } => reshape_codes(x, codes, *reverse)?,
            Spec::Target(t) => {
                let known: usize = t.iter().filter(|&&v| v > 0).map(|&v| v as usize).product();
                let out: Vec<usize> = t
                    .iter()
                    .map(|&v| {
                        if v > 0 {
                            v as usize
                        } else {
                            numel(x).checked_div(known).unwrap_or(0)
                        }
                    })
                    .collect();
                if numel(&out) != numel(x) {
                    return Err(format!(
                        "target_shape {t:?} does not fit {} elements",
                        numel(x)
                    ));
                }
                out
            }
        };
        Ok(vec![out])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        outputs[0].data.copy_from_slice(inputs[0].data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::reshape_codes;

    #[test]
    fn codes_follow_the_spec_table() {
        assert_eq!(
            reshape_codes(&[2, 3, 4], &[4, 0, 2], false).unwrap(),
            [4, 3, 2]
        );
        assert_eq!(
            reshape_codes(&[2, 3, 4], &[6, 1, -1], false).unwrap(),
            [6, 1, 4]
        );
        assert_eq!(
            reshape_codes(&[2, 3, 4], &[-2, 1, 1], false).unwrap(),
            [2, 3, 4, 1, 1]
        );
        assert_eq!(
            reshape_codes(&[2, 3, 4, 5], &[-3, -3], false).unwrap(),
            [6, 20]
        );
        assert_eq!(reshape_codes(&[2, 3, 4], &[0, -3], false).unwrap(), [2, 12]);
        assert_eq!(
            reshape_codes(&[2, 3, 4], &[-4, 1, 2, -2], false).unwrap(),
            [1, 2, 3, 4]
        );
        assert_eq!(
            reshape_codes(&[2, 3, 4], &[2, -4, -1, 3, -2], false).unwrap(),
            [2, 1, 3, 4]
        );
        assert_eq!(
            reshape_codes(&[10, 5, 4], &[-1, 0], false).unwrap(),
            [40, 5]
        );
        assert_eq!(reshape_codes(&[10, 5, 4], &[-1, 0], true).unwrap(), [50, 4]);
        assert_eq!(reshape_codes(&[2, 3], &[-1], false).unwrap(), [6]);
        assert!(reshape_codes(&[2, 3], &[4, -1], false).is_err());
    }
}
