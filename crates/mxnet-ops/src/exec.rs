//! Compiling a symbol into kernels, inferring shapes, planning memory, running.
//!
//! ```text
//! Program::compile(symbol, outputs)  kernels for the nodes the outputs need;
//!                                    every unsupported op reported at once
//! Program::bind(weights, shapes)     shape and dtype inference, roles of the
//!                                    variables, a buffer plan
//! Executor::run(inputs)              one forward pass (is_train = false)
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use mxnet_format::DType;
use mxnet_format::params::ParamsFile;
use mxnet_format::symbol::{Node, NodeEntry, Symbol};

use crate::attrs::Attrs;
use crate::error::{Error, Unsupported};
use crate::kernel::{In, Kernel, Out};
use crate::registry;
use crate::tensor::{Tensor, numel, shape_str};

/// A weight or auxiliary state, borrowed from a mapped `.params` file when its
/// values are aligned float32, else converted once.
#[derive(Debug, Clone)]
pub struct Weight<'a> {
    /// Shape.
    pub shape: Vec<usize>,
    /// The dtype stored in the file.
    pub dtype: DType,
    /// Values as `f32`.
    pub data: Cow<'a, [f32]>,
}

/// The arrays a graph's variables are bound to, by variable name.
#[derive(Debug, Clone, Default)]
pub struct Weights<'a> {
    map: HashMap<String, Weight<'a>>,
    borrowed: usize,
}

impl<'a> Weights<'a> {
    /// No weights.
    pub fn new() -> Self {
        Self::default()
    }

    /// The arrays of a params file, named without their `arg:`/`aux:`
    /// prefixes. Aligned float32 arrays are used in place.
    pub fn from_params(
        file: &'a ParamsFile,
    ) -> Result<Weights<'a>, mxnet_format::params::ValueError> {
        let mut w = Weights::new();
        for e in file.iter() {
            let Some(name) = e.name() else { continue };
            let name = name
                .strip_prefix("arg:")
                .or_else(|| name.strip_prefix("aux:"))
                .unwrap_or(&name)
                .to_owned();
            if e.array.is_none() {
                continue;
            }
            let data = match e.array.borrowed_slice::<f32>() {
                Some(s) => {
                    w.borrowed += 1;
                    Cow::Borrowed(s)
                }
                None => Cow::Owned(e.array.to_f32_vec()?),
            };
            w.map.insert(
                name,
                Weight {
                    shape: e.array.shape().to_vec(),
                    dtype: e.array.dtype(),
                    data,
                },
            );
        }
        Ok(w)
    }

    /// Adds or replaces a weight.
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) {
        self.map.insert(
            name.into(),
            Weight {
                shape: tensor.shape,
                dtype: tensor.dtype,
                data: Cow::Owned(tensor.data),
            },
        );
    }

    /// The weight called `name`.
    pub fn get(&self, name: &str) -> Option<&Weight<'a>> {
        self.map.get(name)
    }

    /// Number of weights.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many are used in place from the mapped file (no copy).
    pub fn borrowed(&self) -> usize {
        self.borrowed
    }
}

/// A symbol compiled into kernels for the nodes some outputs need.
#[derive(Debug)]
pub struct Program<'s> {
    sym: &'s Symbol,
    kernels: Vec<Option<Box<dyn Kernel>>>,
    needed: Vec<bool>,
    outputs: Vec<NodeEntry>,
    output_names: Vec<String>,
}

/// What a variable of a bound program is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binding {
    /// Bound to a weight.
    Weight,
    /// An input the caller gives.
    Input,
    /// An auxiliary state absent from the params file, filled from its
    /// `__init__` hint (BatchNorm: mean 0, variance 1).
    Initialized(f32),
}

/// Where the values of an entry live during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Weight(usize),
    Input(usize),
    Const(usize),
    Buffer(usize),
    Unused,
}

#[derive(Debug)]
struct Step {
    /// The node whose output the step writes (a fused chain's last node).
    node: usize,
    /// The kernel of a fused chain ([`crate::fuse`]); else the node's own.
    fused: Option<Box<dyn Kernel>>,
    /// The name the profile records (the op, or a chain's ops joined by `+`).
    label: String,
    inputs: Vec<Slot>,
    input_shapes: Vec<Vec<usize>>,
    input_dtypes: Vec<DType>,
    outputs: Vec<Slot>,
    output_shapes: Vec<Vec<usize>>,
    output_dtypes: Vec<DType>,
}

/// Rounds values stored in a half-precision dtype to that precision.
fn round_to(dtype: DType, data: &mut [f32]) {
    match dtype {
        DType::F16 => data
            .iter_mut()
            .for_each(|v| *v = half::f16::from_f32(*v).to_f32()),
        DType::BF16 => data
            .iter_mut()
            .for_each(|v| *v = half::bf16::from_f32(*v).to_f32()),
        _ => {}
    }
}

/// A bound program: shapes, dtypes, variable roles and a buffer plan.
#[derive(Debug)]
pub struct Plan {
    steps: Vec<Step>,
    weights: Vec<String>,
    inputs: Vec<(String, Vec<usize>)>,
    consts: Vec<Tensor>,
    buffer_sizes: Vec<usize>,
    outputs: Vec<(Slot, Vec<usize>, DType)>,
    bindings: BTreeMap<String, Binding>,
    notes: Vec<String>,
    shapes: HashMap<(usize, usize), Vec<usize>>,
    fused_nodes: usize,
    folded_nodes: usize,
    prepared_nodes: usize,
}

