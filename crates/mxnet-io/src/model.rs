//! A symbol with its (optional) params file, and the role of every variable.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use mxnet_format::params::ParamsFile;
use mxnet_format::symbol::{Node, Symbol};

use crate::error::{Error, Result};
use mxnet_format::pairing::{Pairing, find_params};

/// Where the arrays of a symbol come from (the Wolfram Language's `ArrayPath`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ArrayPath {
    /// For `x-symbol.json` or `x.json`, the `x*.params` in the same folder
    /// (highest epoch first); no arrays if there is none.
    #[default]
    Automatic,
    /// This file.
    Path(PathBuf),
    /// No arrays.
    None,
}

/// A params file opened for a model, and how it was found.
#[derive(Debug)]
pub struct LoadedParams {
    /// Where it is.
    pub path: PathBuf,
    /// The parsed file.
    pub file: ParamsFile,
    /// How it was chosen, when [`ArrayPath::Automatic`] found it.
    pub pairing: Option<Pairing>,
}

/// What a variable of the graph is.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VarRole {
    /// A data input the caller must provide.
    Input,
    /// A loss label: an input only loss heads read; not needed for inference.
    Label,
    /// A learned parameter (an `arg:` array).
    Weight,
    /// An auxiliary state (an `aux:` array, e.g. BatchNorm's moving mean).
    Aux,
}

impl VarRole {
    /// `input`, `label`, `weight` or `aux`.
    pub fn as_str(self) -> &'static str {
        match self {
            VarRole::Input => "input",
            VarRole::Label => "label",
            VarRole::Weight => "weight",
            VarRole::Aux => "aux",
        }
    }
}

/// How weights were told apart from inputs.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightSource {
    /// By the `arg:` / `aux:` keys of the params file.
    PrefixedParams,
    /// By bare keys of the params file matching variable names (the file has
    /// no `arg:`/`aux:` prefixes).
    BareParams,
    /// No params: by the op slots variables feed (a Convolution's `weight`,
    /// a BatchNorm's `gamma`, …) and Gluon's parameter attributes.
    OpSlots,
}

/// A symbol and the arrays that go with it.
#[derive(Debug)]
pub struct Model {
    /// Where the symbol was read from.
    pub symbol_path: PathBuf,
    /// The graph.
    pub symbol: Symbol,
    /// The params file, if any.
    pub params: Option<LoadedParams>,
}

impl Model {
    /// Reads the symbol at `path` and the params file `array_path` selects.
    pub fn open(path: &Path, array_path: &ArrayPath) -> Result<Model> {
        let symbol = Symbol::open(path).map_err(|e| Error::from_symbol(path, e))?;
        let (params_path, pairing) = match array_path {
            ArrayPath::None => (None, None),
            ArrayPath::Path(p) => (Some(p.clone()), None),
            ArrayPath::Automatic => match find_params(path).map_err(|e| Error::io(path, e))? {
                Some(pairing) => (Some(pairing.params.clone()), Some(pairing)),
                None => (None, None),
            },
        };
        let params = match params_path {
            Some(p) => {
                let file = ParamsFile::open(&p).map_err(|e| Error::from_params(&p, e))?;
                Some(LoadedParams {
                    path: p,
                    file,
                    pairing,
                })
            }
            None => None,
        };
        Ok(Model {
            symbol_path: path.to_owned(),
            symbol,
            params,
        })
    }

    /// A model from a symbol already in memory and no arrays.
    pub fn from_symbol(symbol: Symbol) -> Model {
        Model {
            symbol_path: PathBuf::new(),
            symbol,
            params: None,
        }
    }

    /// The role of every variable, following spec §3.2.
    pub fn roles(&self) -> Roles {
        Roles::analyze(&self.symbol, self.params.as_ref().map(|p| &p.file))
    }
}

/// The role of each variable node and how it was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// Per node index: `Some(role)` for variables, `None` for op nodes.
    pub per_node: Vec<Option<VarRole>>,
    /// How weights were recognised.
    pub source: WeightSource,
    /// Auxiliary states the params file lacks (BatchNorm would start from its
    /// `__init__` hint: mean 0, variance 1).
    pub missing_aux: Vec<String>,
    /// Arrays in the params file that match no variable.
    pub extra_arrays: Vec<String>,
}

/// Ops that only move or reshape a parameter on its way to the op that uses
/// it (Gluon's RNN export reshapes and concatenates weights into `parameters`).
const PARAM_PLUMBING: &[&str] = &[
    "Reshape",
    "_rnn_param_concat",
    "Concat",
    "Cast",
    "amp_cast",
    "transpose",
    "expand_dims",
    "_copy",
    "BlockGrad",
    "Flatten",
    "SwapAxis",
    "squeeze",
];

