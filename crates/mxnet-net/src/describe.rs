//! The serialized net description (JSON), output shapes, and array
//! initialisation.
//!
//! A description is complete: ports, every layer with its options, its wiring
//! and every array value. `mxnet-io import x.json Net --format json` prints one
//! and `mxnet-io export` accepts one, so a net can be edited without Rust.
//!
//! ```json
//! {"kind": "NetChain",
//!  "inputs": [{"name": "data", "shape": [1, 3], "dtype": "float32"}],
//!  "nodes": [{"name": "fc", "layer": {"type": "Linear", "size": 2, "bias": true, "flatten": true},
//!             "inputs": [{"input": "data"}],
//!             "arrays": {"Weights": {"shape": [2, 3], "dtype": "float32", "values": [1, 0, 0, 0, 1, 0]},
//!                        "Biases": null}}],
//!  "outputs": [{"name": "Output", "source": {"node": {"node": "fc", "output": 0}}}]}
//! ```

use std::collections::HashMap;

use mxnet_format::DType;
use mxnet_ops::{Program, Tensor, Weights};
use serde_json::{Value, json};

use crate::error::NetError;
use crate::layer::{Layer, LayerKind};
use crate::net::{Element, Net, NetNode, Port, Source};
use crate::translate::{ExportOptions, to_symbol};

fn bad(m: impl Into<String>) -> NetError {
    NetError::Description(m.into())
}

fn tensor_json(t: &Tensor) -> Value {
    let values: Vec<Value> = t
        .data
        .iter()
        .map(|&v| {
            if v.is_finite() {
                json!(v)
            } else if v.is_nan() {
                json!("nan")
            } else if v > 0.0 {
                json!("inf")
            } else {
                json!("-inf")
            }
        })
        .collect();
    json!({"shape": t.shape, "dtype": t.dtype.as_str(), "values": values})
}

fn tensor_from(v: &Value) -> Result<Tensor, NetError> {
    let shape: Vec<usize> =
        serde_json::from_value(v["shape"].clone()).map_err(|e| bad(format!("array shape: {e}")))?;
    let dtype: DType = v["dtype"]
        .as_str()
        .unwrap_or("float32")
        .parse()
        .map_err(|e| bad(format!("{e}")))?;
    let values = v["values"]
        .as_array()
        .ok_or_else(|| bad("array without values"))?;
    let data: Vec<f32> = values
        .iter()
        .map(|x| match x {
            Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0) as f32),
            Value::String(s) if s == "nan" => Ok(f32::NAN),
            Value::String(s) if s == "inf" => Ok(f32::INFINITY),
            Value::String(s) if s == "-inf" => Ok(f32::NEG_INFINITY),
            Value::Bool(b) => Ok(f32::from(u8::from(*b))),
            other => Err(bad(format!("array value {other} is not a number"))),
        })
        .collect::<Result<_, _>>()?;
    let mut t = Tensor::new(shape, data).map_err(bad)?;
    t.dtype = dtype;
    Ok(t)
}

/// The complete JSON description of a net.
pub fn to_json(net: &Net) -> Value {
    let nodes: Vec<Value> = net
        .nodes
        .iter()
        .map(|n| {
            let mut obj = serde_json::Map::new();
            obj.insert("name".into(), json!(n.name));
            match &n.element {
                Element::Layer(l) => {
                    obj.insert(
                        "layer".into(),
                        serde_json::to_value(&l.kind).unwrap_or(Value::Null),
                    );
                    let arrays: serde_json::Map<String, Value> = l
                        .arrays
                        .iter()
                        .map(|(k, a)| (k.clone(), a.as_ref().map_or(Value::Null, tensor_json)))
                        .collect();
                    obj.insert("arrays".into(), Value::Object(arrays));
                }
                Element::Net(inner) => {
                    obj.insert("net".into(), to_json(inner));
                }
            }
            obj.insert(
                "inputs".into(),
                serde_json::to_value(&n.inputs).unwrap_or(Value::Null),
            );
            Value::Object(obj)
        })
        .collect();
    json!({
        "kind": net.kind().as_str(),
        "inputs": serde_json::to_value(&net.inputs).unwrap_or(Value::Null),
        "nodes": nodes,
        "outputs": net.outputs.iter().map(|(n, s)| json!({"name": n, "source": s})).collect::<Vec<_>>(),
    })
}

