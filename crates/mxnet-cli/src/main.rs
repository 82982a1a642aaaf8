//! `mxnet-io`: inspect and convert Apache MXNet models without MXNet.

mod render;

use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use mxnet_io::{ArrayPath, Element, FileType, ImportOptions, Model};

const EXAMPLES: &str = "\
Examples:
  # What does this model take as input?
  mxnet-io import resnet-symbol.json InputNames

  # Every node of the graph, as a table (arrays found beside it automatically)
  mxnet-io import resnet-symbol.json NodeDataset

  # The arrays of a checkpoint, with dtypes, shapes and value statistics
  mxnet-io import resnet-0010.params

  # The same, complete with values, for a program
  mxnet-io import resnet-0010.params ArrayAssociation --format json -o arrays.json

  # Draw the graph with Graphviz
  mxnet-io import resnet-symbol.json NodeGraph --format dot | dot -Tsvg > graph.svg

  # Upgrade a symbol written by an old MXNet to the 1.9.1 format
  mxnet-io upgrade old-symbol.json new-symbol.json

A model is PREFIX-symbol.json (the graph) plus PREFIX-EEEE.params (the arrays).
Files written by every MXNet from 0.8 to 1.9.1 are read, and nothing needs MXNet.";

/// Inspect and convert Apache MXNet models (-symbol.json + .params) without MXNet.
#[derive(Parser, Debug)]
#[command(name = "mxnet-io", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Do not print notes (which files were used, what was upgraded) to stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Import one element of a symbol (.json) or arrays (.params) file.
    #[command(after_help = IMPORT_HELP)]
    Import(ImportArgs),
    /// Re-save a symbol JSON in the MXNet 1.9.1 format (legacy files are upgraded
    /// as MXNet upgrades them), and optionally a .params file as V2 records.
    #[command(after_help = UPGRADE_HELP)]
    Upgrade(UpgradeArgs),
    /// List the elements `import` understands.
    Elements,
    /// Run a model on the CPU with MXNet's numerics (inference).
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Draw the node graph (or the net of layers) as an SVG or PNG picture.
    #[command(after_help = PLOT_HELP)]
    Plot(PlotArgs),
    /// Write a net as MXNet files (symbol JSON + .params) that MXNet 1.9.1 loads.
    #[command(after_help = EXPORT_HELP)]
    Export(ExportArgs),
    /// Time forward passes of a model (median, min, max latency; peak memory).
    #[command(after_help = BENCH_HELP)]
    Bench(BenchArgs),
    /// Print the table of ops `run` supports.
    Ops {
        /// Output format (text or json).
        #[arg(long, short, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

const RUN_HELP: &str = "\
Inputs are given by name: --input data=image.npy. A FILE is a .npy, an .npz holding
that name, or a .params file holding that name (or a single array). An input given
only a shape (--input-shape data=1,3,224,224) is filled with zeros. The symbol does
not store input shapes, so one of the two is needed unless the graph carries
__shape__ hints. Loss labels (softmax_label) are not needed.

Outputs are named as MXNet names them (list_outputs(): softmax_output, fc1_output).
--outputs runs the graph only up to the named outputs, which may be internal ones
(MXNet's get_internals() names), e.g. to stop before an op that cannot run here.
Without --output, each output's shape and a summary are printed (with the top
classes for (N, classes) outputs); with --output OUT.npz or OUT.params they are saved.
A name MXNet gives several outputs (a block called twice) is saved as NAME, NAME#2, …;
--check compares such outputs with the reference array of their shape.

Examples:
  mxnet-io run resnet-symbol.json --input data=cat.npy
  mxnet-io run resnet-symbol.json --input-shape data=1,3,224,224 --output out.npz
  mxnet-io run model-symbol.json --input data=batch.params --outputs flatten0_output,fc1_output
  mxnet-io run model-symbol.json --array-path other-0005.params --input data=x.npy --threads 2";

const PLOT_HELP: &str = "\
Each op is a box coloured by its family (convolution, normalization, activation,
pooling, arithmetic, shape, recurrent, loss), with a short summary of its key
attributes (\"Convolution 3x3 /2, 64\"); weights, biases and auxiliary states are
listed in the op that uses them. With --input-shape, edges carry tensor shapes.
The picture is drawn in pure Rust (no Graphviz, no browser); fonts are embedded.

Examples:
  mxnet-io plot resnet-symbol.json -o resnet.svg
  mxnet-io plot resnet-symbol.json -o resnet.png -s data=1,3,224,224
  mxnet-io plot lstm-symbol.json -o layers.svg --layers
  mxnet-io plot model-symbol.json -o all.svg --all-variables";

const EXPORT_HELP: &str = "\
SRC is an MXNet symbol of any version (it is imported as a net of layers with its
arrays, then written back in the MXNet 1.9.1 format) or a net description: the
JSON that `mxnet-io import SRC Net --format json` prints, which you may edit.

