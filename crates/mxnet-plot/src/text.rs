//! The embedded font, text measurement and XML escaping.
//!
//! Boxes are sized from the advance widths of the embedded DejaVu Sans, the
//! same faces the PNG renderer draws with, so text fits its box in the PNG
//! exactly and in a browser whenever DejaVu Sans (or a font of similar
//! width) is used.

use std::sync::OnceLock;

use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

/// DejaVu Sans (regular), embedded so output does not depend on the machine.
pub(crate) static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
/// DejaVu Sans Bold.
pub(crate) static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// The family name written into the SVG and registered with the renderer.
pub(crate) const FAMILY: &str = "DejaVu Sans";

/// Advance widths of one face, in ems.
struct Face {
    ascii: [f32; 128],
    font: Option<FontRef<'static>>,
    upem: f32,
    fallback: f32,
}

impl Face {
    fn load(bytes: &'static [u8]) -> Face {
        // The font is our own embedded file; should it ever fail to parse,
        // measure with a typical average width instead of failing.
        let fallback = 0.6;
        let Ok(font) = FontRef::new(bytes) else {
            return Face {
                ascii: [fallback; 128],
                font: None,
                upem: 1.0,
                fallback,
            };
        };
        let upem = f32::from(
            font.metrics(Size::unscaled(), LocationRef::default())
                .units_per_em,
        );
        let upem = if upem > 0.0 { upem } else { 2048.0 };
        let mut face = Face {
            ascii: [fallback; 128],
            font: Some(font),
            upem,
            fallback,
        };
        for (c, slot) in face.ascii.clone().iter().enumerate() {
            let w = char::from_u32(c as u32).map_or(*slot, |ch| face.lookup(ch));
            face.ascii[c] = w;
        }
        face
    }

    fn lookup(&self, ch: char) -> f32 {
        let Some(font) = &self.font else {
            return self.fallback;
        };
        let metrics = font.glyph_metrics(Size::unscaled(), LocationRef::default());
        font.charmap()
            .map(ch)
            .and_then(|g| metrics.advance_width(g))
            .map_or(self.fallback, |w| w / self.upem)
    }

    fn width(&self, text: &str) -> f32 {
        text.chars()
            .map(|c| match self.ascii.get(c as usize) {
                Some(w) => *w,
                None => self.lookup(c),
            })
            .sum()
    }
}

fn faces() -> &'static (Face, Face) {
    static FACES: OnceLock<(Face, Face)> = OnceLock::new();
    FACES.get_or_init(|| (Face::load(REGULAR), Face::load(BOLD)))
}

/// Width in pixels of `text` set in DejaVu Sans at `size` px.
pub(crate) fn width(text: &str, size: f32, bold: bool) -> f32 {
    let (regular, bold_face) = faces();
    let face = if bold { bold_face } else { regular };
    face.width(text) * size
}

/// `text` escaped for XML character data and attribute values; characters
/// XML 1.0 forbids (most C0 controls) are dropped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
    out
}

/// `text` shortened to at most `max` characters, with an ellipsis.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_come_from_the_font() {
        // DejaVu Sans: 'M' is 0.863 em, 'i' 0.278 em.
        assert!((width("M", 10.0, false) - 8.63).abs() < 0.05);
        assert!((width("i", 10.0, false) - 2.78).abs() < 0.05);
        assert!(width("M", 10.0, true) > width("M", 10.0, false));
        assert!(width("3×3", 12.0, false) > 0.0);
    }

    #[test]
    fn escapes_markup_and_drops_controls() {
        assert_eq!(escape("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&apos; ");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
