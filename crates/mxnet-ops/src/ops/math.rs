//! The unary math family, one table: `relu`, `sigmoid`, `tanh`, `exp`,
//! `log`/`log2`/`log10`/`log1p`, `expm1`, `sqrt`, `rsqrt`, `cbrt`, `rcbrt`,
//! `square`, `abs`, `sign`, `floor`, `ceil`, `round`, `rint`, `trunc`, `fix`,
//! the trigonometric and hyperbolic functions and their inverses, `erf`,
//! `erfinv`, `gamma`, `gammaln`, `reciprocal`, `negative`, `degrees`,
//! `radians`, `softsign`; plus three with attributes or shape dependence:
//! `hard_sigmoid` (alpha = 0.2, beta = 0.5: clip(alpha·x + beta, 0, 1)),
//! `smooth_l1` (scalar σ = 1: 0.5(σx)² if |x| < 1/σ², else |x| − 0.5/σ²) and
//! `_contrib_div_sqrt_dim` (x / √(last dim)).
//!
//! One input `data`; the output has its shape and dtype. Quirks kept from
//! MXNet 1.9.1:
//! * `round` rounds half away from zero; `rint` is *not* half-to-even: it
//!   takes `floor` when x − floor ≤ ceil − x, so exact halves go down
//!   (0.5 → 0, −0.5 → −1, −2.5 → −3). `fix` rounds toward zero.
//! * `relu` passes NaN through; `sign` of NaN is 0.
//! * `erfinv` is Cephes' `ndtri` in double precision, as MXNet computes it
//!   (±1 → ±∞, outside [−1, 1] → NaN, |x| < 1e-7 → x·√π/2).
//! * Integer and boolean inputs compute in floating point and store the
//!   result as that dtype does (truncated toward zero, wrapped to its width).
//! * `smooth_l1` is registered as a scalar op, so its output dtype follows
//!   the scalar-op rule (see `scalar.rs`).

use mxnet_format::DType;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;

use super::util::map_unary;

/// A value as the dtype `dtype` would store it, for values computed in
/// floating point, with x86's conversions: integers truncate toward zero,
/// out-of-range values and NaN become the "integer indefinite" (`i32::MIN`,
/// `i64::MIN`), 8-bit types keep the low byte of the 32-bit conversion;
/// booleans become 0/1. Floats are unchanged (half precision is rounded by
/// the executor).
#[inline]
pub(crate) fn store_as(dtype: DType, v: f32) -> f32 {
    let i32_of = |v: f32| {
        if v >= i32::MIN as f32 && v < -(i32::MIN as f32) {
            v as i32
        } else {
            i32::MIN
        }
    };
    match dtype {
        DType::I8 => i32_of(v) as i8 as f32,
        DType::U8 => i32_of(v) as u8 as f32,
        DType::I32 => i32_of(v) as f32,
        DType::I64 => {
            if v >= i64::MIN as f32 && v < -(i64::MIN as f32) {
                (v as i64) as f32
            } else {
                i64::MIN as f32
            }
        }
        DType::Bool => {
            if v != 0.0 {
                1.0
            } else {
                0.0
            }
        }
        _ => v,
    }
}

/// Applies [`store_as`] to every value when `dtype` is not a float type.
pub(crate) fn store_all_as(dtype: DType, out: &mut [f32]) {
    if !dtype.is_float() {
        for v in out {
            *v = store_as(dtype, *v);
        }
    }
}

