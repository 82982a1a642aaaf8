//! The `mxnet-io` binary end to end: outputs, formats, exit codes, messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mxnet-io"))
        .args(args)
        .output()
        .unwrap()
}

fn fixture(p: &str) -> String {
    fixtures().join(p).to_str().unwrap().to_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn help_teaches_by_example() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("Examples:") && text.contains("mxnet-io import"),
        "{text}"
    );
    let o = run(&["import", "--help"]);
    let text = stdout(&o);
    for e in [
        "NodeDataset",
        "NodeGraph",
        "InputNames",
        "ArrayAssociation",
        "ArrayList",
        "ArrayNames",
        "--array-path",
    ] {
        assert!(text.contains(e), "import --help lacks {e}");
    }
}

#[test]
fn import_input_names_prints_inputs_and_labels_and_notes_the_params_file() {
    let o = run(&[
        "import",
        &fixture("spec-examples/cnn-symbol.json"),
        "InputNames",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "data");
    assert!(lines[1].starts_with("softmax_label") && lines[1].contains("label"));
    assert!(stderr(&o).contains("cnn-0001.params"), "{}", stderr(&o));
    let o = run(&[
        "-q",
        "import",
        &fixture("spec-examples/cnn-symbol.json"),
        "InputNames",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["inputs"], serde_json::json!(["data"]));
    assert_eq!(v["labels"], serde_json::json!(["softmax_label"]));
    assert!(o.stderr.is_empty(), "-q must silence notes");
}

#[test]
fn node_dataset_in_every_format() {
    let f = fixture("models/gluon_resnet-symbol.json");
    let text = stdout(&run(&["import", &f, "NodeDataset"]));
    assert!(
        text.contains("Convolution") && text.contains("nodes:"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["import", &f, "NodeDataset", "-f", "json"]).stdout).unwrap();
    let rows = json.as_array().unwrap();
    assert!(rows.iter().any(|r| r["op"] == "elemwise_add"));
    let csv = stdout(&run(&["import", &f, "NodeDataset", "-f", "csv"]));
    assert_eq!(csv.lines().count(), rows.len() + 1);
    assert!(csv.starts_with("index,name,op,role"));
}

#[test]
fn node_graph_as_dot() {
    let o = run(&[
        "import",
        &fixture("spec-examples/cnn-symbol.json"),
        "NodeGraph",
        "--format",
        "dot",
    ]);
    assert!(o.status.success());
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph mxnet {") && dot.trim_end().ends_with('}'));
    assert!(dot.contains("Convolution"));
    let o = run(&[
        "import",
        &fixture("params/dtypes_dict.params"),
        "ArrayNames",
        "--format",
        "dot",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn arrays_as_json_hold_every_value() {
    let o = run(&[
        "import",
        &fixture("spec-examples/params/small_dict.params"),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["arg:w"]["values"],
        serde_json::json!([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    );
    assert_eq!(v["aux:m"]["values"], serde_json::json!([7, 8]));
    assert_eq!(v["aux:m"]["dtype"], "int64");
    let o = run(&[
        "import",
        &fixture("params/dtypes_dict.params"),
        "ArrayList",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 9);
}

#[test]
fn reads_params_from_stdin() {
    let bytes = std::fs::read(fixtures().join("spec-examples/params/small_list.params")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mxnet-io"))
        .args(["import", "-", "ArrayNames", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v, serde_json::json!([null, null]));
}

#[test]
fn output_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("names.txt");
    let o = run(&[
        "import",
        &fixture("models/mlp-0003.params"),
        "ArrayNames",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().any(|l| l == "arg:fc1_weight"), "{text}");
}

#[test]
fn errors_name_the_file_and_exit_2() {
    let o = run(&[
        "import",
        &fixture("spec-examples/cnn-symbol.json"),
        "ArrayNames",
        "--array-path",
        "none",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
    assert!(stderr(&o).contains("cnn-symbol.json"));
    // A symbol given where a .params is expected.
    let dir = tempfile::tempdir().unwrap();
    let swapped = dir.path().join("model-0001.params");
    std::fs::copy(fixtures().join("spec-examples/cnn-symbol.json"), &swapped).unwrap();
    let o = run(&["import", swapped.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let msg = stderr(&o);
    assert!(
        msg.contains("model-0001.params") && msg.contains("swapped"),
        "{msg}"
    );
    let o = run(&["import", "/no/such/file.params"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/no/such/file.params"));
}

#[test]
fn upgrade_writes_what_mxnet_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("up-symbol.json");
    let pout = dir.path().join("up-0000.params");
    let o = run(&[
        "upgrade",
        &fixture("upstream/save_000800.json"),
        out.to_str().unwrap(),
        "--params",
        &fixture("upstream/legacy_ndarray.v0"),
        "--params-out",
        pout.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("upgraded"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(fixtures().join("resaved/save_000800.json")).unwrap()
    );
    assert_eq!(
        std::fs::read(&pout).unwrap(),
        std::fs::read(fixtures().join("resaved/legacy_ndarray.v0")).unwrap()
    );
}

#[test]
fn net_elements_describe_layers() {
    let f = fixture("models/gluon_resnet-symbol.json");
    let o = run(&["import", &f, "-s", "data=1,3,8,8"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("NetGraph of 10 layers"), "{text}");
    assert!(
        text.contains("BatchNormalization") && text.contains("(1, 3)"),
        "{text}"
    );
    let o = run(&["import", &fixture("models/mlp-symbol.json"), "Net"]);
    assert!(stdout(&o).starts_with("NetChain"), "{}", stdout(&o));
    let o = run(&["import", &f, "LayerAssociation", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["layers"][0]["type"], "Convolution");
    assert_eq!(v["layers"][0]["arrays"][0][0], "Weights");
    let o = run(&["import", &f, "UninitializedNet", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["nodes"][0]["arrays"]["Weights"].is_null());
}

#[test]
fn an_edited_net_description_exports_and_runs_to_mxnets_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net.json");
    let f = fixture("nets/resnet_v1_basic-symbol.json");
    let o = run(&[
        "import",
        &f,
        "Net",
        "--format",
        "json",
        "-o",
        net.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("again-symbol.json");
    let o = run(&[
        "export",
        net.to_str().unwrap(),
        out.to_str().unwrap(),
        "-s",
        "data=2,3,32,32",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("again-0000.params").exists());
    assert_runs_like_mxnet(&out, &fixture("nets/resnet_v1_basic-io.params"));
    // The shape hint survives.
    let json = std::fs::read_to_string(&out).unwrap();
    assert!(json.contains("\"__shape__\": \"(2, 3, 32, 32)\""), "{json}");
}

/// `mxnet-io run SYMBOL -i data=IO --check IO` passes: the model computes
/// the outputs MXNet saved in `io` from the `data` saved there.
fn assert_runs_like_mxnet(symbol: &std::path::Path, io: &str) {
    let o = run(&[
        "run",
        symbol.to_str().unwrap(),
        "-i",
        &format!("data={io}"),
        "--check",
        io,
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("matches the reference"));
}

#[test]
fn export_unroll_needs_the_sequence_length_and_writes_a_graph_without_rnn() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("nets/rnn_lstm_bi_ntc-symbol.json");
    let out = dir.path().join("unrolled-symbol.json");
    let o = run(&["export", &src, out.to_str().unwrap(), "--unroll"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("sequence length must be fixed for unrolling")
            && err.contains("--input-shape data="),
        "{err}"
    );
    let o = run(&[
        "export",
        &src,
        out.to_str().unwrap(),
        "--unroll",
        "-s",
        "data=2,6,5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json = std::fs::read_to_string(&out).unwrap();
    assert!(!json.contains("\"op\": \"RNN\""));
    assert!(json.contains("\"op\": \"FullyConnected\""));
    assert_runs_like_mxnet(&out, &fixture("nets/rnn_lstm_bi_ntc-io.params"));
}

#[test]
fn plot_writes_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("g.svg");
    let png = dir.path().join("g.png");
    let f = fixture("models/gluon_resnet-symbol.json");
    let o = run(&[
        "plot",
        &f,
        "-o",
        svg.to_str().unwrap(),
        "-s",
        "data=1,3,8,8",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") || text.starts_with("<?xml"),
        "{}",
        &text[..100]
    );
    assert!(
        text.contains("Convolution 3×3, 4") && text.contains("1×4×8×8"),
        "edges carry shapes"
    );
    let o = run(&["plot", &f, "-o", png.to_str().unwrap(), "--layers"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000);
    // The element, through import.
    let o = run(&[
        "import",
        &f,
        "NodeGraphPlot",
        "-o",
        dir.path().join("e.png").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(dir.path().join("e.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    let o = run(&["import", &f, "NodeGraphPlot"]);
    assert!(stdout(&o).contains("</svg>"));
}

#[test]
fn bench_times_runs_and_profiles_each_layer_in_run_order() {
    let symbol = fixture("nets/resnet_v1_basic-symbol.json");
    let o = run(&[
        "bench",
        &symbol,
        "-s",
        "data=1,3,32,32",
        "--runs",
        "3",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--profile",
        "node",
        "-f",
        "json",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let runs: Vec<f64> = v["run_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(runs.len(), 3);
    let (min, median, max) = (
        v["min_ms"].as_f64().unwrap(),
        v["median_ms"].as_f64().unwrap(),
        v["max_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= median && median <= max, "{v}");
    assert!(runs.iter().all(|&r| (min..=max).contains(&r)), "{v}");
    assert!(v["peak_rss_bytes"].as_u64().unwrap() > 0);
    // One entry per step, named by its (last fused) node, in the order of
    // the symbol's nodes (a topological order the executor keeps).
    let nodes: Vec<String> = {
        let text = std::fs::read_to_string(&symbol).unwrap();
        let s: serde_json::Value = serde_json::from_str(&text).unwrap();
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let profile = v["profile"].as_array().unwrap();
    assert!(profile.len() >= 10, "{v}");
    let mut last = 0;
    for p in profile {
        let name = p["name"].as_str().unwrap();
        let node = name.split(' ').next().unwrap();
        let at = nodes
            .iter()
            .position(|n| n == node)
            .unwrap_or_else(|| panic!("{name}: no such node"));
        assert!(at > last, "{name} runs after a later node");
        last = at;
        assert_eq!(p["calls"].as_u64(), Some(1), "{p}");
        assert!(p["ms_per_run"].as_f64().unwrap() >= 0.0);
    }
    assert!(
        profile[0]["name"]
            .as_str()
            .unwrap()
            .starts_with("resnetv1b_conv0_fwd Convolution (1, 3, 32, 32) -> (1, 8, 32, 32)")
    );
    let percent: f64 = profile.iter().map(|p| p["percent"].as_f64().unwrap()).sum();
    assert!((percent - 100.0).abs() < 1e-6, "{percent}");
}

/// MXNet lets two nodes share a name (a Gluon block called twice, as in
/// GluonCV's monodepth2 decoder), so `list_outputs()` can repeat a name.
/// `run -o` saves them as NAME, NAME#2 (an archive holds a name once), and
/// `--check` compares a repeated name against the reference array of its
/// shape (NumPy's `savez` of MXNet's outputs by name keeps only the last).
#[test]
fn outputs_with_one_name_are_saved_apart_and_checked_by_shape() {
    let dir = tempfile::tempdir().unwrap();
    let symbol = |heads: &str| {
        format!(
            r#"{{"nodes": [
                {{"op": "null", "name": "data", "inputs": []}},
                {{"op": "Activation", "name": "act", "attrs": {{"act_type": "relu"}}, "inputs": [[0, 0, 0]]}},
                {{"op": "Pooling", "name": "act", "attrs": {{"kernel": "(2, 2)", "pool_type": "max"}}, "inputs": [[1, 0, 0]]}}
              ],
              "arg_nodes": [0], "node_row_ptr": [0, 1, 2, 3], "heads": {heads},
              "attrs": {{"mxnet_version": ["int", 10901]}}}}"#
        )
    };
    let both = dir.path().join("both-symbol.json");
    let last = dir.path().join("last-symbol.json");
    std::fs::write(&both, symbol("[[1, 0, 0], [2, 0, 0]]")).unwrap();
    std::fs::write(&last, symbol("[[2, 0, 0]]")).unwrap();
    let input = fixture("nets/resnet_v1_basic-io.params");
    let args = |sym: &PathBuf, extra: &[&str]| -> Output {
        let mut a = vec!["run", sym.to_str().unwrap(), "--array-path", "none", "-i"];
        let data = format!("data={input}");
        a.push(&data);
        a.extend_from_slice(extra);
        run(&a)
    };
    let all = dir.path().join("all.npz");
    let o = args(&both, &["-o", all.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Both arrays are in the archive, under distinct names.
    let o = args(&both, &["--check", all.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("check act_output: matches"), "{text}");
    assert!(text.contains("check act_output#2: matches"), "{text}");
    // A reference with one array of that name: the output of its shape is
    // compared, the other is reported as not compared.
    let pooled = dir.path().join("pooled.npz");
    let o = args(&last, &["-o", pooled.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = args(&both, &["--check", pooled.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("check act_output: not compared (2 outputs are named act_output")
            && text.contains("check act_output#2: matches"),
        "{text}"
    );
    // When no output of the name has the reference's shape, the check fails.
    let small = dir.path().join("small.npz");
    let o = run(&[
        "run",
        last.to_str().unwrap(),
        "--array-path",
        "none",
        "-s",
        "data=1,1,4,4",
        "-o",
        small.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = args(&both, &["--check", small.to_str().unwrap()]);
    assert!(!o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains(
            "check act_output: DIFFERENT (no output of that name has the reference's shape)"
        ),
        "{text}"
    );
}
