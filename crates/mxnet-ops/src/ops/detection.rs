//! Object-detection ops: region pooling, box non-maximum suppression and the
//! SSD anchor/decoding pair.
//!
//! * `ROIPooling` — data (N, C, H, W), rois (R, 5) = [batch, x1, y1, x2, y2];
//!   pooled_size (required, (h, w)), spatial_scale (required, in [0, 1]).
//!   Output (R, C, h, w). ROI corners are rounded (half away from zero)
//!   after scaling; a malformed ROI counts as 1×1; bin i spans
//!   [⌊i·size/h⌋, ⌈(i+1)·size/h⌉) offset by the ROI start and clipped to the
//!   image; an empty bin or an invalid batch index gives 0. Max pooling. The
//!   hidden argmax output is not computed.
//! * `_contrib_ROIAlign` — data, rois (R, 5); pooled_size, spatial_scale
//!   (required), sample_ratio = −1 (adaptive: ⌈roi size / pooled size⌉
//!   samples per bin and axis), position_sensitive = False (output channel c
//!   of bin (i, j) reads input channel (c·h + i)·w + j; C must divide by h·w),
//!   aligned = False (True shifts coordinates by −0.5 pixel and requires
//!   positive ROI sizes; False forces malformed ROIs to 1×1). Average of
//!   bilinear samples; samples beyond one pixel outside the map count as 0.
//!   A negative batch index gives zeros.
//! * `_contrib_box_nms` (alias `_contrib_box_non_maximum_suppression`) —
//!   data (…, num_boxes, width ≥ 5); overlap_thresh = 0.5, valid_thresh = 0,
//!   topk = −1, coord_start = 2, score_index = 1, id_index = −1,
//!   background_id = −1, force_suppress = False, in_format / out_format =
//!   `corner` (`center` = x, y, w, h). Per batch: boxes with score >
//!   valid_thresh (and id ≠ background_id when id_index ≥ 0) are sorted by
//!   descending score (stable), the first topk are suppressed greedily when
//!   IoU > overlap_thresh (only within a class unless force_suppress or
//!   id_index < 0), and the survivors are written first, whole rows, the
//!   other rows all −1. topk = 0 copies the input. Format conversion skips
//!   rows whose first coordinate is negative, as MXNet does. The hidden
//!   record output is not computed.
//! * `_contrib_MultiBoxPrior` — data (N, C, H, W); sizes = (1), ratios = (1),
//!   clip = False, steps = (−1, −1) (auto: 1/H, 1/W), offsets = (0.5, 0.5).
//!   Output (1, H·W·(#sizes + #ratios − 1), 4) corner boxes: per cell, every
//!   size with the first ratio, then every other ratio with the first size;
//!   width = size·H/W·√ratio/2 each side, height = size/√ratio/2.
//! * `_contrib_MultiBoxDetection` — cls_prob (B, classes, A), loc_pred
//!   (B, 4A), anchor (·, A, 4); clip = True, threshold = 0.01,
//!   background_id = 0 (class 0 is always the background, as in MXNet),
//!   nms_threshold = 0.5, force_suppress = False, variances =
//!   (0.1, 0.1, 0.2, 0.2), nms_topk = −1. Output (B, A, 6) rows
//!   [class, score, x1, y1, x2, y2]: detections (best non-background class
//!   with score ≥ threshold) compacted in anchor order, sorted by score
//!   (stable), then greedy NMS with IoU ≥ nms_threshold within a class (or
//!   across classes with force_suppress). A suppressed row keeps its score
//!   and box and only its class becomes −1; rows without a detection are all
//!   −1. With nms_topk < #detections only the first nms_topk rows are sorted
//!   and suppressed; the rows after them keep their unsorted content with
//!   class −1. No sorting or NMS happens when nms_threshold ∉ (0, 1].
//! * `_contrib_box_decode` — data (B, N, 4) offsets, anchors (…, N, 4) with
//!   at least N boxes (the first N are read; one set for every batch row);
//!   std0 … std3 = 1, clip = −1 (> 0 caps the scaled width and height
//!   offsets before `exp`), format = `center` (of the anchors: x, y, w, h;
//!   `corner` = x1, y1, x2, y2). Output (B, N, 4) corner boxes:
//!   x = d0·std0·w + x, y = d1·std1·h + y, half sizes exp(d2·std2)·w / 2 and
//!   exp(d3·std3)·h / 2, as GluonCV's SSD and Faster R-CNN decode them.

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use super::util::par_rows;

