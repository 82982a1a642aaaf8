//! Times of the drawing stages on large graphs (medians of a few runs).
//!
//! `cargo bench -p mxnet-plot --bench render` (add `-- quick` to skip the
//! 5,000-op graph). Layout dominates `svg`; `png` includes the layout.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use mxnet_plot::{Diagram, PlotOptions, PngOptions, Symbol};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    match last {
        Some(v) => (median(times), v),
        None => panic!("no runs"),
    }
}

fn bench(name: &str, sym: &Symbol, runs: usize) {
    let opts = PlotOptions::default();
    let diagram = Diagram::from_symbol(sym, &opts);
    let (t_svg, svg) = time(runs, || diagram.to_svg());
    let svg = match svg {
        Ok(s) => s,
        Err(e) => panic!("{name}: {e}"),
    };
    let (t_png, png) = time(runs, || diagram.to_png(&PngOptions::default()));
    let png = match png {
        Ok(p) => p,
        Err(e) => panic!("{name}: {e}"),
    };
    let (w, h) = (
        u32::from_be_bytes([png[16], png[17], png[18], png[19]]),
        u32::from_be_bytes([png[20], png[21], png[22], png[23]]),
    );
    println!(
        "{name:>14}: {:>5} nodes {:>5} edges | layout+svg {:>8.3?} ({} KB) | layout+png {:>8.3?} ({w}x{h}, {} KB)",
        diagram.nodes.len(),
        diagram.edges.len(),
        t_svg,
        svg.len() / 1024,
        t_png,
        png.len() / 1024,
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    bench(
        "resnet18_v1",
        &common::open("zoo/resnet18_v1-symbol.json"),
        5,
    );
    bench(
        "densenet121",
        &common::open("zoo/densenet121-symbol.json"),
        5,
    );
    bench(
        "inception_v3",
        &common::open("zoo/inception_v3-symbol.json"),
        5,
    );
    if !quick {
        bench("synthetic-5005", &common::synthetic_resnet(715), 3);
    }
    if let Ok(dir) = std::env::var("MXNET_PLOT_BENCH_OUT") {
        let sym = common::synthetic_resnet(715);
        let d = Diagram::from_symbol(&sym, &PlotOptions::default());
        if let Ok(png) = d.to_png(&PngOptions::default()) {
            let _ = std::fs::write(format!("{dir}/synthetic-5005.png"), png);
        }
    }
}
