//! The interface every op implements.

use std::fmt;

use mxnet_format::DType;

/// A read-only input of a kernel call.
#[derive(Clone, Copy)]
pub struct In<'a> {
    /// Its shape.
    pub shape: &'a [usize],
    /// Its values, row-major.
    pub data: &'a [f32],
    /// The dtype MXNet would give these values.
    pub dtype: DType,
}

/// An output of a kernel call, to be filled completely.
pub struct Out<'a> {
    /// Its shape, as shape inference gave it.
    pub shape: &'a [usize],
    /// Where to write the values.
    pub data: &'a mut [f32],
}

impl fmt::Debug for In<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "In{:?}", self.shape)
    }
}

/// An op with its attributes parsed, ready to infer shapes and run.
///
/// Kernels are built once per node ([`crate::registry::OpEntry::build`]) and
/// called many times. Shapes handed to [`Kernel::forward`] are the ones
/// [`Kernel::infer_shapes`] produced.
pub trait Kernel: Send + Sync + fmt::Debug {
    /// Outputs this kernel computes: MXNet's visible outputs (hidden ones —
    /// workspaces, masks, batch statistics — are not computed).
    fn num_outputs(&self) -> usize {
        1
    }

    /// Input positions the forward pass does not read (loss labels of
    /// training heads); they need neither a shape nor a value.
    fn unused_inputs(&self) -> &[usize] {
        &[]
    }

    /// Output shapes from input shapes (unused inputs get `[]`), or a message
    /// saying what does not fit.
    fn infer_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String>;

    /// Shapes for inputs not yet known, from the ones that are (`None` for
    /// unknown). Lets a graph infer e.g. an RNN's initial-state shape or an
    /// elementwise partner's shape. Returns one entry per input (or fewer);
    /// `None` means no proposal.
    fn infer_input_shapes(&self, _inputs: &[Option<&[usize]>]) -> Vec<Option<Vec<usize>>> {
        Vec::new()
    }

    /// Output dtypes from input dtypes (default: the first input's, or float32).
    fn infer_dtypes(&self, inputs: &[DType]) -> Vec<DType> {
        vec![inputs.first().copied().unwrap_or(DType::F32); self.num_outputs()]
    }

    /// Computes the outputs.
    fn forward(&self, inputs: &[In<'_>], outputs: &mut [Out<'_>]) -> Result<(), String>;

    /// This node's kernel specialised once, when a plan is made, for the
    /// inputs that are constants of the plan (`constants[i]` holds input
    /// `i`'s values when it is one; `shapes` are every input's shape), e.g.
    /// with weights repacked for its loops. It must compute the same
    /// outputs as this kernel, reading its inputs as they are passed (the
    /// constant ones included). `None`, the default, keeps this kernel.
    fn prepare(
        &self,
        _shapes: &[&[usize]],
        _constants: &[Option<&[f32]>],
    ) -> Option<Box<dyn Kernel>> {
        None
    }
}

/// Checks an input count, for `infer_shapes` implementations.
pub(crate) fn expect_inputs(inputs: &[&[usize]], n: usize) -> Result<(), String> {
    if inputs.len() < n {
        Err(format!("expects {n} inputs, got {}", inputs.len()))
    } else {
        Ok(())
    }
}

/// Runs `k` on float32 inputs (shape, values) and returns its outputs, each
/// filled with NaN before the call so unwritten values show: the unit tests'
/// way to call a kernel without an executor.
#[cfg(test)]
pub(crate) fn run_kernel(k: &dyn Kernel, inputs: &[(Vec<usize>, Vec<f32>)]) -> Vec<Vec<f32>> {
    let shapes: Vec<&[usize]> = inputs.iter().map(|(s, _)| s.as_slice()).collect();
    let oshapes = k.infer_shapes(&shapes).unwrap();
    let ins: Vec<In<'_>> = inputs
        .iter()
        .map(|(s, d)| In {
            shape: s,
            data: d,
            dtype: DType::F32,
        })
        .collect();
    let mut bufs: Vec<Vec<f32>> = oshapes
        .iter()
        .map(|s| vec![f32::NAN; s.iter().product()])
        .collect();
    let mut outs: Vec<Out<'_>> = bufs
        .iter_mut()
        .zip(&oshapes)
        .map(|(b, s)| Out { shape: s, data: b })
        .collect();
    k.forward(&ins, &mut outs).unwrap();
    bufs
}