/// Choices for [`Program::bind_with`].
///
/// The defaults can be changed from the environment, to compare plans
/// without code: `MXNET_IO_FUSE=0` turns fusion off, `MXNET_IO_FUSE=nofold`
/// keeps fusion but does not fold BatchNorm into weights.
#[derive(Debug, Clone)]
pub struct BindOptions {
    /// Fuse Convolution/FullyConnected → BatchNorm → elemwise_add →
    /// relu/clip chains and BatchNorm → relu/clip into single steps (see
    /// [`Plan::fused_nodes`]), and compute ops that read only weights and
    /// constants once, when the plan is made (see [`Plan::folded_nodes`]),
    /// and let kernels specialise themselves for their constant inputs (see
    /// [`Plan::prepared_nodes`]). Default true.
    pub fuse: bool,
    /// In fused chains, fold a BatchNorm into the layer's weights and bias
    /// (a copy made once, when the plan is made) when they and its
    /// statistics are constants; otherwise it is applied per channel after
    /// the GEMM. Default true.
    pub fold: bool,
    /// Run every folded 3×3 stride-1 convolution by Winograd's F(2×2, 3×3),
    /// not only those large enough for it to be faster (tests use this to
    /// check that path against MXNet on small models). Default false.
    pub winograd_everywhere: bool,
}

impl Default for BindOptions {
    fn default() -> Self {
        let env = std::env::var("MXNET_IO_FUSE").unwrap_or_default();
        BindOptions {
            fuse: env != "0",
            fold: env != "nofold",
            winograd_everywhere: false,
        }
    }
}

impl Plan {
    /// Number of graph nodes that run inside fused steps (0 without fusion).
    pub fn fused_nodes(&self) -> usize {
        self.fused_nodes
    }

    /// Number of graph nodes computed once when the plan was made, because
    /// they read only weights and constants (0 without fusion): e.g. an RNN's
    /// `_rnn_param_concat` and the reshapes before it.
    pub fn folded_nodes(&self) -> usize {
        self.folded_nodes
    }

    /// Number of graph nodes outside fused chains whose kernel was
    /// specialised for its constant inputs when the plan was made
    /// ([`crate::kernel::Kernel::prepare`]; 0 without fusion): e.g. an RNN
    /// whose recurrent weights were packed once.
    pub fn prepared_nodes(&self) -> usize {
        self.prepared_nodes
    }

    /// The shape of every computed entry, keyed by (node index, output index):
    /// what shape inference found (variables are output 0).
    pub fn entry_shapes(&self) -> &HashMap<(usize, usize), Vec<usize>> {
        &self.shapes
    }

    /// The inputs the caller must give, with their shapes.
    pub fn inputs(&self) -> &[(String, Vec<usize>)] {
        &self.inputs
    }
    /// Shapes of the outputs.
    pub fn output_shapes(&self) -> Vec<&[usize]> {
        self.outputs.iter().map(|o| o.1.as_slice()).collect()
    }
    /// What each needed variable is bound to.
    pub fn bindings(&self) -> &BTreeMap<String, Binding> {
        &self.bindings
    }
    /// Things worth telling the user (aux states filled from hints, …).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
    /// Bytes of activation buffers the plan uses at peak (they are reused).
    pub fn activation_bytes(&self) -> usize {
        self.buffer_sizes.iter().sum::<usize>() * 4
    }
}

impl<'s> Program<'s> {
    /// Compiles the nodes of `sym` that `outputs` need (default: the heads).
    /// Output names are MXNet's (`fc1_output`, a variable's name).
    pub fn compile(sym: &'s Symbol, outputs: Option<&[String]>) -> Result<Program<'s>, Error> {
        let nodes = sym.nodes();
        let (out_entries, output_names) = match outputs {
            None => (sym.heads().to_vec(), sym.list_outputs()),
            Some(names) => resolve_outputs(sym, names)?,
        };
        // Ancestors through every input first, to find every op involved.
        let reach = ancestors(nodes, &out_entries, |_, _| true);
        let mut kernels: Vec<Option<Box<dyn Kernel>>> = (0..nodes.len()).map(|_| None).collect();
        let mut unsupported: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, node) in nodes.iter().enumerate() {
            if !reach[i] || node.is_variable() {
                continue;
            }
            for sub in &node.subgraphs {
                collect_unsupported(sub, &mut unsupported);
            }
            match registry::find(&node.op) {
                None => unsupported
                    .entry(node.op.clone())
                    .or_default()
                    .push(node.name.clone()),
                Some(entry) => {
                    let kernel = (entry.build)(&Attrs::new(node)).map_err(|error| Error::Attr {
                        node: node.name.clone(),
                        op: node.op.clone(),
                        error,
                    })?;
                    kernels[i] = Some(kernel);
                }
            }
        }
        if !unsupported.is_empty() {
            return Err(Error::Unsupported(
                unsupported
                    .into_iter()
                    .map(|(op, nodes)| Unsupported { op, nodes })
                    .collect(),
            ));
        }
        // Then only through the inputs kernels read (labels are skipped).
        let needed = ancestors(nodes, &out_entries, |n, pos| {
            kernels[n]
                .as_ref()
                .is_none_or(|k| !k.unused_inputs().contains(&pos))
        });
        for (i, node) in nodes.iter().enumerate() {
            let Some(k) = &kernels[i] else { continue };
            if !needed[i] {
                continue;
            }
            let _ = k;
            for e in &node.inputs {
                check_visible(nodes, &kernels, *e)?;
            }
        }
        for e in &out_entries {
            check_visible(nodes, &kernels, *e)?;
        }
        Ok(Program {
            sym,
            kernels,
            needed,
            outputs: out_entries,
            output_names,
        })
    }

