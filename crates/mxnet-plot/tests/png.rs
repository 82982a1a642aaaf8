//! PNG pictures of a ResNet, a DenseNet and an RNN: plausible sizes, not
//! blank anywhere, drawn with the embedded font.
//!
//! Set `MXNET_PLOT_OUT=DIR` to keep the pictures for looking at.

mod common;

use mxnet_plot::{PlotError, PlotOptions, PngOptions, render_png};
use resvg::tiny_skia::Pixmap;

fn draw(rel: &str, opts: &PlotOptions) -> Pixmap {
    let sym = common::open(rel);
    let png = match render_png(&sym, opts) {
        Ok(p) => p,
        Err(e) => panic!("{rel}: {e}"),
    };
    if let Ok(dir) = std::env::var("MXNET_PLOT_OUT") {
        let name = rel
            .rsplit('/')
            .next()
            .unwrap_or(rel)
            .replace("-symbol.json", ".png");
        let _ = std::fs::write(std::path::Path::new(&dir).join(name), &png);
    }
    match Pixmap::decode_png(&png) {
        Ok(p) => p,
        Err(e) => panic!("{rel}: not a PNG: {e}"),
    }
}

fn is_background(px: &[u8]) -> bool {
    px[0] > 250 && px[1] > 250 && px[2] > 250
}

/// Every one of `bands` horizontal bands holds drawn (non-white) pixels.
fn assert_drawn_everywhere(rel: &str, p: &Pixmap, bands: u32) {
    let (w, h) = (p.width() as usize, p.height() as usize);
    let data = p.data();
    let band_h = h / bands as usize;
    for b in 0..bands as usize {
        let rows = &data[b * band_h * w * 4..(b + 1) * band_h * w * 4];
        let ink = rows.chunks_exact(4).filter(|px| !is_background(px)).count();
        let share = ink as f64 / (band_h * w) as f64;
        assert!(
            share > 0.005,
            "{rel}: band {b} of {bands} is (nearly) blank ({share:.4} ink)"
        );
    }
}

/// Pixels close to an RGB colour.
fn pixels_near(p: &Pixmap, rgb: [u8; 3]) -> usize {
    p.data()
        .chunks_exact(4)
        .filter(|px| (0..3).all(|i| px[i].abs_diff(rgb[i]) <= 3))
        .count()
}

/// Near-black pixels: the bold titles (#1a1a1a); edges, outlines and the
/// other text are lighter. Without a font these would be missing.
fn text_pixels(p: &Pixmap) -> usize {
    p.data()
        .chunks_exact(4)
        .filter(|px| px[0] < 40 && px[1] < 40 && px[2] < 40)
        .count()
}

#[test]
fn resnet_png() {
    let p = draw("zoo/resnet18_v1-symbol.json", &PlotOptions::default());
    // One column of boxes ~200 px wide plus skip edges; ~70 ranks.
    assert!((350..1200).contains(&p.width()), "width {}", p.width());
    assert!((3000..9000).contains(&p.height()), "height {}", p.height());
    assert_drawn_everywhere("resnet18_v1", &p, 8);
    // Convolution boxes are light blue, batch norms light yellow.
    assert!(pixels_near(&p, [0x77, 0xAA, 0xDD]) > 20 * 2000);
    assert!(pixels_near(&p, [0xEE, 0xDD, 0x88]) > 20 * 2000);
    assert!(text_pixels(&p) > 10_000, "text is missing");
}

#[test]
fn densenet_png() {
    let p = draw("zoo/densenet121-symbol.json", &PlotOptions::default());
    // One tall column: ~430 ops at full size, text readable at 100 %.
    assert!((350..1500).contains(&p.width()), "width {}", p.width());
    assert!(p.height() > 20_000, "height {}", p.height());
    assert_drawn_everywhere("densenet121", &p, 16);
    assert!(
        pixels_near(&p, [0x99, 0xDD, 0xFF]) > 50 * 1000,
        "concat boxes missing"
    );
}

#[test]
fn rnn_png() {
    let p = draw("models/gluon_lstm-symbol.json", &PlotOptions::default());
    assert!((400..2000).contains(&p.width()), "width {}", p.width());
    assert!((300..1500).contains(&p.height()), "height {}", p.height());
    assert_drawn_everywhere("gluon_lstm", &p, 4);
    // The RNN box is pink.
    assert!(pixels_near(&p, [0xFF, 0xAA, 0xBB]) > 1000);
    assert!(text_pixels(&p) > 1_500, "text is missing");
}

#[test]
fn png_scale_and_pixel_budget() {
    let sym = common::open("models/gluon_resnet-symbol.json");
    let size = |opts: &PlotOptions| match render_png(&sym, opts) {
        Ok(png) => match Pixmap::decode_png(&png) {
            Ok(p) => (p.width(), p.height()),
            Err(e) => panic!("{e}"),
        },
        Err(e) => panic!("{e}"),
    };
    let base = size(&PlotOptions::default());
    let double = size(&PlotOptions {
        png: PngOptions::with_scale(2.0),
        ..PlotOptions::default()
    });
    assert!(double.0.abs_diff(2 * base.0) <= 1 && double.1.abs_diff(2 * base.1) <= 1);
    let capped = size(&PlotOptions {
        png: PngOptions {
            scale: 1.0,
            max_pixels: 100_000,
        },
        ..PlotOptions::default()
    });
    assert!(
        u64::from(capped.0) * u64::from(capped.1) <= 101_000,
        "{capped:?}"
    );
    assert!(matches!(
        render_png(
            &sym,
            &PlotOptions {
                png: PngOptions::with_scale(f32::NAN),
                ..PlotOptions::default()
            }
        ),
        Err(PlotError::BadScale { .. })
    ));
}

#[test]
fn png_is_deterministic() {
    let sym = common::open("models/gluon_lstm-symbol.json");
    let a = render_png(&sym, &PlotOptions::default()).ok();
    let b = render_png(&sym, &PlotOptions::default()).ok();
    assert!(a.is_some() && a == b);
}
