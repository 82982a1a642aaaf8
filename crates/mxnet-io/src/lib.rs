//! Import Apache MXNet models by element, as the Wolfram Language's "MXNet"
//! format does, without MXNet installed.
//!
//! An MXNet model is `PREFIX-symbol.json` (the graph) plus
//! `PREFIX-EEEE.params` (the arrays). [`import`] reads one *element* of such a
//! file:
//!
//! | file | element | result |
//! |---|---|---|
//! | `.params` | [`Element::ArrayAssociation`] | name → array |
//! | `.params` | [`Element::ArrayList`] | the arrays in file order |
//! | `.params` | [`Element::ArrayNames`] | the names in file order |
//! | `.json` | [`Element::InputNames`] | the data inputs (not weights, not aux states; labels apart) |
//! | `.json` | [`Element::NodeDataset`] | one row per node |
//! | `.json` | [`Element::NodeGraph`] | the node graph (text, JSON, DOT) |
//!
//! Symbol elements use the params file that [`ArrayPath`] selects: by default
//! the `x*.params` beside `x-symbol.json` with the highest epoch.
//!
//! ```
//! use mxnet_io::{import, Element, ImportOptions, Imported};
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/spec-examples");
//! let result = import(format!("{dir}/cnn-symbol.json"), Element::InputNames, &ImportOptions::default())?;
//! let Imported::InputNames(names) = result.value else { unreachable!() };
//! assert_eq!(names.inputs, ["data"]);
//! assert_eq!(names.labels, ["softmax_label"]);
//! // The notes say which params file was paired with the symbol.
//! assert!(result.notes[0].contains("cnn-0001.params"));
//! # Ok::<(), mxnet_io::Error>(())
//! ```

#![deny(missing_docs)]

pub mod bench;
mod elements;
mod error;
mod export;
mod model;
pub mod npy;
pub mod plot;
mod run;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use elements::{
    ArrayInfo, Element, FileType, GraphEdge, GraphNode, InputNames, InputRef, LayerInfo, NodeGraph,
    NodeRow, array_infos, array_json, flat_values, float_json, layer_association, node_dataset,
    source_name,
};
pub use error::{Error, Result};
pub use export::{
    ExportReport, ExportRequest, default_params_path, export_net, is_net_description, load_net,
};
pub use model::{ArrayPath, LoadedParams, Model, Roles, VarRole, WeightSource};
pub use mxnet_format::pairing::{Pairing, find_params, model_prefix};
pub use run::{RunOptions, RunResult, load_input, run, run_model, save_outputs, unique_names};

pub use mxnet_net;
pub use mxnet_ops;
pub use mxnet_plot;

pub use mxnet_format;
use mxnet_format::params::ParamsFile;

/// Options of [`import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Where a symbol's arrays come from.
    pub array_path: ArrayPath,
    /// Input shapes for the `Net` elements (MXNet files do not store them),
    /// by input name.
    pub input_shapes: std::collections::HashMap<String, Vec<usize>>,
}

/// A net imported from a symbol.
#[derive(Debug)]
pub struct NetImport {
    /// The net.
    pub net: mxnet_net::Net,
    /// Nodes kept as `MXNetOp` layers, and why.
    pub fallbacks: Vec<mxnet_net::Fallback>,
    /// Loss-label inputs dropped from the net (inference does not read them).
    pub dropped_labels: Vec<String>,
}

/// A `.params` file opened for import, with its path.
#[derive(Debug)]
pub struct ParamsSource {
    /// Where the file is (`-` for standard input).
    pub path: PathBuf,
    /// The parsed file; arrays are views into it.
    pub file: ParamsFile,
}

/// The value of an imported element.
#[non_exhaustive]
#[derive(Debug)]
pub enum Imported {
    /// `ArrayAssociation` and `ArrayList`: the file, whose arrays are decoded
    /// on request ([`ParamsFile::iter`]); `infos` describes them.
    Arrays {
        /// Which of the two elements.
        element: Element,
        /// The file.
        source: ParamsSource,
        /// Name, dtype, shape, … of every array.
        infos: Vec<ArrayInfo>,
    },
    /// `ArrayNames`: names in file order (`None` entries in a list file).
    ArrayNames(Vec<Option<String>>),
    /// `InputNames`.
    InputNames(InputNames),
    /// `NodeDataset`.
    NodeDataset(Vec<NodeRow>),
    /// `NodeGraph`.
    NodeGraph(NodeGraph),
    /// `Net` and `UninitializedNet`.
    Net(Box<NetImport>),
    /// `LayerAssociation`.
    LayerAssociation(Vec<LayerInfo>, Vec<mxnet_net::Fallback>),
    /// `NodeGraphPlot`: the picture, rendered to SVG or PNG on output.
    Plot(Box<mxnet_plot::Diagram>),
}