    /// The output names, as MXNet's `list_outputs()` gives them.
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// The symbol.
    pub fn symbol(&self) -> &'s Symbol {
        self.sym
    }

    /// Names of the variables the outputs need that `weights` lacks: the
    /// inputs to give (plus missing weights).
    pub fn free_variables(&self, weights: &Weights<'_>) -> Vec<String> {
        self.sym
            .nodes()
            .iter()
            .enumerate()
            .filter(|(i, n)| self.needed[*i] && n.is_variable() && weights.get(&n.name).is_none())
            .map(|(_, n)| n.name.clone())
            .collect()
    }

    /// Infers shapes and dtypes, decides what each variable is and plans
    /// buffers. `input_shapes` gives the shapes of inputs (by name); inputs
    /// without one take their `__shape__` hint or are inferred from their
    /// consumers when possible.
    pub fn bind(
        &self,
        weights: &Weights<'_>,
        input_shapes: &HashMap<String, Vec<usize>>,
    ) -> Result<Plan, Error> {
        bind(
            self,
            weights,
            input_shapes,
            &HashMap::new(),
            &BindOptions::default(),
        )
    }

    /// Like [`Program::bind`], with input dtypes (float32 when absent).
    pub fn bind_typed(
        &self,
        weights: &Weights<'_>,
        input_shapes: &HashMap<String, Vec<usize>>,
        input_dtypes: &HashMap<String, DType>,
    ) -> Result<Plan, Error> {
        bind(
            self,
            weights,
            input_shapes,
            input_dtypes,
            &BindOptions::default(),
        )
    }

    /// Like [`Program::bind_typed`], with explicit [`BindOptions`].
    pub fn bind_with(
        &self,
        weights: &Weights<'_>,
        input_shapes: &HashMap<String, Vec<usize>>,
        input_dtypes: &HashMap<String, DType>,
        options: &BindOptions,
    ) -> Result<Plan, Error> {
        bind(self, weights, input_shapes, input_dtypes, options)
    }
}

fn resolve_outputs(sym: &Symbol, names: &[String]) -> Result<(Vec<NodeEntry>, Vec<String>), Error> {
    let mut all: HashMap<String, NodeEntry> = HashMap::new();
    let mut order = Vec::new();
    for (i, n) in sym.nodes().iter().enumerate() {
        let count = if n.is_variable() {
            1
        } else {
            n.signature().map_or(1, |s| s.visible)
        };
        for k in 0..count {
            let e = NodeEntry::new(i as u32, k as u32);
            let name = sym.entry_name(e);
            order.push(name.clone());
            all.entry(name).or_insert(e);
        }
    }
    let mut entries = Vec::new();
    for name in names {
        match all.get(name) {
            Some(e) => entries.push(*e),
            None => {
                let examples: Vec<&str> = order
                    .iter()
                    .rev()
                    .filter(|n| n.ends_with("_output"))
                    .take(4)
                    .map(String::as_str)
                    .collect();
                return Err(Error::UnknownOutput {
                    name: name.clone(),
                    examples: examples.join(", "),
                });
            }
        }
    }
    Ok((entries, names.to_vec()))
}

/// Adds the ops of `sym` (and of its subgraphs) that cannot run.
fn collect_unsupported(sym: &Symbol, out: &mut BTreeMap<String, Vec<String>>) {
    for node in sym.nodes() {
        for sub in &node.subgraphs {
            collect_unsupported(sub, out);
        }
        if !node.is_variable() && registry::find(&node.op).is_none() {
            out.entry(node.op.clone())
                .or_default()
                .push(node.name.clone());
        }
    }
}

fn ancestors(
    nodes: &[Node],
    outputs: &[NodeEntry],
    follow: impl Fn(usize, usize) -> bool,
) -> Vec<bool> {
    let mut seen = vec![false; nodes.len()];
    let mut stack: Vec<usize> = outputs.iter().map(|e| e.node as usize).collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        for (pos, e) in nodes[i].inputs.iter().enumerate() {
            if follow(i, pos) {
                stack.push(e.node as usize);
            }
        }
        for &d in &nodes[i].control_deps {
            stack.push(d as usize);
        }
    }
    seen
}

fn check_visible(
    nodes: &[Node],
    kernels: &[Option<Box<dyn Kernel>>],
    e: NodeEntry,
) -> Result<(), Error> {
    let i = e.node as usize;
    if let Some(k) = &kernels[i]
        && e.index as usize >= k.num_outputs()
    {
        return Err(Error::HiddenOutput {
            node: nodes[i].name.clone(),
            op: nodes[i].op.clone(),
            index: e.index as usize,
        });
    }
    Ok(())
}

/// Shape knowledge about one entry during inference.
#[derive(Debug, Clone, PartialEq)]
enum Known {
    No,
    /// Some dims are 0 = unknown (a `_zeros` shape waiting for its consumer).
    Partial(Vec<usize>),
    Yes(Vec<usize>),
}

impl Known {
    fn full(&self) -> Option<&[usize]> {
        match self {
            Known::Yes(s) => Some(s),
            _ => None,
        }
    }
}

fn compatible(partial: &[usize], full: &[usize]) -> bool {
    partial.len() == full.len() && partial.iter().zip(full).all(|(p, f)| *p == 0 || p == f)
}

fn init_hint(node: &Node) -> Option<f32> {
    let hint = node.attrs.get("__init__")?;
    let name = hint
        .trim_start_matches(['[', '"', ' '])
        .split(['"', ',', ' '])
        .next()?
        .to_ascii_lowercase();
    match name.as_str() {
        "zero" | "zeros" => Some(0.0),
        "one" | "ones" => Some(1.0),
        _ => None,
    }
}

