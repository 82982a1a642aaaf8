//! The SVG writer: edges as smooth curves, nodes, the header and legend, and
//! edge labels placed where they collide with nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::layout::title_style;
use super::*;
use crate::diagram::{Diagram, DiagramNode, EdgeKind};
use crate::text::{self, FAMILY, escape};

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
    fn basis_path_ends_at_the_end_points() {
        let p = |x, y| Pt { x, y };
        assert_eq!(basis_path(&[p(0.0, 0.0), p(0.0, 9.0)]), "M0 0L0 9");
        let d = basis_path(&[p(0.0, 0.0), p(0.0, 10.0), p(30.0, 40.0), p(30.0, 60.0)]);
        assert!(d.starts_with("M0 0"));
        assert!(d.ends_with("L30 60"));
        let c = curve(&[p(0.0, 0.0), p(0.0, 10.0), p(30.0, 40.0), p(30.0, 60.0)]);
        assert!(c.len() > 8);
        assert!(
            c.iter()
                .all(|q| (0.0..=30.0).contains(&q.x) && (0.0..=60.0).contains(&q.y))
        );
    }
}