/// An imported element and what is worth knowing about how it was read.
#[derive(Debug)]
pub struct Import {
    /// The element's value.
    pub value: Imported,
    /// Which files were used and what was tolerated or upgraded, one sentence
    /// each (the CLI prints them to stderr).
    pub notes: Vec<String>,
}

/// What kind of file `path` is, from its extension, else from its contents.
pub fn file_type(path: &Path) -> Result<FileType> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".json") {
        return Ok(FileType::Symbol);
    }
    if name.ends_with(".params") {
        return Ok(FileType::Params);
    }
    let head = read_head(path)?;
    match mxnet_format::sniff(&head) {
        mxnet_format::FileKind::Params | mxnet_format::FileKind::RawNdArray => Ok(FileType::Params),
        mxnet_format::FileKind::Json => Ok(FileType::Symbol),
        other => Err(Error::UnknownFileKind {
            path: path.to_owned(),
            detail: other.describe().to_owned(),
        }),
    }
}

fn read_head(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = vec![0u8; 64];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    head.truncate(n);
    Ok(head)
}

/// Opens a `.params` file (memory-mapped).
pub fn open_params(path: &Path) -> Result<ParamsSource> {
    let file = ParamsFile::open(path).map_err(|e| Error::from_params(path, e))?;
    Ok(ParamsSource {
        path: path.to_owned(),
        file,
    })
}

/// Reads a `.params` file from any reader (e.g. standard input); `label` names
/// it in messages.
pub fn read_params(reader: impl std::io::Read, label: &Path) -> Result<ParamsSource> {
    let file = ParamsFile::from_reader(reader).map_err(|e| Error::from_params(label, e))?;
    Ok(ParamsSource {
        path: label.to_owned(),
        file,
    })
}

/// Imports `element` from the file at `path`.
///
/// Symbol elements (`InputNames`, `NodeDataset`, `NodeGraph`) take a symbol
/// JSON; array elements a `.params` file. Asking for an array element of a
/// symbol reads the params file [`ImportOptions::array_path`] selects.
pub fn import(path: impl AsRef<Path>, element: Element, options: &ImportOptions) -> Result<Import> {
    let path = path.as_ref();
    let ftype = file_type(path)?;
    match (element.file_type(), ftype) {
        (FileType::Params, FileType::Params) => {
            let source = open_params(path)?;
            Ok(import_params(source, element))
        }
        (FileType::Params, FileType::Symbol) => {
            let model = Model::open(path, &options.array_path)?;
            let mut notes = model_notes(&model);
            match model.params {
                Some(p) => {
                    let source = ParamsSource {
                        path: p.path,
                        file: p.file,
                    };
                    let mut import = import_params(source, element);
                    notes.append(&mut import.notes);
                    import.notes = notes;
                    Ok(import)
                }
                None => Err(Error::WrongFileForElement {
                    path: path.to_owned(),
                    element: element.as_str(),
                    needs: ".params",
                    found: "a symbol with no params file (give one with ArrayPath)",
                }),
            }
        }
        (FileType::Symbol, FileType::Symbol) => {
            let model = Model::open(path, &options.array_path)?;
            import_symbol_with(&model, element, &options.input_shapes)
        }
        (FileType::Symbol, FileType::Params) => Err(Error::WrongFileForElement {
            path: path.to_owned(),
            element: element.as_str(),
            needs: "symbol .json",
            found: "a .params file",
        }),
    }
}

/// Imports an array element from an opened params file.
pub fn import_params(source: ParamsSource, element: Element) -> Import {
    let notes = source
        .file
        .warnings()
        .iter()
        .map(|w| format!("{}: {w}", source.path.display()))
        .collect();
    let value = match element {
        Element::ArrayNames => Imported::ArrayNames(
            source
                .file
                .iter()
                .map(|e| e.name().map(|n| n.into_owned()))
                .collect(),
        ),
        _ => Imported::Arrays {
            element,
            infos: array_infos(&source.file),
            source,
        },
    };
    Import { value, notes }
}

