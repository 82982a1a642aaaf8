//! Layout (dagre), the SVG writer and the PNG rasterizer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use dagre::graph::{Graph, GraphOptions};
use dagre::{EdgeLabel, GraphLabel, LayoutOptions, NodeLabel};
use resvg::{tiny_skia, usvg};

use crate::PlotError;
use crate::diagram::{Diagram, DiagramNode, EdgeKind, NodeKind, OpFamily};
use crate::text::{self, FAMILY, escape};

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
// Layout.

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

/// Size, weight, line height and vertical padding of a node's title.
fn title_style(kind: NodeKind) -> (f64, bool, f64, f64) {
    match kind {
        NodeKind::Parameter => (LINE_SIZE, false, LINE_LEAD, 3.0),
        _ => (TITLE_SIZE, true, TITLE_LEAD, PAD_Y),
    }
}

fn text_block(node: &DiagramNode) -> (f64, f64) {
    let (size, bold, lead, _) = title_style(node.kind);
    let mut w = f64::from(text::width(&node.title, size as f32, bold));
    for line in &node.lines {
        w = w.max(f64::from(text::width(line, LINE_SIZE as f32, false)));
    }
    let h = lead + LINE_LEAD * node.lines.len() as f64;
    (w, h)
}

fn node_size(node: &DiagramNode) -> (f64, f64, f64) {
    let (tw, th) = text_block(node);
    let pad_y = title_style(node.kind).3;
    let (w, h) = match shape_of(node.kind) {
        Shape::Box => (tw + 2.0 * PAD_X, th + 2.0 * pad_y),
        // An ellipse through the corners of a box w×h with axes in ratio
        // w:h has semi-axes w/√2, h/√2; narrower text blocks get a little
        // extra so short names do not look cramped.
        Shape::Ellipse => (
            tw * std::f64::consts::SQRT_2 + 12.0,
            th * std::f64::consts::SQRT_2 + 4.0,
        ),
        Shape::Pill => (tw + th + 2.0 * PAD_X, th + 2.0 * pad_y),
    };
    let min = if node.kind == NodeKind::Parameter {
        0.0
    } else {
        MIN_BOX
    };
    (w.max(min).ceil(), h.ceil(), th)
}

/// Vertical gap between satellites stacked beside their op.
const SAT_GAP: f64 = 5.0;
/// Horizontal gap between the satellite column and the op.
const SAT_SEP: f64 = 30.0;

/// For each node, the edge that makes it a satellite of an op: a parameter
/// or label node with no inputs and a single edge, into an op. Satellites
/// are stacked in a column to the left of their op instead of taking a
/// rank of their own, which keeps the data path straight when every
/// variable is drawn.
fn satellites(d: &Diagram) -> Vec<Option<usize>> {
    let n = d.nodes.len();
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in d.edges.iter().enumerate() {
        if e.from != e.to {
            indeg[e.to] += 1;
            out[e.from].push(i);
        }
    }
    (0..n)
        .map(|v| match (d.nodes[v].kind, indeg[v], out[v].as_slice()) {
            (NodeKind::Parameter | NodeKind::Label, 0, &[e])
                if matches!(d.nodes[d.edges[e].to].kind, NodeKind::Op(_)) =>
            {
                Some(e)
            }
            _ => None,
        })
        .collect()
}

