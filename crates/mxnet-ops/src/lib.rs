//! MXNet operators on the CPU, with MXNet 1.9.1's numerics.
//!
//! * [`registry`]: the runnable ops, one file per op or family under `ops/`,
//!   looked up by canonical MXNet name or any alias.
//! * [`Program`]: a symbol compiled for some outputs. Ops it cannot run are
//!   reported all at once, before anything runs.
//! * [`Program::bind`]: shape and dtype inference as its own pass, roles of
//!   the variables (weights, inputs, auxiliary states filled from hints) and
//!   a buffer plan that reuses activation memory.
//! * [`Executor`]: runs the plan (`is_train = False` semantics: Dropout is the
//!   identity, BatchNorm uses its moving statistics, training heads such as
//!   `SoftmaxOutput` compute their forward pass and ignore labels).
//!
//! Everything computes in `f32`; float16, bfloat16 and float64 weights are
//! converted when bound, aligned float32 weights are used in place from the
//! memory-mapped `.params` file.
//!
//! ```
//! use std::collections::HashMap;
//! use mxnet_format::{params::ParamsFile, symbol::Symbol};
//! use mxnet_ops::{Executor, Program, Tensor, Weights};
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/spec-examples");
//! let sym = Symbol::open(format!("{dir}/cnn-symbol.json"))?;
//! let params = ParamsFile::open(format!("{dir}/cnn-0001.params"))?;
//! let weights = Weights::from_params(&params)?;
//! let program = Program::compile(&sym, None)?;
//! let shapes = HashMap::from([("data".to_owned(), vec![1, 1, 4, 4])]);
//! let plan = program.bind(&weights, &shapes)?;
//! let mut exec = Executor::new(&program, &weights, plan);
//! let data = Tensor::new(vec![1, 1, 4, 4], (0..16).map(|i| i as f32 / 16.0).collect()).unwrap();
//! let out = exec.run(&HashMap::from([("data".to_owned(), data)]))?;
//! assert!((out[0].data[0] - 0.434035).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `run` copies the outputs out; in a loop, or when an output is large,
//! [`Executor::run_borrowed`] lends them instead, valid until the next pass.

#![deny(missing_docs)]

pub mod attrs;
mod error;
mod exec;
mod fuse;
pub mod gemm;
pub mod kernel;
mod ops;
pub mod registry;
mod tensor;
mod warm;

pub use error::{AttrError, Error, Unsupported};
pub use exec::{
    BindOptions, Binding, Executor, OutputRef, Plan, ProfileBy, Program, Weight, Weights,
};
pub use tensor::{Tensor, numel, shape_str};
