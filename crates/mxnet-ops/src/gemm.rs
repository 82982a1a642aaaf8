//! Single-precision matrix multiply, through the `gemm` crate (AVX-512 where
//! the CPU has it, chosen at run time). Every caller goes through [`sgemm`],
//! so switching the GEMM library is a one-file change.

/// A row-major or strided matrix view: `data[r * rs + c * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    /// Values.
    pub data: &'a [f32],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Mat<'a> {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major `rows × cols` matrix (a `cols × rows` view).
    pub fn transposed(data: &'a [f32], cols: usize) -> Mat<'a> {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    }
    /// The same values seen transposed (rows and columns swapped).
    pub fn t(self) -> Mat<'a> {
        Mat {
            data: self.data,
            rs: self.cs,
            cs: self.rs,
        }
    }
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `c[m×n] = a[m×k] · b[k×n]` (or `c += a·b` when `accumulate`), with `c`
/// row-major with row stride `ldc`. Large products use the rayon pool.
///
/// Panics if a view is smaller than its shape says (a bug in the caller, not
/// a property of input files: shapes are checked by shape inference).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    sgemm_with(m, n, k, a, b, c, ldc, accumulate, true);
}

/// [`sgemm`] on the calling thread only, for callers that already split the
/// work over the pool (tiles of a convolution).
#[allow(clippy::too_many_arguments)]
pub fn sgemm_seq(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    sgemm_with(m, n, k, a, b, c, ldc, accumulate, false);
}

#[allow(clippy::too_many_arguments)]
fn sgemm_with(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        a.fits(m, k) && b.fits(k, n),
        "sgemm: operand smaller than {m}x{k}x{n}"
    );
    assert!(
        ldc >= n && (m - 1) * ldc + n <= c.len(),
        "sgemm: output smaller than {m}x{n}"
    );
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * ldc..r * ldc + n].fill(0.0);
            }
        }
        return;
    }
    if gemv(m, n, k, a, b, c, ldc, accumulate, parallel)
        || few_rows(m, n, k, a, b, c, ldc, accumulate, parallel)
    {
        return;
    }
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    let parallelism = if threads > 1 && m * n * k >= 1 << 18 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index the kernel touches inside the
    // slices: a[i*rs + p*cs] for i < m, p < k; b likewise; c[i*ldc + j] for
    // i < m, j < n. `c` is exclusively borrowed, so it does not alias a or b.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// [`sgemm_seq`] into a raw output: `c[i*ldc + j]` for `i < m`, `j < n`.
///
/// # Safety
///
/// `c` must be valid for reads and writes at every such index, and nothing
/// else may access those elements during the call (other threads may use
/// the elements in between, e.g. other column tiles of the same matrix).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm_raw(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        a.fits(m, k) && b.fits(k, n) && k > 0 && ldc >= n,
        "sgemm_raw: operand smaller than {m}x{k}x{n}"
    );
    // SAFETY: operands checked above; `c` is the caller's promise.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Matrix-vector products (one output column, or one output row, whose
