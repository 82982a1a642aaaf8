//! Tensors: shapes and `f32` values, with the dtype MXNet would give them.
//!
//! Every op computes in `f32`. Float16, bfloat16 and float64 weights are
//! converted when a program is bound; integer and boolean values are carried
//! exactly in `f32` (integers up to 2^24), and each tensor remembers the dtype
//! MXNet would store so outputs are written back in it.

use mxnet_format::DType;
use mxnet_format::params::{Array, ValueError};

/// Number of elements of a shape (1 for a 0-d shape).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// A shape as MXNet prints it: `(1, 3, 224, 224)`.
pub fn shape_str(shape: &[usize]) -> String {
    mxnet_format::attr::format_tuple(shape)
}

/// An owned tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The dtype MXNet would store for these values.
    pub dtype: DType,
    /// The shape; `[]` is a 0-d scalar.
    pub shape: Vec<usize>,
    /// Row-major values, `numel(shape)` of them.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A float32 tensor; fails if the length does not match the shape.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Tensor, String> {
        if numel(&shape) != data.len() {
            return Err(format!(
                "{} values for shape {}",
                data.len(),
                shape_str(&shape)
            ));
        }
        Ok(Tensor {
            dtype: DType::F32,
            shape,
            data,
        })
    }

    /// A float32 tensor of zeros.
    pub fn zeros(shape: Vec<usize>) -> Tensor {
        let n = numel(&shape);
        Tensor {
            dtype: DType::F32,
            shape,
            data: vec![0.0; n],
        }
    }

    /// The values of an array read from a `.params` file, converted to `f32`
    /// (sparse arrays densified).
    pub fn from_array(array: &Array<'_>) -> Result<Tensor, ValueError> {
        Ok(Tensor {
            dtype: array.dtype(),
            shape: array.shape().to_vec(),
            data: array.to_f32_vec()?,
        })
    }

    /// The tensor as an array of its dtype, for writing to a `.params` file.
    pub fn to_array(&self) -> Array<'static> {
        let shape = self.shape.clone();
        let result = match self.dtype {
            DType::F32 => Array::from_values(shape, &self.data),
            DType::F64 => Array::from_values(
                shape,
                &self.data.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            ),
            DType::F16 => Array::from_values(
                shape,
                &self
                    .data
                    .iter()
                    .map(|&v| half::f16::from_f32(v))
                    .collect::<Vec<_>>(),
            ),
            DType::BF16 => Array::from_values(
                shape,
                &self
                    .data
                    .iter()
                    .map(|&v| half::bf16::from_f32(v))
                    .collect::<Vec<_>>(),
            ),
            DType::U8 => Array::from_values(
                shape,
                &self.data.iter().map(|&v| v as u8).collect::<Vec<_>>(),
            ),
            DType::I8 => Array::from_values(
                shape,
                &self.data.iter().map(|&v| v as i8).collect::<Vec<_>>(),
            ),
            DType::I32 => Array::from_values(
                shape,
                &self.data.iter().map(|&v| v as i32).collect::<Vec<_>>(),
            ),
            DType::I64 => Array::from_values(
                shape,
                &self.data.iter().map(|&v| v as i64).collect::<Vec<_>>(),
            ),
            DType::Bool => Array::from_values(
                shape,
                &self.data.iter().map(|&v| v != 0.0).collect::<Vec<_>>(),
            ),
            _ => Array::from_values(shape, &self.data),
        };
        // Lengths match by construction.
        result.unwrap_or_else(|_| Array::none())
    }
}
