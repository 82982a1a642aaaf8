//! 3×3, stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3).
//!
//! Each 2×2 block of output (a *tile*) is computed from the 4×4 input patch
//! under it: `Y = Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A`. Over all channels
//! the sum is, for each of the 16 positions ξ of the 4×4 transformed
//! tile, one matrix product `M_ξ (F × tiles) = U_ξ (F × C) · V_ξ (C ×
//! tiles)`: 16 GEMMs whose total work is 16 multiply-adds per tile, filter
//! and channel instead of the 36 of the direct convolution (2.25× fewer),
//! and no im2col copy of the input.
//!
//! F(2×2, 3×3) is the variant whose transforms only add, subtract and
//! halve, so it loses about one bit of precision against the direct sum
//! (the larger F(4×4, 3×3) loses several and is not used). The output
//! matches MXNet within the golden tolerances, which the fixture models
//! check on every path.
//!
//! Work is split into blocks of whole tile rows of one image, sized so that
//! a block's transformed input and output stay in the L2 cache, or, for
//! small maps in a batch, of several whole images (each GEMM packs its
//! filters whatever its columns, so it wants [`MIN_BLOCK_TILES`] of them);
//! blocks run in parallel, and each applies the epilogue to the rows it
//! wrote. The input and output transforms run 16 tiles at a time, one per
//! vector lane.

use rayon::prelude::*;

use super::convolution::Convolution;
use super::epilogue::Epilogue;
use super::util::{SendPtr, Simd};
use crate::gemm::{Mat, sgemm, sgemm_seq};

/// Whether `conv` over an input of `xshape` (N, C, H, W) runs here: a 2-D
/// 3×3 kernel, stride 1, no dilation, one group, and enough channels,
/// filters and tiles for it to beat the direct convolution.
///
/// Measured on 2 threads against the im2col + GEMM path: 1.2–1.7× faster
/// with 256 or 512 channels and filters over 100 or more tiles (ResNet's
/// 14×14 and 7×7 stages at batch 8, VGG's 28×28 stage at batch 1); slower
/// with few tiles (7×7 at batch 1: 2× slower). With 64 to 255 channels or
/// filters only from [`MANY_TILES`] tiles: GEMMs of depth 64 or 128 run
/// below the GEMM's peak, which the 2.25× fewer multiply-adds make up for
/// only over many tiles.
pub(crate) fn applies(conv: &Convolution, xshape: &[usize]) -> bool {
    applies_with(conv, xshape, 256, 100) || applies_with(conv, xshape, 64, MANY_TILES)
}

/// Tiles (over the whole batch) from which 64 to 255 channels and filters
/// run here too, measured per layer in whole nets against the direct
/// kernels they replaced (2 threads, Zen 4): resnet-18's and resnet-50's
/// 64-channel 56 × 56 and 128-channel 28 × 28 layers at batch 8 (6272 and
/// 1568 tiles) 0.79–0.85× and 0.67–0.76×, inception's 64 and 96 channels
/// on 35 × 35 at batch 8 (2592) 0.71–0.80×, its 80 → 192 on 71 × 71
/// 0.74× at batch 8 and 0.85× at batch 1 (1296), vgg's 128 → 256 on 56 ×
/// 56 0.76× at batch 8 and 0.65× at batch 1 (784), resnet-18's and
/// resnet-50 v2's 64 channels on 56 × 56 at batch 1 (784) 0.75–0.92×,
/// inception's 64 and 96 channels on 35 × 35 at batch 1 (324) 0.83–0.91×,
/// squeezenet's 64 → 256 on 13 × 13 at batch 8 (392) 0.81×; at batch 1
/// resnet-18's 128 channels on 28 × 28 (196 tiles) were 1.06–1.08×.
const MANY_TILES: usize = 300;

/// [`applies`] with the thresholds given (`channels` for both channels
/// and filters, `tiles` over the whole batch).
pub(crate) fn applies_with(
    conv: &Convolution,
    xshape: &[usize],
    channels: usize,
    tiles: usize,
) -> bool {
    let win = &conv.win;
    let shape_ok = win.nd == 2
        && xshape.len() == 4
        && win.kernel == [1, 3, 3]
        && win.stride == [1, 1, 1]
        && win.dilate == [1, 1, 1]
        && win.pad[0] == 0
        && win.pad[1] <= 2
        && win.pad[2] <= 2
        && conv.groups == 1;
    if !shape_ok {
        return false;
    }
    let out = |i: usize, p: usize| (i + 2 * p).saturating_sub(2);
    let (oh, ow) = (out(xshape[2], win.pad[1]), out(xshape[3], win.pad[2]));
    conv.num_filter >= channels
        && xshape[1] >= channels
        && xshape[0] * oh.div_ceil(2) * ow.div_ceil(2) >= tiles
}