The params file defaults to PREFIX-0000.params beside OUT, the pair
mx.model.load_checkpoint(PREFIX, 0) and gluon.SymbolBlock.imports read. Input
shapes given with --input-shape (or already known) are written as __shape__ hints
so they survive a round trip; MXNet ignores them when it runs.

Recurrent layers are written as MXNet's fused RNN op, which takes sequences of
any length. With --unroll they are written step by step (FullyConnected, slices
and element-wise ops) over the sequence length the input shapes fix, as a graph
without RNN ops; it only accepts inputs of that length.

Examples:
  mxnet-io export old-symbol.json new-symbol.json
  mxnet-io import model-symbol.json Net --format json -o net.json   # edit net.json, then
  mxnet-io export net.json edited-symbol.json -s data=1,3,224,224
  mxnet-io export lstm-symbol.json unrolled-symbol.json --unroll -s data=35,1,64";

const BENCH_HELP: &str = "\
Loads the model, feeds random inputs (normal, fixed seed) of the given shapes, runs
warm-up passes, then times --runs forward passes and prints the median, min and max
latency in ms and the process's peak resident memory. Load time (process start to
first output) is reported too. --format json prints median_ms, min_ms, max_ms,
run_ms, load_ms and peak_rss_bytes for scripts, and with --profile a `profile`
list of {name, calls, ms_per_run, percent}.

Examples:
  mxnet-io bench resnet50-symbol.json --input-shape data=1,3,224,224
  mxnet-io bench resnet50-symbol.json -s data=8,3,224,224 --threads 2 --runs 20 --format json
  mxnet-io bench resnet50-symbol.json -s data=1,3,224,224 --runs 20 --profile shape
    (time per op at each input -> output shape, slowest first: the slow layers)
  mxnet-io bench resnet50-symbol.json -s data=1,3,224,224 --profile node -f json
    (time per layer in the order they run, to compare layer by layer)

scripts/bench_models.py in the repository runs MXNet 1.9.1 beside this command
and prints the ratios.";

#[derive(clap::Args, Debug)]
struct PlotArgs {
    /// The symbol (.json) to draw.
    model: PathBuf,
    /// The picture to write: .svg or .png.
    #[arg(short, long, value_name = "OUT.svg|OUT.png")]
    output: PathBuf,
    /// Input shapes (NAME=D1,D2,…) to label edges with tensor shapes.
    #[arg(long = "input-shape", short = 's', value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
    /// Draw every variable (weights, biases, statistics) as its own node.
    #[arg(long)]
    all_variables: bool,
    /// Draw the net of high-level layers instead of the MXNet node graph.
    #[arg(long)]
    layers: bool,
    /// Where the arrays come from (for shapes): a .params path, or `none`.
    #[arg(long, value_name = "PATH|none")]
    array_path: Option<String>,
    /// A heading for the picture (default: the model's name).
    #[arg(long)]
    title: Option<String>,
}

