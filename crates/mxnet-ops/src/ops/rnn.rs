//! `RNN`: the fused multi-layer recurrent op (modes `lstm`, `gru`,
//! `rnn_tanh`, `rnn_relu`), time-major.
//!
//! Inputs: data (T, N, I); parameters (one flat vector); state (L·D, N, R);
//! state_cell (L·D, N, H) for lstm only; sequence_length (N) only when
//! `use_sequence_length`. Outputs: out (T, N, D·R); with `state_outputs` also
//! the final hidden state (L·D, N, R) and, for lstm, the final cell state
//! (L·D, N, H). H = state_size, L = num_layers, D = 2 when bidirectional,
//! R = projection_size when given (LSTMP) else H.
//!
//! Attributes (MXNet 1.9.1): state_size, num_layers, mode (required);
//! bidirectional = False; state_outputs = False; p = 0 (training dropout,
//! ignored); projection_size = None (lstm only); use_sequence_length = False;
//! lstm_state_clip_min / _max = None (lstm only, both or neither: the cell
//! state is clamped after each step, as cuDNN does — MXNet's CPU path
//! refuses clipping); lstm_state_clip_nan = False (True is not supported).
//!
//! Parameter layout (spec §4.4), G = 4 (lstm, gates i f g o), 3 (gru, r z n)
//! or 1: first every weight matrix, for each layer then direction: W_x
//! (G·H, in_l), W_h (G·H, R), and for LSTMP W_r (R, H); then every bias, in
//! the same order: b_x (G·H), b_h (G·H). in_0 = I, in_l = D·R above.
//! gru: n = tanh(W_xn x + b_xn + r⊙(W_hn h + b_hn)), h' = (1 − z)⊙n + z⊙h.
//! The backward direction runs t = T−1…0; layer outputs concatenate
//! [forward, backward].
//!
//! With `use_sequence_length` (which MXNet 1.9.1 runs only on cuDNN) steps at
//! or beyond an element's length leave its state unchanged and output 0, so
//! the backward direction starts at its own last step.
//!
//! Each (layer, direction) projects the whole sequence with one GEMM
//! (T·N × G·H); each step then multiplies the hidden state by W_hᵀ. The two
//! directions of a layer run in parallel; a single direction with small
//! batches splits each step's hidden units among the pool's threads, one
//! synchronisation per step ([`Direction::run_split`]).

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::gemm::{Mat, sgemm};
use crate::kernel::{In, Kernel, Out, expect_inputs};
use crate::registry::OpEntry;
use crate::tensor::shape_str;

use rayon::prelude::*;

use super::util::{SendPtr, Simd, transpose, with_layout_scratch};

use super::util::PAR_GRAIN;

pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "RNN",
    build,
    family: "nn",
    summary: "fused LSTM/GRU/RNN: layers, bidirectional, projection, state outputs",
}];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Relu,
    Tanh,
    Lstm,
    Gru,
}

impl Mode {
    fn gates(self) -> usize {
        match self {
            Mode::Relu | Mode::Tanh => 1,
            Mode::Lstm => 4,
            Mode::Gru => 3,
        }
    }
}

#[derive(Debug, Clone)]
struct Rnn {
    mode: Mode,
    /// State size H.
    h: usize,
    /// Layers L.
    layers: usize,
    /// Directions D.
    dirs: usize,
    state_outputs: bool,
    /// LSTMP projection size.
    proj: Option<usize>,
    use_len: bool,
    /// Cell-state clamp (lstm).
    clip: Option<(f32, f32)>,
}

fn bad(a: &Attrs<'_>, key: &str, expected: &'static str) -> AttrError {
    AttrError {
        key: key.into(),
        value: a.get(key).unwrap_or("").into(),
        expected,
    }
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let mode = match a.choice("mode", &["rnn_relu", "rnn_tanh", "lstm", "gru"], "")? {
        "rnn_relu" => Mode::Relu,
        "rnn_tanh" => Mode::Tanh,
        "lstm" => Mode::Lstm,
        "gru" => Mode::Gru,
        _ => return Err(bad(a, "mode", "present (it is required)")),
    };
    let h = a.req_count("state_size")?;
    if h == 0 {
        return Err(bad(a, "state_size", "at least 1"));
    }
    let layers = a.req_count("num_layers")?;
    if layers == 0 {
        return Err(bad(a, "num_layers", "at least 1"));
    }
    let p = a.float("p", 0.0)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(bad(a, "p", "in [0, 1]"));
    }
    let proj = match a.opt_int("projection_size")? {
        None => None,
        Some(v) if v > 0 && mode == Mode::Lstm => Some(v as usize),
        Some(_) => {
            return Err(bad(
                a,
                "projection_size",
                "a positive size, with mode lstm only",
            ));
        }
    };
    let lo = a.opt_float("lstm_state_clip_min")?;
    let hi = a.opt_float("lstm_state_clip_max")?;
    let clip = match (lo, hi) {
        (None, None) => None,
        (Some(lo), Some(hi)) if mode == Mode::Lstm && hi >= lo => Some((lo as f32, hi as f32)),
        _ => {
            return Err(bad(
                a,
                "lstm_state_clip_min",
                "given with lstm_state_clip_max ≥ it, in mode lstm",
            ));
        }
    };
    if a.bool("lstm_state_clip_nan", false)? {
        return Err(bad(
            a,
            "lstm_state_clip_nan",
            "False (clipping NaN states is not supported)",
        ));
    }
    Ok(Box::new(Rnn {
        mode,
        h,
        layers,
        dirs: if a.bool("bidirectional", false)? {
            2
        } else {
            1
        },
        state_outputs: a.bool("state_outputs", false)?,
        proj,
        use_len: a.bool("use_sequence_length", false)?,
        clip,
    }))
}

/// Offsets of one (layer, direction)'s pieces in the parameter vector.
#[derive(Debug, Clone, Copy)]
struct Piece {
    /// Input width of the layer.
    input: usize,
    wx: usize,
    wh: usize,
    /// Projection weight (LSTMP).
    wr: usize,
    bx: usize,
    bh: usize,
}

impl Rnn {
    /// Width of the recurrent state and of each direction's output.
    fn r(&self) -> usize {
        self.proj.unwrap_or(self.h)
    }

    fn num_inputs(&self) -> usize {
        3 + usize::from(self.mode == Mode::Lstm) + usize::from(self.use_len)
    }

    /// Pieces in (layer, direction) order, and the parameter count.
    fn layout(&self, input: usize) -> (Vec<Piece>, usize) {
        let gh = self.mode.gates() * self.h;
        let r = self.r();
        let mut pieces = Vec::with_capacity(self.layers * self.dirs);
        let mut off = 0;
        for l in 0..self.layers {
            let inp = if l == 0 { input } else { self.dirs * r };
            for _ in 0..self.dirs {
                let wx = off;
                let wh = wx + gh * inp;
                let wr = wh + gh * r;
                off = wr + if self.proj.is_some() { r * self.h } else { 0 };
                pieces.push(Piece {
                    input: inp,
                    wx,
                    wh,
                    wr,
                    bx: 0,
                    bh: 0,
                });
            }
        }
        for p in &mut pieces {
            p.bx = off;
            p.bh = off + gh;
            off += 2 * gh;
        }
        (pieces, off)
    }