/// operands are contiguous vectors), which the `gemm` crate runs slowly:
/// dot products of the matrix's rows with the vector, eight rows at a time
/// with AVX-512 (eight memory streams: on VGG's 4096 × 25088 dense layer at
/// batch 1, which reads 411 MB of weights, one row at a time streamed 21
/// GB/s on 2 threads, eight at a time 37 GB/s), blocks of rows in parallel
/// for large matrices. Returns false when the product is not of that form.
#[allow(clippy::too_many_arguments)]
fn gemv(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    parallel: bool,
) -> bool {
    use rayon::prelude::*;
    // (rows, row stride of the matrix, the vector, its stride, output stride)
    let (rows, mat, rs, vec, vs, cs) = if n == 1 && a.cs == 1 {
        (m, a.data, a.rs, b.data, b.rs, ldc)
    } else if m == 1 && b.rs == 1 {
        (n, b.data, b.cs, a.data, a.cs, 1)
    } else {
        return false;
    };
    let packed: Vec<f32>;
    let v: &[f32] = if vs == 1 {
        &vec[..k]
    } else {
        packed = (0..k).map(|p| vec[p * vs]).collect();
        &packed
    };
    let avx512 = crate::ops::util::Simd::detect() == crate::ops::util::Simd::Avx512;
    // Outputs i0.. of `out`, in groups of eight rows.
    let block = |(i0, out): (usize, &mut [f32])| {
        for (g, group) in out.chunks_mut(GEMV_ROWS).enumerate() {
            let first = i0 + g * GEMV_ROWS;
            let mut rows = [&[][..]; GEMV_ROWS];
            for (r, row) in rows[..group.len()].iter_mut().enumerate() {
                *row = &mat[(first + r) * rs..(first + r) * rs + k];
            }
            let mut sums = [0f32; GEMV_ROWS];
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                // SAFETY: `Simd::detect` saw AVX-512F and FMA.
                sums = unsafe { dots_avx512(&rows[..group.len()], v) };
            }
            if !avx512 {
                for (s, row) in sums.iter_mut().zip(&rows[..group.len()]) {
                    *s = dot(row, v);
                }
            }
            for (o, &s) in group.iter_mut().zip(&sums) {
                *o = if accumulate { *o + s } else { s };
            }
        }
    };
    if cs == 1 {
        let out = &mut c[..rows];
        if parallel && rows * k >= 1 << 16 && rayon::current_num_threads() > 1 {
            let chunk = 8 * GEMV_ROWS;
            out.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(t, o)| block((t * chunk, o)));
        } else {
            block((0, out));
        }
    } else {
        let mut out: Vec<f32> = c.iter().step_by(cs).take(rows).copied().collect();
        block((0, &mut out));
        for (o, v) in c.iter_mut().step_by(cs).zip(out) {
            *o = v;
        }
    }
    true
}

/// Rows of a matrix-vector product [`gemv`] dots with the vector at once.
const GEMV_ROWS: usize = 8;

/// Left rows [`few_rows`] takes, and the fewest right-hand values (the
/// weights of a dense layer: 64 KiB and more). The `gemm` crate packs the
/// weights on every call and splits small products poorly: at 8 rows on 2
/// threads it took 2.17 ms for densenet's 1024 → 1000 layer (0.16 ms
/// here), 0.33 ms for 256 → 1024 (0.06 ms here), and was not faster on
/// any product of this form measured down to 128 × 128.
const FEW_ROWS: usize = 16;
const FEW_ROWS_MIN_RHS: usize = 1 << 14;

/// More left rows [`few_rows`] takes when the right-hand side has at least
/// [`MORE_ROWS_MIN_RHS`] values (512 KiB). There the `gemm` crate, which
/// packs the transposed weights column by column on every call, was
/// slower still: a 1024 → 1024 dense layer took 2.5 ms at 32 rows and 2.8
/// at 64 (0.88 and 1.77 here), 4096 → 1000 10.8 and 12.1 (3.1 and 6.2).
/// With 256 KiB (256 → 256 at 64 rows) it was faster (0.13 ms against
/// 0.19). Weights transposed once, read as a row-major right-hand side,
/// beat both (an LSTM's input projections: `Prepared::wx_t` in the RNN
/// kernel), at the cost of a copy.
const MORE_ROWS: usize = 64;
const MORE_ROWS_MIN_RHS: usize = 1 << 17;