/// Lays the diagram out with dagre (network-simplex ranking, barycentric
/// crossing reduction, Brandes–Köpf placement) and adds the header.
pub(crate) fn layout(d: &Diagram) -> Result<Layout, PlotError> {
    let n = d.nodes.len();
    for (i, e) in d.edges.iter().enumerate() {
        if e.from >= n || e.to >= n {
            return Err(PlotError::BadEdge {
                edge: i,
                from: e.from,
                to: e.to,
                nodes: n,
            });
        }
    }
    let sat_edge = satellites(d);
    let mut sats: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (v, e) in sat_edge.iter().enumerate() {
        if let Some(e) = e {
            sats[d.edges[*e].to].push(v);
        }
    }
    let sizes: Vec<(f64, f64, f64)> = d.nodes.iter().map(node_size).collect();
    // Per node: (width, height) of the node with its satellite column.
    let group: Vec<(f64, f64, f64)> = (0..n)
        .map(|v| {
            let (w, h, _) = sizes[v];
            if sats[v].is_empty() {
                return (w, h, 0.0);
            }
            let col_w = sats[v].iter().map(|&s| sizes[s].0).fold(0.0, f64::max);
            let col_h = sats[v].iter().map(|&s| sizes[s].1).sum::<f64>()
                + SAT_GAP * (sats[v].len() - 1) as f64;
            // Symmetric, so the op stays centred on the data path.
            (2.0 * (col_w + SAT_SEP) + w, h.max(col_h), col_w)
        })
        .collect();

    let labelled = d.edges.iter().any(|e| e.label.is_some());
    let boxes: Vec<Option<(f64, f64)>> = (0..n)
        .map(|v| sat_edge[v].is_none().then_some((group[v].0, group[v].1)))
        .collect();
    // Nodes whose out-edges carry different labels (the outputs of a
    // multi-output op): their edges get two ranks, so the labels have room.
    let mut out_labels: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for e in &d.edges {
        if let Some(label) = &e.label {
            out_labels.entry(e.from).or_default().insert(label);
        }
    }
    let links: Vec<Option<Link>> = d
        .edges
        .iter()
        .map(|e| {
            if e.from == e.to || sat_edge[e.from].is_some() {
                return None;
            }
            let crowded = e.label.is_some() && out_labels.get(&e.from).is_some_and(|l| l.len() > 1);
            Some(Link {
                from: e.from,
                to: e.to,
                minlen: if crowded { 2 } else { 1 },
                weight: match e.kind {
                    EdgeKind::Data => 2,
                    EdgeKind::Dimmed | EdgeKind::Control => 1,
                },
            })
        })
        .collect();
    let ranksep = if labelled {
        RANK_SEP_LABELLED
    } else {
        RANK_SEP
    };
    let placed = run_dagre(&boxes, &links, ranksep)?;
    let (gw, gh) = (placed.width, placed.height);

    // Header above the graph.
    let mut header = Header::default();
    let mut y = MARGIN;
    let mut header_w: f64 = 0.0;
    if let Some(title) = &d.title {
        y += HEADING_SIZE;
        header.title_y = Some(y);
        header_w = header_w.max(f64::from(text::width(title, HEADING_SIZE as f32, true)));
        y += 6.0;
    }
    if let Some(caption) = &d.caption {
        y += CAPTION_SIZE + 2.0;
        header.caption_y = Some(y);
        header_w = header_w.max(f64::from(text::width(caption, CAPTION_SIZE as f32, false)));
        y += 6.0;
    }
    if d.legend && n > 0 {
        let mut entries: Vec<LegendEntry> = d
            .nodes
            .iter()
            .map(|node| match node.kind {
                NodeKind::Op(f) => LegendEntry::Family(f),
                NodeKind::Input => LegendEntry::Input,
                NodeKind::Output => LegendEntry::Output,
                NodeKind::Parameter => LegendEntry::Parameter,
                NodeKind::Label => LegendEntry::Label,
            })
            .collect();
        entries.sort();
        entries.dedup();
        let wrap = gw.max(header_w).max(440.0);
        let mut x = 0.0;
        y += 8.0;
        for entry in entries {
            let w =
                SWATCH_W + 6.0 + f64::from(text::width(entry.text(), LEGEND_SIZE as f32, false));
            if x > 0.0 && x + w > wrap {
                x = 0.0;
                y += LEGEND_ROW;
            }
            header.legend.push((entry, MARGIN + x, y));
            x += w + LEGEND_GAP;
            header_w = header_w.max(x - LEGEND_GAP);
        }
        y += LEGEND_ROW;
    }
    let top = if y > MARGIN { y + 12.0 } else { MARGIN };
    let width = (gw.max(header_w) + 2.0 * MARGIN).ceil();
    let dx = MARGIN + ((width - 2.0 * MARGIN - gw) / 2.0).max(0.0);
    let height = (top + gh + MARGIN).ceil();

    let mut nodes: Vec<NodeGeom> = sizes
        .iter()
        .map(|&(w, h, th)| NodeGeom {
            cx: 0.0,
            cy: 0.0,
            w,
            h,
            text_h: th,
        })
        .collect();
    for v in (0..n).filter(|&v| sat_edge[v].is_none()) {
        let (x, y) = placed.nodes[v].unwrap_or((0.0, 0.0));
        let (gx, gy) = (x + dx, y + top);
        nodes[v].cx = gx;
        nodes[v].cy = gy;
        if sats[v].is_empty() {
            continue;
        }
        let col_right = gx - nodes[v].w / 2.0 - SAT_SEP;
        let col_h =
            sats[v].iter().map(|&s| nodes[s].h).sum::<f64>() + SAT_GAP * (sats[v].len() - 1) as f64;
        let mut sy = gy - col_h / 2.0;
        for &s in &sats[v] {
            nodes[s].cx = col_right - nodes[s].w / 2.0;
            nodes[s].cy = sy + nodes[s].h / 2.0;
            sy += nodes[s].h + SAT_GAP;
        }
    }
    // Bend points of each edge, from dagre.
    let inner: Vec<Option<Vec<Pt>>> = placed
        .edges
        .into_iter()
        .map(|pts| {
            pts.map(|pts| {
                pts.into_iter()
                    .map(|p| Pt {
                        x: p.x + dx,
                        y: p.y + top,
                    })
                    .collect()
            })
        })
        .collect();
    let ports = assign_ports(d, &nodes, &inner);
    let mut edges = Vec::with_capacity(d.edges.len());
    for (pts, port) in inner.into_iter().zip(ports) {
        edges.push(match (pts, port) {
            (Some(pts), Some((start, end))) => Some(route(start, end, pts)),
            _ => None,
        });
    }
    // Satellite edges: from the satellite's right side into the op's left
    // side, entries kept apart and in order.
    for (v, members) in sats.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let a = &nodes[v];
        let (lo, hi) = (a.cy - a.h / 2.0 + 6.0, a.cy + a.h / 2.0 - 6.0);
        let mut ys: Vec<f64> = members.iter().map(|&s| nodes[s].cy.clamp(lo, hi)).collect();
        spread(&mut ys, lo, hi, 6.0);
        for (&s, y) in members.iter().zip(ys) {
            let Some(e) = sat_edge[s] else { continue };
            let b = &nodes[s];
            let start = Pt {
                x: b.cx + b.w / 2.0,
                y: b.cy,
            };
            let end = Pt {
                x: a.cx - a.w / 2.0,
                y,
            };
            let points = vec![
                start,
                Pt {
                    x: start.x + 6.0,
                    y: start.y,
                },
                Pt {
                    x: end.x - 10.0,
                    y: end.y,
                },
                end,
            ];
            edges[e] = Some(EdgeGeom { points });
        }
    }
    Ok(Layout {
        nodes,
        edges,
        width,
        height,
        header,
    })
}

