//! `_foreach`: runs its body subgraph once per slice of its data inputs along
//! axis 0, threading states through (`mx.sym.contrib.foreach`).
//!
//! Inputs are ordered data arrays, initial states, then remaining inputs of
//! the body. `in_data_locs`, `in_state_locs` and `remain_locs` say which body
//! input (in the body's `list_inputs()` order) each one feeds. The body's
//! outputs are `num_out_data` per-step outputs, stacked along a new axis 0,
//! followed by the new states; the op's outputs are the stacked outputs and
//! the final states.

use std::collections::HashMap;

use mxnet_format::symbol::Symbol;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::exec::{Executor, Program, Weights};
use crate::kernel::{In, Kernel, Out};
use crate::registry::OpEntry;
use crate::tensor::{Tensor, numel};

pub(crate) static OPS: &[OpEntry] = &[OpEntry {
    name: "_foreach",
    build,
    family: "control",
    summary: "loop a subgraph over axis 0 of its data, carrying states",
}];

#[derive(Debug)]
struct Foreach {
    body: Symbol,
    data_locs: Vec<usize>,
    state_locs: Vec<usize>,
    remain_locs: Vec<usize>,
    num_out_data: usize,
    num_outputs: usize,
}

fn locs(a: &Attrs<'_>, key: &str) -> Result<Vec<usize>, AttrError> {
    a.tuple(key, &[])?
        .into_iter()
        .map(|v| {
            usize::try_from(v).map_err(|_| AttrError {
                key: key.into(),
                value: v.to_string(),
                expected: "non-negative positions",
            })
        })
        .collect()
}

fn build(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError> {
    let body = a
        .node()
        .subgraphs
        .first()
        .cloned()
        .ok_or_else(|| AttrError {
            key: "subgraphs".into(),
            value: String::new(),
            expected: "one body subgraph",
        })?;
    let k = Foreach {
        data_locs: locs(a, "in_data_locs")?,
        state_locs: locs(a, "in_state_locs")?,
        remain_locs: locs(a, "remain_locs")?,
        num_out_data: a.req_count("num_out_data")?,
        num_outputs: a.req_count("num_outputs")?,
        body,
    };
    let n_body_inputs = k.body.arg_nodes().len();
    if k.data_locs
        .iter()
        .chain(&k.state_locs)
        .chain(&k.remain_locs)
        .any(|&l| l >= n_body_inputs)
        || k.num_outputs != k.body.heads().len()
        || k.num_out_data > k.num_outputs
    {
        return Err(AttrError {
            key: "in_data_locs".into(),
            value: String::new(),
            expected: "positions and output counts that fit the body subgraph",
        });
    }
    Ok(Box::new(k))
}

impl Foreach {
    /// Names of the body's inputs, in `list_inputs()` order.
    fn body_inputs(&self) -> Vec<String> {
        self.body
            .arg_nodes()
            .into_iter()
            .map(|i| self.body.nodes()[i].name.clone())
            .collect()
    }

    /// Body input name → position among the op's inputs.
    fn feeds(&self) -> Vec<(String, usize)> {
        let names = self.body_inputs();
        self.data_locs
            .iter()
            .chain(&self.state_locs)
            .chain(&self.remain_locs)
            .enumerate()
            .map(|(op_input, &loc)| (names[loc].clone(), op_input))
            .collect()
    }

    fn step_shapes(&self, inputs: &[&[usize]]) -> Result<HashMap<String, Vec<usize>>, String> {
        let mut shapes = HashMap::new();
        for (name, k) in self.feeds() {
            let s = inputs.get(k).ok_or("too few inputs for the body")?;
            let shape = if k < self.data_locs.len() {
                if s.is_empty() {
                    return Err("data inputs must have an axis 0 to loop over".into());
                }
                s[1..].to_vec()
            } else {
                s.to_vec()
            };
            shapes.insert(name, shape);
        }
        Ok(shapes)
    }
}

impl Kernel for Foreach {
    fn num_outputs(&self) -> usize {
        self.num_outputs
    }

    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        let steps = inputs.first().and_then(|s| s.first()).copied().unwrap_or(0);
        let shapes = self.step_shapes(inputs)?;
        let program = Program::compile(&self.body, None).map_err(|e| format!("body: {e}"))?;
        let plan = program
            .bind(&Weights::new(), &shapes)
            .map_err(|e| format!("body: {e}"))?;
        Ok(plan
            .output_shapes()
            .iter()
            .enumerate()
            .map(|(k, s)| {
                if k < self.num_out_data {
                    let mut v = vec![steps];
                    v.extend_from_slice(s);
                    v
                } else {
                    s.to_vec()
                }
            })
            .collect())
    }

    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String> {
        let shapes_in: Vec<&[usize]> = inputs.iter().map(|i| i.shape).collect();
        let shapes = self.step_shapes(&shapes_in)?;
        let steps = inputs
            .first()
            .and_then(|i| i.shape.first())
            .copied()
            .unwrap_or(0);
        let program = Program::compile(&self.body, None).map_err(|e| format!("body: {e}"))?;
        let weights = Weights::new();
        let plan = program
            .bind(&weights, &shapes)
            .map_err(|e| format!("body: {e}"))?;
        let mut exec = Executor::new(&program, &weights, plan);
        let feeds = self.feeds();
        let n_data = self.data_locs.len();
        let n_states = self.state_locs.len();
        let mut values: HashMap<String, Tensor> = HashMap::new();
        for (name, k) in &feeds {
            if *k >= n_data {
                let x = &inputs[*k];
                values.insert(
                    name.clone(),
                    Tensor {
                        dtype: x.dtype,
                        shape: x.shape.to_vec(),
                        data: x.data.to_vec(),
                    },
                );
            }
        }
        let state_names: Vec<String> = feeds[n_data..n_data + n_states]
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let mut finals: Vec<Tensor> = Vec::new();
        for t in 0..steps {
            for (name, k) in &feeds[..n_data] {
                let x = &inputs[*k];
                let step = numel(&x.shape[1..]);
                values.insert(
                    name.clone(),
                    Tensor {
                        dtype: x.dtype,
                        shape: x.shape[1..].to_vec(),
                        data: x.data[t * step..(t + 1) * step].to_vec(),
                    },
                );
            }
            let outs = exec
                .run(&values)
                .map_err(|e| format!("body, step {t}: {e}"))?;
            for (k, o) in outs.iter().enumerate().take(self.num_out_data) {
                let n = o.data.len();
                outputs[k].data[t * n..(t + 1) * n].copy_from_slice(&o.data);
            }
            let mut outs = outs;
            let states: Vec<Tensor> = outs.drain(self.num_out_data..).collect();
            for (name, s) in state_names.iter().zip(&states) {
                values.insert(name.clone(), s.clone());
            }
            finals = states;
        }
        for (k, s) in finals.iter().enumerate() {
            outputs[self.num_out_data + k].data.copy_from_slice(&s.data);
        }
        if steps == 0 {
            // No step ran: the final states are the initial ones.
            for k in 0..n_states {
                outputs[self.num_out_data + k]
                    .data
                    .copy_from_slice(inputs[n_data + k].data);
            }
        }
        Ok(())
    }
}