pub(crate) static OPS: &[OpEntry] = &[
    OpEntry {
        name: "ROIPooling",
        build: build_roi_pool,
        family: "detection",
        summary: "max pooling of regions of interest",
    },
    OpEntry {
        name: "_contrib_ROIAlign",
        build: build_roi_align,
        family: "detection",
        summary: "bilinear region pooling (sample_ratio, position_sensitive, aligned)",
    },
    OpEntry {
        name: "_contrib_box_nms",
        build: build_box_nms,
        family: "detection",
        summary: "box non-maximum suppression (topk, classes, corner/center)",
    },
    OpEntry {
        name: "_contrib_MultiBoxPrior",
        build: build_prior,
        family: "detection",
        summary: "SSD anchor boxes from sizes, ratios, steps, offsets",
    },
    OpEntry {
        name: "_contrib_MultiBoxDetection",
        build: build_detection,
        family: "detection",
        summary: "SSD box decoding with per-class NMS",
    },
    OpEntry {
        name: "_contrib_box_decode",
        build: build_box_decode,
        family: "detection",
        summary: "box offsets against anchors to corner boxes (std0..3, clip, format)",
    },
];

fn bad(a: &Attrs<'_>, key: &str, expected: &'static str) -> AttrError {
    AttrError {
        key: key.into(),
        value: a.get(key).unwrap_or("").into(),
        expected,
    }
}

/// `pooled_size` (two positive sizes) and `spatial_scale` (in [0, 1]).
fn roi_params(a: &Attrs<'_>) -> Result<(usize, usize, f32), AttrError> {
    let p = a.req_tuple("pooled_size")?;
    let [ph, pw] = p[..] else {
        return Err(bad(a, "pooled_size", "two positive sizes (h, w)"));
    };
    if ph < 1 || pw < 1 {
        return Err(bad(a, "pooled_size", "two positive sizes (h, w)"));
    }
    let scale = a.req_float("spatial_scale")?;
    if !(0.0..=1.0).contains(&scale) {
        return Err(bad(a, "spatial_scale", "in [0, 1]"));
    }
    Ok((ph as usize, pw as usize, scale as f32))
}