/// An edge as the layout sees it.
#[derive(Debug, Clone, Copy)]
struct Link {
    from: usize,
    to: usize,
    minlen: i32,
    weight: i32,
}

/// What dagre computed: node centres, each edge's bend points (without its
/// end points), and the size of the drawing.
struct Placed {
    nodes: Vec<Option<(f64, f64)>>,
    edges: Vec<Option<Vec<Pt>>>,
    width: f64,
    height: f64,
}

/// Runs dagre on the nodes with a box (`None`: not laid out) and the links.
///
/// dagre recurses as deep as the graph is long, so it runs on a thread of
/// its own with a stack sized for the graph: a 5,000-op chain overflows the
/// 2 MiB of an ordinary thread. A panic inside dagre becomes an error.
fn run_dagre(
    boxes: &[Option<(f64, f64)>],
    links: &[Option<Link>],
    ranksep: f64,
) -> Result<Placed, PlotError> {
    if boxes.iter().all(Option::is_none) {
        return Ok(Placed {
            nodes: vec![None; boxes.len()],
            edges: vec![None; links.len()],
            width: 0.0,
            height: 0.0,
        });
    }
    let work = || {
        let mut g: Graph<NodeLabel, EdgeLabel> = Graph::with_options(GraphOptions {
            directed: true,
            multigraph: true,
            compound: false,
        });
        for (v, b) in boxes.iter().enumerate() {
            if let Some((w, h)) = b {
                let label = NodeLabel {
                    width: *w,
                    height: *h,
                    ..NodeLabel::default()
                };
                g.set_node(id(v), Some(label));
            }
        }
        for (i, link) in links.iter().enumerate() {
            if let Some(k) = link {
                let label = EdgeLabel {
                    minlen: k.minlen,
                    weight: k.weight,
                    ..EdgeLabel::default()
                };
                g.set_edge(id(k.from), id(k.to), Some(label), Some(&edge_name(i)));
            }
        }
        let opts = LayoutOptions {
            nodesep: NODE_SEP,
            edgesep: EDGE_SEP,
            ranksep,
            ..LayoutOptions::default()
        };
        dagre::layout(&mut g, Some(opts));
        let nodes = boxes
            .iter()
            .enumerate()
            .map(|(v, b)| {
                b.and_then(|_| g.node(&id(v)))
                    .map(|l| (l.x.unwrap_or(0.0), l.y.unwrap_or(0.0)))
            })
            .collect();
        let edges = links
            .iter()
            .enumerate()
            .map(|(i, link)| {
                let k = link.as_ref()?;
                let l = g.edge(&id(k.from), &id(k.to), Some(&edge_name(i)));
                let pts = l.map(|l| l.points.as_slice()).unwrap_or_default();
                Some(
                    pts.get(1..pts.len().saturating_sub(1))
                        .unwrap_or_default()
                        .iter()
                        .map(|p| Pt { x: p.x, y: p.y })
                        .collect(),
                )
            })
            .collect();
        let (width, height) = g
            .graph_label::<GraphLabel>()
            .map_or((0.0, 0.0), |l| (l.width, l.height));
        Placed {
            nodes,
            edges,
            width,
            height,
        }
    };
    let items = boxes.len() + links.len();
    let stack = (16usize << 20).saturating_add(items.saturating_mul(8 << 10));
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("mxnet-plot-layout".to_owned())
            .stack_size(stack)
            .spawn_scoped(scope, work)
            .map_err(|e| PlotError::Layout {
                message: format!("cannot start the layout thread: {e}"),
            })?;
        handle.join().map_err(|_| PlotError::Layout {
            message: "the layout engine panicked".to_owned(),
        })
    })
}

fn id(i: usize) -> String {
    format!("n{i}")
}

fn edge_name(i: usize) -> String {
    format!("e{i}")
}

/// The horizontal range where edges may attach to a node's top or bottom.
fn port_range(node: &NodeGeom, kind: NodeKind) -> (f64, f64) {
    let (hw, hh) = (node.w / 2.0, node.h / 2.0);
    let inset = match shape_of(kind) {
        Shape::Box => (hw - 8.0).max(0.0),
        Shape::Pill => (hw - hh).max(0.0),
        Shape::Ellipse => hw * 0.5,
    };
    (node.cx - inset, node.cx + inset)
}

/// The point at `x` on a node's bottom (`down`) or top side.
fn port_at(node: &NodeGeom, kind: NodeKind, x: f64, down: bool) -> Pt {
    let (hw, hh) = (node.w / 2.0, node.h / 2.0);
    let sign = if down { 1.0 } else { -1.0 };
    let dy = match shape_of(kind) {
        Shape::Ellipse => {
            let t = ((x - node.cx) / hw).clamp(-1.0, 1.0);
            hh * (1.0 - t * t).sqrt()
        }
        Shape::Box | Shape::Pill => hh,
    };
    Pt {
        x,
        y: node.cy + sign * dy,
    }
}