#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// The source: an MXNet symbol (.json) or a net description (.json).
    src: PathBuf,
    /// The symbol to write (e.g. model-symbol.json).
    out: PathBuf,
    /// The params file to write (default: PREFIX-0000.params beside OUT).
    #[arg(long, value_name = "OUT.params")]
    params: Option<PathBuf>,
    /// Input shapes to record: NAME=D1,D2,… (repeat for several inputs).
    #[arg(long = "input-shape", short = 's', value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
    /// Where a symbol source's arrays come from: a .params path, or `none`.
    #[arg(long, value_name = "PATH|none")]
    array_path: Option<String>,
    /// Unroll recurrent layers step by step over a fixed sequence length
    /// instead of writing the fused RNN op; the length comes from the input
    /// shapes (--input-shape, or shapes the source records).
    #[arg(long)]
    unroll: bool,
}

/// How `bench --profile` groups times.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ProfileBy {
    /// Per op (fused chains as one, e.g. Convolution+BatchNorm+Activation).
    Op,
    /// Per op and input/output shape.
    Shape,
    /// Per layer (node name, op and shapes), in the order they run.
    Node,
}

impl From<ProfileBy> for mxnet_io::mxnet_ops::ProfileBy {
    fn from(p: ProfileBy) -> Self {
        match p {
            ProfileBy::Op => mxnet_io::mxnet_ops::ProfileBy::Op,
            ProfileBy::Shape => mxnet_io::mxnet_ops::ProfileBy::Shape,
            ProfileBy::Node => mxnet_io::mxnet_ops::ProfileBy::Node,
        }
    }
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// The symbol (.json) to run.
    model: PathBuf,
    /// The weights: a .params path, or `none` (default: the PREFIX*.params beside the symbol).
    #[arg(long, value_name = "PATH|none")]
    array_path: Option<String>,
    /// An input shape: NAME=D1,D2,… (repeat for several inputs).
    #[arg(long = "input-shape", short = 's', value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
    /// Worker threads (default: all CPUs).
    #[arg(long, short = 't')]
    threads: Option<usize>,
    /// Timed runs.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Untimed warm-up runs.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Also print the time spent in each op (`--profile`), in each op at
    /// each shape (`--profile shape`), or in each layer in the order they
    /// run (`--profile node`) to find the slow layers.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "op", value_name = "op|shape|node")]
    profile: Option<ProfileBy>,
    /// Output format (text or json).
    #[arg(long, short, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The symbol (.json) to run.
    model: PathBuf,
    /// The weights: a .params path, or `none` (default: the PREFIX*.params beside the symbol).
    #[arg(long, value_name = "PATH|none")]
    array_path: Option<String>,
    /// An input value: NAME=FILE (.npy, .npz or .params). Repeat for several inputs.
    #[arg(long = "input", short = 'i', value_name = "NAME=FILE")]
    inputs: Vec<String>,
    /// An input shape: NAME=D1,D2,… (e.g. data=1,3,224,224). Repeat for several inputs.
    #[arg(long = "input-shape", short = 's', value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
    /// Compute only these outputs (comma-separated MXNet output names).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    outputs: Option<Vec<String>>,
    /// Save the outputs to OUT.npz or OUT.params (atomically).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Worker threads (default: all CPUs).
    #[arg(long, short = 't')]
    threads: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long, short, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Compare the outputs with the arrays of the same names in this file
    /// (.params or .npz, e.g. MXNet's own outputs); exit 1 if one differs by
    /// more than --rtol·|ref| + --atol.
    #[arg(long, value_name = "REF")]
    check: Option<PathBuf>,
    /// Relative tolerance of --check.
    #[arg(long, default_value_t = 1e-4)]
    rtol: f64,
    /// Absolute tolerance of --check.
    #[arg(long, default_value_t = 1e-5)]
    atol: f64,
}

const IMPORT_HELP: &str = "\
Elements of a symbol (.json):
  NodeDataset       one row per node: index, name, op, role, shape, inputs, attributes [default]
  NodeGraph         the directed node graph (--format text, json, csv or dot)
  InputNames        the data inputs: variables that are neither weights nor aux states;
                    loss labels such as softmax_label are listed apart
Elements of arrays (.params):
  ArrayAssociation  name -> array (text: dtype, shape and value statistics;
                    json: every value) [default]
  ArrayList         the arrays in file order
  ArrayNames        the names in file order

