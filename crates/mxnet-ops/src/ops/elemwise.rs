//! Binary element-wise arithmetic, comparison and logic: `elemwise_*` (same
//! shapes), `broadcast_*` (NumPy broadcasting), `_maximum`-style (same
//! shapes), and `add_n` (sum of any number of same-shape inputs).
//!
//! Comparisons and logic return 0/1 in the input dtype. On integer dtypes
//! results are stored as the dtype stores them (a quotient truncates toward
//! zero, as integer division does). `mod` follows
//! MXNet: the result takes the divisor's sign and `x mod 0` is 0.
//! `maximum`/`minimum` return the second operand when the comparison is false
//! (so a NaN first operand gives the second).

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::math::store_all_as;
use super::util::{PAR_GRAIN, broadcast_shape, broadcast_strides, map_unary};

/// A binary function of two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Max,
    Min,
    Hypot,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    And,
    Or,
    Xor,
}

impl Bin {
    #[inline]
    pub(crate) fn apply(self, a: f32, b: f32) -> f32 {
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            Bin::Add => a + b,
            Bin::Sub => a - b,
            Bin::Mul => a * b,
            Bin::Div => a / b,
            Bin::Mod => modulo(a, b),
            Bin::Pow => a.powf(b),
            Bin::Max => {
                if a > b {
                    a
                } else {
                    b
                }
            }
            Bin::Min => {
                if a < b {
                    a
                } else {
                    b
                }
            }
            Bin::Hypot => a.hypot(b),
            Bin::Eq => t(a == b),
            Bin::Ne => t(a != b),
            Bin::Gt => t(a > b),
            Bin::Ge => t(a >= b),
            Bin::Lt => t(a < b),
            Bin::Le => t(a <= b),
            Bin::And => t(a != 0.0 && b != 0.0),
            Bin::Or => t(a != 0.0 || b != 0.0),
            Bin::Xor => t((a != 0.0) != (b != 0.0)),
        }
    }
}

/// MXNet's `mod`: the remainder with the divisor's sign; 0 for a 0 divisor.
#[inline]
pub(crate) fn modulo(a: f32, b: f32) -> f32 {
    if b == 0.0 {
        return 0.0;
    }
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
        r + b
    } else {
        r
    }
}

/// Which binary function an op name means (`elemwise_add`, `broadcast_add`,
/// `_plus` and `add` all mean [`Bin::Add`]).
pub(crate) fn bin_of(name: &str) -> Option<Bin> {
    let base = name
        .strip_prefix("elemwise_")
        .or_else(|| name.strip_prefix("broadcast_"))
        .or_else(|| name.strip_prefix('_'))
        .unwrap_or(name);
    Some(match base {
        "add" | "plus" => Bin::Add,
        "sub" | "minus" => Bin::Sub,
        "mul" => Bin::Mul,
        "div" => Bin::Div,
        "mod" => Bin::Mod,
        "power" => Bin::Pow,
        "maximum" => Bin::Max,
        "minimum" => Bin::Min,
        "hypot" => Bin::Hypot,
        "equal" => Bin::Eq,
        "not_equal" => Bin::Ne,
        "greater" => Bin::Gt,
        "greater_equal" => Bin::Ge,
        "lesser" => Bin::Lt,
        "lesser_equal" => Bin::Le,
        "logical_and" => Bin::And,
        "logical_or" => Bin::Or,
        "logical_xor" => Bin::Xor,
        _ => return None,
    })
}

pub(crate) static OPS: &[OpEntry] = entries![
    "elemwise_add" => "a + b (same shapes)",
    "elemwise_sub" => "a − b (same shapes)",
    "elemwise_mul" => "a · b (same shapes)",
    "elemwise_div" => "a / b (same shapes)",
    "_mod" => "a mod b (same shapes)",
    "_power" => "a ^ b (same shapes)",
    "_maximum" => "max(a, b) (same shapes)",
    "_minimum" => "min(a, b) (same shapes)",
    "_hypot" => "√(a² + b²) (same shapes)",
    "_equal" => "a == b (same shapes)",
    "_not_equal" => "a != b (same shapes)",
    "_greater" => "a > b (same shapes)",
    "_greater_equal" => "a >= b (same shapes)",
    "_lesser" => "a < b (same shapes)",
    "_lesser_equal" => "a <= b (same shapes)",
    "_logical_and" => "a and b (same shapes)",
    "_logical_or" => "a or b (same shapes)",
    "_logical_xor" => "a xor b (same shapes)",
    "broadcast_add" => "a + b, broadcasting",
    "broadcast_sub" => "a − b, broadcasting",
    "broadcast_mul" => "a · b, broadcasting",
    "broadcast_div" => "a / b, broadcasting",
    "broadcast_mod" => "a mod b, broadcasting",
    "broadcast_power" => "a ^ b, broadcasting",
    "broadcast_maximum" => "max(a, b), broadcasting",
    "broadcast_minimum" => "min(a, b), broadcasting",
    "broadcast_hypot" => "√(a² + b²), broadcasting",
    "broadcast_equal" => "a == b, broadcasting",
    "broadcast_not_equal" => "a != b, broadcasting",
    "broadcast_greater" => "a > b, broadcasting",
    "broadcast_greater_equal" => "a >= b, broadcasting",
    "broadcast_lesser" => "a < b, broadcasting",
    "broadcast_lesser_equal" => "a <= b, broadcasting",
    "broadcast_logical_and" => "a and b, broadcasting",
    "broadcast_logical_or" => "a or b, broadcasting",
    "broadcast_logical_xor" => "a xor b, broadcasting",
];

pub(crate) static SUM_OPS: &[OpEntry] = &[OpEntry {
    name: "add_n",
    build: build_add_n,
    family: "math",
    summary: "sum of any number of same-shape inputs (ElementWiseSum)",
}];

