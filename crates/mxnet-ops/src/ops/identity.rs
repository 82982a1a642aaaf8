//! Ops whose inference forward pass copies (or nearly copies) their data:
//! `Dropout` (identity unless `mode='always'`), `BlockGrad`, `MakeLoss`,
//! `make_loss`, `_copy`, `IdentityAttachKLSparseReg`, and the regression and
//! SVM training heads (`LinearRegressionOutput`, `MAERegressionOutput`,
//! `SVMOutput`: identity; `LogisticRegressionOutput`: sigmoid), whose label
//! inputs are not read.
//!
//! `Dropout` with `mode='always'` stays active at inference: each element is
//! kept with probability 1 − p and scaled by 1/(1 − p). The mask comes from a
//! fixed-seed generator here, so values differ from MXNet's random ones.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::util::map_unary;

macro_rules! entry {
    ($name:literal, $summary:literal) => {
        OpEntry {
            name: $name,
            build,
            family: "identity",
            summary: $summary,
        }
    };
}

pub(crate) static OPS: &[OpEntry] = &[
    entry!(
        "Dropout",
        "identity at inference (mode='always': seeded dropout)"
    ),
    entry!("BlockGrad", "identity (stops gradients)"),
    entry!("MakeLoss", "identity (marks a loss)"),
    entry!("make_loss", "identity (marks a loss)"),
    entry!("_copy", "identity"),
    entry!(
        "IdentityAttachKLSparseReg",
        "identity (sparsity regulariser)"
    ),
    entry!(
        "LinearRegressionOutput",
        "identity training head; label unused"
    ),
    entry!(
        "MAERegressionOutput",
        "identity training head; label unused"
    ),
    entry!("SVMOutput", "identity training head; label unused"),
    entry!(
        "LogisticRegressionOutput",
        "sigmoid training head; label unused"
    ),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Copy,
    Sigmoid,
    Dropout(f32),
}

#[derive(Debug)]
struct Identity {
    kind: Kind,
    unused: &'static [usize],
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let name = crate::registry::canonical(&a.node().op);
    let (kind, unused): (Kind, &'static [usize]) = match name {
        "Dropout" => {
            let p = a.float("p", 0.5)? as f32;
            let always = a.choice("mode", &["training", "always"], "training")? == "always";
            (
                if always && p > 0.0 {
                    Kind::Dropout(p)
                } else {
                    Kind::Copy
                },
                &[],
            )
        }
        "LogisticRegressionOutput" => (Kind::Sigmoid, &[1]),
        "LinearRegressionOutput" | "MAERegressionOutput" | "SVMOutput" => (Kind::Copy, &[1]),
        "IdentityAttachKLSparseReg" => (Kind::Copy, &[1]),
        _ => (Kind::Copy, &[]),
    };
    Ok(Box::new(Identity { kind, unused }))
}

impl Kernel for Identity {
    fn unused_inputs(&self) -> &[usize] {
        self.unused
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        Ok(vec![inputs[0].to_vec()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (x, out) = (inputs[0].data, &mut *outputs[0].data);
        match self.kind {
            Kind::Copy => out.copy_from_slice(x),
            Kind::Sigmoid => map_unary(x, out, move |v| 1.0 / (1.0 + (-v).exp())),
            Kind::Dropout(p) => {
                let scale = 1.0 / (1.0 - p);
                let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
                for (o, &v) in out.iter_mut().zip(x) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let u = (state >> 40) as f32 / (1u64 << 24) as f32;
                    *o = if u < p { 0.0 } else { v * scale };
                }
            }
        }
        Ok(())
    }
}
