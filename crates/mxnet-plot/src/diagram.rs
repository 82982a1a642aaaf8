//! The drawing model: a labelled DAG of styled boxes and labelled edges.

use crate::PlotError;
use crate::render::{self, PngOptions};

/// The colour family of an operator box.
///
/// The families follow the roles ops play in a network; each has one fill
/// colour from Paul Tol's colour-blind-safe "light" scheme, named in the
/// legend.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpFamily {
    /// Convolution, deconvolution, fully connected and embedding layers.
    Convolution,
    /// Batch/layer/instance/group normalization, LRN and dropout.
    Normalization,
    /// Activation functions and softmax.
    Activation,
    /// Pooling and resampling.
    Pooling,
    /// Arithmetic and other element-wise maths, reductions, matrix products.
    Arithmetic,
    /// Shape and tensor manipulation: reshape, transpose, concat, slice, cast…
    Shape,
    /// Recurrent layers and control flow (`RNN`, `_foreach`, …).
    Recurrent,
    /// Loss and output layers (`SoftmaxOutput`, `MakeLoss`, `CTCLoss`, …).
    Loss,
    /// An op MXNet registers that belongs to none of the families above.
    Other,
    /// An op MXNet 1.9.1 does not register.
    Unknown,
}

impl OpFamily {
    /// Every family, in legend order.
    pub const ALL: [OpFamily; 10] = [
        OpFamily::Convolution,
        OpFamily::Normalization,
        OpFamily::Activation,
        OpFamily::Pooling,
        OpFamily::Arithmetic,
        OpFamily::Shape,
        OpFamily::Recurrent,
        OpFamily::Loss,
        OpFamily::Other,
        OpFamily::Unknown,
    ];

    /// The legend text.
    pub fn as_str(self) -> &'static str {
        match self {
            OpFamily::Convolution => "convolution / dense",
            OpFamily::Normalization => "normalization / dropout",
            OpFamily::Activation => "activation",
            OpFamily::Pooling => "pooling / resampling",
            OpFamily::Arithmetic => "arithmetic / element-wise",
            OpFamily::Shape => "shape / tensor",
            OpFamily::Recurrent => "recurrent / control flow",
            OpFamily::Loss => "loss / output layer",
            OpFamily::Other => "other op",
            OpFamily::Unknown => "unknown op",
        }
    }
}

/// What a node of a [`Diagram`] is, which decides its shape and colour.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// An operator (or a layer): a rounded box filled with its family's
    /// colour.
    Op(OpFamily),
    /// A data input: a white ellipse with a strong outline.
    Input,
    /// A graph output: a dark pill with white text.
    Output,
    /// A parameter or auxiliary state drawn on its own: a small white box.
    Parameter,
    /// A loss label: a dimmed, dashed ellipse.
    Label,
}

/// How an edge is drawn.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EdgeKind {
    /// Data flows along it: a solid arrow.
    #[default]
    Data,
    /// A dimmed dashed arrow (loss labels, parameters).
    Dimmed,
    /// An ordering constraint with no data (`control_deps`): dotted.
    Control,
}

/// One node of a [`Diagram`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct DiagramNode {
    /// Shape and colour.
    pub kind: NodeKind,
    /// The first line, in bold (an op summary such as `Convolution 3×3 /2, 64`).
    pub title: String,
    /// Further lines in a smaller regular face (node name, parameters).
    pub lines: Vec<String>,
    /// Text shown on hover in an SVG viewer (all attributes, say); not drawn.
    pub tooltip: Option<String>,
}

impl DiagramNode {
    /// A node with a title and no further lines.
    pub fn new(kind: NodeKind, title: impl Into<String>) -> DiagramNode {
        DiagramNode {
            kind,
            title: title.into(),
            lines: Vec::new(),
            tooltip: None,
        }
    }

    /// Adds a line below the title.
    pub fn line(mut self, line: impl Into<String>) -> DiagramNode {
        self.lines.push(line.into());
        self
    }

