//! Measures this machine's peak single-precision FLOP rate: each of N
//! threads (default: all CPUs) runs independent fused multiply-adds on the
//! widest vectors the CPU has (AVX-512, else AVX2+FMA, else scalar) for
//! about half a second, three times; prints the best total rate as JSON.
//!
//! ```sh
//! cargo run --release -p mxnet-ops --example peak_flops -- 2
//! ```
//!
//! `scripts/bench_models.py` divides achieved GFLOP/s by this figure: the
//! clock a CPU really runs at (boost, a hypervisor's throttling) and its FMA
//! width (Zen 4 runs AVX-512 in two 256-bit halves) are hard to read from
//! `/proc/cpuinfo`, so they are measured.

use std::time::Instant;

/// Independent accumulator chains: enough to cover FMA latency × units.
const CHAINS: usize = 12;

/// Rounds of multiply-adds per call of [`burst`].
const ITERS: usize = 1 << 16;

fn main() {
    let threads = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (isa, lanes) = isa();
    let mut best = 0f64;
    for _ in 0..3 {
        let rates: Vec<f64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| s.spawn(|| thread_rate(lanes)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0.0))
                .collect()
        });
        best = best.max(rates.iter().sum());
    }
    println!("{{\"threads\": {threads}, \"isa\": \"{isa}\", \"gflops\": {best:.1}}}");
}

/// The widest vector ISA the CPU reports, and its f32 lanes.
fn isa() -> (&'static str, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return ("avx512f", 16);
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return ("avx2+fma", 8);
        }
    }
    ("scalar", 1)
}

/// GFLOP/s of one thread over about half a second.
fn thread_rate(lanes: usize) -> f64 {
    let start = Instant::now();
    let mut calls = 0usize;
    let mut sink = 0f32;
    while start.elapsed().as_secs_f64() < 0.5 {
        sink += burst(lanes);
        calls += 1;
    }
    std::hint::black_box(sink);
    (calls * ITERS * CHAINS * lanes * 2) as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// [`ITERS`] rounds of [`CHAINS`] multiply-adds on `lanes`-wide vectors.
fn burst(lanes: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if lanes == 16 {
            // SAFETY: `isa` saw AVX-512F.
            return unsafe { burst_avx512() };
        }
        if lanes == 8 {
            // SAFETY: `isa` saw AVX2 and FMA.
            return unsafe { burst_avx2() };
        }
    }
    let mut acc = [0f32; CHAINS];
    for _ in 0..ITERS {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = a.mul_add(std::hint::black_box(0.999_999), k as f32);
        }
    }
    acc.iter().sum()
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn burst_avx512() -> f32 {
    use std::arch::x86_64::*;
    let b = _mm512_set1_ps(std::hint::black_box(0.999_999));
    let c = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_setzero_ps(); CHAINS];
    for _ in 0..ITERS {
        for a in &mut acc {
            *a = _mm512_fmadd_ps(*a, b, c);
        }
    }
    acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
}

/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn burst_avx2() -> f32 {
    use std::arch::x86_64::*;
    let b = _mm256_set1_ps(std::hint::black_box(0.999_999));
    let c = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_setzero_ps(); CHAINS];
    for _ in 0..ITERS {
        for a in &mut acc {
            *a = _mm256_fmadd_ps(*a, b, c);
        }
    }
    let mut out = [0f32; 8];
    let mut sum = 0.0;
    for a in acc {
        // SAFETY: `out` holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), a) };
        sum += out.iter().sum::<f32>();
    }
    sum
}
