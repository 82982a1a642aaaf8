//! Running a model: inputs from `.npy`/`.params` files, outputs to
//! `.params`/`.npz`, through the `mxnet-ops` executor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mxnet_format::params::{Array, ParamsFile, ParamsWriter};
use mxnet_ops::{Executor, Program, Tensor, Weights};

use crate::error::{Error, Result};
use crate::model::{ArrayPath, Model};
use crate::npy;

/// What to run and with what.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Where the weights come from.
    pub array_path: ArrayPath,
    /// Input values by name: `.npy` files, or `.params` files holding that
    /// name (or a single array).
    pub inputs: Vec<(String, PathBuf)>,
    /// Input shapes by name (for inputs without a value: they get zeros).
    pub input_shapes: HashMap<String, Vec<usize>>,
    /// Outputs to compute, by MXNet's names (`fc1_output`); default: the
    /// graph's outputs.
    pub outputs: Option<Vec<String>>,
}

/// The outputs of a run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Output names (MXNet's `list_outputs()` style).
    pub names: Vec<String>,
    /// Output values, in the dtypes MXNet gives them.
    pub outputs: Vec<Tensor>,
    /// Which files were used, inputs filled with zeros, aux states filled
    /// from hints.
    pub notes: Vec<String>,
}

/// Reads the value of input `name` from `path`: a `.npy` file, an `.npz`
/// holding `name`, or a `.params` file holding `name` (with or without an
/// `arg:` prefix) or a single array.
pub fn load_input(name: &str, path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: String| Error::Input {
        name: name.to_owned(),
        path: path.to_owned(),
        reason,
    };
    let value = |a: &Array<'_>| Tensor::from_array(a).map_err(|e| bad(e.to_string()));
    match mxnet_format::sniff(&bytes[..bytes.len().min(64)]) {
        mxnet_format::FileKind::Npy => {
            let a = npy::read_npy(&bytes).map_err(|e| bad(e.to_string()))?;
            value(&a)
        }
        mxnet_format::FileKind::Zip => {
            let arrays =
                npy::read_npz(std::io::Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
            match arrays.iter().find(|(n, _)| n == name) {
                Some((_, a)) => value(a),
                None if arrays.len() == 1 => value(&arrays[0].1),
                None => Err(bad(format!(
                    "the archive has no array {name:?} (it has {})",
                    arrays
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
        _ => {
            let file = ParamsFile::from_bytes(bytes).map_err(|source| Error::Params {
                path: path.to_owned(),
                error: Box::new(source),
            })?;
            let entry = file
                .get_by_name(name)
                .or_else(|| file.get_by_name(&format!("arg:{name}")))
                .or_else(|| if file.len() == 1 { file.get(0) } else { None });
            match entry {
                Some(e) => value(&e.array),
                None => Err(bad(format!(
                    "the .params file has no array {name:?} and holds {} arrays",
                    file.len()
                ))),
            }
        }
    }
}

/// Writes outputs to `path`: `.npz` (NumPy) or `.params` (MXNet), by name,
/// atomically.
///
/// MXNet can give several outputs one name (a block called more than once,
/// e.g. GluonCV's monodepth2 decoder); they are saved under
/// [`unique_names`], since an archive holds each name once.
pub fn save_outputs(path: &Path, names: &[String], outputs: &[Tensor]) -> Result<()> {
    let arrays: Vec<(String, Array<'static>)> = unique_names(names)
        .into_iter()
        .zip(outputs.iter().map(Tensor::to_array))
        .collect();
    let is_npz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    if is_npz {
        mxnet_format::fsutil::write_atomically(path, |w| npy::write_npz(&arrays, w))
            .map_err(|e| Error::io(path, e))
    } else {
        let mut writer = ParamsWriter::new();
        for (n, a) in &arrays {
            writer.push(Some(n), a.clone());
        }
        writer
            .save(path)
            .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))
    }
}

/// `names` made unique for saving: the first output with a name keeps it,
/// the k-th one after it (k ≥ 2) becomes `NAME#k` (or `NAME#k#k…` should
/// that be taken too).
pub fn unique_names(names: &[String]) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> = names.iter().cloned().collect();
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    names
        .iter()
        .map(|n| {
            let k = seen.entry(n.as_str()).or_insert(0);
            *k += 1;
            if *k == 1 {
                return n.clone();
            }
            let mut u = format!("{n}#{k}");
            while !taken.insert(u.clone()) {
                u = format!("{u}#{k}");
            }
            u
        })
        .collect()
}

/// Runs the model at `path` once.
pub fn run(path: &Path, options: &RunOptions) -> Result<RunResult> {
    let model = Model::open(path, &options.array_path)?;
    run_model(&model, options)
}

/// Runs an opened model once.
pub fn run_model(model: &Model, options: &RunOptions) -> Result<RunResult> {
    let exec_err = |source: mxnet_ops::Error| Error::Exec {
        path: model.symbol_path.clone(),
        error: Box::new(source),
    };
    let mut notes = Vec::new();
    let weights = match &model.params {
        Some(p) => {
            notes.push(match &p.pairing {
                Some(pairing) => format!("weights from {} ({})", p.path.display(), pairing.reason),
                None => format!("weights from {}", p.path.display()),
            });
            Weights::from_params(&p.file).map_err(|e| Error::Value {
                path: p.path.clone(),
                array: "?".to_owned(),
                error: e,
            })?
        }
        None => {
            notes.push("no params file: every variable is an input".to_owned());
            Weights::new()
        }
    };
    let program = Program::compile(&model.symbol, options.outputs.as_deref()).map_err(exec_err)?;
    let mut values: HashMap<String, Tensor> = HashMap::new();
    for (name, file) in &options.inputs {
        values.insert(name.clone(), load_input(name, file)?);
    }
    let mut shapes: HashMap<String, Vec<usize>> = options.input_shapes.clone();
    for (n, v) in &values {
        if let Some(s) = shapes.get(n)
            && s != &v.shape
        {
            return Err(Error::Input {
                name: n.clone(),
                path: PathBuf::new(),
                reason: format!(
                    "--input-shape says {} but the value has shape {}",
                    mxnet_ops::shape_str(s),
                    mxnet_ops::shape_str(&v.shape)
                ),
            });
        }
        shapes.insert(n.clone(), v.shape.clone());
    }
    let dtypes = values.iter().map(|(k, v)| (k.clone(), v.dtype)).collect();
    let plan = program
        .bind_typed(&weights, &shapes, &dtypes)
        .map_err(exec_err)?;
    notes.extend(plan.notes().iter().cloned());
    let mut zeroed = Vec::new();
    for (name, shape) in plan.inputs() {
        if !values.contains_key(name) {
            zeroed.push(format!("{name} {}", mxnet_ops::shape_str(shape)));
            values.insert(name.clone(), Tensor::zeros(shape.clone()));
        }
    }
    if !zeroed.is_empty() {
        let shown = zeroed
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if zeroed.len() > 5 {
            format!(" and {} more", zeroed.len() - 5)
        } else {
            String::new()
        };
        notes.push(format!(
            "no value given for {} input(s), using zeros: {shown}{more}",
            zeroed.len()
        ));
    }
    let mut exec = Executor::new(&program, &weights, plan);
    let outputs = exec.run(&values).map_err(exec_err)?;
    Ok(RunResult {
        names: program.output_names().to_vec(),
        outputs,
        notes,
    })
}