Array elements can also be imported from a .json: its arrays are then read from
the params file --array-path selects. By default that is the PREFIX*.params
beside PREFIX-symbol.json (the highest epoch PREFIX-NNNN.params first); the
note on stderr says which file was used.

FILE may be - to read standard input.

Examples:
  mxnet-io import model-symbol.json InputNames
  mxnet-io import model-symbol.json NodeDataset --array-path none
  mxnet-io import model-0003.params ArrayNames --format csv
  mxnet-io import model-symbol.json NodeGraph --format dot -o graph.dot
  cat model-0003.params | mxnet-io import - ArrayList --format json";

const UPGRADE_HELP: &str = "\
Examples:
  mxnet-io upgrade old-symbol.json new-symbol.json
  mxnet-io upgrade old-symbol.json new-symbol.json --params old-0010.params --params-out new-0010.params

Writes are atomic: the output appears complete or not at all.";

#[derive(clap::Args, Debug)]
struct ImportArgs {
    /// The model file: a symbol (.json) or arrays (.params); - for stdin.
    file: PathBuf,
    /// What to import (default: NodeDataset for .json, ArrayAssociation for .params).
    element: Option<String>,
    /// Where the arrays of a .json come from: a .params path, or `none`
    /// (default: the PREFIX*.params beside the symbol).
    #[arg(long, value_name = "PATH|none")]
    array_path: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the output to this file instead of stdout (atomically).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// An input shape for the Net elements (NAME=D1,D2,…), which MXNet files
    /// do not store; with it the layer table shows output shapes.
    #[arg(long = "input-shape", short = 's', value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct UpgradeArgs {
    /// The symbol to read (any MXNet version).
    input: PathBuf,
    /// Where to write the 1.9.1-format symbol.
    output: PathBuf,
    /// A .params file to re-save alongside.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Where to write the re-saved .params (required with --params).
    #[arg(long, requires = "params")]
    params_out: Option<PathBuf>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for people.
    Text,
    /// JSON for programs (complete: arrays include every value).
    Json,
    /// CSV for spreadsheets and scripts.
    Csv,
    /// Graphviz DOT (NodeGraph only).
    Dot,
    /// An SVG picture (NodeGraphPlot).
    Svg,
    /// A PNG picture (NodeGraphPlot).
    Png,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.chain().any(is_broken_pipe) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Import(args) => import(args, cli.quiet),
        Command::Upgrade(args) => upgrade(args, cli.quiet),
        Command::Run(args) => run_model(args, cli.quiet),
        Command::Bench(args) => bench(args, cli.quiet),
        Command::Export(args) => export(args, cli.quiet),
        Command::Plot(args) => plot(args, cli.quiet),
        Command::Ops { format } => render::ops(*format, &mut io::stdout().lock()),
        Command::Elements => {
            let mut out = io::stdout().lock();
            for e in Element::ALL {
                let file = match e.file_type() {
                    FileType::Symbol => ".json",
                    FileType::Params => ".params",
                };
                writeln!(out, "{:<18} {:<8} {}", e.as_str(), file, e.describe())?;
            }
            Ok(())
        }
    }
}

fn note(quiet: bool, text: &str) {
    if !quiet {
        let _ = writeln!(io::stderr(), "note: {text}");
    }
}

fn array_path(arg: &Option<String>) -> ArrayPath {
    match arg.as_deref() {
        None => ArrayPath::Automatic,
        Some(s) if s.eq_ignore_ascii_case("none") => ArrayPath::None,
        Some(p) => ArrayPath::Path(PathBuf::from(p)),
    }
}

