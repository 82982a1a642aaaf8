//! Exporting nets to MXNet files (`mxnet-io export`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mxnet_net::{ExportOptions, Net};

use crate::error::{Error, Result};
use crate::model::{ArrayPath, Model};
use mxnet_format::pairing::model_prefix;

/// What to export and how.
#[derive(Debug, Clone, Default)]
pub struct ExportRequest {
    /// Where the source's arrays come from (when the source is a symbol).
    pub array_path: ArrayPath,
    /// Input shapes to record as `__shape__` hints, by input name.
    pub input_shapes: HashMap<String, Vec<usize>>,
    /// The params file to write (default: `PREFIX-0000.params` beside the
    /// symbol, the name `load_checkpoint(PREFIX, 0)` reads).
    pub params_out: Option<PathBuf>,
    /// Do not write `__shape__` hints.
    pub no_shape_hints: bool,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// The symbol written.
    pub symbol: PathBuf,
    /// The params written.
    pub params: PathBuf,
    /// Arrays written.
    pub arrays: usize,
    /// Notes (source, fallbacks, shapes).
    pub notes: Vec<String>,
}

/// True when `value` is a net description (what `import … Net --format json`
/// prints) rather than an MXNet symbol.
pub fn is_net_description(value: &serde_json::Value) -> bool {
    matches!(value["kind"].as_str(), Some("NetChain" | "NetGraph"))
}

/// Reads a net from `src`: a net description, or an MXNet symbol (any
/// version) with its arrays.
pub fn load_net(src: &Path, array_path: &ArrayPath) -> Result<(Net, Vec<String>)> {
    let text = std::fs::read_to_string(src).map_err(|e| Error::io(src, e))?;
    let net_err = |e: mxnet_net::NetError| Error::Net {
        path: src.to_owned(),
        error: Box::new(e),
    };
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
        && is_net_description(&value)
    {
        let net = mxnet_net::describe::from_json(&value).map_err(net_err)?;
        return Ok((net, vec![format!("net description from {}", src.display())]));
    }
    let model = Model::open(src, array_path)?;
    let mut notes = Vec::new();
    let weights = match &model.params {
        Some(p) => {
            notes.push(format!("arrays from {}", p.path.display()));
            Some(
                mxnet_ops::Weights::from_params(&p.file).map_err(|e| Error::Value {
                    path: p.path.clone(),
                    array: "?".into(),
                    error: e,
                })?,
            )
        }
        None => None,
    };
    let imported = mxnet_net::import_symbol(&model.symbol, weights.as_ref()).map_err(net_err)?;
    for f in &imported.fallbacks {
        notes.push(format!(
            "{} ({}) kept as an MXNetOp layer: {}",
            f.node, f.op, f.reason
        ));
    }
    Ok((imported.net, notes))
}

/// The default params path for a symbol path: `PREFIX-0000.params`.
pub fn default_params_path(symbol: &Path) -> PathBuf {
    let prefix = model_prefix(symbol).unwrap_or_else(|| "model".to_owned());
    symbol.with_file_name(format!("{prefix}-0000.params"))
}

/// Exports `net` as `out` (symbol JSON) plus its params file.
pub fn export_net(net: &Net, out: &Path, request: &ExportRequest) -> Result<ExportReport> {
    let mut net = net.clone();
    let mut notes = Vec::new();
    for (name, shape) in &request.input_shapes {
        net.set_input_shape(name, shape.clone())
            .map_err(|e| Error::Net {
                path: out.to_owned(),
                error: Box::new(e),
            })?;
    }
    let params = request
        .params_out
        .clone()
        .unwrap_or_else(|| default_params_path(out));
    let options = ExportOptions {
        no_shape_hints: request.no_shape_hints,
    };
    let exported = mxnet_net::export(&net, out, &params, &options).map_err(|e| Error::Net {
        path: out.to_owned(),
        error: Box::new(e),
    })?;
    let unknown: Vec<&str> = net
        .inputs
        .iter()
        .filter(|p| p.shape.is_none())
        .map(|p| p.name.as_str())
        .collect();
    if !unknown.is_empty() && !request.no_shape_hints {
        notes.push(format!(
            "no shape known for input(s) {}: give --input-shape to record it in the file",
            unknown.join(", ")
        ));
    }
    Ok(ExportReport {
        symbol: out.to_owned(),
        params,
        arrays: exported.params.len(),
        notes,
    })
}