    fn expected_inputs(&self, x: &[usize]) -> Vec<Vec<usize>> {
        let (n, ld) = (x[1], self.layers * self.dirs);
        let mut v = vec![x.to_vec(), vec![self.layout(x[2]).1], vec![ld, n, self.r()]];
        if self.mode == Mode::Lstm {
            v.push(vec![ld, n, self.h]);
        }
        if self.use_len {
            v.push(vec![n]);
        }
        v
    }
}

impl Kernel for Rnn {
    fn num_outputs(&self) -> usize {
        match (self.state_outputs, self.mode) {
            (false, _) => 1,
            (true, Mode::Lstm) => 3,
            (true, _) => 2,
        }
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        expect_inputs(inputs, self.num_inputs())?;
        let x = inputs[0];
        if x.len() != 3 {
            return Err(format!(
                "data must be 3-d (sequence, batch, features), got {}",
                shape_str(x)
            ));
        }
        let names = [
            "data",
            "parameters",
            "state",
            if self.mode == Mode::Lstm {
                "state_cell"
            } else {
                "sequence_length"
            },
            "sequence_length",
        ];
        for (i, want) in self.expected_inputs(x).iter().enumerate().skip(1) {
            if inputs[i] != want.as_slice() {
                return Err(format!("{} must have shape {}", names[i], shape_str(want)));
            }
        }
        let (ld, n) = (self.layers * self.dirs, x[1]);
        let mut out = vec![vec![x[0], n, self.dirs * self.r()]];
        if self.state_outputs {
            out.push(vec![ld, n, self.r()]);
            if self.mode == Mode::Lstm {
                out.push(vec![ld, n, self.h]);
            }
        }
        Ok(out)
    }

    fn infer_input_shapes(&self, inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        match inputs.first() {
            Some(Some(x)) if x.len() == 3 => {
                let mut v: Vec<Option<Vec<usize>>> =
                    self.expected_inputs(x).into_iter().map(Some).collect();
                v[0] = None;
                v
            }
            _ => Vec::new(),
        }
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        self.forward_with(inputs, outputs, &[])
    }

    fn prepare(
        &self,
        shapes: &[&[usize]],
        constants: &[Option<&[f32]>],
    ) -> Option<Box<dyn Kernel>> {
        let params = (*constants.get(1)?)?;
        let &[_, n, i] = *shapes.first()? else {
            return None;
        };
        let (pieces, len) = self.layout(i);
        if params.len() != len {
            return None;
        }
        let (h, r, gh) = (self.h, self.r(), self.mode.gates() * self.h);
        let parts = rayon::current_num_threads().min(h);
        let split = self.dirs == 1 && parts > 1 && self.proj.is_none();
        let packs = pieces
            .iter()
            .map(|p| {
                let wh = &params[p.wh..p.wh + gh * r];
                let recurrent = (n <= PACKED_MAX_BATCH).then(|| {
                    if split {
                        Packs::Shares(share_weights(wh, self.mode, h, parts))
                    } else {
                        Packs::Whole(Packed::new(wh, gh, r))
                    }
                });
                Prepared {
                    wx_t: transpose(&params[p.wx..p.wx + gh * p.input], gh, p.input),
                    recurrent,
                }
            })
            .collect();
        Some(Box::new(PreparedRnn {
            rnn: self.clone(),
            packs,
        }))
    }
}

/// The weights of one (layer, direction) of an [`Rnn`] rearranged once, at
/// plan time, for the batch size and threads the plan was bound with.
struct Prepared {
    /// W_x transposed (input × G·H, row-major). The `gemm` crate packs a
    /// row-major right-hand side with contiguous copies; W_x itself, read
    /// as a transposed view, it packs value by value on every call. An
    /// LSTM's input projection over 64 steps at batch 1 took 0.32 / 0.44
    /// ms that way (128 / 256 inputs, 1024 gates), 0.12 / 0.19 ms from
    /// this copy; 1.90 against 1.54 ms at batch 8.
    wx_t: Vec<f32>,
    /// The recurrent weights packed (batches up to [`PACKED_MAX_BATCH`]).
    recurrent: Option<Packs>,
}

/// The recurrent weights of one (layer, direction), packed.
enum Packs {
    /// W_h whole ([`Direction::run`]'s steps).
    Whole(Packed),
    /// W_h in shares of the hidden units ([`Direction::run_split`]).
    Shares(Vec<Packed>),
}

/// An [`Rnn`] whose parameters are constants of the plan, with its
/// recurrent weights packed ([`Kernel::prepare`]).
struct PreparedRnn {
    rnn: Rnn,
    /// Per (layer, direction), in parameter order.
    packs: Vec<Prepared>,
}

impl std::fmt::Debug for PreparedRnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedRnn")
            .field("rnn", &self.rnn)
            .finish_non_exhaustive()
    }
}

impl Kernel for PreparedRnn {
    fn num_outputs(&self) -> usize {
        self.rnn.num_outputs()
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        self.rnn.infer_shapes(inputs)
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        self.rnn.forward_with(inputs, outputs, &self.packs)
    }
}

/// Rows `g·H + u0..g·H + u1` of the recurrent weights `wh` (G·H × H) for
/// every gate g, packed, for each of `parts` shares of the H units
/// (`u0 = H·p / parts`).
fn share_weights(wh: &[f32], mode: Mode, h: usize, parts: usize) -> Vec<Packed> {
    let g = mode.gates();
    (0..parts)
        .map(|p| {
            let (u0, u1) = (h * p / parts, h * (p + 1) / parts);
            let mut rows = Vec::with_capacity(g * (u1 - u0) * h);
            for gi in 0..g {
                rows.extend_from_slice(&wh[(gi * h + u0) * h..(gi * h + u1) * h]);
            }
            Packed::new(&rows, g * (u1 - u0), h)
        })
        .collect()
}

