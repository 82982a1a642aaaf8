//! Draws a symbol file and reports how long each stage took.
//!
//! `cargo run --release -p mxnet-plot --example plot -- MODEL-symbol.json OUT.svg|OUT.png
//! [--all-variables] [--scale S]`

use std::time::Instant;

use mxnet_plot::{Diagram, PlotOptions, PngOptions, Symbol};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        eprintln!("usage: plot MODEL-symbol.json OUT.svg|OUT.png [--all-variables] [--scale S]");
        std::process::exit(2);
    };
    let sym = Symbol::open(input)?;
    let title = std::path::Path::new(input).file_name().map(|n| {
        n.to_string_lossy()
            .trim_end_matches("-symbol.json")
            .to_owned()
    });
    let scale = args
        .iter()
        .position(|a| a == "--scale")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let opts = PlotOptions {
        all_variables: args.iter().any(|a| a == "--all-variables"),
        title,
        png: PngOptions::with_scale(scale),
        ..PlotOptions::default()
    };
    let t = Instant::now();
    let diagram = Diagram::from_symbol(&sym, &opts);
    let t_build = t.elapsed();
    let t = Instant::now();
    let svg = diagram.to_svg()?;
    let t_svg = t.elapsed();
    if output.ends_with(".png") {
        let t = Instant::now();
        let png = diagram.to_png(&opts.png)?;
        let t_png = t.elapsed();
        std::fs::write(output, &png)?;
        println!(
            "{} nodes, {} edges: diagram {t_build:.2?}, layout+svg {t_svg:.2?}, layout+png {t_png:.2?}, {} bytes",
            diagram.nodes.len(),
            diagram.edges.len(),
            png.len()
        );
    } else {
        std::fs::write(output, &svg)?;
        println!(
            "{} nodes, {} edges: diagram {t_build:.2?}, layout+svg {t_svg:.2?}, {} bytes",
            diagram.nodes.len(),
            diagram.edges.len(),
            svg.len()
        );
    }
    Ok(())
}
