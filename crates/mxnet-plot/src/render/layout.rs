//! Layout: node sizes, satellites, dagre on its own thread, edge ports and
//! routes, and the header above the graph.

use std::collections::{BTreeMap, BTreeSet};

use dagre::graph::{Graph, GraphOptions};
use dagre::{EdgeLabel, GraphLabel, LayoutOptions, NodeLabel};

use super::*;
use crate::PlotError;
use crate::diagram::{Diagram, DiagramNode, EdgeKind};
use crate::text;

/// Size, weight, line height and vertical padding of a node's title.
pub(super) fn title_style(kind: NodeKind) -> (f64, bool, f64, f64) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