/// Products of a few left rows with a large right-hand matrix whose columns
/// are contiguous (a dense layer at a small batch: `x · Wᵀ` with W's rows
/// contiguous): every column is read once from memory and dotted with all
/// the rows (eight at a time, in registers, with AVX-512), columns in
/// parallel. Returns false when the product is not of that form or the CPU
/// lacks AVX-512.
#[allow(clippy::too_many_arguments)]
fn few_rows(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    parallel: bool,
) -> bool {
    use rayon::prelude::*;
    if !(2..=MORE_ROWS).contains(&m)
        || (m > FEW_ROWS && n * k < MORE_ROWS_MIN_RHS)
        || a.cs != 1
        || b.rs != 1
        || n * k < FEW_ROWS_MIN_RHS
        || crate::ops::util::Simd::detect() != crate::ops::util::Simd::Avx512
    {
        return false;
    }
    let rows: Vec<&[f32]> = (0..m).map(|i| &a.data[i * a.rs..i * a.rs + k]).collect();
    let cp = crate::ops::util::SendPtr(c.as_mut_ptr());
    // Columns j0..j1 of every row of `c`, three at a time (each group of
    // rows reads the three columns' weights from L1 or L2, not memory).
    let block = |(j0, j1): (usize, usize)| {
        let mut j = j0;
        while j < j1 {
            let width = (j1 - j).min(3);
            let col = |i: usize| {
                let jj = j + i.min(width - 1);
                &b.data[jj * b.cs..jj * b.cs + k]
            };
            let cols = [col(0), col(1), col(2)];
            for (g, group) in rows.chunks(8).enumerate() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Simd::detect` saw AVX-512F and FMA.
                let sums = unsafe { dots3_avx512(group, cols) };
                #[cfg(not(target_arch = "x86_64"))]
                let sums = [[0f32; 8]; 3];
                for (i, sums) in sums[..width].iter().enumerate() {
                    for (r, &v) in sums[..group.len()].iter().enumerate() {
                        // SAFETY: row 8g + r < m, column j + i < n, inside
                        // `c` (asserted by the caller); each column is one
                        // task's.
                        unsafe {
                            let o = cp.get().add((8 * g + r) * ldc + j + i);
                            *o = if accumulate { *o + v } else { v };
                        }
                    }
                }
            }
            j += width;
        }
    };
    let chunk = 48;
    let blocks = (0..n.div_ceil(chunk)).map(|t| (t * chunk, ((t + 1) * chunk).min(n)));
    if parallel && rayon::current_num_threads() > 1 {
        blocks.collect::<Vec<_>>().into_par_iter().for_each(block);
    } else {
        blocks.for_each(block);
    }
    true
}

/// Calls `$f::<R>($args)` for `R` = `$n` rows from 1 to 8 (more: 8; none:
/// nothing), so each row count gets its own register allocation.
macro_rules! for_row_count {
    ($n:expr, $f:ident, $($args:expr),*) => {
        match $n {
            0 => {}
            1 => $f::<1>($($args),*),
            2 => $f::<2>($($args),*),
            3 => $f::<3>($($args),*),
            4 => $f::<4>($($args),*),
            5 => $f::<5>($($args),*),
            6 => $f::<6>($($args),*),
            7 => $f::<7>($($args),*),
            _ => $f::<8>($($args),*),
        }
    };
}

/// The dot products of up to eight rows with each of three columns (all of
/// their length, equal): `out[i][r] = rows[r] · cols[i]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn dots3_avx512(rows: &[&[f32]], cols: [&[f32]; 3]) -> [[f32; 8]; 3] {
    let mut out = [[0f32; 8]; 3];
    // SAFETY (every arm): the caller's CPU has AVX-512F and FMA.
    unsafe {
        for_row_count!(rows.len(), dots3_n, rows, cols, &mut out);
    }
    out
}

/// [`dots3_avx512`] for `R` rows: 3 × `R` accumulators in registers, each
/// row's 16 values loaded once for the three columns; a masked tail.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[inline]
unsafe fn dots3_n<const R: usize>(rows: &[&[f32]], cols: [&[f32]; 3], out: &mut [[f32; 8]; 3]) {
    use std::arch::x86_64::*;
    let k = cols[0].len();
    let rows: [&[f32]; R] = std::array::from_fn(|r| &rows[r][..k]);
    let cols: [&[f32]; 3] = std::array::from_fn(|i| &cols[i][..k]);
    let mut acc = [[_mm512_setzero_ps(); R]; 3];
    let mut p = 0;
    while p < k {
        let mask: __mmask16 = if k - p >= 16 {
            0xffff
        } else {
            ((1u32 << (k - p)) - 1) as __mmask16
        };
        // SAFETY: the lanes `mask` selects are below k, inside every row
        // and column (each sliced to k above).
        unsafe {
            let w = [
                _mm512_maskz_loadu_ps(mask, cols[0].as_ptr().add(p)),
                _mm512_maskz_loadu_ps(mask, cols[1].as_ptr().add(p)),
                _mm512_maskz_loadu_ps(mask, cols[2].as_ptr().add(p)),
            ];
            for r in 0..R {
                let x = _mm512_maskz_loadu_ps(mask, rows[r].as_ptr().add(p));
                for i in 0..3 {
                    acc[i][r] = _mm512_fmadd_ps(w[i], x, acc[i][r]);
                }
            }
        }
        p += 16;
    }
    for i in 0..3 {
        for r in 0..R {
            out[i][r] = _mm512_reduce_add_ps(acc[i][r]);
        }
    }
}

/// The dot products of up to eight rows with `col` (all of its length).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn dots_avx512(rows: &[&[f32]], col: &[f32]) -> [f32; 8] {
    let mut out = [0f32; 8];
    // SAFETY (every arm): the caller's CPU has AVX-512F and FMA.
    unsafe {
        for_row_count!(rows.len(), dots_n, rows, col, &mut out);
    }
    out
}

/// [`dots_avx512`] for `R` rows, kept in registers: two accumulators per
/// row over 32 values at a time, then one masked 16-value tail.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[inline]
unsafe fn dots_n<const R: usize>(rows: &[&[f32]], col: &[f32], out: &mut [f32; 8]) {
    use std::arch::x86_64::*;
    let k = col.len();
    let rows: [&[f32]; R] = std::array::from_fn(|r| &rows[r][..k]);
    let mut acc = [_mm512_setzero_ps(); R];
    let mut acc2 = [_mm512_setzero_ps(); R];
    let mut p = 0;
    // SAFETY (both loops): every load reads lanes below k, inside `col`
    // and every row (each sliced to k above).
    while p + 32 <= k {
        unsafe {
            let w = _mm512_loadu_ps(col.as_ptr().add(p));
            let w2 = _mm512_loadu_ps(col.as_ptr().add(p + 16));
            for r in 0..R {
                let x = rows[r].as_ptr().add(p);
                acc[r] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x), acc[r]);
                acc2[r] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(x.add(16)), acc2[r]);
            }
        }
        p += 32;
    }
    while p < k {
        let mask: __mmask16 = if k - p >= 16 {
            0xffff
        } else {
            ((1u32 << (k - p)) - 1) as __mmask16
        };
        unsafe {
            let w = _mm512_maskz_loadu_ps(mask, col.as_ptr().add(p));
            for r in 0..R {
                let x = _mm512_maskz_loadu_ps(mask, rows[r].as_ptr().add(p));
                acc[r] = _mm512_fmadd_ps(w, x, acc[r]);
            }
        }
        p += 16;
    }
    for r in 0..R {
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc2[r]));
    }
}