/// Minimum distance between two edge ends on the same side of a node.
const PORT_SEP: f64 = 10.0;

/// Moves sorted positions apart to at least `sep`, within `[lo, hi]`,
/// moving each as little as the order allows; spreads them evenly when they
/// do not fit.
fn spread(xs: &mut [f64], lo: f64, hi: f64, sep: f64) {
    let n = xs.len();
    if n < 2 {
        return;
    }
    if (n - 1) as f64 * sep > hi - lo {
        let step = (hi - lo) / (n - 1) as f64;
        for (j, x) in xs.iter_mut().enumerate() {
            *x = lo + step * j as f64;
        }
        return;
    }
    for j in 1..n {
        xs[j] = xs[j].max(xs[j - 1] + sep);
    }
    if xs[n - 1] > hi {
        xs[n - 1] = hi;
        for j in (0..n - 1).rev() {
            xs[j] = xs[j].min(xs[j + 1] - sep);
        }
    }
}

/// One edge end asking for a place on one side of a node.
struct PortRequest {
    /// Where it would attach if alone.
    ideal: f64,
    /// The x it heads for (orders ends with the same ideal).
    toward: f64,
    /// The edge.
    edge: usize,
    /// Whether it is the edge's start (else its end).
    start: bool,
}

/// Where each edge leaves its source and enters its target: on the side
/// facing the other end, as close to the direction it heads in as
/// possible, with the ends on one side of a node kept apart and in the
/// order of their directions (so they do not cross there).
fn assign_ports(
    d: &Diagram,
    nodes: &[NodeGeom],
    inner: &[Option<Vec<Pt>>],
) -> Vec<Option<(Pt, Pt)>> {
    let mut sides: BTreeMap<(usize, bool), Vec<PortRequest>> = BTreeMap::new();
    for (i, (e, pts)) in d.edges.iter().zip(inner).enumerate() {
        let Some(pts) = pts else { continue };
        let (a, b) = (&nodes[e.from], &nodes[e.to]);
        let down = b.cy >= a.cy;
        let first = pts.first().copied().unwrap_or(Pt { x: b.cx, y: b.cy });
        let last = pts.last().copied().unwrap_or(Pt { x: a.cx, y: a.cy });
        let (lo, hi) = port_range(a, d.nodes[e.from].kind);
        sides.entry((e.from, down)).or_default().push(PortRequest {
            ideal: first.x.clamp(lo, hi),
            toward: first.x,
            edge: i,
            start: true,
        });
        let (lo, hi) = port_range(b, d.nodes[e.to].kind);
        sides.entry((e.to, !down)).or_default().push(PortRequest {
            ideal: last.x.clamp(lo, hi),
            toward: last.x,
            edge: i,
            start: false,
        });
    }
    let mut ends: Vec<(Option<Pt>, Option<Pt>)> = vec![(None, None); d.edges.len()];
    for ((node, bottom), mut reqs) in sides {
        reqs.sort_by(|p, q| {
            p.ideal
                .total_cmp(&q.ideal)
                .then(p.toward.total_cmp(&q.toward))
                .then(p.edge.cmp(&q.edge))
        });
        let kind = d.nodes[node].kind;
        let (lo, hi) = port_range(&nodes[node], kind);
        let mut xs: Vec<f64> = reqs.iter().map(|r| r.ideal).collect();
        spread(&mut xs, lo, hi, PORT_SEP);
        for (r, x) in reqs.iter().zip(xs) {
            let p = port_at(&nodes[node], kind, x, bottom);
            if r.start {
                ends[r.edge].0 = Some(p);
            } else {
                ends[r.edge].1 = Some(p);
            }
        }
    }
    ends.into_iter().map(|(s, e)| s.zip(e)).collect()
}

/// The points of an edge: from `start` through dagre's bend points to
/// `end`, with short vertical lead-out and lead-in segments so curves leave
/// and enter nodes straight.
fn route(start: Pt, end: Pt, inner: Vec<Pt>) -> EdgeGeom {
    let sign = if end.y >= start.y { 1.0 } else { -1.0 };
    let gap = (end.y - start.y).abs();
    let lead = (gap * 0.3).min(12.0);
    let mut points = Vec::with_capacity(inner.len() + 4);
    points.push(start);
    if inner.is_empty() && (start.x - end.x).abs() < 0.5 {
        points.push(end);
        return EdgeGeom { points };
    }
    points.push(Pt {
        x: start.x,
        y: start.y + sign * lead,
    });
    points.extend(inner);
    points.push(Pt {
        x: end.x,
        y: end.y - sign * lead,
    });
    points.push(end);
    EdgeGeom {
        points: simplify(points),
    }
}

/// Drops points that lie on the straight line through their neighbours, so
/// straight edges are written as one line segment.
fn simplify(points: Vec<Pt>) -> Vec<Pt> {
    let mut out: Vec<Pt> = Vec::with_capacity(points.len());
    for p in points {
        if let [.., a, b] = out.as_slice() {
            let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
            let len = ((p.x - a.x).powi(2) + (p.y - a.y).powi(2)).sqrt().max(1e-9);
            let between = (b.x - a.x) * (p.x - b.x) + (b.y - a.y) * (p.y - b.y) >= 0.0;
            if cross.abs() / len < 0.05 && between {
                out.pop();
            }
        }
        out.push(p);
    }
    out
}