    /// Sets the hover text.
    pub fn tooltip(mut self, tooltip: impl Into<String>) -> DiagramNode {
        self.tooltip = Some(tooltip.into());
        self
    }
}

/// One edge of a [`Diagram`]: from node `from` to node `to` (indices into
/// [`Diagram::nodes`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct DiagramEdge {
    /// Index of the source node.
    pub from: usize,
    /// Index of the target node.
    pub to: usize,
    /// Text written beside the edge where it leaves its source (a tensor
    /// shape such as `1×64×56×56`, or an output name).
    pub label: Option<String>,
    /// How it is drawn.
    pub kind: EdgeKind,
}

impl DiagramEdge {
    /// A data edge without label.
    pub fn new(from: usize, to: usize) -> DiagramEdge {
        DiagramEdge {
            from,
            to,
            label: None,
            kind: EdgeKind::Data,
        }
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> DiagramEdge {
        self.label = Some(label.into());
        self
    }

    /// Sets the kind.
    pub fn kind(mut self, kind: EdgeKind) -> DiagramEdge {
        self.kind = kind;
        self
    }
}

/// A labelled directed graph to draw top to bottom: nodes with a title,
/// further lines and a [`NodeKind`]; edges with optional labels.
///
/// [`Diagram::from_symbol`] builds the picture of an MXNet symbol; any other
/// graph (a net's layers, say) can be built with [`Diagram::add_node`] and
/// [`Diagram::add_edge`] and drawn by the same renderer.
///
/// Drawing is deterministic: the same diagram gives the same SVG bytes and
/// the same PNG bytes on every run and every machine (the font is
/// embedded). Edges that close a cycle are drawn reversed, as a layered
/// layout requires; self-loops are not drawn.
///
/// ```
/// use mxnet_plot::{Diagram, DiagramEdge, DiagramNode, NodeKind, OpFamily};
///
/// let mut d = Diagram::new();
/// let x = d.add_node(DiagramNode::new(NodeKind::Input, "data").line("1×3×224×224"));
/// let conv = d.add_node(
///     DiagramNode::new(NodeKind::Op(OpFamily::Convolution), "Conv2D 7×7 /2, 64")
///         .line("conv0"),
/// );
/// d.add_edge(DiagramEdge::new(x, conv));
/// let svg = d.to_svg()?;
/// assert!(svg.contains("Conv2D 7×7 /2, 64"));
/// # Ok::<(), mxnet_plot::PlotError>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Diagram {
    /// A heading drawn above the graph.
    pub title: Option<String>,
    /// A smaller line under the heading (counts, say).
    pub caption: Option<String>,
    /// Whether to draw the legend of the node kinds present.
    pub legend: bool,
    /// The nodes.
    pub nodes: Vec<DiagramNode>,
    /// The edges.
    pub edges: Vec<DiagramEdge>,
}

impl Default for Diagram {
    fn default() -> Diagram {
        Diagram::new()
    }
}

impl Diagram {
    /// An empty diagram with a legend and no title.
    pub fn new() -> Diagram {
        Diagram {
            title: None,
            caption: None,
            legend: true,
            nodes: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// Adds a node and returns its index.
    pub fn add_node(&mut self, node: DiagramNode) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Adds an edge. Indices are checked when drawing
    /// ([`PlotError::BadEdge`]).
    pub fn add_edge(&mut self, edge: DiagramEdge) {
        self.edges.push(edge);
    }

    /// Lays the diagram out and writes it as a self-contained SVG document
    /// (text in font-family "DejaVu Sans", sized for that font).
    pub fn to_svg(&self) -> Result<String, PlotError> {
        let layout = render::layout(self)?;
        Ok(render::svg(self, &layout))
    }

    /// Lays the diagram out and rasterizes it to PNG bytes with the embedded
    /// font.
    pub fn to_png(&self, opts: &PngOptions) -> Result<Vec<u8>, PlotError> {
        let svg = self.to_svg()?;
        render::png(&svg, opts)
    }
}