impl Rnn {
    /// [`Kernel::forward`], with the weights of every (layer, direction)
    /// rearranged already when `packs` has them (else read as they are, the
    /// recurrent ones packed here).
    fn forward_with(
        &self,
        inputs: &[In<'_>],
        outputs: &mut [Out<'_>],
        packs: &[Prepared],
    ) -> Result<(), String> {
        let x = inputs[0];
        let (t, n, i) = (x.shape[0], x.shape[1], x.shape[2]);
        let params = inputs[1].data;
        let h0 = inputs[2].data;
        let c0 = (self.mode == Mode::Lstm).then(|| inputs[3].data);
        let lens: Option<Vec<usize>> = self.use_len.then(|| {
            inputs[self.num_inputs() - 1]
                .data
                .iter()
                .map(|&v| if v > 0.0 { (v as usize).min(t) } else { 0 })
                .collect()
        });
        let (pieces, _) = self.layout(i);
        let (r, h, d) = (self.r(), self.h, self.dirs);
        let (first, rest) = outputs.split_at_mut(1);
        let mut hy_all = vec![0f32; self.layers * d * n * r];
        let mut cy_all = vec![
            0f32;
            if c0.is_some() {
                self.layers * d * n * h
            } else {
                0
            }
        ];
        let mut prev: Vec<f32> = Vec::new();
        let mut next: Vec<f32> = Vec::new();
        for l in 0..self.layers {
            let last = l + 1 == self.layers;
            let input: &[f32] = if l == 0 { x.data } else { &prev };
            if !last {
                next.resize(t * n * d * r, 0.0);
            }
            let y: &mut [f32] = if last { &mut *first[0].data } else { &mut next };
            let ld = l * d;
            let state = |k: usize| &h0[(ld + k) * n * r..(ld + k + 1) * n * r];
            let cell = |k: usize| c0.map(|c| &c[(ld + k) * n * h..(ld + k + 1) * n * h]);
            let (hy_l, cy_l) = (
                &mut hy_all[ld * n * r..(ld + d) * n * r],
                if cy_all.is_empty() {
                    &mut cy_all[..]
                } else {
                    &mut cy_all[ld * n * h..(ld + d) * n * h]
                },
            );
            let step = |k: usize, y: &mut [f32], hy: &mut [f32], cy: &mut [f32]| {
                let run = Direction {
                    rnn: self,
                    params,
                    piece: pieces[ld + k],
                    t,
                    n,
                    lens: lens.as_deref(),
                    reverse: k == 1,
                    split: d == 1,
                    packs: packs.get(ld + k),
                };
                run.run(Seq {
                    x: input,
                    h0: state(k),
                    c0: cell(k),
                    y,
                    hy,
                    cy,
                });
            };
            if d == 1 {
                step(0, y, hy_l, cy_l);
            } else {
                let mut yf = vec![0f32; t * n * r];
                let mut yb = vec![0f32; t * n * r];
                let (hf, hb) = hy_l.split_at_mut(n * r);
                let (cf, cb) = cy_l.split_at_mut(cy_l.len() / 2);
                rayon::join(|| step(0, &mut yf, hf, cf), || step(1, &mut yb, hb, cb));
                for ((row, f), b) in y
                    .chunks_mut(2 * r)
                    .zip(yf.chunks(r.max(1)))
                    .zip(yb.chunks(r.max(1)))
                {
                    row[..r].copy_from_slice(f);
                    row[r..].copy_from_slice(b);
                }
            }
            std::mem::swap(&mut prev, &mut next);
        }
        if let Some(o) = rest.first_mut() {
            o.data.copy_from_slice(&hy_all);
        }
        if let Some(o) = rest.get_mut(1) {
            o.data.copy_from_slice(&cy_all);
        }
        Ok(())
    }
}

/// Whether the AVX2/FMA versions of the kernels below can run.
fn has_avx2() -> bool {
    Simd::detect() != Simd::Baseline
}

/// One direction of one layer over the whole sequence.
struct Direction<'a> {
    rnn: &'a Rnn,
    params: &'a [f32],
    piece: Piece,
    t: usize,
    n: usize,
    lens: Option<&'a [usize]>,
    reverse: bool,
    /// Whether the steps may split the hidden units among the pool's
    /// threads ([`Direction::run_split`]): false when the directions of a
    /// layer already run side by side.
    split: bool,
    /// The weights rearranged at plan time, if they were.
    packs: Option<&'a Prepared>,
}

/// One direction's sequence: `x` (T·N, input), initial states `h0` (N·R)
/// and `c0` (N·H, lstm); the output `y` (T·N·R) and the final states `hy`
/// and `cy` to write.
struct Seq<'a> {
    x: &'a [f32],
    h0: &'a [f32],
    c0: Option<&'a [f32]>,
    y: &'a mut [f32],
    hy: &'a mut [f32],
    cy: &'a mut [f32],
}

/// Spins a worker of [`Direction::run_split`] waits for another's share of
/// a step before running it itself.
const STEAL_SPINS: u32 = 2000;

/// Batch sizes up to this use the packed matrix-vector kernel for the
/// recurrent product; larger ones the GEMM.
const PACKED_MAX_BATCH: usize = 16;

impl Direction<'_> {
    /// Runs the sequence `seq`.
    fn run(&self, seq: Seq<'_>) {
        // The input projections go to this thread's reused buffer: a fresh
        // zeroed one (2 MiB for an LSTM of 256 units over 64 steps at
        // batch 8) took 9 % of that net's time in memset.
        let len = self.t * self.n * self.rnn.mode.gates() * self.rnn.h;
        with_layout_scratch(len, |gx| self.run_in(gx, seq));
    }

    /// [`Direction::run`] with `gx` (T·N × G·H, contents unspecified) for
    /// the input projections.
    fn run_in(&self, gx: &mut [f32], seq: Seq<'_>) {
        let Seq {
            x,
            h0,
            c0,
            y,
            hy,
            cy,
        } = seq;
        let rnn = self.rnn;
        let (t, n, h, r) = (self.t, self.n, rnn.h, rnn.r());
        let mode = rnn.mode;
        let gh = mode.gates() * h;
        let p = self.piece;
        let wx = &self.params[p.wx..p.wx + gh * p.input];
        let wh = &self.params[p.wh..p.wh + gh * r];
        let bx = &self.params[p.bx..p.bx + gh];
        let bh = &self.params[p.bh..p.bh + gh];
        let simd = has_avx2();
        // Input projection of the whole sequence, plus the biases that are
        // simply added (all of b_h except gru's n gate).
        let wx_view = match self.packs {
            Some(pk) if pk.wx_t.len() == wx.len() => Mat::rows(&pk.wx_t, gh),
            _ => Mat::transposed(wx, p.input),
        };
        sgemm(
            t * n,
            gh,
            p.input,
            Mat::rows(x, p.input),
            wx_view,
            gx,
            gh,
            false,
        );
        let bias: Vec<f32> = (0..gh)
            .map(|j| {
                if mode == Mode::Gru && j >= 2 * h {
                    bx[j]
                } else {
                    bx[j] + bh[j]
                }
            })
            .collect();
        for row in gx.chunks_mut(gh) {
            for (v, b) in row.iter_mut().zip(&bias) {
                *v += b;
            }
        }
        let bhn = if mode == Mode::Gru {
            &bh[2 * h..]
        } else {
            &[][..]
        };
        let (lo, hi) = rnn.clip.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let parts = rayon::current_num_threads().min(h);
        if self.split && parts > 1 && rnn.proj.is_none() && n <= PACKED_MAX_BATCH {
            let states = (h0, c0, hy, cy);
            self.run_split(gx, wh, bhn, (lo, hi), states, y, parts);
            return;
        }
        let owned;
        let packed = match self.packs.and_then(|pk| pk.recurrent.as_ref()) {
            Some(Packs::Whole(p)) if p.m == gh && p.k == r => Some(p),
            _ => {
                owned = (n <= PACKED_MAX_BATCH).then(|| Packed::new(wh, gh, r));
                owned.as_ref()
            }
        };
        let packed_r = rnn
            .proj
            .map(|_| Packed::new(&self.params[p.wr..p.wr + r * h], r, h));
        let mut hs = h0.to_vec();
        // Cell state (lstm; unused scratch otherwise).
        let mut cs = match c0 {
            Some(c) => c.to_vec(),
            None => vec![0f32; n * h],
        };
        // W_h·h per batch row (N × G·H), and for the GEMM its transpose.
        let mut hg = vec![0f32; n * gh];
        let mut hg_t = vec![0f32; if packed.is_some() { 0 } else { gh * n }];
        // The new hidden state before the LSTMP projection (N × H).
        let mut full = vec![0f32; n * h];
        let mut new_h = vec![0f32; if rnn.proj.is_some() { n * r } else { 0 }];
        for step in 0..t {
            let ti = if self.reverse { t - 1 - step } else { step };
            match &packed {
                Some(pk) => pk.gemv(&hs, n, &mut hg, simd, true),
                None => {
                    // Many rows and few columns: several times faster in
                    // the GEMM than h·W_hᵀ.
                    sgemm(
                        gh,
                        n,
                        r,
                        Mat::rows(wh, r),
                        Mat::transposed(&hs, r),
                        &mut hg_t,
                        n,
                        false,
                    );
                    // Transpose in blocks of 64 gate rows (8 KiB at N = 32).
                    for (jb, block) in hg_t.chunks(64 * n).enumerate() {
                        for b in 0..n {
                            let dst = &mut hg[b * gh + jb * 64..];
                            for (d, col) in dst.iter_mut().zip(block.chunks(n)) {
                                *d = col[b];
                            }
                        }
                    }
                }
            }
            let gxt = &gx[ti * n * gh..(ti + 1) * n * gh];
            let active = |b: usize| self.lens.is_none_or(|l| ti < l[b]);
            let (hg, hs_now) = (&hg, &hs);
            let update = |b: usize, out: &mut [f32], c: &mut [f32]| {
                if !active(b) {
                    return;
                }
                let args = Cell {
                    mode,
                    h,
                    xg: &gxt[b * gh..(b + 1) * gh],
                    hg: &hg[b * gh..(b + 1) * gh],
                    xs: h,
                    hs: h,
                    bhn,
                    hprev: &hs_now[b * r..(b + 1) * r],
                    lo,
                    hi,
                };
                args.apply(simd, c, out);
            };
            if n > 1 && n * h >= PAR_GRAIN / 4 {
                full.par_chunks_mut(h)
                    .zip(cs.par_chunks_mut(h))
                    .enumerate()
                    .for_each(|(b, (out, c))| update(b, out, c));
            } else {
                for (b, (out, c)) in full.chunks_mut(h).zip(cs.chunks_mut(h)).enumerate() {
                    update(b, out, c);
                }
            }
            let result = match &packed_r {
                Some(pk) => {
                    pk.gemv(&full, n, &mut new_h, simd, true);
                    &new_h
                }
                None => &full,
            };
            let yt = &mut y[ti * n * r..(ti + 1) * n * r];
            for b in 0..n {
                let (src, dst) = (b * r..(b + 1) * r, &mut yt[b * r..(b + 1) * r]);
                if active(b) {
                    dst.copy_from_slice(&result[src.clone()]);
                    hs[src].copy_from_slice(dst);
                } else {
                    dst.fill(0.0);
                }
            }
        }
        hy.copy_from_slice(&hs);
        if c0.is_some() {
            cy.copy_from_slice(&cs);
        }
    }
}