/// An SVG path through `pts` as a uniform cubic B-spline (d3's
/// `curveBasis`): it starts and ends at the end points and bends smoothly
/// near the inner ones.
fn basis_path(pts: &[Pt]) -> String {
    let mut d = String::new();
    for seg in basis_segments(pts) {
        let _ = match seg {
            Seg::Move(p) => write!(d, "M{} {}", f(p.x), f(p.y)),
            Seg::Line(p) => write!(d, "L{} {}", f(p.x), f(p.y)),
            Seg::Cubic(c1, c2, p) => write!(
                d,
                "C{} {} {} {} {} {}",
                f(c1.x),
                f(c1.y),
                f(c2.x),
                f(c2.y),
                f(p.x),
                f(p.y)
            ),
        };
    }
    d
}

/// One piece of a path.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Move(Pt),
    Line(Pt),
    Cubic(Pt, Pt, Pt),
}

/// The pieces of the B-spline through `pts` (d3's `curveBasis`).
fn basis_segments(pts: &[Pt]) -> Vec<Seg> {
    let mut out = Vec::with_capacity(pts.len() + 2);
    match pts {
        [] => {}
        [p] => out.push(Seg::Move(*p)),
        [p, q] => {
            out.push(Seg::Move(*p));
            out.push(Seg::Line(*q));
        }
        _ => {
            let (mut p0, mut p1) = (pts[0], pts[1]);
            let mix = |a: Pt, wa: f64, b: Pt, wb: f64, c: Pt, wc: f64| Pt {
                x: (wa * a.x + wb * b.x + wc * c.x) / (wa + wb + wc),
                y: (wa * a.y + wb * b.y + wc * c.y) / (wa + wb + wc),
            };
            out.push(Seg::Move(p0));
            out.push(Seg::Line(mix(p0, 5.0, p1, 1.0, p1, 0.0)));
            for &p in &pts[2..] {
                out.push(Seg::Cubic(
                    mix(p0, 2.0, p1, 1.0, p1, 0.0),
                    mix(p0, 1.0, p1, 2.0, p1, 0.0),
                    mix(p0, 1.0, p1, 4.0, p, 1.0),
                ));
                (p0, p1) = (p1, p);
            }
            // Close: one more piece towards the last point, then a line into it.
            out.push(Seg::Cubic(
                mix(p0, 2.0, p1, 1.0, p1, 0.0),
                mix(p0, 1.0, p1, 2.0, p1, 0.0),
                mix(p0, 1.0, p1, 5.0, p1, 0.0),
            ));
            out.push(Seg::Line(p1));
        }
    }
    out
}

/// The curve drawn through `pts`, as a polyline (8 points per cubic).
fn curve(pts: &[Pt]) -> Vec<Pt> {
    let mut out: Vec<Pt> = Vec::new();
    for seg in basis_segments(pts) {
        match seg {
            Seg::Move(p) | Seg::Line(p) => out.push(p),
            Seg::Cubic(c1, c2, p) => {
                let Some(&p0) = out.last() else {
                    out.push(p);
                    continue;
                };
                for k in 1..=8 {
                    let t = f64::from(k) / 8.0;
                    let u = 1.0 - t;
                    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
                    out.push(Pt {
                        x: a * p0.x + b * c1.x + c * c2.x + d * p.x,
                        y: a * p0.y + b * c1.y + c * c2.y + d * p.y,
                    });
                }
            }
        }
    }
    out
}

/// A coordinate with one decimal, without a trailing `.0`.
fn f(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    let r = if r == 0.0 { 0.0 } else { r };
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

// ---------------------------------------------------------------------------
// SVG.

/// Writes the laid-out diagram as SVG.
pub(crate) fn svg(d: &Diagram, l: &Layout) -> String {
    let mut s = String::with_capacity(512 + d.nodes.len() * 400 + d.edges.len() * 160);
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"{FAMILY}, Verdana, sans-serif\">",
        w = f(l.width),
        h = f(l.height)
    );
    let _ = writeln!(
        s,
        "<defs>\
         <marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">\
         <path d=\"M0 0L10 5L0 10z\" fill=\"{EDGE_COLOUR}\"/></marker>\
         <marker id=\"arrow-dim\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">\
         <path d=\"M0 0L10 5L0 10z\" fill=\"{DIM_COLOUR}\"/></marker>\
         </defs>"
    );
    let _ = writeln!(
        s,
        "<rect class=\"background\" width=\"{}\" height=\"{}\" fill=\"#FFFFFF\"/>",
        f(l.width),
        f(l.height)
    );
    write_header(&mut s, d, l);

    // Edges under nodes.
    s.push_str("<g class=\"edges\" fill=\"none\">\n");
    for (i, (e, g)) in d.edges.iter().zip(&l.edges).enumerate() {
        let Some(g) = g else { continue };
        let (stroke, marker, extra) = match e.kind {
            EdgeKind::Data => (EDGE_COLOUR, "arrow", ""),
            EdgeKind::Dimmed => (DIM_COLOUR, "arrow-dim", " stroke-dasharray=\"4 3\""),
            EdgeKind::Control => (DIM_COLOUR, "arrow-dim", " stroke-dasharray=\"1.5 3\""),
        };
        let _ = writeln!(
            s,
            "<path class=\"edge\" id=\"e{i}\" d=\"{}\" stroke=\"{stroke}\" stroke-width=\"1.3\"{extra} \
             marker-end=\"url(#{marker})\"/>",
            basis_path(&g.points)
        );
    }
    s.push_str("</g>\n");

    s.push_str("<g class=\"nodes\">\n");
    for (i, (node, g)) in d.nodes.iter().zip(&l.nodes).enumerate() {
        write_node(&mut s, i, node, g);
    }
    s.push_str("</g>\n");

    write_edge_labels(&mut s, d, l);
    s.push_str("</svg>\n");
    s
}