fn bind(
    prog: &Program<'_>,
    weights: &Weights<'_>,
    input_shapes: &HashMap<String, Vec<usize>>,
    input_dtypes: &HashMap<String, DType>,
    options: &BindOptions,
) -> Result<Plan, Error> {
    let nodes = prog.sym.nodes();
    let np_shape = prog.sym.is_np_shape();
    let mut notes = Vec::new();
    // Roles of the needed variables.
    let mut aux_of: Vec<bool> = vec![false; nodes.len()];
    for a in prog.sym.aux_nodes() {
        aux_of[a] = true;
    }
    let mut bindings = BTreeMap::new();
    let mut known: Vec<Vec<Known>> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let outs = prog.kernels[i].as_ref().map_or(1, |k| k.num_outputs());
            let _ = n;
            vec![Known::No; outs]
        })
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        if !prog.needed[i] || !n.is_variable() {
            continue;
        }
        if let Some(w) = weights.get(&n.name) {
            bindings.insert(n.name.clone(), Binding::Weight);
            known[i][0] = Known::Yes(w.shape.clone());
        } else if let Some(s) = input_shapes.get(&n.name) {
            bindings.insert(n.name.clone(), Binding::Input);
            known[i][0] = Known::Yes(s.clone());
        } else if aux_of[i] {
            match init_hint(n) {
                Some(v) => {
                    bindings.insert(n.name.clone(), Binding::Initialized(v));
                    notes.push(format!(
                        "auxiliary state {:?} is not in the params file; filled with {v} from its __init__ hint",
                        n.name
                    ));
                }
                None => {
                    return Err(Error::MissingWeight {
                        name: n.name.clone(),
                        aux: true,
                    });
                }
            }
        } else {
            bindings.insert(n.name.clone(), Binding::Input);
            if let Some(hint) = n.attrs.get("__shape__")
                && let Ok(Some(dims)) = mxnet_format::attr::parse_int_tuple(hint)
                && dims.iter().all(|&d| d > 0 || (np_shape && d == 0))
            {
                known[i][0] = Known::Yes(dims.iter().map(|&d| d as usize).collect());
            }
        }
    }

    // Shape inference to a fixed point: forward through kernels, and
    // backward proposals for inputs that are still unknown.
    let order: Vec<usize> = (0..nodes.len()).filter(|&i| prog.needed[i]).collect();
    for _round in 0..=order.len() {
        let mut changed = false;
        for &i in &order {
            let node = &nodes[i];
            let Some(kernel) = &prog.kernels[i] else {
                continue;
            };
            let unused = kernel.unused_inputs();
            let ins: Vec<Option<Vec<usize>>> = node
                .inputs
                .iter()
                .enumerate()
                .map(|(pos, e)| {
                    if unused.contains(&pos) {
                        Some(Vec::new())
                    } else {
                        known[e.node as usize][e.index as usize]
                            .full()
                            .map(<[usize]>::to_vec)
                    }
                })
                .collect();
            if ins.iter().all(Option::is_some) {
                if known[i].iter().all(|k| matches!(k, Known::Yes(_))) {
                    continue;
                }
                let shapes: Vec<&[usize]> =
                    ins.iter().map(|s| s.as_deref().unwrap_or(&[])).collect();
                let outs = kernel
                    .infer_shapes(&shapes)
                    .map_err(|message| Error::Shape {
                        node: node.name.clone(),
                        op: node.op.clone(),
                        message,
                        inputs: shapes
                            .iter()
                            .map(|s| shape_str(s))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                for (k, s) in outs.into_iter().enumerate().take(known[i].len()) {
                    let partial = node.inputs.is_empty() && !np_shape && s.contains(&0);
                    let next = if partial {
                        match &known[i][k] {
                            Known::Yes(_) => continue,
                            _ => Known::Partial(s),
                        }
                    } else {
                        Known::Yes(s)
                    };
                    if known[i][k] != next {
                        known[i][k] = next;
                        changed = true;
                    }
                }
            } else {
                let refs: Vec<Option<&[usize]>> = ins.iter().map(|s| s.as_deref()).collect();
                let proposals = kernel.infer_input_shapes(&refs);
                for (pos, proposal) in proposals.into_iter().enumerate() {
                    let (Some(p), Some(e)) = (proposal, node.inputs.get(pos)) else {
                        continue;
                    };
                    if ins[pos].is_some() {
                        continue;
                    }
                    let (pn, pk) = (e.node as usize, e.index as usize);
                    let producer = &nodes[pn];
                    let accept = match &known[pn][pk] {
                        Known::No => {
                            producer.is_variable()
                                && bindings.get(&producer.name) == Some(&Binding::Input)
                                || producer.is_variable()
                                    && matches!(
                                        bindings.get(&producer.name),
                                        Some(Binding::Initialized(_))
                                    )
                        }
                        Known::Partial(partial) => compatible(partial, &p),
                        Known::Yes(_) => false,
                    };
                    if accept {
                        known[pn][pk] = Known::Yes(p);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }

    // Everything needed must now be known.
    let mut missing: Vec<String> = Vec::new();
    for &i in &order {
        let n = &nodes[i];
        if n.is_variable() && known[i][0].full().is_none() {
            if matches!(bindings.get(&n.name), Some(Binding::Initialized(_))) {
                return Err(Error::MissingWeight {
                    name: n.name.clone(),
                    aux: true,
                });
            }
            missing.push(n.name.clone());
        }
    }
    if !missing.is_empty() {
        return Err(Error::MissingShapes(missing));
    }
    for &i in &order {
        if let Some(k) = known[i].iter().find(|k| k.full().is_none()) {
            let n = &nodes[i];
            let message = match k {
                Known::Partial(s) => format!(
                    "shape {} has unknown (0) dimensions that nothing determines",
                    shape_str(s)
                ),
                _ => "output shape could not be inferred from its inputs".to_owned(),
            };
            return Err(Error::Shape {
                node: n.name.clone(),
                op: n.op.clone(),
                message,
                inputs: String::new(),
            });
        }
    }

    // Dtypes.
    let mut dtypes: Vec<Vec<DType>> = known.iter().map(|k| vec![DType::F32; k.len()]).collect();
    for &i in &order {
        let n = &nodes[i];
        match &prog.kernels[i] {
            None => {
                dtypes[i][0] = weights
                    .get(&n.name)
                    .map(|w| w.dtype)
                    .or_else(|| input_dtypes.get(&n.name).copied())
                    .unwrap_or(DType::F32);
            }
            Some(k) => {
                let ins: Vec<DType> = n
                    .inputs
                    .iter()
                    .map(|e| dtypes[e.node as usize][e.index as usize])
                    .collect();
                let outs = k.infer_dtypes(&ins);
                for (slot, d) in dtypes[i].iter_mut().zip(outs) {
                    *slot = d;
                }
            }
        }
    }

    // Slots for variables.
    let mut weight_names = Vec::new();
    let mut inputs = Vec::new();
    let mut consts = Vec::new();
    let mut var_slot: HashMap<usize, Slot> = HashMap::new();
    for &i in &order {
        let n = &nodes[i];
        if !n.is_variable() {
            continue;
        }
        let shape = known[i][0]
            .full()
            .map(<[usize]>::to_vec)
            .unwrap_or_default();
        let slot = match bindings.get(&n.name) {
            Some(Binding::Weight) => {
                weight_names.push(n.name.clone());
                Slot::Weight(weight_names.len() - 1)
            }
            Some(Binding::Initialized(v)) => {
                consts.push(Tensor {
                    dtype: DType::F32,
                    data: vec![*v; numel(&shape)],
                    shape,
                });
                Slot::Const(consts.len() - 1)
            }
            _ => {
                inputs.push((n.name.clone(), shape));
                Slot::Input(inputs.len() - 1)
            }
        };
        var_slot.insert(i, slot);
    }

    // Fused chains (each runs at its last node's place).
    let chains = if options.fuse {
        let shape = |e: NodeEntry| {
            known[e.node as usize][e.index as usize]
                .full()
                .map(<[usize]>::to_vec)
                .unwrap_or_default()
        };
        let dtype = |e: NodeEntry| dtypes[e.node as usize][e.index as usize];
        let constant = |e: NodeEntry| -> Option<Cow<'_, [f32]>> {
            let n = &nodes[e.node as usize];
            if !n.is_variable() {
                return None;
            }
            match bindings.get(&n.name)? {
                Binding::Weight => weights.get(&n.name).map(|w| Cow::Borrowed(&w.data[..])),
                Binding::Initialized(v) => Some(Cow::Owned(vec![
                    *v;
                    numel(
                        known[e.node as usize][0].full().unwrap_or(&[])
                    )
                ])),
                Binding::Input => None,
            }
        };
        crate::fuse::chains(&crate::fuse::Graph {
            nodes,
            kernels: &prog.kernels,
            needed: &prog.needed,
            outputs: &prog.outputs,
            shape: &shape,
            dtype: &dtype,
            constant: &constant,
            fold: options.fold,
            winograd_everywhere: options.winograd_everywhere,
        })
    } else {
        Vec::new()
    };
    let fused_nodes = chains.iter().map(|c| c.nodes.len()).sum();
    // Steps: (output node, inputs (None = unread), fused kernel, label).
    let mut chain_of: HashMap<usize, usize> = HashMap::new();
    for (k, c) in chains.iter().enumerate() {
        for &n in &c.nodes {
            chain_of.insert(n, k);
        }
    }
    let mut chains: Vec<Option<crate::fuse::Chain>> = chains.into_iter().map(Some).collect();
    type Spec = (
        usize,
        Vec<Option<NodeEntry>>,
        Option<Box<dyn Kernel>>,
        String,
    );
    let mut specs: Vec<Spec> = Vec::new();
    // Constant folding: an op outside fused chains whose inputs are all
    // weights, bound constants or folded outputs (MXNet's weight reshapes,
    // transposes and `_rnn_param_concat`) runs once here, and its outputs
    // become constants of the plan.
    let mut folded: HashMap<(usize, usize), usize> = HashMap::new();
    let mut folded_nodes = 0;
    let mut prepared_nodes = 0;
    for &i in &order {
        let Some(kernel) = prog.kernels[i].as_ref() else {
            continue;
        };
        // The values of an entry that is a weight, a bound constant or a
        // folded output.
        let constant = |e: NodeEntry| match var_slot.get(&(e.node as usize)) {
            Some(Slot::Weight(w)) => weights.get(&weight_names[*w]).map(|w| &w.data[..]),
            Some(Slot::Const(c)) => Some(&consts[*c].data[..]),
            _ => folded
                .get(&(e.node as usize, e.index as usize))
                .map(|&c| &consts[c].data[..]),
        };
        if options.fuse
            && !chain_of.contains_key(&i)
            && let Some(outs) =
                fold_constant(i, &nodes[i], kernel.as_ref(), &known, &dtypes, &constant)
        {
            for (k, t) in outs.into_iter().enumerate() {
                consts.push(t);
                folded.insert((i, k), consts.len() - 1);
            }
            folded_nodes += 1;
            continue;
        }
        match chain_of.get(&i) {
            Some(&k) => {
                let is_last = chains[k]
                    .as_ref()
                    .is_some_and(|c| c.nodes.last() == Some(&i));
                if is_last && let Some(c) = chains[k].take() {
                    specs.push((
                        i,
                        c.inputs.into_iter().map(Some).collect(),
                        Some(c.kernel),
                        c.label,
                    ));
                }
            }
            None => {
                let unused = kernel.unused_inputs();
                let ins = nodes[i]
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(pos, e)| (!unused.contains(&pos)).then_some(*e))
                    .collect::<Vec<_>>();
                // A kernel with constant inputs may specialise itself for
                // them once, here (an RNN packs its recurrent weights).
                let prepared = if options.fuse {
                    let shapes: Vec<&[usize]> = ins
                        .iter()
                        .map(|e| {
                            e.and_then(|e| known[e.node as usize][e.index as usize].full())
                                .unwrap_or(&[])
                        })
                        .collect();
                    let constants: Vec<Option<&[f32]>> = ins
                        .iter()
                        .map(|e| {
                            let e = (*e)?;
                            (dtypes[e.node as usize][e.index as usize] == DType::F32)
                                .then_some(())?;
                            constant(e)
                        })
                        .collect();
                    kernel.prepare(&shapes, &constants)
                } else {
                    None
                };
                prepared_nodes += usize::from(prepared.is_some());
                specs.push((
                    i,
                    ins,
                    prepared,
                    registry::canonical(&nodes[i].op).to_owned(),
                ));
            }
        }
    }

    // Buffer plan: allocate outputs before a step, release inputs after
    // their last use; graph outputs live to the end.
    let mut last_use: HashMap<(usize, usize), usize> = HashMap::new();
    for (s, spec) in specs.iter().enumerate() {
        for e in spec.1.iter().flatten() {
            last_use.insert((e.node as usize, e.index as usize), s);
        }
    }
    for e in &prog.outputs {
        last_use.insert((e.node as usize, e.index as usize), usize::MAX);
    }
    let mut buffer_sizes: Vec<usize> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut entry_slot: HashMap<(usize, usize), Slot> = HashMap::new();
    let mut steps = Vec::with_capacity(specs.len());
    for (s, (i, spec_inputs, fused, label)) in specs.into_iter().enumerate() {
        let mut in_slots = Vec::new();
        let mut in_shapes = Vec::new();
        let mut in_dtypes = Vec::new();
        for e in &spec_inputs {
            let Some(e) = e else {
                in_slots.push(Slot::Unused);
                in_shapes.push(Vec::new());
                in_dtypes.push(DType::F32);
                continue;
            };
            let key = (e.node as usize, e.index as usize);
            let slot = var_slot
                .get(&key.0)
                .copied()
                .or_else(|| folded.get(&key).map(|&c| Slot::Const(c)))
                .or_else(|| entry_slot.get(&key).copied())
                .unwrap_or(Slot::Unused);
            in_slots.push(slot);
            in_shapes.push(
                known[key.0][key.1]
                    .full()
                    .map(<[usize]>::to_vec)
                    .unwrap_or_default(),
            );
            in_dtypes.push(dtypes[key.0][key.1]);
        }
        let mut out_slots = Vec::new();
        let mut out_shapes = Vec::new();
        for (k, kn) in known[i].iter().enumerate() {
            let shape = kn.full().map(<[usize]>::to_vec).unwrap_or_default();
            let size = numel(&shape);
            // Best fit among free buffers, else a new one.
            let pick = free
                .iter()
                .enumerate()
                .filter(|(_, b)| buffer_sizes[**b] >= size)
                .min_by_key(|(_, b)| buffer_sizes[**b])
                .map(|(pos, _)| pos);
            let b = match pick {
                Some(pos) => free.swap_remove(pos),
                None => match free
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, b)| buffer_sizes[**b])
                {
                    // Grow the largest free buffer rather than adding one.
                    Some((pos, _)) => {
                        let b = free.swap_remove(pos);
                        buffer_sizes[b] = size;
                        b
                    }
                    None => {
                        buffer_sizes.push(size);
                        buffer_sizes.len() - 1
                    }
                },
            };
            entry_slot.insert((i, k), Slot::Buffer(b));
            out_slots.push(Slot::Buffer(b));
            out_shapes.push(shape);
            // Nobody reads it: release after this step.
            last_use.entry((i, k)).or_insert(s);
        }
        steps.push(Step {
            node: i,
            fused,
            label,
            inputs: in_slots,
            input_shapes: in_shapes,
            input_dtypes: in_dtypes,
            outputs: out_slots,
            output_shapes: out_shapes,
            output_dtypes: dtypes[i].clone(),
        });
        // Release buffers whose last use was this step.
        let mut released: Vec<(usize, usize)> = spec_inputs
            .iter()
            .flatten()
            .map(|e| (e.node as usize, e.index as usize))
            .chain((0..known[i].len()).map(|k| (i, k)))
            .filter(|key| last_use.get(key) == Some(&s))
            .collect();
        released.sort_unstable();
        released.dedup();
        for key in released {
            if let Some(Slot::Buffer(b)) = entry_slot.get(&key)
                && !free.contains(b)
            {
                free.push(*b);
            }
        }
    }
    let outputs = prog
        .outputs
        .iter()
        .map(|e| {
            let key = (e.node as usize, e.index as usize);
            let slot = var_slot
                .get(&key.0)
                .copied()
                .or_else(|| folded.get(&key).map(|&c| Slot::Const(c)))
                .or_else(|| entry_slot.get(&key).copied())
                .unwrap_or(Slot::Unused);
            let shape = known[key.0][key.1]
                .full()
                .map(<[usize]>::to_vec)
                .unwrap_or_default();
            (slot, shape, dtypes[key.0][key.1])
        })
        .collect();
    let shapes = order
        .iter()
        .flat_map(|&i| {
            known[i]
                .iter()
                .enumerate()
                .filter_map(move |(k, kn)| kn.full().map(|s| ((i, k), s.to_vec())))
        })
        .collect();
    Ok(Plan {
        shapes,
        steps,
        weights: weight_names,
        inputs,
        consts,
        buffer_sizes,
        outputs,
        bindings,
        notes,
        fused_nodes,
        folded_nodes,
        prepared_nodes,
    })
}

/// Runs a bound program; keeps its buffers between runs.
#[derive(Debug)]
pub struct Executor<'p, 's, 'w> {
    program: &'p Program<'s>,
    plan: Plan,
    weights: &'p Weights<'w>,
    buffers: Vec<Vec<f32>>,
    /// Time per op (canonical name), when profiling.
    /// Per key: calls, total time, and the order the key was first seen.
    profile: Option<BTreeMap<String, (usize, std::time::Duration, usize)>>,
    /// How the profile groups steps.
    profile_by: ProfileBy,
}