/// MXNet's `sign`: −1, 0 or 1 (0 for NaN).
#[inline]
fn sign(x: f32) -> f32 {
    if x < 0.0 {
        -1.0
    } else if x > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// MXNet's `rint`: floor when x − floor ≤ ceil − x, else ceil.
#[inline]
fn rint(x: f32) -> f32 {
    let (f, c) = (x.floor(), x.ceil());
    if x - f <= c - x { f } else { c }
}

/// MXNet's `fix`: whichever of floor and ceil is nearer zero.
#[inline]
fn fix(x: f32) -> f32 {
    let (f, c) = (x.floor(), x.ceil());
    if f.abs() < c.abs() { f } else { c }
}

/// Evaluates a polynomial with coefficients from the highest degree down.
fn poly(x: f64, coef: &[f64]) -> f64 {
    coef.iter().fold(0.0, |acc, &c| acc * x + c)
}

/// Evaluates a monic polynomial (leading coefficient 1, not listed).
fn poly_monic(x: f64, coef: &[f64]) -> f64 {
    coef.iter().fold(1.0, |acc, &c| acc * x + c)
}

/// The inverse of the standard normal CDF for 0 < y < 1 (Cephes `ndtri`,
/// rational approximations on three intervals).
#[allow(clippy::excessive_precision, clippy::unreadable_literal)]
fn ndtri(y0: f64) -> f64 {
    const S2PI: f64 = 2.50662827463100050242e0;
    const EXP_M2: f64 = 0.13533528323661269189;
    const P0: [f64; 5] = [
        -5.99633501014107895267e1,
        9.80010754185999661536e1,
        -5.66762857469070293439e1,
        1.39312609387279679503e1,
        -1.23916583867381258016e0,
    ];
    const Q0: [f64; 8] = [
        1.95448858338141759834e0,
        4.67627912898881538453e0,
        8.63602421390890590575e1,
        -2.25462687854119370527e2,
        2.00260212380060660359e2,
        -8.20372256168333339912e1,
        1.59056225126211695515e1,
        -1.18331621121330003142e0,
    ];
    const P1: [f64; 9] = [
        4.05544892305962419923e0,
        3.15251094599893866154e1,
        5.71628192246421288162e1,
        4.40805073893200834700e1,
        1.46849561928858024014e1,
        2.18663306850790267539e0,
        -1.40256079171354495875e-1,
        -3.50424626827848203418e-2,
        -8.57456785154685413611e-4,
    ];
    const Q1: [f64; 8] = [
        1.57799883256466749731e1,
        4.53907635128879210584e1,
        4.13172038254672030440e1,
        1.50425385692907503408e1,
        2.50464946208309415979e0,
        -1.42182922854787788574e-1,
        -3.80806407691578277194e-2,
        -9.33259480895457427372e-4,
    ];
    const P2: [f64; 9] = [
        3.23774891776946035970e0,
        6.91522889068984211695e0,
        3.93881025292474443415e0,
        1.33303460815807542389e0,
        2.01485389549179081538e-1,
        1.23716634817820021358e-2,
        3.01581553508235416007e-4,
        2.65806974686737550832e-6,
        6.23974539184983293730e-9,
    ];
    const Q2: [f64; 8] = [
        6.02427039364742014255e0,
        3.67983563856160859403e0,
        1.37702099489081330271e0,
        2.16236993594496635890e-1,
        1.34204006088543189037e-2,
        3.28014464682127739104e-4,
        2.89247864745380683936e-6,
        6.79019408009981274425e-9,
    ];
    let mut y = y0;
    let mut negate = true;
    if y > 1.0 - EXP_M2 {
        y = 1.0 - y;
        negate = false;
    }
    if y > EXP_M2 {
        let y = y - 0.5;
        let y2 = y * y;
        let x = y + y * (y2 * poly(y2, &P0) / poly_monic(y2, &Q0));
        return x * S2PI;
    }
    let x = (-2.0 * y.ln()).sqrt();
    let x0 = x - x.ln() / x;
    let z = 1.0 / x;
    let x1 = if x < 8.0 {
        z * poly(z, &P1) / poly_monic(z, &Q1)
    } else {
        z * poly(z, &P2) / poly_monic(z, &Q2)
    };
    let r = x0 - x1;
    if negate { -r } else { r }
}

/// The inverse error function as MXNet computes it (in double precision).
pub(crate) fn erfinv(v: f32) -> f32 {
    let y = f64::from(v);
    if y.abs() < 1e-7 {
        return (y / std::f64::consts::FRAC_2_SQRT_PI) as f32;
    }
    if y > -1.0 && y < 1.0 {
        (ndtri(0.5 * (y + 1.0)) * std::f64::consts::FRAC_1_SQRT_2) as f32
    } else if y == 1.0 || y == -1.0 {
        y.signum() as f32 * f32::INFINITY
    } else {
        f32::NAN
    }
}

/// Declares the parameterless unary functions: an enum, its lookup by op
/// name, a per-element and a vectorisable whole-slice form, and the entries.
macro_rules! unary_table {
    ($($name:literal => $var:ident, $summary:literal, |$x:ident| $body:expr;)*) => {
        /// A parameterless unary function.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Un {
            $($var),*
        }

        impl Un {
            fn of(name: &str) -> Option<Un> {
                match name {
                    $($name => Some(Un::$var),)*
                    _ => None,
                }
            }

            /// Maps `src` into `out` (one monomorphised loop per function).
            fn map(self, src: &[f32], out: &mut [f32]) {
                match self {
                    $(Un::$var => map_unary(src, out, move |$x: f32| $body),)*
                }
            }
        }

        /// The parameterless unary functions' entries.
        pub(crate) static OPS: &[OpEntry] = &[
            $(OpEntry { name: $name, build, family: "math", summary: $summary },)*
        ];
    };
}

