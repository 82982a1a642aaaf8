//! Operator signatures: what MXNet's registry says about each op's inputs and
//! outputs.
//!
//! The codecs need a little of MXNet's operator knowledge to read a file the
//! way MXNet does: the canonical name of an alias (`_Plus` is written back as
//! `elemwise_add`), the input names of a node (the legacy upgrade moves
//! `weight_lr_mult` onto the `weight` input and names the aux inputs that
//! pre-0.9 files omit), which inputs are auxiliary states (`list_auxiliary_states`),
//! and how many outputs a node has (`node_row_ptr`, output names, and checking
//! that entries point at outputs that exist).
//!
//! [`lookup`] covers every operator MXNet 1.9.1 registers (886 ops, 1167 names,
//! generated from MXNet's own registry by `tools/gen_schema.py`). [`signature`]
//! adds the attribute-dependent parts (e.g. `no_bias` removes the bias input,
//! `state_outputs` adds RNN outputs), checked against MXNet in
//! `tests/fixtures/schema_probe.json`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::attr::{parse_bool, parse_int, parse_int_tuple};

mod registry;

/// One operator of MXNet's registry.
#[derive(Debug)]
pub struct OpDef {
    /// The canonical name, which MXNet writes.
    pub name: &'static str,
    /// Other names MXNet accepts for it (`_Plus` for `elemwise_add`).
    pub aliases: &'static [&'static str],
    /// Declared array inputs, in order (before attribute-dependent changes).
    pub inputs: &'static [&'static str],
    /// For variadic ops, the attribute that holds the input count (`num_args`).
    pub num_args_key: Option<&'static str>,
    /// Declared attributes.
    pub params: &'static [ParamDef],
}

/// One declared attribute of an operator.
#[derive(Debug)]
pub struct ParamDef {
    /// Attribute name.
    pub name: &'static str,
    /// MXNet's type description (`"Shape(tuple)"`, `"boolean"`, `"{'max', 'avg'}"`).
    pub ty: &'static str,
    /// Default as MXNet prints it, or `None` when the attribute is required.
    pub default: Option<&'static str>,
}

impl OpDef {
    /// The declared attribute called `name`.
    pub fn param(&self, name: &str) -> Option<&'static ParamDef> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// The operator called `name` (canonical or alias), if MXNet 1.9.1 knows it.
pub fn lookup(name: &str) -> Option<&'static OpDef> {
    let i = registry::NAMES
        .binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes()))
        .ok()?;
    registry::OPS.get(usize::from(registry::NAMES[i].1))
}

/// The canonical spelling of an op name (`_Plus` → `elemwise_add`), or
/// `None` for an op MXNet 1.9.1 does not register.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    lookup(name).map(|d| d.name)
}

/// Every registered operator, sorted by canonical name.
pub fn all() -> &'static [OpDef] {
    registry::OPS
}

/// What a node of some op with some attributes takes and gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Input names in order (MXNet's `FListInputNames`, auxiliary states
    /// included). Auto-created variables are named `NODE_NAME + "_" + input`.
    pub inputs: Vec<Cow<'static, str>>,
    /// Positions of inputs that are auxiliary states (mutable inputs).
    pub aux: Vec<usize>,
    /// Positions of inputs that are learned parameters (weights, biases,
    /// scales; stored as `arg:` in checkpoints).
    pub learned: Vec<usize>,
    /// Positions of inputs that are loss labels (unused by the forward pass).
    pub labels: Vec<usize>,
    /// Names of all outputs, hidden ones included, in index order.
    pub outputs: Vec<Cow<'static, str>>,
    /// How many of the outputs are visible (the first ones).
    pub visible: usize,
}

