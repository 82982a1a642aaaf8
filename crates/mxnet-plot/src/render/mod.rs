//! Drawing a [`Diagram`]: layout (dagre), the SVG writer and the PNG
//! rasterizer, and what they share: metrics, colours and the geometry of a
//! laid-out diagram.

mod draw;
mod layout;
mod raster;

pub(crate) use draw::svg;
pub(crate) use layout::layout;
pub(crate) use raster::png;

use crate::diagram::{NodeKind, OpFamily};

/// How a picture is rasterized to PNG.
#[derive(Debug, Clone, PartialEq)]
pub struct PngOptions {
    /// Pixels per SVG unit: 1.0 draws text at its nominal size (11–12.5 px,
    /// readable at 100 % zoom); 2.0 suits high-density screens.
    pub scale: f32,
    /// The most pixels the image may have. A picture that would be larger is
    /// drawn at a smaller scale so that it fits (the PNG then stays within
    /// memory, at the cost of legibility; the SVG is always full size).
    /// Memory use is about 4 bytes per pixel.
    pub max_pixels: u64,
}

impl Default for PngOptions {
    fn default() -> PngOptions {
        PngOptions {
            scale: 1.0,
            max_pixels: 80_000_000,
        }
    }
}

impl PngOptions {
    /// Options with pixel density `scale` and the default pixel budget.
    pub fn with_scale(scale: f32) -> PngOptions {
        PngOptions {
            scale,
            ..PngOptions::default()
        }
    }
}

// ---------------------------------------------------------------------------
// Metrics of the drawing.

const TITLE_SIZE: f64 = 12.5;
const LINE_SIZE: f64 = 11.0;
const TITLE_LEAD: f64 = 16.0;
const LINE_LEAD: f64 = 14.0;
const PAD_X: f64 = 10.0;
const PAD_Y: f64 = 6.0;
const MIN_BOX: f64 = 56.0;
const MARGIN: f64 = 16.0;
const EDGE_LABEL_SIZE: f64 = 10.0;
const NODE_SEP: f64 = 22.0;
const EDGE_SEP: f64 = 12.0;
const RANK_SEP: f64 = 26.0;
const RANK_SEP_LABELLED: f64 = 38.0;
const HEADING_SIZE: f64 = 17.0;
const CAPTION_SIZE: f64 = 11.5;
const LEGEND_SIZE: f64 = 11.0;

const EDGE_COLOUR: &str = "#4d4d4d";
const DIM_COLOUR: &str = "#9a9a9a";
const TEXT_COLOUR: &str = "#1a1a1a";
const SUBTEXT_COLOUR: &str = "#303030";

/// Fill colour of a family (Paul Tol's "light" scheme, colour-blind safe).
pub(crate) fn family_fill(f: OpFamily) -> &'static str {
    match f {
        OpFamily::Convolution => "#77AADD",
        OpFamily::Normalization => "#EEDD88",
        OpFamily::Activation => "#EE8866",
        OpFamily::Pooling => "#44BB99",
        OpFamily::Arithmetic => "#BBCC33",
        OpFamily::Shape => "#99DDFF",
        OpFamily::Recurrent => "#FFAABB",
        OpFamily::Loss => "#AAAA00",
        OpFamily::Other => "#DDDDDD",
        OpFamily::Unknown => "#FFFFFF",
    }
}

/// Outline colour of a family: its fill darkened.
fn family_stroke(f: OpFamily) -> String {
    if f == OpFamily::Unknown {
        return "#CC3311".to_owned();
    }
    let hex = family_fill(f).trim_start_matches('#');
    let channel = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map_or(0, |v| (f64::from(v) * 0.55).round() as u8)
    };
    format!("#{:02X}{:02X}{:02X}", channel(0), channel(2), channel(4))
}

fn family_class(f: OpFamily) -> &'static str {
    match f {
        OpFamily::Convolution => "convolution",
        OpFamily::Normalization => "normalization",
        OpFamily::Activation => "activation",
        OpFamily::Pooling => "pooling",
        OpFamily::Arithmetic => "arithmetic",
        OpFamily::Shape => "shape",
        OpFamily::Recurrent => "recurrent",
        OpFamily::Loss => "loss",
        OpFamily::Other => "other",
        OpFamily::Unknown => "unknown",
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Box,
    Ellipse,
    Pill,
}

fn shape_of(kind: NodeKind) -> Shape {
    match kind {
        NodeKind::Input | NodeKind::Label => Shape::Ellipse,
        NodeKind::Output => Shape::Pill,
        _ => Shape::Box,
    }
}

// ---------------------------------------------------------------------------
// The geometry of a laid-out diagram.

#[derive(Debug, Clone, Copy)]
struct Pt {
    x: f64,
    y: f64,
}

/// Geometry of one node: centre and size of its shape, and the text block.
#[derive(Debug, Clone)]
struct NodeGeom {
    cx: f64,
    cy: f64,
    w: f64,
    h: f64,
    /// Height of the text block (centred in the shape).
    text_h: f64,
}

#[derive(Debug, Clone)]
struct EdgeGeom {
    points: Vec<Pt>,
}

/// A laid-out diagram, in the coordinates of the final picture.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    nodes: Vec<NodeGeom>,
    /// One entry per diagram edge; `None` for edges not drawn (self-loops).
    edges: Vec<Option<EdgeGeom>>,
    width: f64,
    height: f64,
    header: Header,
}

#[derive(Debug, Clone, Default)]
struct Header {
    title_y: Option<f64>,
    caption_y: Option<f64>,
    /// Legend entries: (kind, x, y) of each swatch's top-left corner.
    legend: Vec<(LegendEntry, f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LegendEntry {
    Family(OpFamily),
    Input,
    Parameter,
    Label,
    Output,
}

impl LegendEntry {
    fn text(self) -> &'static str {
        match self {
            LegendEntry::Family(f) => f.as_str(),
            LegendEntry::Input => "data input",
            LegendEntry::Parameter => "parameter",
            LegendEntry::Label => "loss label",
            LegendEntry::Output => "graph output",
        }
    }
}

const SWATCH_W: f64 = 22.0;
const SWATCH_H: f64 = 14.0;
const LEGEND_GAP: f64 = 18.0;
const LEGEND_ROW: f64 = 20.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strokes_darken_fills() {
        assert_eq!(family_stroke(OpFamily::Other), "#7A7A7A");
        assert_eq!(family_stroke(OpFamily::Unknown), "#CC3311");
    }
}