/// Transformed filters `U_ξ = (G g Gᵀ)_ξ` of `w` (F × C × 3 × 3), laid out
/// as 16 row-major F × C matrices.
pub(crate) fn transform_filters(w: &[f32], filters: usize, channels: usize) -> Vec<f32> {
    let fc = filters * channels;
    let mut u = vec![0f32; 16 * fc];
    for (i, g) in w.chunks_exact(9).take(fc).enumerate() {
        // G g: 4 × 3.
        let mut t = [0f32; 12];
        for j in 0..3 {
            let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
            t[j] = g0;
            t[3 + j] = 0.5 * (g0 + g1 + g2);
            t[6 + j] = 0.5 * (g0 - g1 + g2);
            t[9 + j] = g2;
        }
        // (G g) Gᵀ: 4 × 4.
        for r in 0..4 {
            let (a, b, c) = (t[3 * r], t[3 * r + 1], t[3 * r + 2]);
            let row = [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
            for (k, v) in row.into_iter().enumerate() {
                u[(4 * r + k) * fc + i] = v;
            }
        }
    }
    u
}

/// Bytes of transformed input per block (with as much again for the
/// transformed output): about half the L2 cache.
const BLOCK_BYTES: usize = 1 << 20;

/// Fewest tiles per block when whole images of a batch can share one:
/// resnet's 7 × 7 maps have 16 tiles each.
const MIN_BLOCK_TILES: usize = 64;

/// The convolution of `x` (N, C, H, W) with filters transformed by
/// [`transform_filters`] into `y` (N, F, OH, OW), then the epilogue.
/// `conv` must satisfy [`applies`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_winograd(
    conv: &Convolution,
    xshape: &[usize],
    x: &[f32],
    u: &[f32],
    epi: &Epilogue<'_>,
    yshape: &[usize],
    y: &mut [f32],
) {
    let (n, c, ih, iw) = (xshape[0], xshape[1], xshape[2], xshape[3]);
    let (f, oh, ow) = (conv.num_filter, yshape[2], yshape[3]);
    let (ph, pw) = (conv.win.pad[1], conv.win.pad[2]);
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    assert!(
        x.len() >= n * c * ih * iw && y.len() >= n * f * oh * ow && u.len() >= 16 * f * c,
        "conv_winograd: buffers smaller than their shapes"
    );
    if n == 0 || f == 0 || oh == 0 || ow == 0 {
        return;
    }
    // Tile rows per block: the block's V (16 × C × tiles) within budget.
    let threads = rayon::current_num_threads();
    // At least two blocks per thread when the tile rows allow.
    let share = if n >= 2 * threads {
        th
    } else {
        th.div_ceil((2 * threads).div_ceil(n))
    };
    let rows = (BLOCK_BYTES / (64 * c.max(f) * tw)).clamp(1, th).min(share);
    let blocks_per_image = th.div_ceil(rows);
    // Small maps in a batch: whole images per block, enough of them for
    // GEMMs of MIN_BLOCK_TILES columns (each GEMM packs all of its U_ξ
    // whatever the columns), as long as every thread still gets a block.
    let images = if blocks_per_image == 1 {
        (MIN_BLOCK_TILES / (th * tw)).clamp(1, (n / threads).max(1))
    } else {
        1
    };
    let groups = n.div_ceil(images);
    // Too few blocks to share: one at a time, each GEMM split over the pool.
    let inner = threads > 1 && groups * blocks_per_image < 2 * threads;
    let (isp, osp) = (ih * iw, oh * ow);
    let yp = SendPtr(y.as_mut_ptr());
    let geo = Geometry { ih, iw, ph, pw, tw };
    let simd = Simd::detect();
    let block = |item: usize| {
        let (grp, blk) = (item / blocks_per_image, item % blocks_per_image);
        let (b0, b1) = (grp * images, ((grp + 1) * images).min(n));
        let (ty0, ty1) = (blk * rows, ((blk + 1) * rows).min(th));
        // Tiles per image, and in the block (image after image).
        let per_image = (ty1 - ty0) * tw;
        let tiles = (b1 - b0) * per_image;
        super::util::with_scratch(16 * (c + f) * tiles, |scratch| {
            let (v, m) = scratch.split_at_mut(16 * c * tiles);
            // V_ξ[c][t]: the transformed input of the block's tiles.
            for b in b0..b1 {
                let xb = &x[b * c * isp..(b + 1) * c * isp];
                for (ch, plane) in xb.chunks_exact(isp).enumerate() {
                    let base = ch * tiles + (b - b0) * per_image;
                    geo.transform_input(plane, (ty0, ty1), v, (base, c * tiles), simd);
                }
            }
            // M_ξ = U_ξ · V_ξ.
            for xi in 0..16 {
                let gemm = if inner { sgemm } else { sgemm_seq };
                gemm(
                    f,
                    tiles,
                    c,
                    Mat::rows(&u[xi * f * c..(xi + 1) * f * c], c),
                    Mat::rows(&v[xi * c * tiles..(xi + 1) * c * tiles], tiles),
                    &mut m[xi * f * tiles..(xi + 1) * f * tiles],
                    tiles,
                    false,
                );
            }
            // Y = Aᵀ M A, rows 2·ty0 .. 2·ty1 of every filter's plane.
            let (r0, r1) = (2 * ty0, (2 * ty1).min(oh));
            for b in b0..b1 {
                for fi in 0..f {
                    let off = (b * f + fi) * osp + r0 * ow;
                    // SAFETY: rows r0..r1 of plane (b, fi) belong to this
                    // block only (blocks split the images and each image's
                    // tile rows), and lie inside `y` (asserted above).
                    let out = unsafe {
                        std::slice::from_raw_parts_mut(yp.get().add(off), (r1 - r0) * ow)
                    };
                    let mb = &m[fi * tiles + (b - b0) * per_image..];
                    output_rows(mb, (f * tiles, per_image), (tw, ow), out, simd);
                    epi.apply(fi, out, off);
                }
            }
        });
    };
    let items = groups * blocks_per_image;
    if items > 1 && threads > 1 && !inner {
        (0..items).into_par_iter().for_each(block);
    } else {
        (0..items).for_each(block);
    }
}