/// Dot product of equal-length slices, with AVX2/FMA when the CPU has them.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::ops::util::Simd::detect() != crate::ops::util::Simd::Baseline {
        // SAFETY: the CPU supports the features `dot_fma` is compiled for.
        return unsafe { dot_fma(a, b) };
    }
    dot_lanes::<false>(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_fma(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes::<true>(a, b)
}

/// 32 independent partial sums (vectorisable), fused multiply-adds when
/// `FMA` (only inside a function compiled with the fma feature).
#[inline(always)]
fn dot_lanes<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 32;
    let mut acc = [0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..L {
            acc[i] = if FMA {
                x[i].mul_add(y[i], acc[i])
            } else {
                acc[i] + x[i] * y[i]
            };
        }
    }
    let mut half = L / 2;
    while half > 0 {
        for i in 0..half {
            acc[i] += acc[i + half];
        }
        half /= 2;
    }
    let mut s = acc[0];
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_naive_product_with_transposes() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 2.0).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i as f32).sin()).collect(); // n×k
        let mut c = vec![1.0; m * n];
        sgemm(
            m,
            n,
            k,
            Mat::rows(&a, k),
            Mat::transposed(&bt, k),
            &mut c,
            n,
            true,
        );
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 1.0 + (0..k).map(|p| a[i * k + p] * bt[j * k + p]).sum::<f32>();
                assert!((c[i * n + j] - want).abs() < 1e-5);
            }
        }
    }

    /// A dense layer's product at small batches ([`few_rows`]: 2 to 16 rows
    /// against a large transposed matrix) matches a naive product, with
    /// and without accumulating, for row counts around the groups of
    /// eight, a length with a masked tail, column counts that leave one
    /// column of a group of three, and small weights.
    #[test]
    fn few_rows_against_large_weights_match_a_naive_product() {
        if crate::ops::util::Simd::detect() == crate::ops::util::Simd::Avx512 {
            // More than 16 rows only against 512 KiB of weights or more.
            let (w, x) = (vec![0f32; 256 * 256], vec![0f32; 40 * 256]);
            let mut c = vec![0f32; 40 * 256];
            let (a, b) = (Mat::rows(&x, 256), Mat::transposed(&w, 256));
            assert!(!few_rows(40, 256, 256, a, b, &mut c, 256, false, true));
        }
        for (n, k, m) in [
            (301, 3501, 2),
            (301, 3501, 8),
            (301, 3501, 9),
            (301, 3501, 16),
            (301, 3501, 40),
            (301, 3501, 64),
            (130, 130, 5),
        ] {
            assert!(n * k >= FEW_ROWS_MIN_RHS);
            let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.37).sin()).collect(); // n×k
            let x: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.11).cos()).collect();
            if crate::ops::util::Simd::detect() == crate::ops::util::Simd::Avx512 {
                let mut probe = vec![0f32; m * n];
                let (a, b) = (Mat::rows(&x, k), Mat::transposed(&w, k));
                assert!(few_rows(m, n, k, a, b, &mut probe, n, false, true));
            }
            for accumulate in [false, true] {
                let mut c = vec![0.5f32; m * n];
                sgemm(
                    m,
                    n,
                    k,
                    Mat::rows(&x, k),
                    Mat::transposed(&w, k),
                    &mut c,
                    n,
                    accumulate,
                );
                for i in 0..m {
                    for j in 0..n {
                        let dot: f64 = (0..k)
                            .map(|p| f64::from(x[i * k + p]) * f64::from(w[j * k + p]))
                            .sum();
                        let want = if accumulate { 0.5 + dot } else { dot };
                        let got = f64::from(c[i * n + j]);
                        assert!(
                            (got - want).abs() < 1e-3,
                            "{m} rows: ({i}, {j}) {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// Matrix-vector products ([`gemv`]: eight rows at a time, a group of
    /// fewer at the end, a masked tail of the length) match a naive product,
    /// serial and in parallel blocks, into strided and contiguous outputs.
    #[test]
    fn matrix_vector_products_match_a_naive_product() {
        for (m, k) in [(300, 77), (1003, 100)] {
            let w: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect(); // m×k
            let x: Vec<f32> = (0..k * 3).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive = |i: usize, stride: usize| -> f32 {
                (0..k).map(|p| w[i * k + p] * x[p * stride]).sum()
            };
            // One output column: A·x with x strided by 3.
            let mut c = vec![1.0; m * 2];
            let xs = Mat {
                data: &x,
                rs: 3,
                cs: 1,
            };
            sgemm(m, 1, k, Mat::rows(&w, k), xs, &mut c, 2, true);
            for i in 0..m {
                assert!((c[i * 2] - 1.0 - naive(i, 3)).abs() < 1e-4);
                assert_eq!(c[i * 2 + 1], 1.0);
            }
            // One output row: xᵀ·Wᵀ, written and accumulated.
            for accumulate in [false, true] {
                let mut r = vec![0.5; m];
                sgemm(
                    1,
                    m,
                    k,
                    Mat::rows(&x[..k], k),
                    Mat::transposed(&w, k),
                    &mut r,
                    m,
                    accumulate,
                );
                let base = if accumulate { 0.5 } else { 0.0 };
                for (i, v) in r.iter().enumerate() {
                    assert!((v - base - naive(i, 1)).abs() < 1e-4, "{m}x{k}: row {i}");
                }
            }
        }
    }
}