fn import(args: &ImportArgs, quiet: bool) -> Result<()> {
    let mut options = ImportOptions {
        array_path: array_path(&args.array_path),
        ..Default::default()
    };
    for s in &args.input_shapes {
        let (n, d) = name_value(s, "--input-shape")?;
        options.input_shapes.insert(n, parse_dims(&d)?);
    }
    let result = if args.file.as_os_str() == "-" {
        import_stdin(args, &options)?
    } else {
        let ftype = mxnet_io::file_type(&args.file)?;
        let element = match &args.element {
            Some(e) => e.parse::<Element>()?,
            None => Element::default_for(ftype),
        };
        mxnet_io::import(&args.file, element, &options)?
    };
    for n in &result.notes {
        note(quiet, n);
    }
    if args.format == Format::Dot && !matches!(result.value, mxnet_io::Imported::NodeGraph(_)) {
        bail!("--format dot applies to the NodeGraph element only");
    }
    let is_plot = matches!(result.value, mxnet_io::Imported::Plot(_));
    if matches!(args.format, Format::Svg | Format::Png) && !is_plot {
        bail!("--format svg and png apply to the NodeGraphPlot element only");
    }
    let format = match (&args.output, args.format) {
        (Some(p), Format::Text)
            if is_plot && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) =>
        {
            Format::Png
        }
        (_, Format::Text) if is_plot => Format::Svg,
        (_, f) => f,
    };
    match &args.output {
        Some(path) => {
            mxnet_io::mxnet_format::fsutil::write_atomically(path, |w| {
                render::render(&result.value, format, w)
            })
            .with_context(|| format!("writing {}", path.display()))?;
            note(quiet, &format!("wrote {}", path.display()));
        }
        None => {
            if format == Format::Png && io::stdout().is_terminal() {
                bail!("a PNG is binary: write it to a file with -o graph.png");
            }
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            render::render(&result.value, format, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

fn import_stdin(args: &ImportArgs, options: &ImportOptions) -> Result<mxnet_io::Import> {
    let label = Path::new("<stdin>");
    if io::stdin().is_terminal() {
        bail!("FILE is -, but standard input is a terminal; pipe a .params or .json file in");
    }
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .context("reading standard input")?;
    let kind = mxnet_io::mxnet_format::sniff(&bytes[..bytes.len().min(64)]);
    let ftype = match kind {
        mxnet_io::mxnet_format::FileKind::Json => FileType::Symbol,
        _ => FileType::Params,
    };
    let element = match &args.element {
        Some(e) => e.parse::<Element>()?,
        None => Element::default_for(ftype),
    };
    match ftype {
        FileType::Params => {
            if element.file_type() != FileType::Params {
                bail!(
                    "<stdin>: element {element} comes from symbol .json files, and this is a .params file"
                );
            }
            let source = mxnet_io::read_params(&bytes[..], label)?;
            Ok(mxnet_io::import_params(source, element))
        }
        FileType::Symbol => {
            let symbol =
                mxnet_io::mxnet_format::symbol::Symbol::from_slice(&bytes).map_err(|source| {
                    mxnet_io::Error::Symbol {
                        path: label.to_owned(),
                        error: Box::new(source),
                    }
                })?;
            if element.file_type() != FileType::Symbol {
                bail!(
                    "<stdin>: element {element} needs a .params file; a symbol read from stdin has no arrays beside it"
                );
            }
            let mut model = Model::from_symbol(symbol);
            model.symbol_path = label.to_owned();
            if let ArrayPath::Path(p) = &options.array_path {
                model.params = Some(mxnet_io::LoadedParams {
                    path: p.clone(),
                    file: mxnet_io::open_params(p)?.file,
                    pairing: None,
                });
            }
            Ok(mxnet_io::import_symbol_with(
                &model,
                element,
                &options.input_shapes,
            )?)
        }
    }
}

fn upgrade(args: &UpgradeArgs, quiet: bool) -> Result<()> {
    let sym = mxnet_io::mxnet_format::symbol::Symbol::open(&args.input)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.display()))?;
    for w in sym.warnings() {
        note(quiet, &format!("{}: {w}", args.input.display()));
    }
    sym.save(&args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    note(quiet, &format!("wrote {}", args.output.display()));
    if let Some(params) = &args.params {
        let Some(out) = &args.params_out else {
            bail!("--params needs --params-out");
        };
        let source = mxnet_io::open_params(params)?;
        for w in source.file.warnings() {
            note(quiet, &format!("{}: {w}", params.display()));
        }
        let mut writer = mxnet_io::mxnet_format::params::ParamsWriter::new();
        for e in source.file.iter() {
            writer.push_raw_name(e.name_bytes, e.array.clone());
        }
        writer
            .save(out)
            .with_context(|| format!("writing {}", out.display()))?;
        note(quiet, &format!("wrote {}", out.display()));
    }
    Ok(())
}

/// Parses `NAME=VALUE`.
fn name_value(s: &str, what: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((n.to_owned(), v.to_owned())),
        _ => bail!("{what} {s:?} is not NAME=VALUE"),
    }
}

/// Parses dimensions written `1,3,224,224`, `(1, 3, 224, 224)` or `1x3x224x224`.
fn parse_dims(s: &str) -> Result<Vec<usize>> {
    let inner = s
        .trim()
        .trim_start_matches(['(', '['])
        .trim_end_matches([')', ']']);
    inner
        .split([',', 'x', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<usize>()
                .with_context(|| format!("{p:?} in shape {s:?} is not a dimension"))
        })
        .collect()
}

fn run_model(args: &RunArgs, quiet: bool) -> Result<()> {
    let mut options = mxnet_io::RunOptions {
        array_path: array_path(&args.array_path),
        outputs: args.outputs.clone(),
        ..Default::default()
    };
    for i in &args.inputs {
        let (n, f) = name_value(i, "--input")?;
        options.inputs.push((n, PathBuf::from(f)));
    }
    for s in &args.input_shapes {
        let (n, d) = name_value(s, "--input-shape")?;
        options.input_shapes.insert(n, parse_dims(&d)?);
    }
    let threads = args.threads.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting worker threads")?;
    let start = std::time::Instant::now();
    let result = pool.install(|| mxnet_io::run(&args.model, &options))?;
    let elapsed = start.elapsed();
    for n in &result.notes {
        note(quiet, n);
    }
    note(
        quiet,
        &format!(
            "ran in {:.1} ms on {} thread(s)",
            elapsed.as_secs_f64() * 1e3,
            pool.current_num_threads()
        ),
    );
    match &args.output {
        Some(out) => {
            mxnet_io::save_outputs(out, &result.names, &result.outputs)?;
            note(
                quiet,
                &format!(
                    "wrote {} output(s) to {}",
                    result.names.len(),
                    out.display()
                ),
            );
        }
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            render::run_summary(&result, args.format, &mut out)?;
            out.flush()?;
        }
    }
    if let Some(reference) = &args.check {
        check_outputs(&result, reference, args.rtol, args.atol)?;
    }
    Ok(())
}

