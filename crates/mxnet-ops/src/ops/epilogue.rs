//! Epilogues: the per-channel affine map, residual add and activation that
//! fused steps apply to a kernel's output while it is still in cache.
//!
//! An epilogue computes `post(acc · scale[c] + shift[c] + residual)` for each
//! value `acc` of channel `c`; every part is optional. A plain convolution's
//! bias is `shift`; a folded BatchNorm is `shift` (its scale is in the
//! weights); an unfolded one is `scale` and `shift`; a following
//! `elemwise_add` is `residual`; a following `Activation(relu)` or `clip` is
//! `post`. The loops are specialised per combination so they vectorise.

use super::util::Simd;

/// The element-wise function that ends a fused chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Post {
    /// Nothing.
    Identity,
    /// `Activation(act_type='relu')`: NaN passes through, as in MXNet.
    Relu,
    /// `clip(a_min, a_max)` with `a_min ≤ a_max` (relu6 is clip(0, 6)):
    /// NaN passes through.
    Clip(f32, f32),
}

impl Post {
    /// The function at one value, exactly as the standalone ops compute it.
    #[inline(always)]
    pub(crate) fn apply(self, v: f32) -> f32 {
        match self {
            Post::Identity => v,
            Post::Relu => {
                if v <= 0.0 {
                    0.0
                } else {
                    v
                }
            }
            Post::Clip(lo, hi) => {
                let t = if v > hi { hi } else { v };
                if t < lo { lo } else { t }
            }
        }
    }
}

/// What to do to each output value of channel `c`: see the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Epilogue<'a> {
    /// Per-channel multiplier (absent: 1).
    pub scale: Option<&'a [f32]>,
    /// Per-channel addend (absent: 0).
    pub shift: Option<&'a [f32]>,
    /// Added element-wise before `post`; same layout as the output.
    pub residual: Option<&'a [f32]>,
    /// The final function.
    pub post: Post,
}

impl<'a> Epilogue<'a> {
    /// Only a per-channel bias (a plain convolution or dense layer).
    pub(crate) fn bias(bias: Option<&'a [f32]>) -> Epilogue<'a> {
        Epilogue {
            scale: None,
            shift: bias,
            residual: None,
            post: Post::Identity,
        }
    }

    /// True when it changes nothing.
    pub(crate) fn is_identity(&self) -> bool {
        self.scale.is_none()
            && self.shift.is_none()
            && self.residual.is_none()
            && self.post == Post::Identity
    }

    /// Applies the epilogue to `y`, values of channel `c`; `offset` is the
    /// position of `y[0]` in the whole output (where the residual is read).
    /// The loops run with the widest vectors this CPU has.
    pub(crate) fn apply(&self, c: usize, y: &mut [f32], offset: usize) {
        match Simd::detect() {
            // SAFETY: `Simd::detect` saw the feature on this CPU.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe { apply_avx512(self, c, y, offset) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { apply_avx2(self, c, y, offset) },
            _ => self.apply_inline(c, y, offset),
        }
    }

    /// [`Epilogue::apply`] inlined into the caller, for kernels that are
    /// themselves compiled per instruction set.
    #[inline(always)]
    pub(crate) fn apply_inline(&self, c: usize, y: &mut [f32], offset: usize) {
        let s = self.scale.map(|s| s[c]);
        let t = self.shift.map_or(0.0, |t| t[c]);
        let r = self.residual.map(|r| &r[offset..offset + y.len()]);
        match self.post {
            Post::Identity => {
                if s.is_none() && r.is_none() && self.shift.is_none() {
                    return;
                }
                run(y, s, t, r, |v| v)
            }
            Post::Relu => run(y, s, t, r, |v| Post::Relu.apply(v)),
            Post::Clip(lo, hi) => run(y, s, t, r, move |v| Post::Clip(lo, hi).apply(v)),
        }
    }

    /// `dst = ` the epilogue of `src` (values of channel `c`, equal
    /// lengths) in one pass, inlined into the caller: for kernels that sum
    /// into a scratch buffer, so the output is written once and never read
    /// back (a copy followed by [`Epilogue::apply_inline`] reads each
    /// freshly written output line again, and on a cold output waits for it
    /// to arrive from memory). `offset` is the position of `dst[0]` in the
    /// whole output.
    #[inline(always)]
    pub(crate) fn apply_from_inline(&self, c: usize, src: &[f32], dst: &mut [f32], offset: usize) {
        let src = &src[..dst.len()];
        let s = self.scale.map(|s| s[c]);
        let t = self.shift.map_or(0.0, |t| t[c]);
        let r = self.residual.map(|r| &r[offset..offset + dst.len()]);
        match self.post {
            Post::Identity => {
                if s.is_none() && r.is_none() && self.shift.is_none() {
                    dst.copy_from_slice(src);
                    return;
                }
                run_from(src, dst, s, t, r, |v| v)
            }
            Post::Relu => run_from(src, dst, s, t, r, |v| Post::Relu.apply(v)),
            Post::Clip(lo, hi) => run_from(src, dst, s, t, r, move |v| Post::Clip(lo, hi).apply(v)),
        }
    }

    /// Applies the epilogue to a row-major (rows × channels) matrix whose
    /// channels are its columns (a dense layer's output); `row0` is the
    /// index of the first row of `y` in the whole output.
    pub(crate) fn apply_columns(&self, y: &mut [f32], channels: usize, row0: usize) {
        if self.is_identity() || channels == 0 {
            return;
        }
        for (i, row) in y.chunks_mut(channels).enumerate() {
            let off = (row0 + i) * channels;
            let r = self.residual.map(|r| &r[off..off + row.len()]);
            let post = self.post;
            let f = move |v: f32| post.apply(v);
            match (self.scale, self.shift, r) {
                (None, Some(t), None) => {
                    for (v, &t) in row.iter_mut().zip(t) {
                        *v = f(*v + t);
                    }
                }
                _ => {
                    for (j, v) in row.iter_mut().enumerate() {
                        let mut x = *v;
                        if let Some(s) = self.scale {
                            x *= s[j];
                        }
                        if let Some(t) = self.shift {
                            x += t[j];
                        }
                        if let Some(r) = r {
                            x += r[j];
                        }
                        *v = f(x);
                    }
                }
            }
        }
    }
}

/// [`Epilogue::apply_inline`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn apply_avx512(e: &Epilogue<'_>, c: usize, y: &mut [f32], offset: usize) {
    e.apply_inline(c, y, offset)
}