/// An axis-aligned rectangle: left, top, right, bottom.
#[derive(Debug, Clone, Copy)]
struct Rect(f64, f64, f64, f64);

impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        self.0 < o.2 && o.0 < self.2 && self.1 < o.3 && o.1 < self.3
    }
}

/// Rectangles bucketed by horizontal bands, for quick overlap tests. Each
/// has an owner: the edge it traces, or `None` for nodes and labels.
struct Occupancy {
    bands: BTreeMap<i64, Vec<(Rect, Option<usize>)>>,
}

const BAND: f64 = 64.0;
/// Clearance a label keeps from edges other than its own.
const LABEL_CLEAR: f64 = 12.0;

impl Occupancy {
    fn bands_of(r: &Rect) -> std::ops::RangeInclusive<i64> {
        ((r.1 / BAND).floor() as i64)..=((r.3 / BAND).floor() as i64)
    }
    fn add(&mut self, r: Rect, owner: Option<usize>) {
        for b in Occupancy::bands_of(&r) {
            self.bands.entry(b).or_default().push((r, owner));
        }
    }
    /// How many rectangles a label at `r` for edge `own` runs into: its own
    /// edge and the nodes and other labels directly, other edges within
    /// [`LABEL_CLEAR`] (so a label is not read as belonging to them).
    fn hits(&self, r: &Rect, own: usize) -> usize {
        let wide = Rect(r.0 - LABEL_CLEAR, r.1, r.2 + LABEL_CLEAR, r.3);
        Occupancy::bands_of(&wide)
            .map(|b| {
                self.bands.get(&b).map_or(0, |v| {
                    v.iter()
                        .filter(|(o, owner)| match owner {
                            Some(e) if *e != own => o.overlaps(&wide),
                            _ => o.overlaps(r),
                        })
                        .count()
                })
            })
            .sum()
    }
}

/// Points every `step` along a polyline, starting `from` its start.
fn samples(points: &[Pt], from: f64, step: f64, count: usize) -> Vec<Pt> {
    let mut out = Vec::with_capacity(count);
    let mut want = from;
    let mut walked = 0.0;
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = ((b.x - a.x).powi(2) + (b.y - a.y).powi(2)).sqrt();
        while len > 0.0 && want <= walked + len && out.len() < count {
            let t = (want - walked) / len;
            out.push(Pt {
                x: a.x + (b.x - a.x) * t,
                y: a.y + (b.y - a.y) * t,
            });
            want += step;
        }
        walked += len;
    }
    out
}