/// Peak resident set size of this process, from /proc (Linux), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn bench(args: &BenchArgs, quiet: bool) -> Result<()> {
    let load_start = std::time::Instant::now();
    let mut shapes = std::collections::HashMap::new();
    for s in &args.input_shapes {
        let (n, d) = name_value(s, "--input-shape")?;
        shapes.insert(n, parse_dims(&d)?);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let model = mxnet_io::Model::open(&args.model, &array_path(&args.array_path))?;
    let report = pool.install(|| {
        mxnet_io::bench::bench_model(
            &model,
            &shapes,
            args.warmup,
            args.runs,
            args.profile.map(ProfileBy::into),
        )
    })?;
    for n in &report.notes {
        note(quiet, n);
    }
    let mut sorted = report.run_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let min = sorted.first().copied().unwrap_or(0.0);
    let max = sorted.last().copied().unwrap_or(0.0);
    let rss = peak_rss_bytes();
    let first = load_start.elapsed().as_secs_f64() * 1e3
        - report.run_ms.iter().sum::<f64>()
        - report.warmup_ms;
    let per_run = |d: &std::time::Duration| d.as_secs_f64() * 1e3 / args.runs.max(1) as f64;
    let total_ms: f64 = report.profile.iter().map(|p| per_run(&p.2)).sum();
    let mut out = io::stdout().lock();
    if args.format == Format::Json {
        let profile: Vec<_> = report
            .profile
            .iter()
            .map(|(what, calls, d)| {
                serde_json::json!({
                    "name": what,
                    "calls": calls / args.runs.max(1),
                    "ms_per_run": per_run(d),
                    "percent": 100.0 * per_run(d) / total_ms.max(1e-12),
                })
            })
            .collect();
        let mut v = serde_json::json!({
            "model": args.model,
            "threads": pool.current_num_threads(),
            "runs": args.runs,
            "median_ms": median,
            "min_ms": min,
            "max_ms": max,
            "run_ms": report.run_ms,
            "load_ms": first,
            "peak_rss_bytes": rss,
            "inputs": report.inputs,
        });
        if args.profile.is_some() {
            v["profile"] = serde_json::Value::Array(profile);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            out,
            "{}: median {median:.2} ms, min {min:.2} ms, max {max:.2} ms over {} runs on {} thread(s)",
            args.model.display(),
            args.runs,
            pool.current_num_threads()
        )?;
        writeln!(out, "load to first output {first:.1} ms")?;
        if args.profile.is_some() {
            writeln!(out, "time per op over {} runs:", args.runs)?;
            for (op, calls, d) in &report.profile {
                writeln!(
                    out,
                    "  {op:<28} {:>6} calls {:>9.3} ms/run {:>5.1}%",
                    calls / args.runs.max(1),
                    per_run(d),
                    100.0 * per_run(d) / total_ms.max(1e-12)
                )?;
            }
        }
        if let Some(rss) = rss {
            writeln!(out, "peak RSS {:.1} MiB", rss as f64 / (1 << 20) as f64)?;
        }
    }
    Ok(())
}