/// A step's share of the hidden units for one worker ([`Direction::run_split`]).
struct Share<'a> {
    u0: usize,
    u1: usize,
    /// Rows `g·H + u0..g·H + u1` of W_h for every gate g, packed.
    weights: &'a Packed,
    /// Their product with the hidden state (N × G·(u1 − u0)), written
    /// and read by the share's task of each step.
    hg: SendPtr,
}

impl Direction<'_> {
    /// [`Direction::run`]'s steps (no projection, at most
    /// [`PACKED_MAX_BATCH`] rows) with the hidden units split into `parts`
    /// shares: a share's task multiplies the hidden state by its rows of
    /// W_h and updates its units' cell, so a step needs one
    /// synchronisation, not one per product and update. Worker `p` runs
    /// share `p` of every step, so its weights stay in its core's cache,
    /// then spins until the step's other shares are done; a share nobody
    /// has taken it runs itself (at once while some worker has not
    /// started, else after [`STEAL_SPINS`] spins), so the steps finish
    /// however many workers join, one included. `gx` holds the input projections (T·N
    /// × G·H, biases added), `bhn` gru's b_hn; `states` are h0, c0, and the
    /// final hidden and cell states to write.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn run_split(
        &self,
        gx: &[f32],
        wh: &[f32],
        bhn: &[f32],
        (lo, hi): (f32, f32),
        (h0, c0, hy, cy): (&[f32], Option<&[f32]>, &mut [f32], &mut [f32]),
        y: &mut [f32],
        parts: usize,
    ) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let rnn = self.rnn;
        let (t, n, h, mode) = (self.t, self.n, rnn.h, rnn.mode);
        let (g, gh) = (mode.gates(), mode.gates() * h);
        let simd = has_avx2();
        assert!(
            gx.len() >= t * n * gh
                && wh.len() >= gh * h
                && h0.len() >= n * h
                && y.len() >= t * n * h,
            "run_split: buffers smaller than their shapes"
        );
        let owned;
        let weights: &[Packed] = match self.packs.and_then(|pk| pk.recurrent.as_ref()) {
            Some(Packs::Shares(w)) if w.len() == parts => w,
            _ => {
                owned = share_weights(wh, mode, h, parts);
                &owned
            }
        };
        let mut hgs: Vec<Vec<f32>> = Vec::with_capacity(parts);
        let mut shares: Vec<Share<'_>> = Vec::with_capacity(parts);
        for (p, weights) in weights.iter().enumerate() {
            let (u0, u1) = (h * p / parts, h * (p + 1) / parts);
            hgs.push(vec![0f32; n * g * (u1 - u0)]);
            shares.push(Share {
                u0,
                u1,
                weights,
                hg: SendPtr(hgs[p].as_mut_ptr()),
            });
        }
        // The hidden state, twice: step s reads buffer s % 2 and writes the
        // other.
        let mut hbuf = [h0[..n * h].to_vec(), h0[..n * h].to_vec()];
        let mut cs = c0.map_or_else(|| vec![0f32; n * h], |c| c[..n * h].to_vec());
        let hp = [SendPtr(hbuf[0].as_mut_ptr()), SendPtr(hbuf[1].as_mut_ptr())];
        let (cp, yp) = (SendPtr(cs.as_mut_ptr()), SendPtr(y.as_mut_ptr()));
        let task = |step: usize, share: &Share<'_>| {
            let ti = if self.reverse { t - 1 - step } else { step };
            let (u0, u1) = (share.u0, share.u1);
            let u = u1 - u0;
            // SAFETY: every task of the step before is done (the caller
            // waited), so nothing writes buffer step % 2 until this step's
            // tasks are all done; this task alone uses its share's `hg`,
            // the units u0..u1 of the other buffer, of `cs` and of `y`'s
            // step ti (the shares are disjoint).
            let (hprev, hg) = unsafe {
                (
                    std::slice::from_raw_parts(hp[step % 2].get(), n * h),
                    std::slice::from_raw_parts_mut(share.hg.get(), n * g * u),
                )
            };
            share.weights.gemv(hprev, n, hg, simd, false);
            let gxt = &gx[ti * n * gh..(ti + 1) * n * gh];
            for b in 0..n {
                // SAFETY: as above, units u0..u1 of row b.
                let (hnext, yb) = unsafe {
                    (
                        std::slice::from_raw_parts_mut(hp[(step + 1) % 2].get().add(b * h + u0), u),
                        std::slice::from_raw_parts_mut(yp.get().add((ti * n + b) * h + u0), u),
                    )
                };
                let was = &hprev[b * h + u0..b * h + u1];
                if self.lens.is_some_and(|l| ti >= l[b]) {
                    hnext.copy_from_slice(was);
                    yb.fill(0.0);
                    continue;
                }
                // SAFETY: as above.
                let c = unsafe { std::slice::from_raw_parts_mut(cp.get().add(b * h + u0), u) };
                let cell = Cell {
                    mode,
                    h: u,
                    xg: &gxt[b * gh + u0..(b + 1) * gh],
                    hg: &hg[b * g * u..(b + 1) * g * u],
                    xs: h,
                    hs: u,
                    bhn: if mode == Mode::Gru { &bhn[u0..u1] } else { &[] },
                    hprev: was,
                    lo,
                    hi,
                };
                cell.apply(simd, c, hnext);
                yb.copy_from_slice(hnext);
            }
        };
        // claimed[p]: the first step whose share p nobody has taken yet.
        let claimed: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
        let (done, started) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let claim = |p: usize, step: usize| {
            claimed[p]
                .compare_exchange(step, step + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        };
        let run = |p: usize, step: usize| {
            task(step, &shares[p]);
            done.fetch_add(1, Ordering::Release);
        };
        // Worker `home` runs share `home` of every step (its weights stay
        // in its core's cache), then waits for the step's other shares;
        // a share nobody has taken (its worker has not started, or stalls
        // for thousands of spins) it runs itself, so the steps finish
        // whatever the workers do.
        let work = |home: usize| {
            started.fetch_add(1, Ordering::Relaxed);
            for step in 0..t {
                if claim(home, step) {
                    run(home, step);
                }
                let mut spins = 0u32;
                while done.load(Ordering::Acquire) < (step + 1) * parts {
                    spins += 1;
                    if spins > STEAL_SPINS || started.load(Ordering::Relaxed) < parts {
                        for p in 0..parts {
                            if claim(p, step) {
                                run(p, step);
                            }
                        }
                    }
                    if spins < 1 << 14 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        };
        (0..parts).into_par_iter().for_each(work);
        hy[..n * h].copy_from_slice(&hbuf[t % 2]);
        if c0.is_some() {
            cy[..n * h].copy_from_slice(&cs);
        }
    }
}

/// One batch row's cell update: pre-activations from the input projection
/// `xg` (biases included) and the recurrent product `hg`.
struct Cell<'a> {
    mode: Mode,
    /// Hidden units updated (all H, or one worker's share).
    h: usize,
    xg: &'a [f32],
    hg: &'a [f32],
    /// Distance between the gates in `xg` and in `hg` (H when whole).
    xs: usize,
    hs: usize,
    /// gru: b_hn, added to the recurrent part of the n gate.
    bhn: &'a [f32],
    /// gru: the previous hidden state.
    hprev: &'a [f32],
    /// lstm cell-state clamp (infinite when not clipping).
    lo: f32,
    hi: f32,
}