/// Edge labels, one per (source, text), placed near where the edge leaves
/// its source: the first spot along the edge, right of it or left of it,
/// that overlaps no node and no label already placed.
fn write_edge_labels(s: &mut String, d: &Diagram, l: &Layout) {
    let mut groups: BTreeMap<(usize, &str), Vec<usize>> = BTreeMap::new();
    for (i, (e, g)) in d.edges.iter().zip(&l.edges).enumerate() {
        if let (Some(label), Some(_)) = (&e.label, g) {
            groups.entry((e.from, label.as_str())).or_default().push(i);
        }
    }
    if groups.is_empty() {
        return;
    }
    let mut occ = Occupancy {
        bands: BTreeMap::new(),
    };
    for g in &l.nodes {
        // Above a node sit the arrowheads of its inputs.
        occ.add(
            Rect(
                g.cx - g.w / 2.0 - 2.0,
                g.cy - g.h / 2.0 - 9.0,
                g.cx + g.w / 2.0 + 2.0,
                g.cy + g.h / 2.0 + 2.0,
            ),
            None,
        );
    }
    let curves: Vec<Option<Vec<Pt>>> = l
        .edges
        .iter()
        .map(|g| g.as_ref().map(|g| curve(&g.points)))
        .collect();
    for (i, c) in curves.iter().enumerate() {
        let Some(c) = c else { continue };
        for w in c.windows(2) {
            let (a, b) = (w[0], w[1]);
            occ.add(
                Rect(
                    a.x.min(b.x) - 1.5,
                    a.y.min(b.y) - 1.5,
                    a.x.max(b.x) + 1.5,
                    a.y.max(b.y) + 1.5,
                ),
                Some(i),
            );
        }
    }
    let _ = writeln!(
        s,
        "<g class=\"edge-labels\" font-size=\"{EDGE_LABEL_SIZE}\" fill=\"#333333\" \
         stroke=\"#FFFFFF\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\">"
    );
    let h = EDGE_LABEL_SIZE + 2.0;
    for ((from, label), mut members) in groups {
        let tw = f64::from(text::width(label, EDGE_LABEL_SIZE as f32, false));
        let cx = l.nodes[from].cx;
        // Edges leaving nearest the middle first.
        members.sort_by(|&a, &b| {
            let da = l.edges[a]
                .as_ref()
                .and_then(|g| g.points.first())
                .map_or(0.0, |p| (p.x - cx).abs());
            let db = l.edges[b]
                .as_ref()
                .and_then(|g| g.points.first())
                .map_or(0.0, |p| (p.x - cx).abs());
            da.total_cmp(&db).then(a.cmp(&b))
        });
        let mut chosen: Option<Rect> = None;
        // The least crowded spot, should no spot be free.
        let mut fallback: Option<(usize, Rect)> = None;
        'search: for &i in &members {
            let Some(c) = &curves[i] else { continue };
            // Right of the edge, else left of it, as close to its start as
            // possible.
            for p in samples(c, 2.0, 6.0, 64) {
                let right = Rect(p.x + 5.0, p.y, p.x + 5.0 + tw, p.y + h);
                let left = Rect(p.x - 5.0 - tw, p.y, p.x - 5.0, p.y + h);
                for r in [right, left] {
                    if r.0 < 2.0 || r.2 > l.width - 2.0 {
                        continue;
                    }
                    let n = occ.hits(&r, i);
                    if n == 0 {
                        chosen = Some(r);
                        break 'search;
                    }
                    if fallback.is_none_or(|(m, _)| n < m) {
                        fallback = Some((n, r));
                    }
                }
            }
        }
        let Some(r) = chosen.or(fallback.map(|(_, r)| r)) else {
            continue;
        };
        occ.add(r, None);
        let _ = writeln!(
            s,
            "<text class=\"edge-label\" x=\"{}\" y=\"{}\">{}</text>",
            f(r.0),
            f(r.1 + EDGE_LABEL_SIZE - 1.0),
            escape(label)
        );
    }
    s.push_str("</g>\n");
}

fn write_header(s: &mut String, d: &Diagram, l: &Layout) {
    if let (Some(title), Some(y)) = (&d.title, l.header.title_y) {
        let _ = writeln!(
            s,
            "<text class=\"title\" x=\"{MARGIN}\" y=\"{}\" font-size=\"{HEADING_SIZE}\" \
             font-weight=\"bold\" fill=\"{TEXT_COLOUR}\">{}</text>",
            f(y),
            escape(title)
        );
    }
    if let (Some(caption), Some(y)) = (&d.caption, l.header.caption_y) {
        let _ = writeln!(
            s,
            "<text class=\"caption\" x=\"{MARGIN}\" y=\"{}\" font-size=\"{CAPTION_SIZE}\" \
             fill=\"#555555\">{}</text>",
            f(y),
            escape(caption)
        );
    }
    if l.header.legend.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "<g class=\"legend\" font-size=\"{LEGEND_SIZE}\" fill=\"{TEXT_COLOUR}\">"
    );
    for &(entry, x, y) in &l.header.legend {
        let (cx, cy) = (x + SWATCH_W / 2.0, y + SWATCH_H / 2.0);
        match entry {
            LegendEntry::Family(fam) => {
                let dash = if fam == OpFamily::Unknown {
                    " stroke-dasharray=\"3 2\""
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    "<rect x=\"{}\" y=\"{}\" width=\"{SWATCH_W}\" height=\"{SWATCH_H}\" rx=\"3\" \
                     fill=\"{}\" stroke=\"{}\"{dash}/>",
                    f(x),
                    f(y),
                    family_fill(fam),
                    family_stroke(fam)
                );
            }
            LegendEntry::Input | LegendEntry::Label => {
                let style = if entry == LegendEntry::Input {
                    "fill=\"#FFFFFF\" stroke=\"#1a1a1a\" stroke-width=\"1.6\""
                } else {
                    "fill=\"#F4F4F4\" stroke=\"#9a9a9a\" stroke-dasharray=\"3 2\""
                };
                let _ = writeln!(
                    s,
                    "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" {style}/>",
                    f(cx),
                    f(cy),
                    f(SWATCH_W / 2.0),
                    f(SWATCH_H / 2.0)
                );
            }
            LegendEntry::Parameter => {
                let _ = writeln!(
                    s,
                    "<rect x=\"{}\" y=\"{}\" width=\"{SWATCH_W}\" height=\"{SWATCH_H}\" rx=\"2\" \
                     fill=\"#FFFFFF\" stroke=\"#8a8a8a\"/>",
                    f(x),
                    f(y)
                );
            }
            LegendEntry::Output => {
                let _ = writeln!(
                    s,
                    "<rect x=\"{}\" y=\"{}\" width=\"{SWATCH_W}\" height=\"{SWATCH_H}\" rx=\"{}\" \
                     fill=\"#2b2b2b\"/>",
                    f(x),
                    f(y),
                    f(SWATCH_H / 2.0)
                );
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\">{}</text>",
            f(x + SWATCH_W + 6.0),
            f(y + SWATCH_H - 3.0),
            escape(entry.text())
        );
    }
    s.push_str("</g>\n");
}

