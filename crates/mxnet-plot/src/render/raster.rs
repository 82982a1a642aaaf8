//! Rasterizing the SVG to PNG with resvg and the embedded fonts.

use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

use super::PngOptions;
use crate::PlotError;
use crate::text::{self, FAMILY};

fn fontdb() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_source(usvg::fontdb::Source::Binary(Arc::new(text::REGULAR)));
        db.load_font_source(usvg::fontdb::Source::Binary(Arc::new(text::BOLD)));
        db.set_sans_serif_family(FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// Rasterizes an SVG document written by [`svg`] to PNG bytes (RGB, 8 bit).
pub(crate) fn png(svg: &str, opts: &PngOptions) -> Result<Vec<u8>, PlotError> {
    if !(opts.scale.is_finite() && opts.scale > 0.0) {
        return Err(PlotError::BadScale { scale: opts.scale });
    }
    let options = usvg::Options {
        font_family: FAMILY.to_owned(),
        fontdb: fontdb(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| PlotError::Svg {
        message: e.to_string(),
    })?;
    let size = tree.size();
    let (w, h) = (f64::from(size.width()), f64::from(size.height()));
    let mut scale = f64::from(opts.scale);
    let pixels = w * h * scale * scale;
    let budget = opts.max_pixels.max(1) as f64;
    let (pw, ph) = if pixels > budget {
        // Rounding down keeps the image within the budget; the picture's
        // margin absorbs the lost fraction of a pixel.
        scale *= (budget / pixels).sqrt();
        ((w * scale).floor().max(1.0), (h * scale).floor().max(1.0))
    } else {
        ((w * scale).ceil().max(1.0), (h * scale).ceil().max(1.0))
    };
    if pw > f64::from(u32::MAX / 4) || ph > f64::from(u32::MAX / 4) {
        return Err(PlotError::TooLarge {
            width: pw as u64,
            height: ph as u64,
        });
    }
    let (pw, ph) = (pw as u32, ph as u32);
    let mut pixmap = tiny_skia::Pixmap::new(pw, ph).ok_or(PlotError::TooLarge {
        width: u64::from(pw),
        height: u64::from(ph),
    })?;
    pixmap.fill(tiny_skia::Color::WHITE);
    let s = scale as f32;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(s, s),
        &mut pixmap.as_mut(),
    );
    encode_rgb(&pixmap)
}

/// Encodes an opaque pixmap as an RGB PNG, row by row (no second copy of
/// the image).
fn encode_rgb(pixmap: &tiny_skia::Pixmap) -> Result<Vec<u8>, PlotError> {
    let (w, h) = (pixmap.width(), pixmap.height());
    let mut out = Vec::new();
    write_rgb(pixmap, w, h, &mut out)?;
    Ok(out)
}

fn write_rgb(
    pixmap: &tiny_skia::Pixmap,
    w: u32,
    h: u32,
    out: &mut Vec<u8>,
) -> Result<(), PlotError> {
    let mut enc = png::Encoder::new(out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Balanced);
    let err = |e: png::EncodingError| PlotError::Png {
        message: e.to_string(),
    };
    let mut writer = enc.write_header().map_err(err)?;
    {
        let mut stream = writer.stream_writer().map_err(err)?;
        let mut row = vec![0u8; w as usize * 3];
        for line in pixmap.data().chunks_exact(w as usize * 4) {
            // The background is opaque white, so premultiplied colour is
            // the colour.
            for (dst, src) in row.chunks_exact_mut(3).zip(line.chunks_exact(4)) {
                dst.copy_from_slice(&src[..3]);
            }
            std::io::Write::write_all(&mut stream, &row).map_err(|e| PlotError::Png {
                message: e.to_string(),
            })?;
        }
        stream.finish().map_err(err)?;
    }
    writer.finish().map_err(err)
}