#[derive(Debug)]
struct Binary {
    op: Bin,
    broadcast: bool,
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let name = crate::registry::canonical(&a.node().op);
    let op = bin_of(name).ok_or_else(|| AttrError {
        key: "op".into(),
        value: name.into(),
        expected: "a binary element-wise op",
    })?;
    Ok(Box::new(Binary {
        op,
        broadcast: name.starts_with("broadcast_"),
    }))
}

impl Kernel for Binary {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 2)?;
        if self.broadcast {
            Ok(vec![broadcast_shape(inputs[0], inputs[1])?])
        } else if inputs[0] != inputs[1] {
            Err(format!(
                "operands must have the same shape, got {} and {} (use broadcast_* to broadcast)",
                shape_str(inputs[0]),
                shape_str(inputs[1])
            ))
        } else {
            Ok(vec![inputs[0].to_vec()])
        }
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        if self.broadcast {
            return Vec::new();
        }
        match (
            inputs.first().copied().flatten(),
            inputs.get(1).copied().flatten(),
        ) {
            (Some(a), None) => vec![None, Some(a.to_vec())],
            (None, Some(b)) => vec![Some(b.to_vec()), None],
            _ => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        binary(
            self.op,
            inputs[0],
            inputs[1],
            outputs[0].shape,
            outputs[0].data,
        );
        // Integer tensors compute in integers: a quotient truncates toward
        // zero, as C++'s `/` does (exact for |values| < 2^24).
        store_all_as(inputs[0].dtype, outputs[0].data);
        Ok(())
    }
}

/// Applies `op` with broadcasting from `a` and `b` into `out` of shape `oshape`.
pub(crate) fn binary(op: Bin, a: In<'_>, b: In<'_>, oshape: &[usize], out: &mut [f32]) {
    // Dispatch once, so each loop is specialised (and vectorises) instead of
    // matching on the op for every element.
    macro_rules! go {
        ($($v:ident),*) => {
            match op {
                $(Bin::$v => binary_with(move |x, y| Bin::$v.apply(x, y), a, b, oshape, out),)*
            }
        };
    }
    go!(
        Add, Sub, Mul, Div, Mod, Pow, Max, Min, Hypot, Eq, Ne, Gt, Ge, Lt, Le, And, Or, Xor
    )
}

fn binary_with(
    f: impl Fn(f32, f32) -> f32 + Sync + Copy,
    a: In<'_>,
    b: In<'_>,
    oshape: &[usize],
    out: &mut [f32],
) {
    if a.shape == b.shape {
        let (ad, bd) = (a.data, b.data);
        let run = move |o: &mut [f32], x: &[f32], y: &[f32]| {
            for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                *o = f(x, y);
            }
        };
        if out.len() >= 2 * PAR_GRAIN {
            use rayon::prelude::*;
            out.par_chunks_mut(PAR_GRAIN)
                .zip(ad.par_chunks(PAR_GRAIN).zip(bd.par_chunks(PAR_GRAIN)))
                .for_each(|(o, (x, y))| run(o, x, y));
        } else {
            run(out, ad, bd);
        }
        return;
    }
    if b.data.len() == 1 {
        let y = b.data[0];
        map_unary(a.data, out, move |x| f(x, y));
        return;
    }
    if a.data.len() == 1 {
        let x = a.data[0];
        map_unary(b.data, out, move |y| f(x, y));
        return;
    }
    let sa = broadcast_strides(a.shape, oshape);
    let sb = broadcast_strides(b.shape, oshape);
    let nd = oshape.len();
    let last = oshape.last().copied().unwrap_or(1);
    let (la, lb) = (
        sa.last().copied().unwrap_or(0),
        sb.last().copied().unwrap_or(0),
    );
    let ostr = super::util::strides(oshape);
    super::util::par_rows(out, last.max(1), |row, o| {
        // Offsets of this row in a and b from the outer indices.
        let (mut oa, mut ob) = (0, 0);
        let mut rem = row * last;
        for d in 0..nd.saturating_sub(1) {
            let idx = rem / ostr[d];
            rem %= ostr[d];
            oa += idx * sa[d];
            ob += idx * sb[d];
        }
        match (la, lb) {
            (1, 1) => {
                for ((o, &x), &y) in o.iter_mut().zip(&a.data[oa..]).zip(&b.data[ob..]) {
                    *o = f(x, y);
                }
            }
            (1, 0) => {
                let y = b.data[ob];
                for (o, &x) in o.iter_mut().zip(&a.data[oa..]) {
                    *o = f(x, y);
                }
            }
            (0, 1) => {
                let x = a.data[oa];
                for (o, &y) in o.iter_mut().zip(&b.data[ob..]) {
                    *o = f(x, y);
                }
            }
            _ => {
                for (j, o) in o.iter_mut().enumerate() {
                    *o = f(a.data[oa + j * la], b.data[ob + j * lb]);
                }
            }
        }
    });
}

#[derive(Debug)]
struct AddN;

fn build_add_n(_: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(AddN))
}

impl Kernel for AddN {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        if let Some(bad) = inputs.iter().find(|s| **s != inputs[0]) {
            return Err(format!(
                "all inputs must have the same shape, got {} and {}",
                shape_str(inputs[0]),
                shape_str(bad)
            ));
        }
        Ok(vec![inputs[0].to_vec()])
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match inputs.iter().find_map(|s| *s) {
            Some(s) => vec![Some(s.to_vec()); inputs.len()],
            None => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let out = &mut *outputs[0].data;
        out.copy_from_slice(inputs[0].data);
        for x in &inputs[1..] {
            for (o, &v) in out.iter_mut().zip(x.data) {
                *o += v;
            }
        }
        Ok(())
    }
}
