//! Turning imported elements into text tables, JSON, CSV or DOT.

use std::io::Write;

use anyhow::Result;
use comfy_table::{Cell, ContentArrangement, LineStyle, Table, TableStyle};
use indicatif::{ProgressBar, ProgressStyle};
use mxnet_io::mxnet_format::params::{Array, ParamsFile};
use mxnet_io::{Element, Imported, NodeRow};
use serde_json::{Value, json};

use crate::Format;

/// A header rule and nothing else: compact, and easy on the eye in a terminal.
const TABLE_STYLE: TableStyle =
    TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));

/// A table in [`TABLE_STYLE`] whose columns fit the terminal.
fn table_with_header<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_style(TABLE_STYLE)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    table
}

/// Files with more value bytes than this get a progress bar (on a terminal).
const PROGRESS_BYTES: usize = 32 << 20;

pub fn render(value: &Imported, format: Format, out: &mut impl Write) -> Result<()> {
    match value {
        Imported::Arrays {
            element, source, ..
        } => arrays(*element, &source.file, format, out),
        Imported::ArrayNames(names) => array_names(names, format, out),
        Imported::InputNames(names) => match format {
            Format::Json => json_out(&serde_json::to_value(names)?, out),
            Format::Csv => {
                writeln!(out, "name,role")?;
                for n in &names.inputs {
                    writeln!(out, "{},input", csv(n))?;
                }
                for n in &names.labels {
                    writeln!(out, "{},label", csv(n))?;
                }
                Ok(())
            }
            _ => {
                for n in &names.inputs {
                    writeln!(out, "{n}")?;
                }
                for n in &names.labels {
                    writeln!(out, "{n}  (loss label: not needed for inference)")?;
                }
                Ok(())
            }
        },
        Imported::NodeDataset(rows) => node_dataset(rows, format, out),
        Imported::NodeGraph(g) => match format {
            Format::Json => json_out(&serde_json::to_value(g)?, out),
            Format::Dot => Ok(out.write_all(g.to_dot().as_bytes())?),
            Format::Csv => {
                writeln!(out, "from,from_name,output,to,to_name,input")?;
                for e in &g.edges {
                    writeln!(
                        out,
                        "{},{},{},{},{},{}",
                        e.from,
                        csv(&g.nodes[e.from].name),
                        e.output,
                        e.to,
                        csv(&g.nodes[e.to].name),
                        e.input
                    )?;
                }
                Ok(())
            }
            Format::Text | Format::Svg | Format::Png => {
                let mut inputs: Vec<Vec<String>> = vec![Vec::new(); g.nodes.len()];
                for e in &g.edges {
                    let from = &g.nodes[e.from].name;
                    inputs[e.to].push(if e.output > 0 {
                        format!("{from}[{}]", e.output)
                    } else {
                        from.clone()
                    });
                }
                for n in &g.nodes {
                    if n.op == "null" {
                        continue;
                    }
                    writeln!(out, "{} ({}) <- {}", n.name, n.op, inputs[n.id].join(", "))?;
                }
                for (node, output, name) in &g.outputs {
                    writeln!(out, "output {name} = {}[{output}]", g.nodes[*node].name)?;
                }
                Ok(())
            }
        },
        Imported::Net(n) => net(n, format, out),
        Imported::Plot(d) => {
            match format {
                Format::Png => {
                    out.write_all(&d.to_png(&mxnet_io::mxnet_plot::PngOptions::default())?)?
                }
                _ => out.write_all(d.to_svg()?.as_bytes())?,
            }
            Ok(())
        }
        Imported::LayerAssociation(layers, fallbacks) => {
            layer_association(layers, fallbacks, format, out)
        }
        _ => anyhow::bail!("this element has no output format yet"),
    }
}

fn json_out(v: &Value, out: &mut impl Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn shape_str(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("({})", dims.join(", "))
}

fn progress(file: &ParamsFile) -> ProgressBar {
    let total: usize = file.iter().map(|e| e.array.value_bytes().len()).sum();
    if total < PROGRESS_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} reading arrays {bar:30} {binary_bytes}/{binary_total_bytes} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Minimum, maximum, mean and standard deviation of the values.
fn stats(values: &[f64]) -> Option<(f64, f64, f64, f64)> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    let n = finite.len() as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let var = finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((min, max, mean, var.sqrt()))
}

fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 1e-3 && v.abs() < 1e5 {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

fn preview(array: &Array<'_>, values: &[f64]) -> String {
    if array.is_none() {
        return "(no data)".to_owned();
    }
    let head: Vec<String> = values.iter().take(5).map(|&v| fmt_num(v)).collect();
    let more = if values.len() > 5 { ", …" } else { "" };
    format!("[{}{more}]", head.join(", "))
}

fn arrays(element: Element, file: &ParamsFile, format: Format, out: &mut impl Write) -> Result<()> {
    let bar = progress(file);
    match format {
        Format::Json => {
            // Stream one array at a time so memory stays bounded by the largest array.
            let named = file.is_named() && element == Element::ArrayAssociation;
            writeln!(out, "{}", if named { "{" } else { "[" })?;
            let n = file.len();
            for (k, e) in file.iter().enumerate() {
                let v =
                    mxnet_io::array_json(&e.array).map_err(|source| mxnet_io::Error::Value {
                        path: Default::default(),
                        array: e
                            .name()
                            .map_or_else(|| e.index.to_string(), |n| n.into_owned()),
                        error: source,
                    })?;
                let sep = if k + 1 < n { "," } else { "" };
                if named {
                    let key = serde_json::to_string(&e.name().unwrap_or_default())?;
                    writeln!(out, "  {key}: {}{sep}", serde_json::to_string(&v)?)?;
                } else {
                    let mut obj = v;
                    if let (Some(name), Value::Object(map)) = (e.name(), &mut obj) {
                        map.insert("name".into(), json!(name));
                    }
                    writeln!(out, "  {}{sep}", serde_json::to_string(&obj)?)?;
                }
                bar.inc(e.array.value_bytes().len() as u64);
            }
            writeln!(out, "{}", if named { "}" } else { "]" })?;
        }
        Format::Csv => {
            writeln!(
                out,
                "index,name,dtype,shape,stype,record,offset,value_bytes,min,max,mean,std"
            )?;
            for e in file.iter() {
                let values = e.array.to_f64_vec().unwrap_or_default();
                let (min, max, mean, std) = stats(&values)
                    .map(|(a, b, c, d)| {
                        (a.to_string(), b.to_string(), c.to_string(), d.to_string())
                    })
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{min},{max},{mean},{std}",
                    e.index,
                    csv(&e.name().unwrap_or_default()),
                    e.array.dtype(),
                    csv(&shape_str(e.array.shape())),
                    e.array.stype(),
                    e.record.kind().as_str(),
                    e.record.offset(),
                    e.array.value_bytes().len(),
                )?;
                bar.inc(e.array.value_bytes().len() as u64);
            }
        }
        _ => {
            let mut table = table_with_header([
                "#", "name", "dtype", "shape", "stype", "min", "max", "mean", "std", "values",
            ]);
            let mut total = 0usize;
            for e in file.iter() {
                let values = e.array.to_f64_vec().unwrap_or_default();
                let s = stats(&values);
                let f = |v: Option<f64>| v.map(fmt_num).unwrap_or_default();
                table.add_row(vec![
                    Cell::new(e.index),
                    Cell::new(e.name().unwrap_or_default()),
                    Cell::new(e.array.dtype()),
                    Cell::new(shape_str(e.array.shape())),
                    Cell::new(e.array.stype()),
                    Cell::new(f(s.map(|s| s.0))),
                    Cell::new(f(s.map(|s| s.1))),
                    Cell::new(f(s.map(|s| s.2))),
                    Cell::new(f(s.map(|s| s.3))),
                    Cell::new(preview(&e.array, &values)),
                ]);
                total += e.array.len();
                bar.inc(e.array.value_bytes().len() as u64);
            }
            writeln!(out, "{table}")?;
            writeln!(
                out,
                "{} arrays, {} values, {} ({})",
                file.len(),
                total,
                human_bytes(file.bytes().len()),
                if file.is_named() {
                    "named"
                } else {
                    "unnamed list"
                }
            )?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

fn human_bytes(n: usize) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn array_names(names: &[Option<String>], format: Format, out: &mut impl Write) -> Result<()> {
    match format {
        Format::Json => json_out(&json!(names), out),
        Format::Csv => {
            writeln!(out, "index,name")?;
            for (i, n) in names.iter().enumerate() {
                writeln!(out, "{i},{}", csv(n.as_deref().unwrap_or("")))?;
            }
            Ok(())
        }
        _ => {
            for (i, n) in names.iter().enumerate() {
                match n {
                    Some(n) => writeln!(out, "{n}")?,
                    None => writeln!(out, "#{i} (unnamed)")?,
                }
            }
            Ok(())
        }
    }
}

fn attrs_str(row: &NodeRow, max: usize) -> String {
    let parts: Vec<String> = row.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    truncate(parts.join(" "), max)
}

fn truncate(s: String, max: usize) -> String {
    if s.chars().count() > max {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn node_dataset(rows: &[NodeRow], format: Format, out: &mut impl Write) -> Result<()> {
    match format {
        Format::Json => json_out(&serde_json::to_value(rows)?, out),
        Format::Csv => {
            writeln!(out, "index,name,op,role,shape,dtype,outputs,inputs,attrs")?;
            for r in rows {
                let inputs: Vec<&str> = r.inputs.iter().map(|i| i.name.as_str()).collect();
                let attrs: Vec<String> = r.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{}",
                    r.index,
                    csv(&r.name),
                    csv(&r.op),
                    r.role.unwrap_or(""),
                    csv(&r.shape.as_deref().map(shape_str).unwrap_or_default()),
                    r.dtype.as_deref().unwrap_or(""),
                    r.outputs,
                    csv(&inputs.join(";")),
                    csv(&attrs.join(";")),
                )?;
            }
            Ok(())
        }
        _ => {
            let mut table =
                table_with_header(["#", "name", "op", "role", "shape", "inputs", "attributes"]);
            for r in rows {
                let inputs: Vec<String> = r
                    .inputs
                    .iter()
                    .map(|i| {
                        if i.output > 0 {
                            format!("{}[{}]", rows[i.node].name, i.output)
                        } else {
                            rows[i.node].name.clone()
                        }
                    })
                    .collect();
                let op = match &r.op_as_written {
                    Some(w) => format!("{} ({w})", r.op),
                    None if r.op == "null" => "variable".to_owned(),
                    None if !r.known_op => format!("{} (unknown op)", r.op),
                    None => r.op.clone(),
                };
                table.add_row(vec![
                    Cell::new(r.index),
                    Cell::new(&r.name),
                    Cell::new(op),
                    Cell::new(r.role.unwrap_or("")),
                    Cell::new(r.shape.as_deref().map(shape_str).unwrap_or_default()),
                    Cell::new(truncate(inputs.join(", "), 60)),
                    Cell::new(attrs_str(r, 80)),
                ]);
            }
            writeln!(out, "{table}")?;
            let ops = rows.iter().filter(|r| r.op != "null").count();
            writeln!(
                out,
                "{} nodes: {} ops, {} variables",
                rows.len(),
                ops,
                rows.len() - ops
            )?;
            Ok(())
        }
    }
}

/// The supported-op table, from the registry.
pub fn ops(format: Format, out: &mut impl Write) -> Result<()> {
    let entries = mxnet_io::mxnet_ops::registry::entries();
    let aliases = |name: &str| -> Vec<&'static str> {
        mxnet_io::mxnet_format::schema::lookup(name)
            .map(|d| d.aliases.to_vec())
            .unwrap_or_default()
    };
    match format {
        Format::Json => {
            let rows: Vec<Value> = entries
                .iter()
                .map(|e| json!({"op": e.name, "family": e.family, "summary": e.summary, "aliases": aliases(e.name)}))
                .collect();
            json_out(&json!(rows), out)
        }
        Format::Csv => {
            writeln!(out, "op,family,aliases,summary")?;
            for e in &entries {
                writeln!(
                    out,
                    "{},{},{},{}",
                    e.name,
                    e.family,
                    csv(&aliases(e.name).join(" ")),
                    csv(e.summary)
                )?;
            }
            Ok(())
        }
        _ => {
            let mut table = table_with_header(["op", "family", "what it computes", "also spelled"]);
            for e in &entries {
                table.add_row(vec![
                    Cell::new(e.name),
                    Cell::new(e.family),
                    Cell::new(e.summary),
                    Cell::new(truncate(aliases(e.name).join(" "), 50)),
                ]);
            }
            writeln!(out, "{table}")?;
            let total = mxnet_io::mxnet_format::schema::all().len();
            writeln!(
                out,
                "{} ops run here, of the {total} MXNet 1.9.1 registers (training-only, optimizer, sparse, quantized and GPU ops make up most of the rest).",
                entries.len()
            )?;
            Ok(())
        }
    }
}

/// A short summary of run outputs: shape, dtype, statistics, first values,
/// and the top classes of (N, classes) outputs.
pub fn run_summary(
    result: &mxnet_io::RunResult,
    format: Format,
    out: &mut impl Write,
) -> Result<()> {
    let mut rows = Vec::new();
    for (name, t) in result.names.iter().zip(&result.outputs) {
        let values: Vec<f64> = t.data.iter().map(|&v| f64::from(v)).collect();
        let s = stats(&values);
        let top: Vec<Vec<(usize, f32)>> = if t.shape.len() == 2 && t.shape[1] > 1 {
            t.data
                .chunks(t.shape[1])
                .take(4)
                .map(|row| {
                    let mut idx: Vec<(usize, f32)> = row.iter().copied().enumerate().collect();
                    idx.sort_by(|a, b| b.1.total_cmp(&a.1));
                    idx.truncate(5);
                    idx
                })
                .collect()
        } else {
            Vec::new()
        };
        rows.push((name, t, values, s, top));
    }
    match format {
        Format::Json => {
            let v: Vec<Value> = rows
                .iter()
                .map(|(name, t, values, s, top)| {
                    json!({
                        "name": name,
                        "shape": t.shape,
                        "dtype": t.dtype.as_str(),
                        "min": s.map(|s| s.0), "max": s.map(|s| s.1), "mean": s.map(|s| s.2), "std": s.map(|s| s.3),
                        "first": values.iter().take(10).copied().map(mxnet_io::float_json).collect::<Vec<_>>(),
                        "top": top.iter().map(|r| r.iter().map(|(i, v)| json!([i, v])).collect::<Vec<_>>()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json_out(&json!(v), out)
        }
        _ => {
            for (name, t, values, s, top) in rows {
                writeln!(out, "{name}: {} {}", t.dtype, shape_str(&t.shape))?;
                if let Some((min, max, mean, std)) = s {
                    writeln!(
                        out,
                        "  min {}  max {}  mean {}  std {}",
                        fmt_num(min),
                        fmt_num(max),
                        fmt_num(mean),
                        fmt_num(std)
                    )?;
                }
                let head: Vec<String> = values.iter().take(8).map(|&v| fmt_num(v)).collect();
                let more = if values.len() > 8 { ", …" } else { "" };
                writeln!(out, "  values [{}{more}]", head.join(", "))?;
                for (r, row) in top.iter().enumerate() {
                    let items: Vec<String> = row
                        .iter()
                        .map(|(i, v)| format!("{i}: {}", fmt_num(f64::from(*v))))
                        .collect();
                    writeln!(out, "  top of row {r}: {}", items.join(", "))?;
                }
            }
            Ok(())
        }
    }
}

fn options_str(options: &Value) -> String {
    match options {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Array(items) if items.iter().all(|i| i.is_number()) => {
                        let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
                        format!("({})", parts.join(", "))
                    }
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn shapes_str(shapes: &Option<Vec<Vec<usize>>>) -> String {
    shapes
        .as_ref()
        .map(|s| s.iter().map(|x| shape_str(x)).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A net as a layer table, or as its complete JSON description.
pub fn net(imported: &mxnet_io::NetImport, format: Format, out: &mut impl Write) -> Result<()> {
    let net = &imported.net;
    if format == Format::Json {
        return json_out(&mxnet_io::mxnet_net::describe::to_json(net), out);
    }
    let layers = mxnet_io::layer_association(net);
    if format == Format::Csv {
        writeln!(out, "name,layer,options,inputs,output_shape,arrays")?;
        for l in &layers {
            writeln!(
                out,
                "{},{},{},{},{},{}",
                csv(&l.name),
                l.layer_type,
                csv(&options_str(&l.options)),
                csv(&l.inputs.join(";")),
                csv(&shapes_str(&l.output_shapes)),
                l.arrays.len()
            )?;
        }
        return Ok(());
    }
    let inputs: Vec<String> = net
        .inputs
        .iter()
        .map(|p| match &p.shape {
            Some(s) => format!("{} {}", p.name, shape_str(s)),
            None => format!("{} (shape unknown)", p.name),
        })
        .collect();
    writeln!(
        out,
        "{} of {} layers; inputs: {}",
        net.kind().as_str(),
        layers.len(),
        inputs.join(", ")
    )?;
    let mut table = table_with_header([
        "name",
        "layer",
        "options",
        "inputs",
        "output shape",
        "arrays",
    ]);
    for l in &layers {
        let set = l.arrays.iter().filter(|a| a.1.is_some()).count();
        let arrays = if l.arrays.is_empty() {
            String::new()
        } else if set == l.arrays.len() {
            l.arrays.len().to_string()
        } else {
            format!("{set}/{} set", l.arrays.len())
        };
        table.add_row(vec![
            Cell::new(&l.name),
            Cell::new(l.layer_type),
            Cell::new(truncate(options_str(&l.options), 70)),
            Cell::new(truncate(l.inputs.join(", "), 40)),
            Cell::new(shapes_str(&l.output_shapes)),
            Cell::new(arrays),
        ]);
    }
    writeln!(out, "{table}")?;
    let outputs: Vec<String> = net
        .outputs
        .iter()
        .map(|(n, s)| format!("{n} = {}", mxnet_io::source_name(s)))
        .collect();
    writeln!(out, "outputs: {}", outputs.join(", "))?;
    if net.inputs.iter().any(|p| p.shape.is_none()) {
        writeln!(out, "(give --input-shape NAME=DIMS to see output shapes)")?;
    }
    Ok(())
}

/// Every layer with its options, shapes and arrays, and the fallbacks.
pub fn layer_association(
    layers: &[mxnet_io::LayerInfo],
    fallbacks: &[mxnet_io::mxnet_net::Fallback],
    format: Format,
    out: &mut impl Write,
) -> Result<()> {
    match format {
        Format::Json => {
            let v = json!({
                "layers": layers,
                "fallbacks": fallbacks.iter().map(|f| json!({"node": f.node, "op": f.op, "reason": f.reason})).collect::<Vec<_>>(),
            });
            json_out(&v, out)
        }
        Format::Csv => {
            writeln!(out, "name,layer,options,arrays,output_shape,fallback")?;
            for l in layers {
                let arrays: Vec<String> = l
                    .arrays
                    .iter()
                    .map(|(n, s)| {
                        format!(
                            "{n}{}",
                            s.as_ref().map(|s| shape_str(s)).unwrap_or_default()
                        )
                    })
                    .collect();
                writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    csv(&l.name),
                    l.layer_type,
                    csv(&options_str(&l.options)),
                    csv(&arrays.join(";")),
                    csv(&shapes_str(&l.output_shapes)),
                    csv(l.fallback.as_deref().unwrap_or(""))
                )?;
            }
            Ok(())
        }
        _ => {
            for l in layers {
                writeln!(out, "{}: {}", l.name, l.layer_type)?;
                let opts = options_str(&l.options);
                if !opts.is_empty() && l.fallback.is_none() {
                    writeln!(out, "  options   {opts}")?;
                }
                writeln!(out, "  inputs    {}", l.inputs.join(", "))?;
                if l.output_shapes.is_some() {
                    writeln!(out, "  output    {}", shapes_str(&l.output_shapes))?;
                }
                for (n, s) in &l.arrays {
                    writeln!(
                        out,
                        "  array     {n} {}",
                        s.as_ref().map_or("(not set)".to_owned(), |s| shape_str(s))
                    )?;
                }
                if let Some(reason) = &l.fallback {
                    writeln!(out, "  MXNetOp   kept as written: {reason}")?;
                }
            }
            writeln!(
                out,
                "{} layers, {} kept as MXNetOp",
                layers.len(),
                fallbacks.len()
            )?;
            Ok(())
        }
    }
}