/// Reads a description written by [`to_json`] (or by hand).
pub fn from_json(v: &Value) -> Result<Net, NetError> {
    let inputs: Vec<Port> =
        serde_json::from_value(v["inputs"].clone()).map_err(|e| bad(format!("inputs: {e}")))?;
    let mut nodes = Vec::new();
    for (i, n) in v["nodes"]
        .as_array()
        .ok_or_else(|| bad("no \"nodes\" list"))?
        .iter()
        .enumerate()
    {
        let name = n["name"]
            .as_str()
            .ok_or_else(|| bad(format!("node {i} has no name")))?
            .to_owned();
        let sources: Vec<Source> = serde_json::from_value(n["inputs"].clone())
            .map_err(|e| bad(format!("node {name:?} inputs: {e}")))?;
        let element = if let Some(inner) = n.get("net") {
            Element::Net(from_json(inner)?)
        } else {
            let kind: LayerKind = serde_json::from_value(n["layer"].clone())
                .map_err(|e| bad(format!("node {name:?} layer: {e}")))?;
            let mut layer = Layer::new(kind);
            if let Some(arrays) = n["arrays"].as_object() {
                for (k, a) in arrays {
                    let t = if a.is_null() {
                        None
                    } else {
                        Some(tensor_from(a)?)
                    };
                    match layer.arrays.iter_mut().find(|(n, _)| n == k) {
                        Some(slot) => slot.1 = t,
                        None => layer.arrays.push((k.clone(), t)),
                    }
                }
            }
            Element::Layer(layer)
        };
        nodes.push(NetNode {
            name,
            element,
            inputs: sources,
        });
    }
    let mut outputs = Vec::new();
    for o in v["outputs"]
        .as_array()
        .ok_or_else(|| bad("no \"outputs\" list"))?
    {
        let name = o["name"].as_str().unwrap_or("Output").to_owned();
        let s: Source = serde_json::from_value(o["source"].clone())
            .map_err(|e| bad(format!("output {name:?}: {e}")))?;
        outputs.push((name, s));
    }
    Net::graph(inputs, nodes, outputs)
}

/// The options of a layer as JSON (for `LayerAssociation`).
pub fn layer_options(layer: &Layer) -> Value {
    let mut v = serde_json::to_value(&layer.kind).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("type");
    }
    v
}

/// Output shapes of every layer (by node name), from the net's input shapes
/// and the arrays present, through the executor's shape inference. `None`
/// when an input shape is unknown.
pub fn output_shapes(net: &Net) -> Option<HashMap<String, Vec<Vec<usize>>>> {
    let shapes: HashMap<String, Vec<usize>> = net
        .inputs
        .iter()
        .map(|p| p.shape.clone().map(|s| (p.name.clone(), s)))
        .collect::<Option<_>>()?;
    let exported = to_symbol(net, &ExportOptions::default()).ok()?;
    let mut weights = Weights::new();
    for (k, t) in &exported.params {
        weights.insert(k.split_once(':').map_or(k.as_str(), |(_, n)| n), t.clone());
    }
    let sym = &exported.symbol;
    let internal: Vec<String> = net
        .nodes
        .iter()
        .map(|n| format!("{}_output", n.name))
        .filter(|o| {
            sym.nodes()
                .iter()
                .any(|x| format!("{}_output", x.name) == *o)
        })
        .collect();
    let program = Program::compile(sym, Some(&internal)).ok()?;
    let plan = program.bind(&weights, &shapes).ok()?;
    Some(
        internal
            .iter()
            .zip(plan.output_shapes())
            .map(|(n, s)| (n.trim_end_matches("_output").to_owned(), vec![s.to_vec()]))
            .collect(),
    )
}

