//! `SequenceLast`, `SequenceMask` and `SequenceReverse`: per-sequence
//! operations on padded batches.
//!
//! Inputs: data, time-major (T, N, …) with `axis` = 0 or batch-major
//! (N, T, …) with `axis` = 1, at least 2-D; `sequence_length` (N) only when
//! `use_sequence_length` = True (default False; lengths of any dtype,
//! truncated). Attributes:
//! * `SequenceLast`: `axis` = 0 (0 or 1). Output (N, …): step length − 1 of
//!   each sequence (the last step T − 1 without lengths).
//! * `SequenceMask`: `axis` = 0 (0 or 1), `value` = 0. Steps ≥ length are set
//!   to `value`; without lengths, the identity.
//! * `SequenceReverse`: `axis` = 0 (MXNet supports only 0). The first length
//!   steps of each sequence are reversed, the padding after them is kept.
//!
//! Lengths outside [0, T] are undefined behaviour in MXNet; here they are
//! clamped into range (SequenceLast: into [1, T]).

use mxnet_format::DType;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::cast::f2i64;

/// The ops this file implements.
pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "SequenceLast",
        build,
        family: "sequence",
        summary: "last valid step of each sequence",
    },
    OpEntry {
        name: "SequenceMask",
        build,
        family: "sequence",
        summary: "set steps past each sequence's length to a value",
    },
    OpEntry {
        name: "SequenceReverse",
        build,
        family: "sequence",
        summary: "reverse the valid steps of each sequence",
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Last,
    Mask(f32),
    Reverse,
}

#[derive(Debug)]
struct Sequence {
    kind: Kind,
    use_len: bool,
    /// The batch-major layout (axis = 1).
    batch_major: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let kind = match crate::registry::canonical(&a.node().op) {
        "SequenceLast" => Kind::Last,
        "SequenceMask" => Kind::Mask(a.float("value", 0.0)? as f32),
        _ => Kind::Reverse,
    };
    let axis = a.int("axis", 0)?;
    let ok = match kind {
        Kind::Reverse => axis == 0,
        _ => axis == 0 || axis == 1,
    };
    if !ok {
        return Err(AttrError {
            key: "axis".into(),
            value: axis.to_string(),
            expected: if kind == Kind::Reverse {
                "0 (the only axis SequenceReverse supports)"
            } else {
                "0 or 1"
            },
        });
    }
    Ok(Box::new(Sequence {
        kind,
        use_len: a.bool("use_sequence_length", false)?,
        batch_major: axis == 1,
    }))
}

impl Sequence {
    /// (T, N, rest) of the data.
    fn dims(&self, x: &[usize]) -> (usize, usize, usize) {
        let (t, n) = if self.batch_major {
            (x[1], x[0])
        } else {
            (x[0], x[1])
        };
        (t, n, x[2..].iter().product())
    }

    /// Element offset of (step s, sequence b).
    fn at(&self, s: usize, b: usize, t: usize, n: usize, rest: usize) -> usize {
        if self.batch_major {
            (b * t + s) * rest
        } else {
            (s * n + b) * rest
        }
    }

    /// The length of sequence `b`, clamped into [0, t].
    fn len_of(&self, lens: Option<In<'_>>, b: usize, t: usize) -> usize {
        match lens {
            Some(l) => f2i64(l.data[b]).clamp(0, t as i64) as usize,
            None => t,
        }
    }
}

static UNUSED_LEN: [usize; 1] = [1];

impl Kernel for Sequence {
    fn unused_inputs(&self) -> &[usize] {
        if self.use_len { &[] } else { &UNUSED_LEN }
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, if self.use_len { 2 } else { 1 })?;
        let x = inputs[0];
        if x.len() < 2 {
            return Err(format!("data must be at least 2-D, got {}", shape_str(x)));
        }
        let (t, n, _) = self.dims(x);
        if self.use_len && inputs[1] != [n] {
            return Err(format!("sequence_length must have shape ({n},)"));
        }
        if self.kind == Kind::Last && t == 0 {
            return Err("SequenceLast needs at least one step".into());
        }
        let out = match self.kind {
            Kind::Last => {
                let mut s = vec![n];
                s.extend_from_slice(&x[2..]);
                s
            }
            _ => x.to_vec(),
        };
        Ok(vec![out])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match (inputs.first().copied().flatten(), inputs.get(1)) {
            (Some(x), Some(None)) if self.use_len && x.len() >= 2 => {
                vec![None, Some(vec![self.dims(x).1])]
            }
            _ => Vec::new(),
        }
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        vec![inputs.first().copied().unwrap_or(DType::F32)]
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let lens = if self.use_len {
            inputs.get(1).copied()
        } else {
            None
        };
        let (t, n, rest) = self.dims(x.shape);
        let out = &mut *outputs[0].data;
        if rest == 0 {
            return Ok(());
        }
        match self.kind {
            Kind::Last => {
                for (b, dst) in out.chunks_mut(rest).enumerate().take(n) {
                    let s = self.len_of(lens, b, t).max(1) - 1;
                    let at = self.at(s, b, t, n, rest);
                    dst.copy_from_slice(&x.data[at..at + rest]);
                }
            }
            Kind::Mask(value) => {
                out.copy_from_slice(x.data);
                if lens.is_some() {
                    for b in 0..n {
                        for s in self.len_of(lens, b, t)..t {
                            let at = self.at(s, b, t, n, rest);
                            out[at..at + rest].fill(value);
                        }
                    }
                }
            }
            Kind::Reverse => {
                for b in 0..n {
                    let l = self.len_of(lens, b, t);
                    for s in 0..t {
                        let from = if s < l { l - 1 - s } else { s };
                        let (o, i) = (self.at(s, b, t, n, rest), self.at(from, b, t, n, rest));
                        out[o..o + rest].copy_from_slice(&x.data[i..i + rest]);
                    }
                }
            }
        }
        Ok(())
    }
}