/// The input side of a plane: its size, padding and tiles per row.
struct Geometry {
    ih: usize,
    iw: usize,
    ph: usize,
    pw: usize,
    tw: usize,
}

impl Geometry {
    /// Writes `V_ξ = (Bᵀ d B)_ξ` for the tiles of rows `ty0..ty1` of one
    /// channel's `plane` to `v[ξ·stride + base + t]`, [`TILE_LANES`] tiles
    /// at a time: each tile's 4 × 4 inputs gathered into lane `i` of 16
    /// rows, the transform computed on whole rows (vectors where the CPU
    /// has them), and each of the 16 results stored as one run of tiles.
    fn transform_input(
        &self,
        plane: &[f32],
        (ty0, ty1): (usize, usize),
        v: &mut [f32],
        (base, stride): (usize, usize),
        simd: Simd,
    ) {
        #[cfg(target_arch = "x86_64")]
        if simd == Simd::Avx512 {
            // SAFETY: `Simd::detect` saw AVX-512F on this CPU.
            unsafe { transform_input_avx512(self, plane, (ty0, ty1), v, (base, stride)) };
            return;
        }
        let _ = simd;
        self.transform_input_lanes(plane, (ty0, ty1), v, (base, stride));
    }

    // Lane i is one tile across the 16 rows of `d` and `e`: indexing by
    // lane is the point.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn transform_input_lanes(
        &self,
        plane: &[f32],
        (ty0, ty1): (usize, usize),
        v: &mut [f32],
        (base, stride): (usize, usize),
    ) {
        const L: usize = TILE_LANES;
        let (ih, iw) = (self.ih as isize, self.iw as isize);
        let tiles = (ty1 - ty0) * self.tw;
        for t0 in (0..tiles).step_by(L) {
            let nt = (tiles - t0).min(L);
            // d[4·r + k][i]: row r, column k of tile t0 + i.
            let mut d = [[0f32; L]; 16];
            for i in 0..nt {
                let t = t0 + i;
                let y0 = (2 * (ty0 + t / self.tw)) as isize - self.ph as isize;
                let x0 = (2 * (t % self.tw)) as isize - self.pw as isize;
                if y0 >= 0 && x0 >= 0 && y0 + 4 <= ih && x0 + 4 <= iw {
                    for r in 0..4 {
                        let s = ((y0 + r as isize) * iw + x0) as usize;
                        for (k, &x) in plane[s..s + 4].iter().enumerate() {
                            d[4 * r + k][i] = x;
                        }
                    }
                } else {
                    for r in 0..4 {
                        let yy = y0 + r as isize;
                        if yy < 0 || yy >= ih {
                            continue;
                        }
                        for k in 0..4 {
                            let xx = x0 + k as isize;
                            if xx >= 0 && xx < iw {
                                d[4 * r + k][i] = plane[(yy * iw + xx) as usize];
                            }
                        }
                    }
                }
            }
            // Bᵀ d, then (Bᵀ d) B, lane by lane.
            let mut e = [[0f32; L]; 16];
            for k in 0..4 {
                for i in 0..L {
                    let (d0, d1, d2, d3) = (d[k][i], d[4 + k][i], d[8 + k][i], d[12 + k][i]);
                    e[k][i] = d0 - d2;
                    e[4 + k][i] = d1 + d2;
                    e[8 + k][i] = d2 - d1;
                    e[12 + k][i] = d1 - d3;
                }
            }
            for r in 0..4 {
                for i in 0..L {
                    let (a, b, c, dd) = (
                        e[4 * r][i],
                        e[4 * r + 1][i],
                        e[4 * r + 2][i],
                        e[4 * r + 3][i],
                    );
                    d[4 * r][i] = a - c;
                    d[4 * r + 1][i] = b + c;
                    d[4 * r + 2][i] = c - b;
                    d[4 * r + 3][i] = b - dd;
                }
            }
            for (xi, row) in d.iter().enumerate() {
                let out = &mut v[xi * stride + base + t0..];
                if nt == L {
                    // A constant length: a few vector stores, not a call.
                    out[..L].copy_from_slice(row);
                } else {
                    out[..nt].copy_from_slice(&row[..nt]);
                }
            }
        }
    }
}