/// Deterministic uniform values in [−1, 1) (xorshift).
fn uniform(n: usize, seed: &mut u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Gives every uninitialised array a value: Xavier-uniform weights (scale
/// √(6/(fan_in + fan_out))), zero biases and moving means, unit scalings and
/// moving variances, with a fixed `seed`. Array shapes come from shape
/// inference, so the net's input shapes must be known.
pub fn initialize(net: &mut Net, seed: u64) -> Result<(), NetError> {
    let shapes: HashMap<String, Vec<usize>> = net
        .inputs
        .iter()
        .map(|p| p.shape.clone().map(|s| (p.name.clone(), s)))
        .collect::<Option<_>>()
        .ok_or_else(|| NetError::Invalid("input shapes must be set to initialise arrays".into()))?;
    let exported = to_symbol(net, &ExportOptions::default())?;
    let mut weights = Weights::new();
    for (k, t) in &exported.params {
        weights.insert(k.split_once(':').map_or(k.as_str(), |(_, n)| n), t.clone());
    }
    let program = Program::compile(&exported.symbol, None)?;
    let plan = program.bind(&weights, &shapes)?;
    // Variables without arrays were bound as inputs with inferred shapes.
    let var_shapes: HashMap<String, Vec<usize>> = plan.inputs().iter().cloned().collect();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    fill(net, "", &var_shapes, &mut state)
}

fn fill(
    net: &mut Net,
    prefix: &str,
    shapes: &HashMap<String, Vec<usize>>,
    seed: &mut u64,
) -> Result<(), NetError> {
    for node in &mut net.nodes {
        let name = if prefix.is_empty() {
            node.name.clone()
        } else {
            format!("{prefix}_{}", node.name)
        };
        match &mut node.element {
            Element::Net(inner) => fill(inner, &name, shapes, seed)?,
            Element::Layer(layer) => {
                if layer.is_initialized() {
                    continue;
                }
                if matches!(
                    layer.kind,
                    LayerKind::LongShortTermMemory(_)
                        | LayerKind::GatedRecurrent(_)
                        | LayerKind::BasicRecurrent { .. }
                ) {
                    crate::rules::initialize_recurrent(
                        layer,
                        shapes.get(&format!("{name}_parameters")),
                        seed,
                    )?;
                    continue;
                }
                let slots = crate::rules::array_variables(&name, layer);
                // Moving statistics are constants at binding; they share the scaling's shape.
                let channel_shape = layer
                    .arrays
                    .iter()
                    .zip(&slots)
                    .find(|((a, _), _)| a == "Scaling" || a == "Biases")
                    .and_then(|((_, v), var)| {
                        v.as_ref()
                            .map(|t| t.shape.clone())
                            .or_else(|| shapes.get(var).cloned())
                    });
                for ((array, value), var) in layer.arrays.iter_mut().zip(slots) {
                    if value.is_some() {
                        continue;
                    }
                    let inferred = shapes.get(&var).cloned().or_else(|| {
                        matches!(array.as_str(), "MovingMean" | "MovingVariance")
                            .then(|| channel_shape.clone())
                            .flatten()
                    });
                    let shape = inferred.ok_or_else(|| {
                        NetError::Invalid(format!(
                            "the shape of array {array} of {name:?} could not be inferred"
                        ))
                    })?;
                    let n: usize = shape.iter().product();
                    let data = match array.as_str() {
                        "Biases" | "MovingMean" => vec![0.0; n],
                        "Scaling" | "MovingVariance" => vec![1.0; n],
                        "Slope" => vec![0.25; n],
                        _ => {
                            let fan_out = shape.first().copied().unwrap_or(1);
                            let fan_in = if shape.len() > 1 {
                                n / fan_out.max(1)
                            } else {
                                1
                            };
                            let scale = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
                            uniform(n, seed).into_iter().map(|u| u * scale).collect()
                        }
                    };
                    *value = Some(Tensor::new(shape, data).map_err(NetError::Invalid)?);
                }
            }
        }
    }
    Ok(())
}