impl Signature {
    fn new(inputs: &[&'static str]) -> Signature {
        Signature {
            inputs: inputs.iter().map(|&s| Cow::Borrowed(s)).collect(),
            aux: Vec::new(),
            learned: Vec::new(),
            labels: Vec::new(),
            outputs: vec![Cow::Borrowed("output")],
            visible: 1,
        }
    }
    /// `prefix0`, `prefix1`, … `prefix{n-1}`.
    ///
    /// The names are made once per prefix and kept (at most `MAX_COUNT` per
    /// prefix, four prefixes), so a signature costs a copy of pointers, not
    /// `n` string allocations: a file can hold thousands of nodes that each
    /// declare tens of thousands of inputs, and every signature is asked for
    /// once per node.
    fn numbered(prefix: &'static str, n: usize) -> Vec<Cow<'static, str>> {
        type Tables = BTreeMap<&'static str, Vec<&'static str>>;
        static TABLES: Mutex<Tables> = Mutex::new(BTreeMap::new());
        let mut tables = TABLES.lock().unwrap_or_else(PoisonError::into_inner);
        let names = tables.entry(prefix).or_default();
        while names.len() < n {
            let name = format!("{prefix}{}", names.len());
            names.push(Box::leak(name.into_boxed_str()));
        }
        names[..n].iter().map(|&s| Cow::Borrowed(s)).collect()
    }
    fn learned(mut self, positions: &[usize]) -> Self {
        self.learned = positions.to_vec();
        self
    }
    fn aux(mut self, positions: &[usize]) -> Self {
        self.aux = positions.to_vec();
        self
    }
    fn labels(mut self, positions: &[usize]) -> Self {
        self.labels = positions.to_vec();
        self
    }
    fn outputs(mut self, names: &[&'static str], visible: usize) -> Self {
        self.outputs = names.iter().map(|&s| Cow::Borrowed(s)).collect();
        self.visible = visible;
        self
    }
    /// `n` outputs named `output0…` (or `output` when `n == 1`), as MXNet
    /// names outputs of ops that declare no names.
    fn numbered_outputs(mut self, n: usize, visible: usize) -> Self {
        self.outputs = if n == 1 {
            vec![Cow::Borrowed("output")]
        } else {
            Signature::numbered("output", n)
        };
        self.visible = visible;
        self
    }
    /// Total number of outputs, hidden ones included.
    pub fn num_outputs(&self) -> usize {
        self.outputs.len()
    }
}

type Attrs = BTreeMap<String, String>;

fn flag(attrs: &Attrs, key: &str, default: bool) -> bool {
    attrs
        .get(key)
        .and_then(|v| parse_bool(v).ok())
        .unwrap_or(default)
}

fn count(attrs: &Attrs, key: &str) -> Option<usize> {
    attrs
        .get(key)
        .and_then(|v| parse_int(v).ok())
        .and_then(|n| usize::try_from(n).ok())
        // No op takes more inputs or outputs than this; a larger value is a
        // corrupt file, not a reason to allocate.
        .filter(|&n| n <= MAX_COUNT)
}

/// The largest input or output count an attribute may declare.
const MAX_COUNT: usize = 1 << 16;

/// True when an op's inputs are numbered from a count attribute (`num_args`
/// of `Concat`, `add_n`, `_foreach`, …; `num_outputs` of `amp_multicast`)
/// rather than declared by name.
pub(crate) fn has_counted_inputs(op: &str) -> bool {
    lookup(op).is_some_and(|d| d.num_args_key.is_some() || d.name == "amp_multicast")
}

fn text<'a>(attrs: &'a Attrs, key: &str, default: &'a str) -> &'a str {
    attrs.get(key).map_or(default, |s| s.trim())
}

/// The signature of a node of op `op` (canonical or alias) with `attrs`, or
/// `None` when MXNet 1.9.1 does not register the op or its arity cannot be
/// known from the file alone (`Custom`).
///
/// Attributes that do not parse fall back to their defaults; validating
/// attribute values is the business of the op implementations.
pub fn signature(op: &str, attrs: &Attrs) -> Option<Signature> {
    let def = lookup(op)?;
    let sig = match def.name {
        "Convolution" | "Convolution_v1" | "FullyConnected" => {
            if flag(attrs, "no_bias", false) {
                Signature::new(&["data", "weight"]).learned(&[1])
            } else {
                Signature::new(&["data", "weight", "bias"]).learned(&[1, 2])
            }
        }
        "Deconvolution" => {
            if flag(attrs, "no_bias", true) {
                Signature::new(&["data", "weight"]).learned(&[1])
            } else {
                Signature::new(&["data", "weight", "bias"]).learned(&[1, 2])
            }
        }
        "BatchNorm" | "BatchNorm_v1" | "_contrib_SyncBatchNorm" | "CuDNNBatchNorm" => {
            let visible = if flag(attrs, "output_mean_var", false) {
                3
            } else {
                1
            };
            Signature::new(&["data", "gamma", "beta", "moving_mean", "moving_var"])
                .learned(&[1, 2])
                .aux(&[3, 4])
                .outputs(&["output", "mean", "var"], visible)
        }
        "_contrib_BatchNormWithReLU" => {
            let visible = if flag(attrs, "output_mean_var", false) {
                3
            } else {
                1
            };
            Signature::new(&["data", "gamma", "beta", "moving_mean", "moving_var"])
                .learned(&[1, 2])
                .aux(&[3, 4])
                .outputs(&["output", "mean", "var", "workspace"], visible)
        }
        "InstanceNorm" => Signature::new(&["data", "gamma", "beta"])
            .learned(&[1, 2])
            .outputs(&["output", "mean", "var"], 1),
        "LayerNorm" | "GroupNorm" => {
            let visible = if flag(attrs, "output_mean_var", false) {
                3
            } else {
                1
            };
            Signature::new(&["data", "gamma", "beta"])
                .learned(&[1, 2])
                .outputs(&["output", "mean", "std"], visible)
        }
        "L2Normalization" => Signature::new(&["data"]).outputs(&["output", "norm"], 1),
        "LRN" => Signature::new(&["data"]).outputs(&["output", "tmp_norm"], 1),
        "Dropout" => Signature::new(&["data"]).outputs(&["output", "mask"], 1),
        "LeakyReLU" => match text(attrs, "act_type", "leaky") {
            "prelu" => Signature::new(&["data", "gamma"]).learned(&[1]),
            "rrelu" => Signature::new(&["data"]).outputs(&["output", "mask"], 2),
            _ => Signature::new(&["data"]),
        },
        "Pooling" => {
            if pooling_has_workspace(attrs) {
                Signature::new(&["data"]).outputs(&["output", "workspace"], 1)
            } else {
                Signature::new(&["data"])
            }
        }
        "UpSampling" => {
            if text(attrs, "sample_type", "nearest") == "bilinear" {
                Signature::new(&["data", "weight"]).learned(&[1])
            } else {
                let mut s = Signature::new(&[]);
                s.inputs = Signature::numbered("arg", count(attrs, "num_args").unwrap_or(1));
                s
            }
        }
        "_contrib_DeformableConvolution" => {
            if flag(attrs, "no_bias", false) {
                Signature::new(&["data", "offset", "weight"]).learned(&[2])
            } else {
                Signature::new(&["data", "offset", "weight", "bias"]).learned(&[2, 3])
            }
        }
        "_contrib_ModulatedDeformableConvolution" => {
            if flag(attrs, "no_bias", false) {
                Signature::new(&["data", "offset", "mask", "weight"]).learned(&[3])
            } else {
                Signature::new(&["data", "offset", "mask", "weight", "bias"]).learned(&[3, 4])
            }
        }
        "Embedding" | "_contrib_SparseEmbedding" => {
            Signature::new(&["data", "weight"]).learned(&[1])
        }
        "RNN" => {
            let lstm = text(attrs, "mode", "") == "lstm";
            let mut inputs = vec!["data", "parameters", "state"];
            if lstm {
                inputs.push("state_cell");
            }
            if flag(attrs, "use_sequence_length", false) {
                inputs.push("sequence_length");
            }
            let s = Signature::new(&inputs).learned(&[1]);
            match (flag(attrs, "state_outputs", false), lstm) {
                (true, true) => s.outputs(&["output", "state_output", "statecell_output"], 3),
                (true, false) => s.outputs(&["output", "state_output"], 2),
                (false, _) => s,
            }
        }
        "SoftmaxOutput"
        | "LinearRegressionOutput"
        | "LogisticRegressionOutput"
        | "MAERegressionOutput"
        | "SVMOutput" => Signature::new(&["data", "label"]).labels(&[1]),
        "CTCLoss" => {
            let mut inputs = vec!["data", "label"];
            if flag(attrs, "use_data_lengths", false) {
                inputs.push("data_lengths");
            }
            if flag(attrs, "use_label_lengths", false) {
                inputs.push("label_lengths");
            }
            Signature::new(&inputs)
                .labels(&[1])
                .outputs(&["output", "grad"], 1)
        }
        "softmax" | "log_softmax" | "softmin" => {
            if flag(attrs, "use_length", false) {
                Signature::new(&["data", "length"])
            } else {
                Signature::new(&["data"])
            }
        }
        "SequenceLast" | "SequenceMask" | "SequenceReverse" => {
            if flag(attrs, "use_sequence_length", false) {
                Signature::new(&["data", "sequence_length"])
            } else {
                Signature::new(&["data"])
            }
        }
        "_contrib_BilinearResize2D" => {
            if text(attrs, "mode", "size") == "like" {
                Signature::new(&["data", "like"])
            } else {
                Signature::new(&["data"])
            }
        }
        "IdentityAttachKLSparseReg" => Signature::new(&["data", "moving_avg"]).aux(&[1]),
        "make_loss" => Signature::new(&["data"]).outputs(&["loss"], 1),
        "SliceChannel" => {
            let n = count(attrs, "num_outputs").unwrap_or(1);
            let mut s = Signature::new(&["data"]);
            s.outputs = Signature::numbered("output", n);
            s.visible = n;
            s
        }
        "amp_multicast" => {
            let n = count(attrs, "num_outputs").unwrap_or(1);
            let mut s = Signature::new(&[]);
            s.inputs = Signature::numbered("data_", n);
            s.numbered_outputs(n, n)
        }
        "topk" => match text(attrs, "ret_typ", "indices") {
            "both" => Signature::new(&["data"]).numbered_outputs(2, 2),
            "value" => Signature::new(&["data"]).numbered_outputs(2, 1),
            _ => Signature::new(&["data"]),
        },
        "_contrib_box_nms" => Signature::new(&["data"]).numbered_outputs(2, 1),
        "moments" => Signature::new(&["data"]).numbered_outputs(2, 2),
        "_contrib_quantize_v2" | "_contrib_quantize" => {
            let s = Signature::new(def.inputs);
            s.numbered_outputs(3, 3)
        }
        "ROIPooling" => Signature::new(&["data", "rois"]).outputs(&["output", "maxidx"], 1),
        "Correlation" => {
            Signature::new(&["data1", "data2"]).outputs(&["output", "tmp1", "tmp2"], 1)
        }
        "GridGenerator" => Signature::new(&["data"]).outputs(&["output", "grid_dst"], 1),
        "BilinearSampler" => Signature::new(&["data", "grid"]).outputs(&["output", "tmp"], 1),
        "SpatialTransformer" => {
            Signature::new(&["data", "loc"]).outputs(&["output", "grid_dst", "grid_src"], 1)
        }
        "_contrib_MultiBoxTarget" => Signature::new(&["anchor", "label", "cls_pred"])
            .outputs(&["loc_target", "loc_mask", "cls_target"], 3),
        "_contrib_Proposal" | "_contrib_MultiProposal" => {
            let visible = if flag(attrs, "output_score", false) {
                2
            } else {
                1
            };
            Signature::new(&["cls_prob", "bbox_pred", "im_info"])
                .outputs(&["output", "score"], visible)
        }
        "_foreach" | "_while_loop" | "_cond" => {
            let n_in = count(attrs, "num_args").unwrap_or(0);
            let n_out = count(attrs, "num_outputs").unwrap_or(1);
            let mut s = Signature::new(&[]);
            s.inputs = Signature::numbered("data", n_in);
            s.numbered_outputs(n_out, n_out)
        }
        "Custom" => return None,
        _ => match def.num_args_key {
            Some(key) => {
                let mut s = Signature::new(&[]);
                s.inputs = Signature::numbered("arg", count(attrs, key).unwrap_or(0));
                s
            }
            None => Signature::new(def.inputs),
        },
    };
    Some(sig)
}

/// Max pooling in MXNet's oneDNN build keeps a hidden workspace output when
/// oneDNN handles it: a 1-D–3-D kernel and a channels-first (or unset) layout.
fn pooling_has_workspace(attrs: &Attrs) -> bool {
    let kernel_ndim = attrs
        .get("kernel")
        .and_then(|k| parse_int_tuple(k).ok().flatten())
        .map_or(0, |k| k.len());
    text(attrs, "pool_type", "max") == "max"
        && (1..=3).contains(&kernel_ndim)
        && matches!(
            text(attrs, "layout", "None"),
            "None" | "NCW" | "NCHW" | "NCDHW"
        )
}

/// Positions of an op's inputs that MXNet's pre-0.9.4 upgrade gives an
/// `__init__` hint, with the hint (`FSetInputVarAttrOnCompose`).
pub(crate) fn init_hints(op: &str) -> &'static [(usize, &'static str)] {
    match canonical_name(op) {
        Some(
            "BatchNorm"
            | "BatchNorm_v1"
            | "_contrib_SyncBatchNorm"
            | "_contrib_BatchNormWithReLU"
            | "CuDNNBatchNorm",
        ) => &[(3, "[\"zero\", {}]"), (4, "[\"one\", {}]")],
        Some("LeakyReLU") => &[(1, "[\"Constant\", {\"value\": 0.25}]")],
        Some("IdentityAttachKLSparseReg") => &[(1, "[\"zero\", {}]")],
        Some("UpSampling") => &[(1, "[\"bilinear\", {}]")],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn aliases_resolve_to_canonical_names() {
        assert_eq!(canonical_name("_Plus"), Some("elemwise_add"));
        assert_eq!(canonical_name("_npx_convolution"), Some("Convolution"));
        assert_eq!(canonical_name("crop"), Some("slice"));
        assert_eq!(canonical_name("Softmax"), Some("SoftmaxOutput"));
        assert_eq!(canonical_name("ElementWiseSum"), Some("add_n"));
        assert_eq!(canonical_name("NoSuchOp"), None);
        assert_eq!(all().len(), 886);
    }

    #[test]
    fn attribute_dependent_arity() {
        let s = signature("Convolution", &attrs(&[("no_bias", "True")])).unwrap();
        assert_eq!(s.inputs, ["data", "weight"]);
        let s = signature("Deconvolution", &attrs(&[])).unwrap();
        assert_eq!(s.inputs, ["data", "weight"]);
        let s = signature("Pooling", &attrs(&[("kernel", "(2, 2)")])).unwrap();
        assert_eq!((s.num_outputs(), s.visible), (2, 1));
        let s = signature(
            "Pooling",
            &attrs(&[("kernel", "(2, 2)"), ("pool_type", "avg")]),
        )
        .unwrap();
        assert_eq!(s.num_outputs(), 1);
        let s = signature("Concat", &attrs(&[("num_args", "3")])).unwrap();
        assert_eq!(s.inputs, ["arg0", "arg1", "arg2"]);
        assert!(signature("Custom", &attrs(&[])).is_none());
    }
}
