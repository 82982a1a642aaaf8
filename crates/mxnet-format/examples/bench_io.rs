//! Timing harness for `scripts/bench_io.py` (not a test: speed is reported,
//! never asserted).
//!
//! ```text
//! cargo run --release -p mxnet-format --example bench_io -- params FILE [--runs N]
//! cargo run --release -p mxnet-format --example bench_io -- symbol FILE [--runs N]
//! cargo run --release -p mxnet-format --example bench_io -- profile FILE [--runs N]
//! ```
//!
//! Every measurement runs in this process, after one untimed warm-up run, and
//! prints one JSON object of per-run milliseconds on stdout:
//!
//! * `params`: `open_ms` is `ParamsFile::open` (map + parse); `read_all_ms`
//!   is open + `to_f32_vec()` of every array (all vectors kept alive until the
//!   run ends, as a caller loading a model would); `read_sum_ms` is open + a
//!   sum of every value, borrowing the mapped `f32` slice where it is aligned
//!   (falling back to `to_f32_vec`). `*_only_ms` are the same reads timed
//!   after the open. Drops (unmap, freeing) are not timed.
//! * `symbol`: `load_ms` is `Symbol::open` (read the file + parse);
//!   `parse_ms` is `Symbol::from_json` on text already in memory.
//! * `profile`: sub-steps of the params read, to see where the time goes:
//!   mapping, parsing, touching every page of the map, copying out of it, and
//!   the same with `MAP_POPULATE` or `madvise` hints, and `std::fs::read`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mxnet_format::params::{Entry, ParamsFile};
use mxnet_format::symbol::Symbol;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Runs `f` once untimed, then `runs` times; `f` returns its own timings
/// (so that drops can happen outside the timed region).
fn repeat<const K: usize>(
    runs: usize,
    mut f: impl FnMut() -> Result<[f64; K]>,
) -> Result<Vec<Vec<f64>>> {
    f()?;
    let mut out = vec![Vec::with_capacity(runs); K];
    for _ in 0..runs {
        let t = f()?;
        for (o, v) in out.iter_mut().zip(t) {
            o.push(round3(v));
        }
    }
    Ok(out)
}

