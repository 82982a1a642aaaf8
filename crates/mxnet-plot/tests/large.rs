//! A generated 5,000-op graph renders within bounded time and memory.
//!
//! The PNG test is ignored by default (about 6 s of layout and 6 s of
//! rasterizing in a release build); run it with
//! `cargo test --release -p mxnet-plot --test large -- --ignored`.

mod common;

use std::time::Instant;

use mxnet_plot::{Diagram, PlotOptions, PngOptions};

#[test]
#[ignore = "slow: run in release with --ignored"]
fn five_thousand_ops() {
    let sym = common::synthetic_resnet(715);
    let ops = sym.nodes().iter().filter(|n| !n.is_variable()).count();
    assert_eq!(ops, 5005);
    let d = Diagram::from_symbol(&sym, &PlotOptions::default());
    let t = Instant::now();
    let svg = match d.to_svg() {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let t_svg = t.elapsed();
    assert_eq!(svg.matches("class=\"node op ").count(), 5005);
    let t = Instant::now();
    let png = match d.to_png(&PngOptions::default()) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let t_png = t.elapsed();
    let (w, h) = (
        u32::from_be_bytes([png[16], png[17], png[18], png[19]]),
        u32::from_be_bytes([png[20], png[21], png[22], png[23]]),
    );
    // Scaled down to the pixel budget.
    assert!(u64::from(w) * u64::from(h) <= PngOptions::default().max_pixels);
    eprintln!(
        "5005 ops: layout+svg {t_svg:.2?} ({} KB), layout+png {t_png:.2?} ({w}x{h}, {} KB)",
        svg.len() / 1024,
        png.len() / 1024
    );
}

/// The same graph, SVG only, in the default test run: on a test thread's
/// 2 MiB stack (the layout runs on a thread of its own, since dagre
/// recurses as deep as the graph is long).
#[test]
fn five_thousand_ops_svg() {
    let sym = common::synthetic_resnet(715);
    let d = Diagram::from_symbol(&sym, &PlotOptions::default());
    let svg = match d.to_svg() {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(svg.matches("class=\"node op ").count(), 5005);
    assert_eq!(svg.matches("class=\"edge\"").count(), 715 * 8 + 1);
}