/// Compares outputs with same-named reference arrays; fails on a mismatch.
fn check_outputs(
    result: &mxnet_io::RunResult,
    reference: &Path,
    rtol: f64,
    atol: f64,
) -> Result<()> {
    let mut out = io::stdout().lock();
    let mut failed = 0;
    let unique = mxnet_io::unique_names(&result.names);
    let repeats = |name: &str| result.names.iter().filter(|n| *n == name).count();
    let (mut compared, mut uncompared): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for ((base, name), t) in result.names.iter().zip(&unique).zip(&result.outputs) {
        // Outputs MXNet names alike are saved as NAME, NAME#2, …; a reference
        // written by name holds one of them (NumPy's savez keeps the last), so
        // a repeated name is checked against the array of its shape.
        let r = match mxnet_io::load_input(name, reference) {
            Err(_) if name != base => mxnet_io::load_input(base, reference),
            found => found,
        }
        .with_context(|| format!("--check: no array {name:?} in {}", reference.display()))?;
        let n = repeats(base);
        if r.shape != t.shape && n > 1 {
            writeln!(
                out,
                "check {name}: not compared ({n} outputs are named {base}; the reference's array has shape {:?}, this one {:?})",
                r.shape, t.shape
            )?;
            if !uncompared.contains(&base.as_str()) {
                uncompared.push(base);
            }
            continue;
        }
        compared.push(base.as_str());
        if r.shape != t.shape {
            writeln!(
                out,
                "check {name}: shape {:?}, reference {:?}: DIFFERENT",
                t.shape, r.shape
            )?;
            failed += 1;
            continue;
        }
        let (max_abs, worst) = compare(&t.data, &r.data, rtol, atol);
        let ok = worst <= 1.0;
        writeln!(
            out,
            "check {name}: {} the reference (max |difference| {max_abs:.3e}; tolerance {atol:e} + {rtol:e}·|ref|)",
            if ok { "matches" } else { "DIFFERS from" }
        )?;
        if !ok {
            failed += 1;
        }
    }
    for base in uncompared.iter().filter(|b| !compared.contains(b)) {
        writeln!(
            out,
            "check {base}: DIFFERENT (no output of that name has the reference's shape)"
        )?;
        failed += 1;
    }
    if failed > 0 {
        bail!("{failed} output(s) differ from {}", reference.display());
    }
    Ok(())
}