/// How [`Executor::profile`] groups the time of the steps it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProfileBy {
    /// By op: `Convolution`, or a fused chain such as
    /// `Convolution+BatchNorm+Activation`.
    #[default]
    Op,
    /// By op and shapes: `Convolution+BatchNorm (1, 32, 112, 112) -> (1, 32,
    /// 112, 112)` (the first input's shape, then the first output's), to
    /// find the slow layer shapes of a model.
    Shape,
    /// By step, in the order the steps run: the node's name (a fused
    /// chain's last node), then the op and shapes as [`ProfileBy::Shape`].
    /// Steps are never merged, so layers of the same shape stay apart.
    Node,
}

impl<'p, 's, 'w> Executor<'p, 's, 'w> {
    /// An executor for `plan`, which `program.bind(weights, …)` produced.
    pub fn new(program: &'p Program<'s>, weights: &'p Weights<'w>, plan: Plan) -> Self {
        let buffers = plan.buffer_sizes.iter().map(|_| Vec::new()).collect();
        Executor {
            program,
            plan,
            weights,
            buffers,
            profile: None,
            profile_by: ProfileBy::Op,
        }
    }

    /// Starts recording the time each op takes ([`Executor::profile`]),
    /// grouped as `by` says.
    pub fn enable_profiling(&mut self, by: ProfileBy) {
        self.profile = Some(BTreeMap::new());
        self.profile_by = by;
    }