unary_table! {
    "relu" => Relu, "max(x, 0) (NaN passes)", |x| if x.is_nan() || x > 0.0 { x } else { 0.0 };
    "sigmoid" => Sigmoid, "1 / (1 + e^−x)", |x| 1.0 / (1.0 + (-x).exp());
    "tanh" => Tanh, "hyperbolic tangent", |x| x.tanh();
    "exp" => Exp, "e^x", |x| x.exp();
    "log" => Log, "natural logarithm", |x| x.ln();
    "log2" => Log2, "base-2 logarithm", |x| x.log2();
    "log10" => Log10, "base-10 logarithm", |x| x.log10();
    "log1p" => Log1p, "ln(1 + x)", |x| x.ln_1p();
    "expm1" => Expm1, "e^x − 1", |x| x.exp_m1();
    "sqrt" => Sqrt, "square root", |x| x.sqrt();
    "rsqrt" => Rsqrt, "1 / √x", |x| 1.0 / x.sqrt();
    "cbrt" => Cbrt, "cube root", |x| x.cbrt();
    "rcbrt" => Rcbrt, "1 / ∛x", |x| 1.0 / x.cbrt();
    "square" => Square, "x²", |x| x * x;
    "abs" => Abs, "|x|", |x| x.abs();
    "sign" => Sign, "−1, 0 or 1 (0 for NaN)", |x| sign(x);
    "floor" => Floor, "round down", |x| x.floor();
    "ceil" => Ceil, "round up", |x| x.ceil();
    "round" => Round, "round half away from zero", |x| x.round();
    "rint" => Rint, "round to nearest, exact halves down (MXNet's rint)", |x| rint(x);
    "trunc" => Trunc, "round toward zero", |x| x.trunc();
    "fix" => Fix, "round toward zero", |x| fix(x);
    "sin" => Sin, "sine", |x| x.sin();
    "cos" => Cos, "cosine", |x| x.cos();
    "tan" => Tan, "tangent", |x| x.tan();
    "arcsin" => Arcsin, "inverse sine", |x| x.asin();
    "arccos" => Arccos, "inverse cosine", |x| x.acos();
    "arctan" => Arctan, "inverse tangent", |x| x.atan();
    "sinh" => Sinh, "hyperbolic sine", |x| x.sinh();
    "cosh" => Cosh, "hyperbolic cosine", |x| x.cosh();
    "arcsinh" => Arcsinh, "inverse hyperbolic sine", |x| x.asinh();
    "arccosh" => Arccosh, "inverse hyperbolic cosine", |x| x.acosh();
    "arctanh" => Arctanh, "inverse hyperbolic tangent", |x| x.atanh();
    "erf" => Erf, "error function", |x| libm::erff(x);
    "erfinv" => Erfinv, "inverse error function (Cephes ndtri)", |x| erfinv(x);
    "gamma" => Gamma, "Γ(x)", |x| libm::tgamma(f64::from(x)) as f32;
    "gammaln" => Gammaln, "ln |Γ(x)|", |x| libm::lgamma(f64::from(x)) as f32;
    "reciprocal" => Reciprocal, "1 / x", |x| 1.0 / x;
    "negative" => Negative, "−x", |x| -x;
    "degrees" => Degrees, "radians to degrees", |x| (180.0 / std::f64::consts::PI * f64::from(x)) as f32;
    "radians" => Radians, "degrees to radians", |x| (std::f64::consts::PI / 180.0 * f64::from(x)) as f32;
    "softsign" => Softsign, "x / (1 + |x|)", |x| x / (1.0 + x.abs());
}