impl Cell<'_> {
    /// Writes the new hidden state (before any projection) into `out` and
    /// updates the lstm cell state `c`.
    fn apply(&self, simd: bool, c: &mut [f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if simd {
            if Simd::detect() == Simd::Avx512 {
                // SAFETY: `Simd::detect` saw AVX-512F and FMA.
                unsafe { self.apply_avx512(c, out) };
            } else {
                // SAFETY: `simd` is true only when the CPU has AVX2 and FMA.
                unsafe { self.apply_avx2(c, out) };
            }
            return;
        }
        let _ = simd;
        self.apply_generic(c, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn apply_avx512(&self, c: &mut [f32], out: &mut [f32]) {
        self.apply_generic(c, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_avx2(&self, c: &mut [f32], out: &mut [f32]) {
        self.apply_generic(c, out);
    }

    /// Straight loops over contiguous slices, written so they vectorise.
    #[inline(always)]
    fn apply_generic(&self, c: &mut [f32], out: &mut [f32]) {
        let (h, lo, hi) = (self.h, self.lo, self.hi);
        let (xg, hg, xs, hs) = (self.xg, self.hg, self.xs, self.hs);
        let x = |g: usize| &xg[g * xs..g * xs + h];
        let y = |g: usize| &hg[g * hs..g * hs + h];
        match self.mode {
            Mode::Lstm => {
                let (xi, xf, xc, xo) = (x(0), x(1), x(2), x(3));
                let (hi_, hf, hc, ho) = (y(0), y(1), y(2), y(3));
                let (c, out) = (&mut c[..h], &mut out[..h]);
                for k in 0..h {
                    let ig = sigmoid(xi[k] + hi_[k]);
                    let fg = sigmoid(xf[k] + hf[k]);
                    let gg = tanh(xc[k] + hc[k]);
                    let og = sigmoid(xo[k] + ho[k]);
                    let ct = fg * c[k] + ig * gg;
                    // Not `clamp`: its bounds check stops vectorisation.
                    let ct = if ct < lo {
                        lo
                    } else if ct > hi {
                        hi
                    } else {
                        ct
                    };
                    c[k] = ct;
                    out[k] = og * tanh(ct);
                }
            }
            Mode::Gru => {
                let (xr, xz, xn) = (x(0), x(1), x(2));
                let (hr, hz, hn) = (y(0), y(1), y(2));
                let (bhn, hp, out) = (&self.bhn[..h], &self.hprev[..h], &mut out[..h]);
                for k in 0..h {
                    let rg = sigmoid(xr[k] + hr[k]);
                    let zg = sigmoid(xz[k] + hz[k]);
                    let ng = tanh(xn[k] + rg * (hn[k] + bhn[k]));
                    out[k] = (1.0 - zg) * ng + zg * hp[k];
                }
            }
            Mode::Tanh => {
                for ((o, &a), &b) in out[..h].iter_mut().zip(&xg[..h]).zip(&hg[..h]) {
                    *o = tanh(a + b);
                }
            }
            Mode::Relu => {
                for ((o, &a), &b) in out[..h].iter_mut().zip(&xg[..h]).zip(&hg[..h]) {
                    *o = (a + b).max(0.0);
                }
            }
        }
    }
}

/// e^x within about two f32 ulps, branch-free so loops over it vectorise:
/// Cephes' range reduction to r ∈ [−ln2/2, ln2/2] and degree-6 polynomial,
/// with x clamped to [−87, 88] (results stay finite and normal; NaN
/// propagates).
#[inline(always)]
fn exp(x: f32) -> f32 {
    // 1.5·2²³: adding it rounds to an integer kept in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = (x - n * 0.693_359_4) - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2ⁿ from the integer n in t's low bits.
    let bits = t
        .to_bits()
        .wrapping_sub(MAGIC.to_bits())
        .wrapping_add(127)
        .wrapping_shl(23);
    e * f32::from_bits(bits)
}

/// The logistic function 1/(1 + e^−x).
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh within a few f32 ulps and branch-free: an odd Taylor polynomial
/// below 0.5 (truncation error under 1e-8 relative), 1 − 2/(e^{2|x|} + 1)
/// above.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    // Coefficients of x, x³, …, x¹⁵.
    let x2 = x * x;
    let mut p = -929_569.0 / 638_512_875.0;
    p = p * x2 + 21_844.0 / 6_081_075.0;
    p = p * x2 + -1382.0 / 155_925.0;
    p = p * x2 + 62.0 / 2835.0;
    p = p * x2 + -17.0 / 315.0;
    p = p * x2 + 2.0 / 15.0;
    p = p * x2 + -1.0 / 3.0;
    p = p * x2 + 1.0;
    let small = x * p;
    let large = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(x);
    if a < 0.5 { small } else { large }
}

/// Rows of the panel kernel.
const PANEL: usize = 64;

/// A weight matrix (m × k, row-major) repacked in panels of [`PANEL`] rows,
/// column-major inside a panel, for repeated matrix-vector products: each
/// step then streams the weights once with broadcast multiply-adds and no
/// horizontal sums.
struct Packed {
    m: usize,
    k: usize,
    data: Vec<f32>,
}

impl Packed {
    fn new(w: &[f32], m: usize, k: usize) -> Packed {
        let panels = m.div_ceil(PANEL);
        let mut data = vec![0f32; panels * PANEL * k];
        for (pi, panel) in data.chunks_mut(PANEL * k).enumerate() {
            for (j, row) in w[pi * PANEL * k..]
                .chunks(k)
                .take(PANEL.min(m - pi * PANEL))
                .enumerate()
            {
                for (p, &v) in row.iter().enumerate() {
                    panel[p * PANEL + j] = v;
                }
            }
        }
        Packed { m, k, data }
    }

    /// `out[b·m + i] = Σ_p W[i, p]·x[b·k + p]` for the `n` vectors of `x`,
    /// panels in parallel when `parallel` and the product is large.
    ///
    /// With AVX-512, four vectors share each pass over a panel (the
    /// weights are read once per four); every sum is the same sequence of
    /// fused multiply-adds whichever way it is computed.
    fn gemv(&self, x: &[f32], n: usize, out: &mut [f32], simd: bool, parallel: bool) {
        let (m, k) = (self.m, self.k);
        let panels = m.div_ceil(PANEL);
        let wide = simd && Simd::detect() == Simd::Avx512;
        // The panel `pi` times the vectors b0..b1 (at most NB4).
        let run = |pi: usize, b0: usize, b1: usize| -> [[f32; PANEL]; NB4] {
            let panel = &self.data[pi * PANEL * k..(pi + 1) * PANEL * k];
            let xb = |b: usize| &x[b.min(b1 - 1) * k..(b.min(b1 - 1) + 1) * k];
            let mut acc = [[0f32; PANEL]; NB4];
            #[cfg(target_arch = "x86_64")]
            if wide && b1 - b0 > 1 {
                // SAFETY: `wide` is true only when the CPU has AVX-512F and FMA.
                return unsafe { panel_fma4(panel, [xb(b0), xb(b0 + 1), xb(b0 + 2), xb(b0 + 3)]) };
            }
            for (b, a) in (b0..b1).zip(&mut acc) {
                #[cfg(target_arch = "x86_64")]
                if simd {
                    // SAFETY: `simd` is true only when the CPU has AVX2 and FMA.
                    *a = unsafe { panel_fma(panel, xb(b)) };
                    continue;
                }
                *a = panel_lanes::<false>(panel, xb(b));
            }
            acc
        };
        assert!(out.len() >= n * m, "gemv: output smaller than {n}x{m}");
        #[cfg(target_arch = "x86_64")]
        if wide && n == 1 {
            // One vector: two panels per pass, so that eight accumulators
            // hide the multiply-add latency.
            let pair = |(q, out): (usize, &mut [f32])| {
                let p0 = 2 * q * PANEL * k;
                let p1 = (p0 + 2 * PANEL * k).min(self.data.len());
                // SAFETY: `wide` is true only when the CPU has AVX-512F and FMA.
                let acc = unsafe { panels_fma1(&self.data[p0..p1], &x[..k]) };
                out.copy_from_slice(&acc[..out.len()]);
            };
            if parallel && m * k >= 1 << 16 {
                out[..m]
                    .par_chunks_mut(2 * PANEL)
                    .enumerate()
                    .for_each(pair);
            } else {
                out[..m].chunks_mut(2 * PANEL).enumerate().for_each(pair);
            }
            return;
        }
        let op = SendPtr(out.as_mut_ptr());
        // Panel `pi`'s rows of every vector's output.
        let panel = |pi: usize| {
            let (i0, i1) = (pi * PANEL, (pi * PANEL + PANEL).min(m));
            for b0 in (0..n).step_by(NB4) {
                let b1 = (b0 + NB4).min(n);
                for (b, a) in (b0..b1).zip(run(pi, b0, b1)) {
                    // SAFETY: rows i0..i1 of vector b, inside `out` (asserted
                    // above); each panel's rows are written by its task only.
                    let o = unsafe {
                        std::slice::from_raw_parts_mut(op.get().add(b * m + i0), i1 - i0)
                    };
                    o.copy_from_slice(&a[..i1 - i0]);
                }
            }
        };
        if parallel && n * m * k >= 1 << 16 {
            (0..panels).into_par_iter().for_each(panel);
        } else {
            (0..panels).for_each(panel);
        }
    }
}

/// Vectors per pass of [`panel_fma4`].
const NB4: usize = 4;

/// One or two panels (`panels` holds one or two whole panels) times one
/// vector: their 128 rows' sums (the second half unused with one panel),
/// each column of each panel loaded once, eight accumulator registers.
/// Every sum is the same sequence of fused multiply-adds as in
/// [`panel_fma4`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn panels_fma1(panels: &[f32], x: &[f32]) -> [f32; 2 * PANEL] {
    use std::arch::x86_64::*;
    let k = x.len();
    let two = panels.len() >= 2 * PANEL * k;
    let (a, b) = panels.split_at(PANEL * k);
    let b = if two { b } else { a };
    let mut acc = [_mm512_setzero_ps(); 2 * PANEL / 16];
    for (p, &xv) in x.iter().enumerate() {
        let xv = _mm512_set1_ps(xv);
        let (ca, cb) = (
            &a[p * PANEL..(p + 1) * PANEL],
            &b[p * PANEL..(p + 1) * PANEL],
        );
        for j in 0..PANEL / 16 {
            // SAFETY: `ca` and `cb` hold PANEL = 64 floats, four vectors.
            let (wa, wb) = unsafe {
                (
                    _mm512_loadu_ps(ca.as_ptr().add(16 * j)),
                    _mm512_loadu_ps(cb.as_ptr().add(16 * j)),
                )
            };
            acc[j] = _mm512_fmadd_ps(wa, xv, acc[j]);
            acc[PANEL / 16 + j] = _mm512_fmadd_ps(wb, xv, acc[PANEL / 16 + j]);
        }
    }
    let mut out = [0f32; 2 * PANEL];
    for (j, &v) in acc.iter().enumerate() {
        // SAFETY: 16 floats at 16·j inside the 2·PANEL = 128 of `out`.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(16 * j), v) };
    }
    out
}

/// One panel times four vectors (16 accumulator registers with AVX-512):
/// each column of the panel is loaded once, as four vectors, for the four
/// broadcast inputs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn panel_fma4(panel: &[f32], xs: [&[f32]; NB4]) -> [[f32; PANEL]; NB4] {
    use std::arch::x86_64::*;
    let k = panel.len() / PANEL;
    let xs = xs.map(|x| &x[..k]);
    let mut acc = [[_mm512_setzero_ps(); PANEL / 16]; NB4];
    for (p, col) in panel.chunks_exact(PANEL).enumerate() {
        // SAFETY: `col` holds PANEL = 64 floats, four vectors.
        let w: [__m512; PANEL / 16] =
            std::array::from_fn(|j| unsafe { _mm512_loadu_ps(col.as_ptr().add(16 * j)) });
        for (a, x) in acc.iter_mut().zip(&xs) {
            let xv = _mm512_set1_ps(x[p]);
            for (a, &w) in a.iter_mut().zip(&w) {
                *a = _mm512_fmadd_ps(w, xv, *a);
            }
        }
    }
    let mut out = [[0f32; PANEL]; NB4];
    for (o, a) in out.iter_mut().zip(&acc) {
        for (j, &v) in a.iter().enumerate() {
            // SAFETY: 16 floats at 16·j inside the PANEL = 64 of `o`.
            unsafe { _mm512_storeu_ps(o.as_mut_ptr().add(16 * j), v) };
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_fma(panel: &[f32], x: &[f32]) -> [f32; PANEL] {
    panel_lanes::<true>(panel, x)
}

/// One panel times one vector: [`PANEL`] independent sums, fused
/// multiply-adds when `FMA` (only inside a function compiled with fma).
#[inline(always)]
fn panel_lanes<const FMA: bool>(panel: &[f32], x: &[f32]) -> [f32; PANEL] {
    let mut acc = [0f32; PANEL];
    for (col, &xv) in panel.chunks_exact(PANEL).zip(x) {
        for j in 0..PANEL {
            acc[j] = if FMA {
                col[j].mul_add(xv, acc[j])
            } else {
                acc[j] + col[j] * xv
            };
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst(f: impl Fn(f32) -> f32, g: impl Fn(f64) -> f64, lo: f32, hi: f32) -> f64 {
        let steps = 400_000;
        (0..=steps)
            .map(|i| {
                let x = lo + (hi - lo) * i as f32 / steps as f32;
                let want = g(f64::from(x));
                (f64::from(f(x)) - want).abs() / want.abs().max(1e-30)
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn fast_math_is_accurate() {
        assert!(worst(exp, f64::exp, -87.0, 88.0) < 4e-7);
        assert!(worst(tanh, f64::tanh, -20.0, 20.0) < 5e-7);
        assert!(worst(sigmoid, |x| 1.0 / (1.0 + (-x).exp()), -80.0, 30.0) < 5e-7);
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert_eq!(tanh(0.0), 0.0);
        assert!(tanh(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan());
        assert!(sigmoid(-200.0) < 1e-37 && sigmoid(200.0) == 1.0);
    }

    #[test]
    fn state_and_parameter_shapes_are_inferred_from_data() {
        use std::collections::HashMap;

        use mxnet_format::symbol::{Node, NodeEntry, Symbol};

        use crate::{Executor, Program, Tensor, Weights};

        let names = ["data", "parameters", "state", "state_cell"];
        let mut nodes: Vec<Node> = names.iter().map(|n| Node::variable(*n)).collect();
        nodes.push(Node::operator(
            "RNN",
            "lstm",
            &[
                ("mode", "lstm"),
                ("state_size", "3"),
                ("num_layers", "2"),
                ("bidirectional", "True"),
                ("state_outputs", "True"),
            ],
            (0..4).map(|i| NodeEntry::new(i, 0)).collect(),
        ));
        let outs = (0..3).map(|k| NodeEntry::new(4, k)).collect();
        let sym = Symbol::new(nodes, outs).unwrap();
        let program = Program::compile(&sym, None).unwrap();
        let weights = Weights::new();
        // Only the data shape is given: the parameter length (2 layers,
        // bidirectional, I = 5, H = 3) and the state shapes are inferred.
        let shapes = HashMap::from([("data".to_owned(), vec![4, 2, 5])]);
        let plan = program.bind(&weights, &shapes).unwrap();
        let mut exec = Executor::new(&program, &weights, plan);
        let plen = 2 * (12 * 5 + 12 * 3 + 24) + 2 * (12 * 6 + 12 * 3 + 24);
        let values = HashMap::from([
            ("data".to_owned(), Tensor::zeros(vec![4, 2, 5])),
            ("parameters".to_owned(), Tensor::zeros(vec![plen])),
            ("state".to_owned(), Tensor::zeros(vec![4, 2, 3])),
            ("state_cell".to_owned(), Tensor::zeros(vec![4, 2, 3])),
        ]);
        let out = exec.run(&values).unwrap();
        assert_eq!(out[0].shape, [4, 2, 6]);
        assert_eq!(out[1].shape, [4, 2, 3]);
        assert_eq!(out[2].shape, [4, 2, 3]);
    }

    fn lstm(proj: Option<usize>, use_len: bool, dirs: usize) -> Rnn {
        Rnn {
            mode: Mode::Lstm,
            h: 3,
            layers: 1,
            dirs,
            state_outputs: true,
            proj,
            use_len,
            clip: None,
        }
    }

    /// Runs `rnn` on inputs of the given shapes and values; returns the outputs.
    fn run(rnn: &Rnn, inputs: &[(Vec<usize>, Vec<f32>)]) -> Vec<Vec<f32>> {
        crate::kernel::run_kernel(rnn, inputs)
    }

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 + seed) * 0.7).sin() * 0.5)
            .collect()
    }

    /// A kernel's inputs: (shape, values) each.
    type Inputs = Vec<(Vec<usize>, Vec<f32>)>;

    /// A two-layer, one-direction `mode` net of `h` units with its inputs
    /// for `(t, n, i)` (steps, batch, input width): data, parameters,
    /// initial states and, if `use_len`, sequence lengths 1..=t.
    fn one_direction(
        mode: Mode,
        h: usize,
        (t, n, i): (usize, usize, usize),
        use_len: bool,
        clip: Option<(f32, f32)>,
    ) -> (Rnn, Inputs) {
        let layers = 2;
        let rnn = Rnn {
            mode,
            h,
            layers,
            dirs: 1,
            state_outputs: true,
            proj: None,
            use_len,
            clip,
        };
        let (_, plen) = rnn.layout(i);
        let mut inputs = vec![
            (vec![t, n, i], values(t * n * i, 2.0)),
            (vec![plen], values(plen, 1.0)),
            (vec![layers, n, h], values(layers * n * h, 3.0)),
        ];
        if mode == Mode::Lstm {
            inputs.push((vec![layers, n, h], values(layers * n * h, 4.0)));
        }
        if use_len {
            inputs.push((vec![n], (0..n).map(|b| (b % t + 1) as f32).collect()));
        }
        (rnn, inputs)
    }

    /// The steps split among workers ([`Direction::run_split`], taken with
    /// more than one thread) give exactly the outputs of one worker: the
    /// same sums in the same order, for lstm (with a clip and sequence
    /// lengths) and gru, two layers, 1 to 9 batch rows, and more workers
    /// than some layers have units to share.
    #[test]
    fn steps_split_among_workers_match_one_worker() {
        let pool = |k: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(k)
                .build()
                .unwrap()
        };
        let (one, three) = (pool(1), pool(3));
        for (mode, h, n, use_len, clip) in [
            (Mode::Lstm, 20, 1, false, None),
            (Mode::Lstm, 33, 9, true, Some((-0.4, 0.5))),
            (Mode::Gru, 2, 4, false, None),
            (Mode::Gru, 17, 5, true, None),
        ] {
            let (rnn, inputs) = one_direction(mode, h, (6, n, 5), use_len, clip);
            let want = one.install(|| run(&rnn, &inputs));
            let got = three.install(|| run(&rnn, &inputs));
            assert_eq!(got, want, "{mode:?} h {h} n {n}");
            // With the pool's other workers busy, one worker runs every
            // share of every step.
            let lone = three.install(|| {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let rx = std::sync::Mutex::new(rx);
                let busy = |_: usize| {
                    let _ = rx
                        .lock()
                        .map(|r| r.recv_timeout(std::time::Duration::from_secs(5)));
                };
                rayon::join(
                    || rayon::join(|| busy(0), || busy(1)),
                    || {
                        let out = run(&rnn, &inputs);
                        drop(tx);
                        out
                    },
                )
                .1
            });
            assert_eq!(lone, want, "{mode:?} h {h} n {n}, one worker");
        }
    }

    /// The kernel prepared at plan time (W_x transposed, W_h packed) gives
    /// the outputs of the kernel that reads its parameters as they are, at
    /// a batch that packs W_h and one that does not, with input
    /// projections large enough for every GEMM path.
    #[test]
    fn prepared_weights_match_the_parameters_read_as_they_are() {
        for (mode, n) in [(Mode::Lstm, 1), (Mode::Gru, 3), (Mode::Lstm, 20)] {
            let (rnn, inputs) = one_direction(mode, 80, (24, n, 96), false, None);
            let shapes: Vec<&[usize]> = inputs.iter().map(|(s, _)| s.as_slice()).collect();
            let constants: Vec<Option<&[f32]>> = (0..inputs.len())
                .map(|k| (k == 1).then_some(inputs[1].1.as_slice()))
                .collect();
            let prepared = rnn.prepare(&shapes, &constants).expect("prepared");
            let want = run(&rnn, &inputs);
            let got = crate::kernel::run_kernel(prepared.as_ref(), &inputs);
            for (o, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.len(), w.len());
                let worst = g
                    .iter()
                    .zip(w)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 1e-5, "{mode:?} batch {n} output {o}: {worst}");
            }
        }
    }

    #[test]
    fn projection_by_the_identity_is_a_plain_lstm() {
        let (t, n, i, h) = (4, 2, 2, 3);
        let plain = lstm(None, false, 1);
        let (_, plen) = plain.layout(i);
        let params = values(plen, 1.0);
        // Insert W_r = I after W_h: (4H·I + 4H·H) weights, then biases.
        let split = 4 * h * i + 4 * h * h;
        let mut proj_params = params[..split].to_vec();
        for r in 0..h {
            proj_params.extend((0..h).map(|c| if r == c { 1.0 } else { 0.0 }));
        }
        proj_params.extend_from_slice(&params[split..]);
        let data = (vec![t, n, i], values(t * n * i, 2.0));
        let state = (vec![1, n, h], values(n * h, 3.0));
        let cell = (vec![1, n, h], values(n * h, 4.0));
        let a = run(
            &plain,
            &[
                data.clone(),
                (vec![plen], params),
                state.clone(),
                cell.clone(),
            ],
        );
        let projected = lstm(Some(h), false, 1);
        let b = run(
            &projected,
            &[data, (vec![proj_params.len()], proj_params), state, cell],
        );
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
    }

    #[test]
    fn sequence_lengths_stop_each_element_early() {
        let (t, n, i, h) = (4, 2, 2, 3);
        let rnn = lstm(None, true, 2);
        let (_, plen) = rnn.layout(i);
        let params = (vec![plen], values(plen, 1.0));
        let data = values(t * n * i, 2.0);
        let state = values(2 * n * h, 3.0);
        let cell = values(2 * n * h, 4.0);
        let lens = [2usize, 4];
        let out = run(
            &rnn,
            &[
                (vec![t, n, i], data.clone()),
                params.clone(),
                (vec![2, n, h], state.clone()),
                (vec![2, n, h], cell.clone()),
                (vec![n], lens.iter().map(|&l| l as f32).collect()),
            ],
        );
        // Each element alone, on its own first `len` steps.
        let full = lstm(None, false, 2);
        for (b, &len) in lens.iter().enumerate() {
            let pick = |v: &[f32], rows: usize, w: usize| -> Vec<f32> {
                (0..rows)
                    .flat_map(|r| v[(r * n + b) * w..(r * n + b + 1) * w].to_vec())
                    .collect()
            };
            let alone = run(
                &full,
                &[
                    (vec![len, 1, i], pick(&data, len, i)),
                    params.clone(),
                    (vec![2, 1, h], pick(&state, 2, h)),
                    (vec![2, 1, h], pick(&cell, 2, h)),
                ],
            );
            for step in 0..t {
                let got = &out[0][(step * n + b) * 2 * h..(step * n + b + 1) * 2 * h];
                if step < len {
                    let want = &alone[0][step * 2 * h..(step + 1) * 2 * h];
                    assert!(got.iter().zip(want).all(|(x, y)| (x - y).abs() < 1e-6));
                } else {
                    assert!(got.iter().all(|&v| v == 0.0));
                }
            }
            for (k, o) in [(1, &out[1]), (2, &out[2])] {
                let got = pick(o, 2, h);
                assert!(got.iter().zip(&alone[k]).all(|(x, y)| (x - y).abs() < 1e-6));
            }
        }
    }

    #[test]
    fn packed_products_match_a_naive_product() {
        // Batches that fill groups of four, leave remainders, and one
        // large enough to run in parallel.
        for (m, k, n) in [
            (150, 37, 3),
            (150, 37, 1),
            (70, 20, 4),
            (130, 50, 7),
            (300, 256, 9),
        ] {
            let w: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let x: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
            let packed = Packed::new(&w, m, k);
            for simd in [false, has_avx2()] {
                let mut out = vec![0f32; n * m];
                packed.gemv(&x, n, &mut out, simd, true);
                for b in 0..n {
                    for i in 0..m {
                        let want: f32 = (0..k).map(|p| w[i * k + p] * x[b * k + p]).sum();
                        assert!((out[b * m + i] - want).abs() < 1e-4, "{m}x{k}, batch {n}");
                    }
                }
                // Each batch row alone gives the same bits (same sums in
                // the same order, whatever the grouping).
                if simd {
                    for b in 0..n {
                        let mut one = vec![0f32; m];
                        packed.gemv(&x[b * k..(b + 1) * k], 1, &mut one, simd, false);
                        assert_eq!(one, out[b * m..(b + 1) * m], "{m}x{k}, row {b} of {n}");
                    }
                }
            }
        }
    }
}