    /// Calls and total time per op (canonical name, or op and shapes with
    /// [`ProfileBy::Shape`]) since profiling started, slowest first; per
    /// step in the order the steps run with [`ProfileBy::Node`].
    pub fn profile(&self) -> Vec<(String, usize, std::time::Duration)> {
        let mut v: Vec<_> = self.profile.iter().flatten().collect();
        if self.profile_by == ProfileBy::Node {
            v.sort_by_key(|(_, e)| e.2);
        } else {
            v.sort_by_key(|(_, e)| std::cmp::Reverse(e.1));
        }
        v.into_iter().map(|(k, e)| (k.clone(), e.0, e.1)).collect()
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// One forward pass. `inputs` maps each input name of [`Plan::inputs`] to
    /// its value, whose shape must be the bound one. The outputs are copies
    /// ([`Executor::run_borrowed`] lends them instead).
    pub fn run(&mut self, inputs: &HashMap<String, Tensor>) -> Result<Vec<Tensor>, Error> {
        Ok(self
            .run_borrowed(inputs)?
            .into_iter()
            .map(|o| Tensor {
                dtype: o.dtype,
                shape: o.shape.to_vec(),
                data: o.data.into_owned(),
            })
            .collect())
    }

    /// [`Executor::run`] without copying the outputs: each is a view of the
    /// executor's own buffer (or of an input or weight it passes through),
    /// valid until the next pass. A net whose output is large (a
    /// segmentation map, a first layer's features) then costs no
    /// allocation, page faults or copy per pass.
    pub fn run_borrowed<'a>(
        &'a mut self,
        inputs: &'a HashMap<String, Tensor>,
    ) -> Result<Vec<OutputRef<'a>>, Error> {
        let nodes = self.program.sym.nodes();
        let mut input_vals: Vec<&Tensor> = Vec::with_capacity(self.plan.inputs.len());
        for (name, shape) in &self.plan.inputs {
            let t = inputs.get(name).ok_or_else(|| Error::MissingInput {
                name: name.clone(),
                shape: shape_str(shape),
            })?;
            if &t.shape != shape {
                return Err(Error::Shape {
                    node: name.clone(),
                    op: "input".to_owned(),
                    message: format!(
                        "the value has shape {}, the plan was bound for {}",
                        shape_str(&t.shape),
                        shape_str(shape)
                    ),
                    inputs: String::new(),
                });
            }
            input_vals.push(t);
        }
        let weights: Vec<&Weight<'_>> = self
            .plan
            .weights
            .iter()
            .filter_map(|n| self.weights.get(n))
            .collect();
        for (b, size) in self.buffers.iter_mut().zip(&self.plan.buffer_sizes) {
            if b.len() < *size {
                b.resize(*size, 0.0);
            }
        }
        let warm = crate::warm::WarmWorkers::start();
        for step in &self.plan.steps {
            if let Some(w) = &warm {
                w.rearm();
            }
            let node = &nodes[step.node];
            let Some(kernel) = step
                .fused
                .as_deref()
                .or(self.program.kernels[step.node].as_deref())
            else {
                continue;
            };
            // Take the output buffers out so inputs can borrow the rest.
            let mut outs: Vec<Vec<f32>> = step
                .outputs
                .iter()
                .map(|s| match s {
                    Slot::Buffer(b) => std::mem::take(&mut self.buffers[*b]),
                    _ => Vec::new(),
                })
                .collect();
            let result = {
                let ins: Vec<In<'_>> = step
                    .inputs
                    .iter()
                    .zip(&step.input_shapes)
                    .zip(&step.input_dtypes)
                    .map(|((slot, shape), &dtype)| {
                        let data: &[f32] = match slot {
                            Slot::Weight(w) => &weights[*w].data,
                            Slot::Input(k) => &input_vals[*k].data,
                            Slot::Const(c) => &self.plan.consts[*c].data,
                            Slot::Buffer(b) => &self.buffers[*b][..numel(shape)],
                            Slot::Unused => &[],
                        };
                        In { shape, data, dtype }
                    })
                    .collect();
                let mut out_views: Vec<Out<'_>> = outs
                    .iter_mut()
                    .zip(&step.output_shapes)
                    .map(|(buf, shape)| Out {
                        shape,
                        data: &mut buf[..numel(shape)],
                    })
                    .collect();
                let started = self.profile.is_some().then(std::time::Instant::now);
                let r = kernel.forward(&ins, &mut out_views);
                if let (Some(t), Some(p)) = (started, self.profile.as_mut()) {
                    let shapes = || {
                        format!(
                            "{} {} -> {}",
                            step.label,
                            step.input_shapes
                                .first()
                                .map_or("()".into(), |s| shape_str(s)),
                            step.output_shapes
                                .first()
                                .map_or("()".into(), |s| shape_str(s)),
                        )
                    };
                    let key = match self.profile_by {
                        ProfileBy::Op => step.label.clone(),
                        ProfileBy::Shape => shapes(),
                        ProfileBy::Node => format!("{} {}", node.name, shapes()),
                    };
                    let seen = p.len();
                    let e = p.entry(key).or_insert((0, Default::default(), seen));
                    e.0 += 1;
                    e.1 += t.elapsed();
                }
                r
            };
            for ((s, mut buf), dtype) in step.outputs.iter().zip(outs).zip(&step.output_dtypes) {
                // Half-precision tensors are stored rounded, as MXNet stores them.
                round_to(
                    *dtype,
                    &mut buf[..numel(
                        &step.output_shapes[step.outputs.iter().position(|x| x == s).unwrap_or(0)],
                    )],
                );
                if let Slot::Buffer(b) = s {
                    self.buffers[*b] = buf;
                }
            }
            result.map_err(|message| Error::Run {
                node: node.name.clone(),
                op: if step.fused.is_some() {
                    step.label.clone()
                } else {
                    node.op.clone()
                },
                message,
            })?;
        }
        let mut results = Vec::with_capacity(self.plan.outputs.len());
        for (slot, shape, dtype) in &self.plan.outputs {
            let n = numel(shape);
            let data = match slot {
                Slot::Buffer(b) => Cow::Borrowed(&self.buffers[*b][..n]),
                Slot::Weight(w) => Cow::Borrowed(&weights[*w].data[..]),
                Slot::Input(k) => Cow::Borrowed(&input_vals[*k].data[..]),
                Slot::Const(c) => Cow::Borrowed(&self.plan.consts[*c].data[..]),
                Slot::Unused => Cow::Owned(vec![0.0; n]),
            };
            results.push(OutputRef {
                dtype: *dtype,
                shape,
                data,
            });
        }
        Ok(results)
    }
}