fn roi_shapes(inputs: &[&[usize]]) -> Result<(), String> {
    expect_inputs(inputs, 2)?;
    if inputs[0].len() != 4 {
        return Err(format!(
            "data must be 4-d (N, C, H, W), got {}",
            shape_str(inputs[0])
        ));
    }
    if inputs[1].len() != 2 || inputs[1][1] != 5 {
        return Err(format!(
            "rois must have shape (R, 5), got {}",
            shape_str(inputs[1])
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- ROIPooling

#[derive(Debug)]
struct RoiPool {
    ph: usize,
    pw: usize,
    scale: f32,
}

fn build_roi_pool(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let (ph, pw, scale) = roi_params(a)?;
    Ok(Box::new(RoiPool { ph, pw, scale }))
}

impl Kernel for RoiPool {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        roi_shapes(inputs)?;
        Ok(vec![vec![inputs[1][0], inputs[0][1], self.ph, self.pw]])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (x, rois) = (inputs[0], inputs[1].data);
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let (ph, pw, scale) = (self.ph, self.pw, self.scale);
        let plane = h * w;
        par_rows(outputs[0].data, (c * ph * pw).max(1), |r, out| {
            let roi = &rois[r * 5..r * 5 + 5];
            let sw = (roi[1] * scale).round() as i64;
            let sh = (roi[2] * scale).round() as i64;
            let ew = (roi[3] * scale).round() as i64;
            let eh = (roi[4] * scale).round() as i64;
            let b = roi[0] as i64;
            if b < 0 || b >= n as i64 {
                out.fill(0.0);
                return;
            }
            let rh = (eh - sh + 1).max(1);
            let rw = (ew - sw + 1).max(1);
            let bh = rh as f32 / ph as f32;
            let bw = rw as f32 / pw as f32;
            let clip = |v: i64, hi: usize| v.clamp(0, hi as i64) as usize;
            let bins_h: Vec<(usize, usize)> = (0..ph)
                .map(|i| {
                    let s = (i as f32 * bh).floor() as i64;
                    let e = ((i + 1) as f32 * bh).ceil() as i64;
                    (clip(s + sh, h), clip(e + sh, h))
                })
                .collect();
            let bins_w: Vec<(usize, usize)> = (0..pw)
                .map(|j| {
                    let s = (j as f32 * bw).floor() as i64;
                    let e = ((j + 1) as f32 * bw).ceil() as i64;
                    (clip(s + sw, w), clip(e + sw, w))
                })
                .collect();
            let base = b as usize * c * plane;
            for (ci, oplane) in out.chunks_mut(ph * pw).enumerate() {
                let src = &x.data[base + ci * plane..base + (ci + 1) * plane];
                for (i, &(h0, h1)) in bins_h.iter().enumerate() {
                    for (j, &(w0, w1)) in bins_w.iter().enumerate() {
                        let o = &mut oplane[i * pw + j];
                        if h1 <= h0 || w1 <= w0 {
                            *o = 0.0;
                            continue;
                        }
                        let mut m = f32::MIN;
                        for y in h0..h1 {
                            for &v in &src[y * w + w0..y * w + w1] {
                                if v > m {
                                    m = v;
                                }
                            }
                        }
                        *o = m;
                    }
                }
            }
        });
        Ok(())
    }
}

// ------------------------------------------------------------------ ROIAlign

#[derive(Debug)]
struct RoiAlign {
    ph: usize,
    pw: usize,
    scale: f32,
    sample_ratio: i64,
    position_sensitive: bool,
    aligned: bool,
}

fn build_roi_align(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let (ph, pw, scale) = roi_params(a)?;
    Ok(Box::new(RoiAlign {
        ph,
        pw,
        scale,
        sample_ratio: a.int("sample_ratio", -1)?,
        position_sensitive: a.bool("position_sensitive", false)?,
        aligned: a.bool("aligned", false)?,
    }))
}

/// One bilinear sample: four plane offsets and their weights.
#[derive(Clone, Copy, Default)]
struct Tap {
    pos: [usize; 4],
    w: [f32; 4],
}

fn bilinear_tap(h: usize, w: usize, mut y: f32, mut x: f32) -> Tap {
    if y < -1.0 || y > h as f32 || x < -1.0 || x > w as f32 {
        return Tap::default();
    }
    if y <= 0.0 {
        y = 0.0;
    }
    if x <= 0.0 {
        x = 0.0;
    }
    let (mut yl, mut xl) = (y as usize, x as usize);
    let (yh, xh);
    if yl + 1 >= h {
        yl = h - 1;
        yh = yl;
        y = yl as f32;
    } else {
        yh = yl + 1;
    }
    if xl + 1 >= w {
        xl = w - 1;
        xh = xl;
        x = xl as f32;
    } else {
        xh = xl + 1;
    }
    let (ly, lx) = (y - yl as f32, x - xl as f32);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    Tap {
        pos: [yl * w + xl, yl * w + xh, yh * w + xl, yh * w + xh],
        w: [hy * hx, hy * lx, ly * hx, ly * lx],
    }
}

impl Kernel for RoiAlign {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        roi_shapes(inputs)?;
        let c = inputs[0][1];
        let bins = self.ph * self.pw;
        let oc = if self.position_sensitive {
            if !c.is_multiple_of(bins) {
                return Err(format!(
                    "{c} channels do not divide by the {bins} bins of a position-sensitive pooling"
                ));
            }
            c / bins
        } else {
            c
        };
        Ok(vec![vec![inputs[1][0], oc, self.ph, self.pw]])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (x, rois) = (inputs[0], inputs[1].data);
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let (ph, pw) = (self.ph, self.pw);
        let oc = outputs[0].shape[1];
        let plane = h * w;
        let offset = if self.aligned { 0.5 } else { 0.0 };
        // Data-dependent errors, as MXNet's CHECKs.
        if self.aligned {
            for roi in rois.chunks(5) {
                let rw = (roi[3] * self.scale - offset) - (roi[1] * self.scale - offset);
                let rh = (roi[4] * self.scale - offset) - (roi[2] * self.scale - offset);
                if rw <= 0.0 || rh <= 0.0 {
                    return Err("aligned ROIAlign needs ROIs of positive width and height".into());
                }
            }
        }
        if plane == 0 {
            outputs[0].data.fill(0.0);
            return Ok(());
        }
        par_rows(outputs[0].data, (oc * ph * pw).max(1), |r, out| {
            let roi = &rois[r * 5..r * 5 + 5];
            let b = roi[0] as i64;
            if b < 0 || b >= n as i64 {
                out.fill(0.0);
                return;
            }
            let sw = roi[1] * self.scale - offset;
            let sh = roi[2] * self.scale - offset;
            let ew = roi[3] * self.scale - offset;
            let eh = roi[4] * self.scale - offset;
            let (mut rw, mut rh) = (ew - sw, eh - sh);
            if !self.aligned {
                rw = rw.max(1.0);
                rh = rh.max(1.0);
            }
            let bh = rh / ph as f32;
            let bw = rw / pw as f32;
            let gh = if self.sample_ratio > 0 {
                self.sample_ratio as usize
            } else {
                (rh / ph as f32).ceil().max(0.0) as usize
            };
            let gw = if self.sample_ratio > 0 {
                self.sample_ratio as usize
            } else {
                (rw / pw as f32).ceil().max(0.0) as usize
            };
            let count = (gh * gw) as f32;
            let base = b as usize * c * plane;
            let bins = ph * pw;
            out.fill(0.0);
            // Each sample's taps are computed once and applied to every
            // channel of its bin.
            for i in 0..ph {
                for j in 0..pw {
                    let bin = i * pw + j;
                    for iy in 0..gh {
                        let yy = sh + i as f32 * bh + (iy as f32 + 0.5) * bh / gh as f32;
                        for ix in 0..gw {
                            let xx = sw + j as f32 * bw + (ix as f32 + 0.5) * bw / gw as f32;
                            let t = bilinear_tap(h, w, yy, xx);
                            for ci in 0..oc {
                                let src_c = if self.position_sensitive {
                                    ci * bins + bin
                                } else {
                                    ci
                                };
                                let src = &x.data[base + src_c * plane..base + (src_c + 1) * plane];
                                out[ci * bins + bin] += t.w[0] * src[t.pos[0]]
                                    + t.w[1] * src[t.pos[1]]
                                    + t.w[2] * src[t.pos[2]]
                                    + t.w[3] * src[t.pos[3]];
                            }
                        }
                    }
                }
            }
            for o in out.iter_mut() {
                *o /= count;
            }
        });
        Ok(())
    }
}

// ------------------------------------------------------------------- box_nms

#[derive(Debug)]
struct BoxNms {
    overlap: f32,
    valid: f32,
    topk: i64,
    coord: usize,
    score: usize,
    id: Option<usize>,
    background: f32,
    force: bool,
    in_center: bool,
    out_center: bool,
}

fn build_box_nms(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let index = |key: &str, default: i64| -> Result<usize, AttrError> {
        usize::try_from(a.int(key, default)?).map_err(|_| bad(a, key, "a non-negative index"))
    };
    let id = a.int("id_index", -1)?;
    let fmt = |key: &str| -> Result<bool, AttrError> {
        Ok(a.choice(key, &["corner", "center"], "corner")? == "center")
    };
    Ok(Box::new(BoxNms {
        overlap: a.float("overlap_thresh", 0.5)? as f32,
        valid: a.float("valid_thresh", 0.0)? as f32,
        topk: a.int("topk", -1)?,
        coord: index("coord_start", 2)?,
        score: index("score_index", 1)?,
        id: usize::try_from(id).ok(),
        background: a.float("background_id", -1.0)? as f32,
        force: a.bool("force_suppress", false)?,
        in_center: fmt("in_format")?,
        out_center: fmt("out_format")?,
    }))
}

/// Overlap length of two boxes along one axis (x1, x2 at offsets 0 and 2).
fn intersect(a: &[f32], b: &[f32], center: bool) -> f32 {
    let w = if center {
        let (aw, bw) = (a[2] / 2.0, b[2] / 2.0);
        let (al, ar, bl, br) = (a[0] - aw, a[0] + aw, b[0] - bw, b[0] + bw);
        let left = if bl > al { bl } else { al };
        let right = if br < ar { br } else { ar };
        right - left
    } else {
        let left = if a[0] > b[0] { a[0] } else { b[0] };
        let right = if a[2] < b[2] { a[2] } else { b[2] };
        right - left
    };
    if w > 0.0 { w } else { 0.0 }
}

fn box_area(b: &[f32], center: bool) -> f32 {
    let (w, h) = if center {
        (b[2], b[3])
    } else {
        (b[2] - b[0], b[3] - b[1])
    };
    if w < 0.0 || h < 0.0 { 0.0 } else { w * h }
}

impl Kernel for BoxNms {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        if x.len() < 2 {
            return Err("data must be at least 2-d (…, boxes, box width)".into());
        }
        let width = x[x.len() - 1];
        let need = if self.id.is_some() { 6 } else { 5 };
        if width < need {
            return Err(format!(
                "boxes must have at least {need} values (score, 4 coordinates{}), got {width}",
                if self.id.is_some() { ", class" } else { "" }
            ));
        }
        let coord_end = self.coord + 3;
        if coord_end >= width {
            return Err(format!(
                "coordinates {}..={coord_end} are out of range for box width {width}",
                self.coord
            ));
        }
        let clash = |i: usize| (self.coord..=coord_end).contains(&i);
        if self.score >= width || clash(self.score) {
            return Err(format!(
                "score_index {} must be below {width} and outside the coordinates",
                self.score
            ));
        }
        if let Some(id) = self.id
            && (id >= width || clash(id) || id == self.score)
        {
            return Err(format!(
                "id_index {id} must be below {width} and differ from the score and coordinates"
            ));
        }
        Ok(vec![x.to_vec()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let x = inputs[0];
        let nd = x.shape.len();
        let (num, width) = (x.shape[nd - 2], x.shape[nd - 1]);
        let out = &mut *outputs[0].data;
        let topk = if self.topk < 0 {
            num
        } else {
            num.min(self.topk as usize)
        };
        if topk < 1 {
            out.copy_from_slice(x.data);
            return Ok(());
        }
        out.fill(-1.0);
        if num == 0 || width == 0 {
            return Ok(());
        }
        let (coord, score) = (self.coord, self.score);
        let mut order: Vec<usize> = Vec::with_capacity(num);
        let mut areas: Vec<f32> = Vec::with_capacity(topk);
        for (batch, oblock) in x.data.chunks(num * width).zip(out.chunks_mut(num * width)) {
            let row = |i: usize| &batch[i * width..(i + 1) * width];
            order.clear();
            order.extend((0..num).filter(|&i| {
                let r = row(i);
                r[score] > self.valid && self.id.is_none_or(|id| r[id] != self.background)
            }));
            order.sort_by(|&a, &b| {
                row(b)[score]
                    .partial_cmp(&row(a)[score])
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            order.truncate(topk);
            areas.clear();
            areas.extend(
                order
                    .iter()
                    .map(|&i| box_area(&row(i)[coord..coord + 4], self.in_center)),
            );
            let mut keep = vec![true; order.len()];
            for r in 0..order.len() {
                if !keep[r] {
                    continue;
                }
                let rb = row(order[r]);
                for p in r + 1..order.len() {
                    if !keep[p] {
                        continue;
                    }
                    let pb = row(order[p]);
                    if !self.force
                        && let Some(id) = self.id
                        && rb[id] as i32 != pb[id] as i32
                    {
                        continue;
                    }
                    let (a, b) = (&rb[coord..coord + 4], &pb[coord..coord + 4]);
                    let inter = intersect(a, b, self.in_center)
                        * intersect(&a[1..], &b[1..], self.in_center);
                    let iou = inter / (areas[r] + areas[p] - inter);
                    if iou > self.overlap {
                        keep[p] = false;
                    }
                }
            }
            let kept = order.iter().zip(&keep).filter(|(_, k)| **k);
            for (orow, (&i, _)) in oblock.chunks_mut(width).zip(kept) {
                orow.copy_from_slice(row(i));
            }
            if self.in_center != self.out_center {
                for orow in oblock.chunks_mut(width) {
                    convert_box(&mut orow[coord..coord + 4], self.out_center);
                }
            }
        }
        Ok(())
    }
}

/// Converts a box in place between corner and center encodings; boxes whose
/// first value is negative are left alone (MXNet's marker for empty rows).
fn convert_box(b: &mut [f32], to_center: bool) {
    if b[0] < 0.0 {
        return;
    }
    if to_center {
        let (l, t, r, bo) = (b[0], b[1], b[2], b[3]);
        b[0] = (l + r) / 2.0;
        b[1] = (t + bo) / 2.0;
        b[2] = r - l;
        b[3] = bo - t;
    } else {
        let (cx, cy, hw, hh) = (b[0], b[1], b[2] / 2.0, b[3] / 2.0);
        b[0] = cx - hw;
        b[1] = cy - hh;
        b[2] = cx + hw;
        b[3] = cy + hh;
    }
}

// ------------------------------------------------------------ MultiBoxPrior

#[derive(Debug)]
struct MultiBoxPrior {
    sizes: Vec<f32>,
    ratios: Vec<f32>,
    clip: bool,
    steps: (f32, f32),
    offsets: (f32, f32),
}

fn build_prior(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let floats = |key: &str, default: &[f64]| -> Result<Vec<f32>, AttrError> {
        Ok(a.float_tuple(key, default)?
            .into_iter()
            .map(|v| v as f32)
            .collect())
    };
    let sizes = floats("sizes", &[1.0])?;
    let ratios = floats("ratios", &[1.0])?;
    let steps = floats("steps", &[-1.0, -1.0])?;
    let offsets = floats("offsets", &[0.5, 0.5])?;
    if sizes.is_empty() {
        return Err(bad(a, "sizes", "at least one size"));
    }
    if ratios.is_empty() {
        return Err(bad(a, "ratios", "at least one ratio"));
    }
    let [sy, sx] = steps[..] else {
        return Err(bad(a, "steps", "two steps (y, x)"));
    };
    if sy * sx < 0.0 {
        return Err(bad(a, "steps", "two steps of the same sign (y, x)"));
    }
    let [oy, ox] = offsets[..] else {
        return Err(bad(a, "offsets", "two offsets (y, x) in [0, 1]"));
    };
    if !(0.0..=1.0).contains(&oy) || !(0.0..=1.0).contains(&ox) {
        return Err(bad(a, "offsets", "two offsets (y, x) in [0, 1]"));
    }
    Ok(Box::new(MultiBoxPrior {
        sizes,
        ratios,
        clip: a.bool("clip", false)?,
        steps: (sy, sx),
        offsets: (oy, ox),
    }))
}

impl Kernel for MultiBoxPrior {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 1)?;
        let x = inputs[0];
        if x.len() < 4 || x[2] == 0 || x[3] == 0 {
            return Err(format!(
                "data must be 4-d (N, C, H, W) with H, W > 0, got {}",
                shape_str(x)
            ));
        }
        let per_cell = self.sizes.len() + self.ratios.len() - 1;
        Ok(vec![vec![1, x[2] * x[3] * per_cell, 4]])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (h, w) = (inputs[0].shape[2], inputs[0].shape[3]);
        let (mut sy, mut sx) = self.steps;
        if sy <= 0.0 || sx <= 0.0 {
            sy = 1.0 / h as f32;
            sx = 1.0 / w as f32;
        }
        let (hf, wf) = (h as f32, w as f32);
        let out = &mut *outputs[0].data;
        let mut k = 0;
        let mut push = |cx: f32, cy: f32, size: f32, ratio: f32| {
            let bw = size * hf / wf * ratio / 2.0;
            let bh = size / ratio / 2.0;
            out[k..k + 4].copy_from_slice(&[cx - bw, cy - bh, cx + bw, cy + bh]);
            k += 4;
        };
        for r in 0..h {
            let cy = (r as f32 + self.offsets.0) * sy;
            for c in 0..w {
                let cx = (c as f32 + self.offsets.1) * sx;
                let ratio = self.ratios[0].sqrt();
                for &size in &self.sizes {
                    push(cx, cy, size, ratio);
                }
                for &ratio in &self.ratios[1..] {
                    push(cx, cy, self.sizes[0], ratio.sqrt());
                }
            }
        }
        if self.clip {
            for v in out.iter_mut() {
                *v = v.clamp(0.0, 1.0);
            }
        }
        Ok(())
    }
}

// -------------------------------------------------------- MultiBoxDetection

#[derive(Debug)]
struct MultiBoxDetection {
    clip: bool,
    threshold: f32,
    nms_threshold: f32,
    force: bool,
    variances: [f32; 4],
    nms_topk: i64,
}

fn build_detection(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let v = a.float_tuple("variances", &[0.1, 0.1, 0.2, 0.2])?;
    let [v0, v1, v2, v3] = v[..] else {
        return Err(bad(a, "variances", "four numbers"));
    };
    a.int("background_id", 0)?;
    Ok(Box::new(MultiBoxDetection {
        clip: a.bool("clip", true)?,
        threshold: a.float("threshold", 0.01)? as f32,
        nms_threshold: a.float("nms_threshold", 0.5)? as f32,
        force: a.bool("force_suppress", false)?,
        variances: [v0 as f32, v1 as f32, v2 as f32, v3 as f32],
        nms_topk: a.int("nms_topk", -1)?,
    }))
}

/// IoU of two corner boxes, 0 when the union is not positive.
fn overlap(a: &[f32], b: &[f32]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let i = w * h;
    let u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i;
    if u <= 0.0 { 0.0 } else { i / u }
}

impl MultiBoxDetection {
    /// Decodes one anchor's regression into a corner box.
    fn decode(&self, anchor: &[f32], loc: &[f32]) -> [f32; 4] {
        let [vx, vy, vw, vh] = self.variances;
        let (al, at, ar, ab) = (anchor[0], anchor[1], anchor[2], anchor[3]);
        let (aw, ah) = (ar - al, ab - at);
        let (ax, ay) = ((al + ar) / 2.0, (at + ab) / 2.0);
        let ox = loc[0] * vx * aw + ax;
        let oy = loc[1] * vy * ah + ay;
        let ow = (loc[2] * vw).exp() * aw / 2.0;
        let oh = (loc[3] * vh).exp() * ah / 2.0;
        let b = [ox - ow, oy - oh, ox + ow, oy + oh];
        if self.clip {
            b.map(|v| v.clamp(0.0, 1.0))
        } else {
            b
        }
    }
}

impl Kernel for MultiBoxDetection {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 3)?;
        let (c, l, a) = (inputs[0], inputs[1], inputs[2]);
        if c.len() != 3 {
            return Err("cls_prob must be 3-d (batch, classes, anchors)".into());
        }
        let (b, n) = (c[0], c[2]);
        if a.len() != 3 || a[0] < 1 || a[1] != n || a[2] != 4 || n == 0 {
            return Err(format!("anchor must have shape (1, {n}, 4) with {n} > 0"));
        }
        if l != [b, n * 4] {
            return Err(format!("loc_pred must have shape ({b}, {})", n * 4));
        }
        Ok(vec![vec![b, n, 6]])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let (cls, loc, anchors) = (inputs[0], inputs[1].data, inputs[2].data);
        let (classes, n) = (cls.shape[1], cls.shape[2]);
        let out = &mut *outputs[0].data;
        out.fill(-1.0);
        let mut rows: Vec<[f32; 6]> = Vec::with_capacity(n);
        for (b, oblock) in out.chunks_mut(n * 6).enumerate() {
            let probs = &cls.data[b * classes * n..(b + 1) * classes * n];
            rows.clear();
            for i in 0..n {
                let mut score = -1f32;
                let mut id = 0usize;
                for j in 1..classes {
                    let p = probs[j * n + i];
                    if p > score {
                        score = p;
                        id = j;
                    }
                }
                if id > 0 && score < self.threshold {
                    id = 0;
                }
                if id == 0 {
                    continue;
                }
                let bx = self.decode(
                    &anchors[i * 4..i * 4 + 4],
                    &loc[(b * n + i) * 4..(b * n + i) * 4 + 4],
                );
                rows.push([(id - 1) as f32, score, bx[0], bx[1], bx[2], bx[3]]);
            }
            // Compacted detections in anchor order.
            for (o, r) in oblock.chunks_mut(6).zip(&rows) {
                o.copy_from_slice(r);
            }
            if rows.is_empty() || self.nms_threshold <= 0.0 || self.nms_threshold > 1.0 {
                continue;
            }
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.sort_by(|&a, &b| {
                rows[b][1]
                    .partial_cmp(&rows[a][1])
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            let mut nkeep = rows.len();
            if self.nms_topk > 0 && (self.nms_topk as usize) < nkeep {
                nkeep = self.nms_topk as usize;
                for o in oblock.chunks_mut(6).take(rows.len()).skip(nkeep) {
                    o[0] = -1.0;
                }
            }
            for (o, &i) in oblock.chunks_mut(6).zip(&order[..nkeep]) {
                o.copy_from_slice(&rows[i]);
            }
            for i in 0..nkeep {
                if oblock[i * 6] < 0.0 {
                    continue;
                }
                for j in i + 1..nkeep {
                    if oblock[j * 6] < 0.0 {
                        continue;
                    }
                    if self.force || oblock[i * 6] == oblock[j * 6] {
                        let iou =
                            overlap(&oblock[i * 6 + 2..i * 6 + 6], &oblock[j * 6 + 2..j * 6 + 6]);
                        if iou >= self.nms_threshold {
                            oblock[j * 6] = -1.0;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// `_contrib_box_decode`: see the module docs.
#[derive(Debug)]
struct BoxDecode {
    std: [f32; 4],
    /// Cap of the scaled size offsets, when positive.
    clip: Option<f32>,
    /// Anchors are corner boxes (else centre, size).
    corner_anchors: bool,
}

fn build_box_decode(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let std = |k: &str| -> Result<f32, AttrError> { Ok(a.float(k, 1.0)? as f32) };
    let clip = a.float("clip", -1.0)? as f32;
    Ok(Box::new(BoxDecode {
        std: [std("std0")?, std("std1")?, std("std2")?, std("std3")?],
        clip: (clip > 0.0).then_some(clip),
        corner_anchors: a.choice("format", &["corner", "center"], "center")? == "corner",
    }))
}

impl Kernel for BoxDecode {
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, 2)?;
        let (x, anchors) = (inputs[0], inputs[1]);
        if x.len() != 3 || x[2] != 4 {
            return Err(format!(
                "data must be (batch, boxes, 4) offsets, got {}",
                shape_str(x)
            ));
        }
        if anchors.len() < 3 || anchors.last() != Some(&4) {
            return Err(format!(
                "anchors must be (…, boxes, 4) with 3 or more axes, got {}",
                shape_str(anchors)
            ));
        }
        if anchors.iter().product::<usize>() < x[1] * 4 {
            return Err(format!(
                "anchors {} hold fewer than the data's {} boxes",
                shape_str(anchors),
                x[1]
            ));
        }
        Ok(vec![x.to_vec()])
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let n = inputs[0].shape[1];
        let (x, anchors) = (inputs[0].data, &inputs[1].data[..n * 4]);
        let [s0, s1, s2, s3] = self.std;
        const BOXES: usize = 1024;
        par_rows(outputs[0].data, BOXES * 4, |piece, out| {
            for (k, o) in out.chunks_exact_mut(4).enumerate() {
                let i = piece * BOXES + k;
                let d = &x[i * 4..i * 4 + 4];
                let a = &anchors[(i % n) * 4..(i % n) * 4 + 4];
                let (ax, ay, aw, ah) = if self.corner_anchors {
                    let (w, h) = (a[2] - a[0], a[3] - a[1]);
                    (a[0] + w * 0.5, a[1] + h * 0.5, w, h)
                } else {
                    (a[0], a[1], a[2], a[3])
                };
                let ox = d[0] * s0 * aw + ax;
                let oy = d[1] * s1 * ah + ay;
                let (mut dw, mut dh) = (d[2] * s2, d[3] * s3);
                if let Some(c) = self.clip {
                    // MXNet's `dw < clip ? dw : clip` (NaN becomes clip).
                    dw = if dw < c { dw } else { c };
                    dh = if dh < c { dh } else { c };
                }
                // MXNet calls the double-precision exp.
                let ow = (f64::from(dw).exp() as f32) * aw * 0.5;
                let oh = (f64::from(dh).exp() as f32) * ah * 0.5;
                o.copy_from_slice(&[ox - ow, oy - oh, ox + ow, oy + oh]);
            }
        });
        Ok(())
    }
}