/// The largest |ours − ref| and the largest ratio of a difference to its
/// tolerance atol + rtol·|ref| (above 1 fails). Equal values (infinities of
/// one sign included) and NaN against NaN match; any other pair with a NaN
/// or an infinity fails.
fn compare(ours: &[f32], reference: &[f32], rtol: f64, atol: f64) -> (f64, f64) {
    let (mut max_abs, mut worst) = (0f64, 0f64);
    for (&a, &b) in ours.iter().zip(reference) {
        let (a, b) = (f64::from(a), f64::from(b));
        if a == b || (a.is_nan() && b.is_nan()) {
            continue;
        }
        let d = (a - b).abs();
        if !d.is_finite() || !b.is_finite() {
            max_abs = f64::INFINITY;
            worst = f64::INFINITY;
            continue;
        }
        max_abs = max_abs.max(d);
        worst = worst.max(d / (atol + rtol * b.abs()));
    }
    (max_abs, worst)
}

fn export(args: &ExportArgs, quiet: bool) -> Result<()> {
    let (mut net, notes) = mxnet_io::load_net(&args.src, &array_path(&args.array_path))?;
    for n in &notes {
        note(quiet, n);
    }
    let mut request = mxnet_io::ExportRequest {
        params_out: args.params.clone(),
        ..Default::default()
    };
    for s in &args.input_shapes {
        let (n, d) = name_value(s, "--input-shape")?;
        request.input_shapes.insert(n, parse_dims(&d)?);
    }
    if args.unroll {
        for (name, shape) in &request.input_shapes {
            net.set_input_shape(name, shape.clone())?;
        }
        net = mxnet_io::mxnet_net::unroll::unroll(&net)?;
    }
    let report = mxnet_io::export_net(&net, &args.out, &request)?;
    for n in &report.notes {
        note(quiet, n);
    }
    note(
        quiet,
        &format!(
            "wrote {} and {} ({} arrays)",
            report.symbol.display(),
            report.params.display(),
            report.arrays
        ),
    );
    Ok(())
}

fn plot(args: &PlotArgs, quiet: bool) -> Result<()> {
    let model = mxnet_io::Model::open(&args.model, &array_path(&args.array_path))?;
    let mut request = mxnet_io::plot::PlotRequest {
        all_variables: args.all_variables,
        layers: args.layers,
        title: args.title.clone(),
        ..Default::default()
    };
    for s in &args.input_shapes {
        let (n, d) = name_value(s, "--input-shape")?;
        request.input_shapes.insert(n, parse_dims(&d)?);
    }
    let start = std::time::Instant::now();
    let (diagram, notes) = mxnet_io::plot::diagram(&model, &request)?;
    for n in &notes {
        note(quiet, n);
    }
    let png = args
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let bytes = if png {
        diagram.to_png(&mxnet_io::mxnet_plot::PngOptions::default())?
    } else {
        diagram.to_svg()?.into_bytes()
    };
    mxnet_io::mxnet_format::fsutil::write_atomically(&args.output, |w| w.write_all(&bytes))
        .with_context(|| format!("writing {}", args.output.display()))?;
    note(
        quiet,
        &format!(
            "wrote {} ({} nodes, {:.2} s)",
            args.output.display(),
            diagram.nodes.len(),
            start.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::compare;

    #[test]
    fn check_tolerances_treat_equal_infinities_as_equal_and_others_as_failures() {
        let inf = f32::INFINITY;
        // Within atol + rtol·|ref|, and equal infinities / NaNs.
        let (max_abs, worst) = compare(
            &[1.0, inf, -inf, f32::NAN],
            &[1.0001, inf, -inf, f32::NAN],
            1e-4,
            1e-5,
        );
        assert!(
            worst <= 1.0 && (max_abs - 1e-4).abs() < 1e-6,
            "{max_abs} {worst}"
        );
        // One difference past its tolerance.
        assert!(compare(&[1.0, 2.0], &[1.0, 2.01], 1e-4, 1e-5).1 > 1.0);
        // Infinity against a finite value (either side), opposite
        // infinities, and NaN against a number all fail.
        for (a, b) in [
            (inf, 1e30),
            (1e30, inf),
            (inf, -inf),
            (f32::NAN, 0.0),
            (0.0, f32::NAN),
        ] {
            assert!(compare(&[a], &[b], 1e-4, 1e-5).1 > 1.0, "{a} vs {b}");
        }
    }
}