/// Minor page faults of this process so far (field 10 of /proc/self/stat),
/// or 0 where that file does not exist.
fn minflt() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .nth(7)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Sum with independent accumulators, so the loop vectorises and is bound by
/// memory rather than by the latency of one chain of additions.
fn sum_f32(values: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += *v;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

fn sum_entry(e: &Entry<'_>, unaligned: &mut usize) -> Result<f32> {
    match e.array.try_as_slice::<f32>() {
        Some(s) => Ok(sum_f32(s)),
        None if e.array.is_none() => Ok(0.0),
        None => {
            *unaligned += 1;
            Ok(sum_f32(&e.array.to_f32_vec()?))
        }
    }
}

fn read_all(file: &ParamsFile) -> Result<Vec<Vec<f32>>> {
    let mut kept = Vec::with_capacity(file.len());
    for e in file.iter() {
        if !e.array.is_none() {
            kept.push(e.array.to_f32_vec()?);
        }
    }
    Ok(kept)
}

/// Decodes every array into one reused buffer (sized for the largest array,
/// allocated inside the timing) with `read_f32_into`.
fn read_into(file: &ParamsFile) -> Result<f32> {
    let largest = file.iter().map(|e| e.array.len()).max().unwrap_or(0);
    let mut buf = vec![0f32; largest];
    let mut total = 0.0f32;
    for e in file.iter() {
        if e.array.is_none() {
            continue;
        }
        let out = &mut buf[..e.array.len()];
        e.array.read_f32_into(out)?;
        total += out.first().copied().unwrap_or(0.0);
    }
    Ok(total)
}

fn read_sum(file: &ParamsFile, unaligned: &mut usize) -> Result<f32> {
    let mut total = 0.0f32;
    for e in file.iter() {
        total += sum_entry(&e, unaligned)?;
    }
    Ok(total)
}

fn bench_params(path: &Path, runs: usize) -> Result<String> {
    let file = ParamsFile::open(path)?;
    let bytes = file.bytes().len();
    let arrays = file.len();
    let values: usize = file.iter().map(|e| e.array.len()).sum();
    let value_bytes: usize = file.iter().map(|e| e.array.value_bytes().len()).sum();
    let mut unaligned = 0usize;
    drop(file);

    let open = repeat(runs, || {
        let t = Instant::now();
        let f = black_box(ParamsFile::open(path)?);
        let dt = ms(t);
        drop(f);
        Ok([dt])
    })?;
    let read_all_t = repeat(runs, || {
        let f0 = minflt();
        let t = Instant::now();
        let f = ParamsFile::open(path)?;
        let t_open = ms(t);
        let t2 = Instant::now();
        let kept = black_box(read_all(&f)?);
        let t_read = ms(t2);
        let dt = ms(t);
        let faults = minflt() - f0;
        drop(kept);
        drop(f);
        Ok([dt, t_read, t_open, faults])
    })?;
    let read_sum_t = repeat(runs, || {
        let f0 = minflt();
        let t = Instant::now();
        let f = ParamsFile::open(path)?;
        let t2 = Instant::now();
        let mut u = 0;
        black_box(read_sum(&f, &mut u)?);
        let t_read = ms(t2);
        let dt = ms(t);
        let faults = minflt() - f0;
        unaligned = u;
        drop(f);
        Ok([dt, t_read, faults])
    })?;
    let read_into_t = repeat(runs, || {
        let t = Instant::now();
        let f = ParamsFile::open(path)?;
        black_box(read_into(&f)?);
        let dt = ms(t);
        drop(f);
        Ok([dt])
    })?;
    Ok(format!(
        concat!(
            "{{\"open_ms\": {:?}, \"read_all_ms\": {:?}, \"read_sum_ms\": {:?}, \"read_into_ms\": {:?}, ",
            "\"read_all_only_ms\": {:?}, \"read_sum_only_ms\": {:?}, ",
            "\"read_all_minflt\": {:?}, \"read_sum_minflt\": {:?}, ",
            "\"bytes\": {}, \"value_bytes\": {}, \"arrays\": {}, \"values\": {}, ",
            "\"unaligned_arrays\": {}}}"
        ),
        open[0],
        read_all_t[0],
        read_sum_t[0],
        read_into_t[0],
        read_all_t[1],
        read_sum_t[1],
        read_all_t[3],
        read_sum_t[2],
        bytes,
        value_bytes,
        arrays,
        values,
        unaligned
    ))
}

fn bench_symbol(path: &Path, runs: usize) -> Result<String> {
    let sym = Symbol::open(path)?;
    let nodes = sym.nodes().len();
    drop(sym);
    let text = std::fs::read_to_string(path)?;
    let load = repeat(runs, || {
        let t = Instant::now();
        let s = black_box(Symbol::open(path)?);
        let dt = ms(t);
        drop(s);
        Ok([dt])
    })?;
    let parse = repeat(runs, || {
        let t = Instant::now();
        let s = black_box(Symbol::from_json(black_box(&text))?);
        let dt = ms(t);
        drop(s);
        Ok([dt])
    })?;
    Ok(format!(
        "{{\"load_ms\": {:?}, \"parse_ms\": {:?}, \"nodes\": {}, \"bytes\": {}}}",
        load[0],
        parse[0],
        nodes,
        text.len()
    ))
}

/// Touches one byte per 4 KiB page (forces the page faults, no copy).
fn touch(bytes: &[u8]) -> u64 {
    let mut s = 0u64;
    let mut i = 0;
    while i < bytes.len() {
        s = s.wrapping_add(u64::from(bytes[i]));
        i += 4096;
    }
    s
}

fn sum_bytes_as_f32(bytes: &[u8]) -> f32 {
    match bytemuck::try_cast_slice::<u8, f32>(&bytes[..bytes.len() / 4 * 4]) {
        Ok(s) => sum_f32(s),
        Err(_) => 0.0,
    }
}

fn bench_profile(path: &Path, runs: usize) -> Result<String> {
    let mut fields: Vec<(&str, Vec<f64>)> = Vec::new();
    let map = |populate: bool| -> Result<memmap2::Mmap> {
        let f = std::fs::File::open(path)?;
        let mut o = memmap2::MmapOptions::new();
        if populate {
            o.populate();
        }
        // SAFETY: read-only map of a file nobody truncates during the benchmark.
        Ok(unsafe { o.map(&f)? })
    };
    fields.push((
        "mmap_ms",
        repeat(runs, || {
            let t = Instant::now();
            let m = black_box(map(false)?);
            let dt = ms(t);
            drop(m);
            Ok([dt])
        })?
        .remove(0),
    ));
    {
        let m = map(false)?;
        touch(&m);
        fields.push((
            "parse_warm_ms",
            repeat(runs, || {
                let t = Instant::now();
                black_box(mxnet_format::params::parse(black_box(&m))?);
                Ok([ms(t)])
            })?
            .remove(0),
        ));
        let mut dst: Vec<u8> = vec![1u8; m.len()];
        fields.push((
            "sum_warm_map_ms",
            repeat(runs, || {
                let t = Instant::now();
                black_box(sum_bytes_as_f32(&m));
                Ok([ms(t)])
            })?
            .remove(0),
        ));
        fields.push((
            "copy_warm_map_to_warm_buf_ms",
            repeat(runs, || {
                let t = Instant::now();
                dst.copy_from_slice(&m);
                black_box(&dst);
                Ok([ms(t)])
            })?
            .remove(0),
        ));
    }
    fields.push((
        "mmap_touch_ms",
        repeat(runs, || {
            let t = Instant::now();
            let m = map(false)?;
            black_box(touch(&m));
            let dt = ms(t);
            drop(m);
            Ok([dt])
        })?
        .remove(0),
    ));
    fields.push((
        "mmap_sum_ms",
        repeat(runs, || {
            let t = Instant::now();
            let m = map(false)?;
            black_box(sum_bytes_as_f32(&m));
            let dt = ms(t);
            drop(m);
            Ok([dt])
        })?
        .remove(0),
    ));
    fields.push((
        "mmap_populate_ms",
        repeat(runs, || {
            let t = Instant::now();
            let m = black_box(map(true)?);
            let dt = ms(t);
            drop(m);
            Ok([dt])
        })?
        .remove(0),
    ));
    fields.push((
        "mmap_populate_sum_ms",
        repeat(runs, || {
            let t = Instant::now();
            let m = map(true)?;
            black_box(sum_bytes_as_f32(&m));
            let dt = ms(t);
            drop(m);
            Ok([dt])
        })?
        .remove(0),
    ));
    fields.push((
        "mmap_willneed_sum_ms",
        repeat(runs, || {
            let t = Instant::now();
            let m = map(false)?;
            m.advise(memmap2::Advice::WillNeed)?;
            black_box(sum_bytes_as_f32(&m));
            let dt = ms(t);
            drop(m);
            Ok([dt])
        })?
        .remove(0),
    ));
    fields.push((
        "mmap_sequential_sum_ms",
        repeat(runs, || {
            let t = Instant::now();
            let m = map(false)?;
            m.advise(memmap2::Advice::Sequential)?;
            black_box(sum_bytes_as_f32(&m));
            let dt = ms(t);
            drop(m);
            Ok([dt])
        })?
        .remove(0),
    ));
    fields.push((
        "alloc_touch_ms",
        repeat(runs, || {
            let len = std::fs::metadata(path)?.len() as usize;
            let t = Instant::now();
            let mut v = memmap2::MmapOptions::new().len(len).map_anon()?;
            let mut i = 0;
            while i < len {
                v[i] = 1;
                i += 4096;
            }
            black_box(&v);
            let dt = ms(t);
            drop(v);
            Ok([dt])
        })?
        .remove(0),
    ));
    fields.push((
        "mmap_copy_to_fresh_ms",
        repeat(runs, || {
            let t = Instant::now();
            let m = map(false)?;
            let v = black_box(m.to_vec());
            let dt = ms(t);
            drop(v);
            drop(m);
            Ok([dt])
        })?
        .remove(0),
    ));
    let anon_copy = |populate: bool, huge: bool| -> Result<[f64; 2]> {
        let m = map(false)?;
        let f0 = minflt();
        let t = Instant::now();
        let mut o = memmap2::MmapOptions::new();
        o.len(m.len());
        if populate {
            o.populate();
        }
        let mut dst = o.map_anon()?;
        if huge {
            dst.advise(memmap2::Advice::HugePage)?;
        }
        dst.copy_from_slice(&m);
        black_box(&dst);
        let dt = ms(t);
        let faults = minflt() - f0;
        drop(dst);
        Ok([dt, faults])
    };
    for (name, faults_name, populate, huge) in [
        ("anon_copy_ms", "anon_copy_minflt", false, false),
        (
            "anon_populate_copy_ms",
            "anon_populate_copy_minflt",
            true,
            false,
        ),
        (
            "anon_hugepage_copy_ms",
            "anon_hugepage_copy_minflt",
            false,
            true,
        ),
    ] {
        let mut r = repeat(runs, || anon_copy(populate, huge))?;
        let faults = r.pop().unwrap_or_default();
        fields.push((name, r.remove(0)));
        fields.push((faults_name, faults));
    }
    fields.push((
        "fs_read_ms",
        repeat(runs, || {
            let t = Instant::now();
            let v = black_box(std::fs::read(path)?);
            let dt = ms(t);
            drop(v);
            Ok([dt])
        })?
        .remove(0),
    ));
    fields.push((
        "fs_read_sum_ms",
        repeat(runs, || {
            let t = Instant::now();
            let v = std::fs::read(path)?;
            black_box(sum_bytes_as_f32(&v));
            let dt = ms(t);
            drop(v);
            Ok([dt])
        })?
        .remove(0),
    ));
    fields.push((
        "read_chunked_sum_ms",
        repeat(runs, || {
            use std::io::Read;
            let t = Instant::now();
            let mut f = std::fs::File::open(path)?;
            let mut buf = vec![0u8; 128 * 1024];
            let mut s = 0.0f32;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                s += sum_bytes_as_f32(&buf[..n]);
            }
            black_box(s);
            Ok([ms(t)])
        })?
        .remove(0),
    ));
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v:?}"))
        .collect();
    Ok(format!("{{{}}}", body.join(", ")))
}

fn usage() -> ExitCode {
    eprintln!("usage: bench_io (params|symbol|profile) FILE [--runs N]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 7usize;
    let mut pos: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--runs" {
            match it.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => runs = n,
                _ => return usage(),
            }
        } else {
            pos.push(a);
        }
    }
    let [mode, file] = pos[..] else {
        return usage();
    };
    let path = PathBuf::from(file);
    let result = match mode {
        "params" => bench_params(&path, runs),
        "symbol" => bench_symbol(&path, runs),
        "profile" => bench_profile(&path, runs),
        _ => return usage(),
    };
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench_io: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