/// [`Epilogue::apply_inline`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn apply_avx2(e: &Epilogue<'_>, c: usize, y: &mut [f32], offset: usize) {
    e.apply_inline(c, y, offset)
}

/// One specialised loop per combination of scale and residual.
#[inline(always)]
fn run(y: &mut [f32], s: Option<f32>, t: f32, r: Option<&[f32]>, f: impl Fn(f32) -> f32) {
    match (s, r) {
        (None, None) => {
            for v in y {
                *v = f(*v + t);
            }
        }
        (Some(s), None) => {
            for v in y {
                *v = f(*v * s + t);
            }
        }
        (None, Some(r)) => {
            for (v, &r) in y.iter_mut().zip(r) {
                *v = f(*v + t + r);
            }
        }
        (Some(s), Some(r)) => {
            for (v, &r) in y.iter_mut().zip(r) {
                *v = f(*v * s + t + r);
            }
        }
    }
}

/// [`run`] from `src` into `dst`.
#[inline(always)]
fn run_from(
    src: &[f32],
    dst: &mut [f32],
    s: Option<f32>,
    t: f32,
    r: Option<&[f32]>,
    f: impl Fn(f32) -> f32,
) {
    match (s, r) {
        (None, None) => {
            for (v, &x) in dst.iter_mut().zip(src) {
                *v = f(x + t);
            }
        }
        (Some(s), None) => {
            for (v, &x) in dst.iter_mut().zip(src) {
                *v = f(x * s + t);
            }
        }
        (None, Some(r)) => {
            for ((v, &x), &r) in dst.iter_mut().zip(src).zip(r) {
                *v = f(x + t + r);
            }
        }
        (Some(s), Some(r)) => {
            for ((v, &x), &r) in dst.iter_mut().zip(src).zip(r) {
                *v = f(x * s + t + r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_functions_match_the_standalone_ops() {
        assert_eq!(Post::Relu.apply(-1.0), 0.0);
        assert_eq!(Post::Relu.apply(2.0), 2.0);
        assert!(Post::Relu.apply(f32::NAN).is_nan());
        assert_eq!(Post::Clip(0.0, 6.0).apply(7.0), 6.0);
        assert_eq!(Post::Clip(0.0, 6.0).apply(-7.0), 0.0);
        assert!(Post::Clip(0.0, 6.0).apply(f32::NAN).is_nan());
    }

    #[test]
    fn epilogue_parts_apply_in_order() {
        let scale = [2.0, 3.0];
        let shift = [1.0, -1.0];
        let res = [0.5, 0.5, -10.0, 0.0];
        let e = Epilogue {
            scale: Some(&scale),
            shift: Some(&shift),
            residual: Some(&res),
            post: Post::Relu,
        };
        let mut y = [1.0, 2.0];
        e.apply(1, &mut y, 2);
        assert_eq!(y, [0.0, 5.0]);
        let mut m = [1.0, 1.0, 2.0, 2.0];
        e.apply_columns(&mut m, 2, 0);
        assert_eq!(m, [3.5, 2.5, 0.0, 5.0]);
    }

    /// The one-pass form writes exactly what a copy followed by the
    /// in-place epilogue writes, for every combination of parts.
    #[test]
    fn applying_from_a_buffer_matches_copy_then_apply() {
        let scale = [2.0, -3.0];
        let shift = [1.0, -1.0];
        let res: Vec<f32> = (0..40).map(|i| (i as f32 * 0.7).sin()).collect();
        let mut src: Vec<f32> = (0..17).map(|i| (i as f32 * 1.3).cos() * 4.0).collect();
        src[3] = -0.0;
        for post in [Post::Identity, Post::Relu, Post::Clip(-0.5, 2.0)] {
            for (sc, sh, r) in [
                (false, false, false),
                (true, false, false),
                (false, true, true),
                (true, true, true),
            ] {
                let e = Epilogue {
                    scale: sc.then_some(&scale[..]),
                    shift: sh.then_some(&shift[..]),
                    residual: r.then_some(&res[..]),
                    post,
                };
                let mut want = src.clone();
                e.apply_inline(1, &mut want, 5);
                let mut got = vec![f32::NAN; src.len()];
                e.apply_from_inline(1, &src, &mut got, 5);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{post:?} scale {sc} shift {sh} residual {r}"
                );
            }
        }
    }
}