/// Tiles whose input transform is computed together, one per vector lane.
const TILE_LANES: usize = 16;

/// [`Geometry::transform_input`] compiled for AVX-512.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transform_input_avx512(
    g: &Geometry,
    plane: &[f32],
    rows: (usize, usize),
    v: &mut [f32],
    at: (usize, usize),
) {
    g.transform_input_lanes(plane, rows, v, at);
}

/// `Y = Aᵀ m A` for each tile of one filter: `m[ξ·stride + t]`, tiles in
/// rows of `tw`, into `out` (whole output rows of width `ow`; a last odd
/// row or column is dropped), [`TILE_LANES`] tiles at a time on whole
/// vectors where the CPU has them.
fn output_rows(
    m: &[f32],
    (stride, tiles): (usize, usize),
    (tw, ow): (usize, usize),
    out: &mut [f32],
    simd: Simd,
) {
    #[cfg(target_arch = "x86_64")]
    if simd == Simd::Avx512 {
        // SAFETY: `Simd::detect` saw AVX-512F on this CPU.
        unsafe { output_rows_avx512(m, (stride, tiles), (tw, ow), out) };
        return;
    }
    let _ = simd;
    output_rows_lanes(m, (stride, tiles), (tw, ow), out);
}

/// [`output_rows`] compiled for AVX-512.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn output_rows_avx512(
    m: &[f32],
    at: (usize, usize),
    widths: (usize, usize),
    out: &mut [f32],
) {
    output_rows_lanes(m, at, widths, out);
}