/// The unary ops with attributes or shape dependence.
pub(crate) static PARAM_OPS: &[OpEntry] = &[
    OpEntry {
        name: "hard_sigmoid",
        build: build_hard_sigmoid,
        family: "math",
        summary: "clip(alpha·x + beta, 0, 1) (alpha 0.2, beta 0.5)",
    },
    OpEntry {
        name: "smooth_l1",
        build: build_smooth_l1,
        family: "math",
        summary: "smooth L1 (Huber) of x with σ = scalar",
    },
    OpEntry {
        name: "_contrib_div_sqrt_dim",
        build: build_div_sqrt_dim,
        family: "math",
        summary: "x / √(last dimension)",
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Plain(Un),
    HardSigmoid { alpha: f32, beta: f32 },
    SmoothL1 { sigma: f64, is_int: bool },
    DivSqrtDim,
}

#[derive(Debug)]
struct Unary(Kind);

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let name = crate::registry::canonical(&a.node().op);
    let un = Un::of(name).ok_or_else(|| AttrError {
        key: "op".into(),
        value: name.into(),
        expected: "a unary math op",
    })?;
    Ok(Box::new(Unary(Kind::Plain(un))))
}

fn build_hard_sigmoid(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Unary(Kind::HardSigmoid {
        alpha: a.float("alpha", 0.2)? as f32,
        beta: a.float("beta", 0.5)? as f32,
    })))
}

fn build_smooth_l1(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Unary(Kind::SmoothL1 {
        sigma: a.float("scalar", 1.0)?,
        is_int: a.bool("is_int", true)?,
    })))
}

fn build_div_sqrt_dim(_: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    Ok(Box::new(Unary(Kind::DivSqrtDim)))
}

impl Kernel for Unary {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        if self.0 == Kind::DivSqrtDim && inputs[0].is_empty() {
            return Err("data must have at least one axis".into());
        }
        Ok(vec![inputs[0].to_vec()])
    }

    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        let d = inputs.first().copied().unwrap_or(DType::F32);
        match self.0 {
            Kind::SmoothL1 { is_int, .. } => vec![super::scalar::scalar_out_dtype(d, is_int)],
            _ => vec![d],
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let out = &mut *outputs[0].data;
        let store = match self.0 {
            Kind::Plain(un) => {
                un.map(x.data, out);
                x.dtype
            }
            Kind::HardSigmoid { alpha, beta } => {
                map_unary(x.data, out, move |v| {
                    let r = alpha * v + beta;
                    let r = if 1.0 < r { 1.0 } else { r };
                    if 0.0 > r { 0.0 } else { r }
                });
                x.dtype
            }
            Kind::SmoothL1 { sigma, is_int } => {
                let odt = super::scalar::scalar_out_dtype(x.dtype, is_int);
                // σ is converted to the computing dtype first, as MXNet does.
                let s = super::scalar::scalar_in(x.dtype, is_int, sigma);
                let bsq = s * s;
                let ibsq = 1.0 / bsq;
                map_unary(x.data, out, move |v| {
                    if v > ibsq {
                        v - 0.5 * ibsq
                    } else if v < -ibsq {
                        -v - 0.5 * ibsq
                    } else {
                        0.5 * v * v * bsq
                    }
                });
                odt
            }
            Kind::DivSqrtDim => {
                let last = x.shape.last().copied().unwrap_or(1);
                let d = (last as f64).sqrt() as f32;
                map_unary(x.data, out, move |v| v / d);
                x.dtype
            }
        };
        store_all_as(store, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfinv_inverts_erf_and_handles_the_domain_edges() {
        for &y in &[-0.999f32, -0.7, -0.2, 0.05, 0.3, 0.9, 0.99999] {
            let x = erfinv(y);
            assert!((libm::erf(f64::from(x)) - f64::from(y)).abs() < 1e-6, "{y}");
        }
        assert_eq!(erfinv(1.0), f32::INFINITY);
        assert_eq!(erfinv(-1.0), f32::NEG_INFINITY);
        assert!(erfinv(1.5).is_nan());
        assert!((erfinv(1e-8) - 1e-8 * 0.886_226_9).abs() < 1e-14);
    }

    #[test]
    fn rounding_quirks() {
        assert_eq!(
            [0.5f32, 1.5, 2.5, -0.5, -2.5, 2.6].map(rint),
            [0.0, 1.0, 2.0, -1.0, -3.0, 3.0]
        );
        assert_eq!([-1.7f32, 1.7, -0.5].map(fix), [-1.0, 1.0, 0.0]);
        assert_eq!([f32::NAN, -3.0, 0.0].map(sign), [0.0, -1.0, 0.0]);
        assert_eq!(store_as(DType::U8, -1.7), 255.0);
        assert_eq!(store_as(DType::I32, -2.9), -2.0);
    }
}