impl Roles {
    /// Classifies the variables of `sym`, using `params` when given.
    pub fn analyze(sym: &Symbol, params: Option<&ParamsFile>) -> Roles {
        let nodes = sym.nodes();
        let aux: HashSet<usize> = sym.aux_nodes().into_iter().collect();
        let mut per_node: Vec<Option<VarRole>> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.is_variable().then_some(if aux.contains(&i) {
                    VarRole::Aux
                } else {
                    VarRole::Input
                })
            })
            .collect();
        let mut missing_aux = Vec::new();
        let mut extra_arrays = Vec::new();
        let source = match params {
            Some(file) => {
                let mut arg = HashSet::new();
                let mut aux_keys = HashSet::new();
                let mut bare = HashSet::new();
                let mut prefixed = false;
                for e in file.iter() {
                    let Some(name) = e.name() else { continue };
                    if let Some(n) = name.strip_prefix("arg:") {
                        prefixed = true;
                        arg.insert(n.to_owned());
                    } else if let Some(n) = name.strip_prefix("aux:") {
                        prefixed = true;
                        aux_keys.insert(n.to_owned());
                    } else {
                        bare.insert(name.into_owned());
                    }
                }
                let weights = if prefixed { &arg } else { &bare };
                for (i, n) in nodes.iter().enumerate() {
                    if per_node[i] == Some(VarRole::Input) && weights.contains(&n.name) {
                        per_node[i] = Some(VarRole::Weight);
                    }
                    if per_node[i] == Some(VarRole::Aux) {
                        let have = if prefixed { &aux_keys } else { &bare };
                        if !have.contains(&n.name) {
                            missing_aux.push(n.name.clone());
                        }
                    }
                }
                let names: HashSet<&str> = nodes
                    .iter()
                    .filter(|n| n.is_variable())
                    .map(|n| n.name.as_str())
                    .collect();
                for e in file.iter() {
                    let Some(name) = e.name() else { continue };
                    let stripped = name
                        .strip_prefix("arg:")
                        .or_else(|| name.strip_prefix("aux:"))
                        .unwrap_or(&name);
                    if !names.contains(stripped) {
                        extra_arrays.push(name.into_owned());
                    }
                }
                if prefixed {
                    WeightSource::PrefixedParams
                } else {
                    WeightSource::BareParams
                }
            }
            None => {
                for i in weights_by_slots(nodes) {
                    if per_node[i] == Some(VarRole::Input) {
                        per_node[i] = Some(VarRole::Weight);
                    }
                }
                WeightSource::OpSlots
            }
        };
        for i in labels(nodes, &per_node) {
            per_node[i] = Some(VarRole::Label);
        }
        Roles {
            per_node,
            source,
            missing_aux,
            extra_arrays,
        }
    }

    /// Names of the variables with `role`, in graph order.
    pub fn names<'a>(&self, sym: &'a Symbol, role: VarRole) -> Vec<&'a str> {
        sym.nodes()
            .iter()
            .zip(&self.per_node)
            .filter(|(_, r)| **r == Some(role))
            .map(|(n, _)| n.name.as_str())
            .collect()
    }
}

/// Variables that feed learned-parameter slots of known ops (through
/// plumbing ops), or carry Gluon's parameter attributes.
fn weights_by_slots(nodes: &[Node]) -> Vec<usize> {
    let mut stack: Vec<usize> = Vec::new();
    for n in nodes {
        if let Some(sig) = n.signature() {
            for &pos in &sig.learned {
                if let Some(e) = n.inputs.get(pos) {
                    stack.push(e.node as usize);
                }
            }
        }
    }
    let mut seen = vec![false; nodes.len()];
    let mut out = Vec::new();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let n = &nodes[i];
        if n.is_variable() {
            out.push(i);
        } else if PARAM_PLUMBING.contains(&n.canonical_op()) {
            stack.extend(n.inputs.iter().map(|e| e.node as usize));
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        let gluon_param = ["__lr_mult__", "__wd_mult__", "__init__"]
            .iter()
            .any(|k| n.attrs.contains_key(*k));
        if n.is_variable() && gluon_param && !seen[i] {
            out.push(i);
        }
    }
    out.sort_unstable();
    out
}

/// Inputs whose every consumer reads them in a loss-label slot.
fn labels(nodes: &[Node], roles: &[Option<VarRole>]) -> Vec<usize> {
    // Per variable: (used in a label slot, used elsewhere).
    let mut uses: BTreeMap<usize, (bool, bool)> = BTreeMap::new();
    for n in nodes {
        let labels = n.signature().map(|s| s.labels).unwrap_or_default();
        for (pos, e) in n.inputs.iter().enumerate() {
            let v = e.node as usize;
            if roles[v] == Some(VarRole::Input) {
                let u = uses.entry(v).or_default();
                if labels.contains(&pos) {
                    u.0 = true;
                } else {
                    u.1 = true;
                }
            }
        }
    }
    uses.into_iter()
        .filter(|(_, (label, other))| *label && !*other)
        .map(|(v, _)| v)
        .collect()
}