// Lane i is one tile across the rows of `s`, `a` and `y`.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn output_rows_lanes(
    m: &[f32],
    (stride, tiles): (usize, usize),
    (tw, ow): (usize, usize),
    out: &mut [f32],
) {
    const L: usize = TILE_LANES;
    let rows = out.len() / ow;
    for t0 in (0..tiles).step_by(L) {
        let nt = (tiles - t0).min(L);
        let mut s = [[0f32; L]; 16];
        for (xi, row) in s.iter_mut().enumerate() {
            let src = &m[xi * stride + t0..];
            if nt == L {
                row.copy_from_slice(&src[..L]);
            } else {
                row[..nt].copy_from_slice(&src[..nt]);
            }
        }
        // Aᵀ s: 2 × 4, then (Aᵀ s) A: 2 × 2, lane by lane.
        let mut a = [[0f32; L]; 8];
        for k in 0..4 {
            for i in 0..L {
                a[k][i] = s[k][i] + s[4 + k][i] + s[8 + k][i];
                a[4 + k][i] = s[4 + k][i] - s[8 + k][i] - s[12 + k][i];
            }
        }
        let mut y = [[0f32; L]; 4];
        for r in 0..2 {
            for i in 0..L {
                let (p, q, w, z) = (
                    a[4 * r][i],
                    a[4 * r + 1][i],
                    a[4 * r + 2][i],
                    a[4 * r + 3][i],
                );
                y[2 * r][i] = p + q + w;
                y[2 * r + 1][i] = q - w - z;
            }
        }
        for i in 0..nt {
            let t = t0 + i;
            let (ty, tx) = (t / tw, t % tw);
            let col = 2 * tx;
            for r in 0..2 {
                let row = 2 * ty + r;
                if row >= rows {
                    break;
                }
                out[row * ow + col] = y[2 * r][i];
                if col + 1 < ow {
                    out[row * ow + col + 1] = y[2 * r + 1][i];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::convolution::conv_tiled;
    use super::super::convolution::tests::square_conv;
    use super::super::epilogue::Post;
    use super::*;

    #[test]
    fn takes_fewer_channels_only_over_many_tiles() {
        let conv = |f: usize| square_conv(3, 1, 1, 1, f, 1);
        assert!(applies(&conv(256), &[4, 256, 14, 14]), "196 tiles of 256");
        assert!(!applies(&conv(512), &[1, 512, 14, 14]), "49 tiles of 512");
        assert!(applies(&conv(64), &[8, 64, 56, 56]), "6272 tiles of 64");
        assert!(applies(&conv(128), &[8, 128, 28, 28]), "1568 tiles of 128");
        assert!(!applies(&conv(128), &[1, 128, 28, 28]), "196 tiles of 128");
        assert!(applies(&conv(64), &[1, 64, 56, 56]), "784 tiles of 64");
        assert!(applies(&conv(96), &[1, 64, 35, 35]), "324 tiles of 64");
        assert!(!applies(&conv(64), &[1, 64, 32, 32]), "256 tiles of 64");
        let valid = square_conv(3, 1, 1, 0, 192, 1);
        assert!(applies(&valid, &[1, 80, 73, 73]), "1296 tiles of 80");
        assert!(!applies(&conv(64), &[8, 32, 56, 56]), "32 channels");
    }

    #[test]
    fn matches_the_direct_convolution() {
        // (n, c, f, pad, h, w)
        for (n, c, f, pad, h, w) in [
            (1, 8, 8, 1, 6, 6),
            (2, 9, 12, 1, 7, 5),
            (1, 16, 8, 0, 9, 8),
            (3, 8, 16, 2, 5, 11),
            (1, 8, 8, 1, 1, 1),
            (2, 32, 24, 1, 30, 23),
            // Whole images per block: 16 tiles each, four or two images a
            // block; nine tiles each, blocks of 2, 2 and 1 images.
            (8, 8, 8, 1, 7, 7),
            (5, 8, 16, 1, 5, 5),
            // More than one run of 16 tiles per tile row, and a short last
            // run: 20 × 17 tiles.
            (1, 8, 8, 2, 36, 30),
        ] {
            let conv = square_conv(3, 1, 1, pad, f, 1);
            assert!(applies_with(&conv, &[n, c, h, w], 8, 1));
            let (oh, ow) = (h + 2 * pad - 2, w + 2 * pad - 2);
            let xs = [n, c, h, w];
            let ys = [n, f, oh, ow];
            let x: Vec<f32> = (0..n * c * h * w)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let wt: Vec<f32> = (0..f * c * 9)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
                .collect();
            let bias: Vec<f32> = (0..f).map(|i| i as f32 * 0.1 - 0.2).collect();
            let res: Vec<f32> = (0..n * f * oh * ow).map(|i| (i % 7) as f32 - 3.0).collect();
            let epi = Epilogue {
                residual: Some(&res),
                post: Post::Relu,
                ..Epilogue::bias(Some(&bias))
            };
            let mut want = vec![f32::NAN; n * f * oh * ow];
            conv_tiled(&conv, &xs, &x, &wt, &epi, &ys, &mut want, None);
            let mut got = vec![f32::NAN; want.len()];
            let u = transform_filters(&wt, f, c);
            conv_winograd(&conv, &xs, &x, &u, &epi, &ys, &mut got);
            let scale = want.iter().fold(1f32, |a, v| a.max(v.abs()));
            for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - e).abs() <= 1e-5 * scale + 1e-5 * e.abs(),
                    "n {n} c {c} f {f} pad {pad} {h}x{w} [{i}]: {a} vs {e}"
                );
            }
        }
    }
}
