//! Pictures of Apache MXNet graphs, in pure Rust.
//!
//! [`render_svg`] and [`render_png`] draw the node graph of a
//! [`Symbol`] (MXNet's `NodeGraphPlot`): a layered top-to-bottom layout
//! (dagre: network-simplex ranking, barycentric crossing reduction,
//! Brandes–Köpf placement) in which
//!
//! * each op is a rounded box coloured by its family ([`OpFamily`]: convolution,
//!   normalization, activation, pooling, arithmetic, shape, recurrent,
//!   loss/output, other, unknown op; Paul Tol's colour-blind-safe "light"
//!   colours), titled with a summary of its key attributes
//!   (`Convolution 3×3 /2, 64`, `Pooling global avg`, `RNN lstm 2×256 bi`)
//!   above its node name;
//! * weights, biases and auxiliary states are folded into the op that uses
//!   them and listed in its box with their shapes when known
//!   (`weight 64×3×7×7`), unless [`PlotOptions::all_variables`] asks for every
//!   variable as its own node;
//! * data inputs are ellipses, graph outputs dark pills, loss labels dimmed;
//! * edges carry tensor shapes when the caller passes them
//!   ([`PlotOptions::shapes`]), and a legend names the colours present.
//!
//! The same renderer draws any labelled DAG through [`Diagram`], so
//! higher-level pictures (a net's layers) look the same.
//!
//! Output is deterministic (same bytes on every run) and independent of the
//! machine: the DejaVu Sans faces are embedded and used both to size boxes
//! and to rasterize; the SVG names `font-family="DejaVu Sans"`.
//!
//! ```
//! use mxnet_format::symbol::Symbol;
//! use mxnet_plot::{PlotOptions, render_svg};
//!
//! let sym = Symbol::open(concat!(
//!     env!("CARGO_MANIFEST_DIR"),
//!     "/../../tests/fixtures/models/gluon_resnet-symbol.json"
//! ))?;
//! let opts = PlotOptions {
//!     title: Some("gluon_resnet".into()),
//!     ..PlotOptions::default()
//! };
//! let svg = render_svg(&sym, &opts)?;
//! assert!(svg.contains("Convolution 3×3, 4"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Sizes and times (release build, one core; `cargo bench -p mxnet-plot`):
//! DenseNet-121 (≈ 430 ops) lays out in about 0.25 s and rasterizes to a
//! 475×32,651 PNG in about 1.5 s more; Inception-v3 in 0.2 s; a generated
//! residual net of 5,000 ops in about 7 s (dagre's cost grows faster than
//! linearly). PNGs larger than [`PngOptions::max_pixels`] are drawn at a
//! reduced scale so memory stays bounded; the SVG is always full size.

#![deny(missing_docs)]

mod diagram;
mod render;
mod summary;
mod symbol;
mod text;

use std::collections::HashMap;

pub use diagram::{Diagram, DiagramEdge, DiagramNode, EdgeKind, NodeKind, OpFamily};
pub use mxnet_format::symbol::Symbol;
pub use render::PngOptions;

/// What to draw and how.
///
/// Construct with functional update syntax:
/// `PlotOptions { all_variables: true, ..PlotOptions::default() }`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// Draw every variable (weights, biases, auxiliary states) as its own
    /// small node instead of folding it into the op that uses it. Default
    /// `false`.
    pub all_variables: bool,
    /// Output shapes from shape inference, keyed by (node index in
    /// [`Symbol::nodes`], output index). When given, edges are labelled with
    /// the shape of the tensor they carry (`1×64×56×56`), and inputs and
    /// folded parameters show theirs (variables are keyed by output 0).
    /// Without it, the `__shape__` hints stored on variables are used for
    /// inputs and parameters (unknown dimensions shown as `?`).
    pub shapes: Option<HashMap<(usize, usize), Vec<usize>>>,
    /// A heading drawn above the graph. Default none.
    pub title: Option<String>,
    /// Draw a line of counts under the heading (operators, inputs,
    /// parameter arrays, outputs). Default `true`.
    pub caption: bool,
    /// Draw the legend of the colours and shapes present. Default `true`.
    pub legend: bool,
    /// Write each op's node name under its summary. Default `true`.
    pub node_names: bool,
    /// How [`render_png`] rasterizes.
    pub png: PngOptions,
}

impl Default for PlotOptions {
    fn default() -> PlotOptions {
        PlotOptions {
            all_variables: false,
            shapes: None,
            title: None,
            caption: true,
            legend: true,
            node_names: true,
            png: PngOptions::default(),
        }
    }
}

/// Why a picture could not be drawn.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A [`Diagram`] edge names a node that does not exist.
    #[error("edge {edge} goes from node {from} to node {to}, but the diagram has {nodes} nodes")]
    BadEdge {
        /// Index of the edge in [`Diagram::edges`].
        edge: usize,
        /// Its source index.
        from: usize,
        /// Its target index.
        to: usize,
        /// Number of nodes.
        nodes: usize,
    },
    /// The layout engine failed (it could not be started, or it crashed).
    #[error("layout failed: {message}")]
    Layout {
        /// What went wrong.
        message: String,
    },
    /// [`PngOptions::scale`] is not a positive finite number.
    #[error("png scale {scale} is not a positive number")]
    BadScale {
        /// The scale given.
        scale: f32,
    },
    /// The rasterizer rejected the SVG (a picture with more than a million
    /// SVG elements, for one).
    #[error("cannot rasterize the picture: {message}")]
    Svg {
        /// The rasterizer's message.
        message: String,
    },
    /// The image would be too large to allocate even after scaling down.
    #[error("picture of {width}×{height} pixels is too large to rasterize")]
    TooLarge {
        /// Width in pixels.
        width: u64,
        /// Height in pixels.
        height: u64,
    },
    /// PNG encoding failed.
    #[error("cannot encode png: {message}")]
    Png {
        /// The encoder's message.
        message: String,
    },
}

impl Diagram {
    /// The picture of `sym`'s node graph as [`render_svg`] draws it, as a
    /// diagram that can still be changed before drawing.
    ///
    /// Nodes appear in [`Symbol::nodes`] order (variables that are folded
    /// into their consumers are left out), followed by one
    /// [`NodeKind::Output`] node per distinct graph output.
    pub fn from_symbol(sym: &Symbol, opts: &PlotOptions) -> Diagram {
        symbol::diagram(sym, opts)
    }
}

/// Draws `sym`'s node graph as a self-contained SVG document.
pub fn render_svg(sym: &Symbol, opts: &PlotOptions) -> Result<String, PlotError> {
    Diagram::from_symbol(sym, opts).to_svg()
}

/// Draws `sym`'s node graph as PNG bytes (8-bit RGB), rasterized with the
/// embedded font at [`PngOptions::scale`] within [`PngOptions::max_pixels`].
pub fn render_png(sym: &Symbol, opts: &PlotOptions) -> Result<Vec<u8>, PlotError> {
    Diagram::from_symbol(sym, opts).to_png(&opts.png)
}