/// One output of [`Executor::run_borrowed`], lent by the executor.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputRef<'a> {
    /// The dtype MXNet would store for these values.
    pub dtype: DType,
    /// The shape; `[]` is a 0-d scalar.
    pub shape: &'a [usize],
    /// Row-major values, `numel(shape)` of them: borrowed, except for an
    /// output no step writes (zeros).
    pub data: Cow<'a, [f32]>,
}

/// The outputs of node `i` (`n`) computed now, when every input it reads
/// is a constant (`constant` gives its values) and its shapes are known:
/// `None` otherwise, for ops without inputs (sources such as `_zeros` are
/// cheap, and random sources must not be frozen), or when the kernel fails
/// (the error then comes from the pass, with its usual context).
fn fold_constant<'c>(
    i: usize,
    n: &Node,
    kernel: &dyn Kernel,
    known: &[Vec<Known>],
    dtypes: &[Vec<DType>],
    constant: &dyn Fn(NodeEntry) -> Option<&'c [f32]>,
) -> Option<Vec<Tensor>> {
    if n.inputs.is_empty() {
        return None;
    }
    let unused = kernel.unused_inputs();
    let mut shapes = Vec::with_capacity(n.inputs.len());
    let mut data = Vec::with_capacity(n.inputs.len());
    let mut in_dtypes = Vec::with_capacity(n.inputs.len());
    for (pos, e) in n.inputs.iter().enumerate() {
        let (en, ei) = (e.node as usize, e.index as usize);
        if unused.contains(&pos) {
            shapes.push(Vec::new());
            data.push(&[][..]);
            in_dtypes.push(DType::F32);
            continue;
        }
        shapes.push(known[en][ei].full()?.to_vec());
        data.push(constant(*e)?);
        in_dtypes.push(dtypes[en][ei]);
    }
    let views: Vec<In<'_>> = shapes
        .iter()
        .zip(data)
        .zip(in_dtypes)
        .map(|((shape, data), dtype)| In { shape, data, dtype })
        .collect();
    let out_shapes: Vec<Vec<usize>> = known[i]
        .iter()
        .map(|k| k.full().map(<[usize]>::to_vec))
        .collect::<Option<_>>()?;
    let mut bufs: Vec<Vec<f32>> = out_shapes.iter().map(|s| vec![0f32; numel(s)]).collect();
    let mut outs: Vec<Out<'_>> = bufs
        .iter_mut()
        .zip(&out_shapes)
        .map(|(b, shape)| Out { shape, data: b })
        .collect();
    kernel.forward(&views, &mut outs).ok()?;
    drop(outs);
    Some(
        bufs.into_iter()
            .zip(out_shapes)
            .zip(&dtypes[i])
            .map(|((data, shape), &dtype)| Tensor { dtype, data, shape })
            .collect(),
    )
}