/// Imports a symbol element from an opened model (input shapes unknown).
pub fn import_symbol(model: &Model, element: Element) -> Result<Import> {
    import_symbol_with(model, element, &HashMap::new())
}

fn import_net_with(
    model: &Model,
    element: Element,
    notes: &mut Vec<String>,
    shapes: &HashMap<String, Vec<usize>>,
) -> Result<Import> {
    let weights = match (&model.params, element) {
        (Some(p), Element::Net | Element::LayerAssociation) => {
            match mxnet_ops::Weights::from_params(&p.file) {
                Ok(w) => Some(w),
                Err(e) => {
                    notes.push(format!("{}: arrays not used: {e}", p.path.display()));
                    None
                }
            }
        }
        _ => None,
    };
    let mut imported =
        mxnet_net::import_symbol(&model.symbol, weights.as_ref()).map_err(|e| Error::Net {
            path: model.symbol_path.clone(),
            error: Box::new(e),
        })?;
    for (name, shape) in shapes {
        if imported.net.set_input_shape(name, shape.clone()).is_err() {
            notes.push(format!(
                "--input-shape {name}: the net has no input called {name:?}"
            ));
        }
    }
    if !imported.dropped_labels.is_empty() {
        notes.push(format!(
            "loss labels not needed for inference were left out: {}",
            imported.dropped_labels.join(", ")
        ));
    }
    if !imported.fallbacks.is_empty() {
        notes.push(format!(
            "{} node(s) kept as MXNetOp layers (see LayerAssociation for why)",
            imported.fallbacks.len()
        ));
    }
    let value = match element {
        Element::LayerAssociation => {
            Imported::LayerAssociation(layer_association(&imported.net), imported.fallbacks)
        }
        _ => Imported::Net(Box::new(NetImport {
            net: imported.net,
            fallbacks: imported.fallbacks,
            dropped_labels: imported.dropped_labels,
        })),
    };
    Ok(Import {
        value,
        notes: std::mem::take(notes),
    })
}

/// Imports a symbol element, with input shapes for the net elements.
pub fn import_symbol_with(
    model: &Model,
    element: Element,
    shapes: &HashMap<String, Vec<usize>>,
) -> Result<Import> {
    let mut notes = model_notes(model);
    let roles = model.roles();
    if !roles.missing_aux.is_empty() {
        notes.push(format!(
            "auxiliary states missing from the params file: {}",
            roles.missing_aux.join(", ")
        ));
    }
    if !roles.extra_arrays.is_empty() {
        notes.push(format!(
            "{} array(s) in the params file match no variable: {}",
            roles.extra_arrays.len(),
            roles.extra_arrays.join(", ")
        ));
    }
    let sym = &model.symbol;
    let value = match element {
        Element::InputNames => {
            if roles.source == WeightSource::OpSlots {
                notes.push(
                    "no params file: weights recognised by the op inputs they feed".to_owned(),
                );
            } else if roles.source == WeightSource::BareParams {
                notes.push(
                    "the params file has no arg:/aux: prefixes: matched its names to variables"
                        .to_owned(),
                );
            }
            Imported::InputNames(InputNames::from_roles(sym, &roles))
        }
        Element::NodeGraph => Imported::NodeGraph(NodeGraph::new(sym, &roles)),
        Element::Net | Element::UninitializedNet | Element::LayerAssociation => {
            return import_net_with(model, element, &mut notes, shapes);
        }
        Element::NodeGraphPlot => {
            let request = plot::PlotRequest {
                input_shapes: shapes.clone(),
                ..Default::default()
            };
            let (d, more) = plot::diagram(model, &request)?;
            notes.extend(more);
            Imported::Plot(Box::new(d))
        }
        _ => Imported::NodeDataset(node_dataset(
            sym,
            &roles,
            model.params.as_ref().map(|p| &p.file),
        )),
    };
    Ok(Import { value, notes })
}

fn model_notes(model: &Model) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(p) = &model.params {
        match &p.pairing {
            Some(pairing) => notes.push(format!(
                "arrays from {} ({})",
                p.path.display(),
                pairing.reason
            )),
            None => notes.push(format!("arrays from {}", p.path.display())),
        }
        notes.extend(
            p.file
                .warnings()
                .iter()
                .map(|w| format!("{}: {w}", p.path.display())),
        );
    }
    notes.extend(
        model
            .symbol
            .warnings()
            .iter()
            .map(|w| format!("{}: {w}", model.symbol_path.display())),
    );
    notes
}