fn write_node(s: &mut String, i: usize, node: &DiagramNode, g: &NodeGeom) {
    let (x, y) = (g.cx - g.w / 2.0, g.cy - g.h / 2.0);
    let (class, title_fill, line_fill) = match node.kind {
        NodeKind::Op(fam) => (
            format!("node op {}", family_class(fam)),
            TEXT_COLOUR,
            SUBTEXT_COLOUR,
        ),
        NodeKind::Input => ("node input".to_owned(), TEXT_COLOUR, SUBTEXT_COLOUR),
        NodeKind::Output => ("node output".to_owned(), "#FFFFFF", "#E6E6E6"),
        NodeKind::Parameter => ("node parameter".to_owned(), "#333333", "#555555"),
        NodeKind::Label => ("node label".to_owned(), "#7a7a7a", "#8a8a8a"),
    };
    let _ = writeln!(s, "<g class=\"{class}\" id=\"n{i}\">");
    if let Some(tip) = &node.tooltip {
        let _ = writeln!(s, "<title>{}</title>", escape(tip));
    }
    match node.kind {
        NodeKind::Op(fam) => {
            let dash = if fam == OpFamily::Unknown {
                " stroke-dasharray=\"5 3\" stroke-width=\"1.6\""
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"{}\" \
                 stroke=\"{}\"{dash}/>",
                f(x),
                f(y),
                f(g.w),
                f(g.h),
                family_fill(fam),
                family_stroke(fam)
            );
        }
        NodeKind::Input | NodeKind::Label => {
            let style = if node.kind == NodeKind::Input {
                "fill=\"#FFFFFF\" stroke=\"#1a1a1a\" stroke-width=\"1.8\""
            } else {
                "fill=\"#F4F4F4\" stroke=\"#9a9a9a\" stroke-dasharray=\"4 3\""
            };
            let _ = writeln!(
                s,
                "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" {style}/>",
                f(g.cx),
                f(g.cy),
                f(g.w / 2.0),
                f(g.h / 2.0)
            );
        }
        NodeKind::Output => {
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" fill=\"#2b2b2b\"/>",
                f(x),
                f(y),
                f(g.w),
                f(g.h),
                f(g.h / 2.0)
            );
        }
        NodeKind::Parameter => {
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"#FFFFFF\" \
                 stroke=\"#8a8a8a\"/>",
                f(x),
                f(y),
                f(g.w),
                f(g.h)
            );
        }
    }
    // Text block centred in the shape; baselines sit ~0.78 em below the top
    // of each line box.
    let (size, bold, lead, _) = title_style(node.kind);
    let weight = if bold { " font-weight=\"bold\"" } else { "" };
    let mut ty = g.cy - g.text_h / 2.0;
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{size}\"{weight} \
         fill=\"{title_fill}\">{}</text>",
        f(g.cx),
        f(ty + lead - 0.32 * size),
        escape(&node.title)
    );
    ty += lead;
    for line in &node.lines {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{LINE_SIZE}\" \
             fill=\"{line_fill}\">{}</text>",
            f(g.cx),
            f(ty + LINE_LEAD - 3.5),
            escape(line)
        );
        ty += LINE_LEAD;
    }
    s.push_str("</g>\n");
}

// ---------------------------------------------------------------------------
// PNG.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_short_and_stable() {
        assert_eq!(f(1.0), "1");
        assert_eq!(f(1.04), "1");
        assert_eq!(f(1.06), "1.1");
        assert_eq!(f(-0.01), "0");
        assert_eq!(f(-2.25), "-2.3");
    }

    #[test]
    fn strokes_darken_fills() {
        assert_eq!(family_stroke(OpFamily::Other), "#7A7A7A");
        assert_eq!(family_stroke(OpFamily::Unknown), "#CC3311");
    }

    #[test]
    fn ports_keep_apart_in_order() {
        let mut xs = vec![0.0, 0.0, 0.0];
        spread(&mut xs, -50.0, 50.0, 10.0);
        assert_eq!(xs, [0.0, 10.0, 20.0]);
        let mut xs = vec![45.0, 50.0];
        spread(&mut xs, -50.0, 50.0, 10.0);
        assert_eq!(xs, [40.0, 50.0]);
        let mut xs = vec![0.0, 0.0, 0.0];
        spread(&mut xs, -5.0, 5.0, 10.0);
        assert_eq!(xs, [-5.0, 0.0, 5.0]);
    }

    #[test]
    fn straight_runs_collapse() {
        let p = |x, y| Pt { x, y };
        let pts = simplify(vec![p(0.0, 0.0), p(0.0, 5.0), p(0.0, 9.0), p(3.0, 20.0)]);
        assert_eq!(pts.len(), 3);
        let pts = simplify(vec![p(0.0, 0.0), p(0.0, 5.0), p(0.0, 9.0)]);
        assert_eq!(pts.len(), 2);
        assert_eq!(basis_path(&pts), "M0 0L0 9");
    }

    #[test]
    fn basis_path_ends_at_the_end_points() {
        let pts = [
            Pt { x: 0.0, y: 0.0 },
            Pt { x: 0.0, y: 10.0 },
            Pt { x: 30.0, y: 40.0 },
            Pt { x: 30.0, y: 60.0 },
        ];
        let d = basis_path(&pts);
        assert!(d.starts_with("M0 0"));
        assert!(d.ends_with("L30 60"));
    }
}
