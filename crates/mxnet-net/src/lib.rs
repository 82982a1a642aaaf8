//! High-level nets for MXNet models: layers, NetChain/NetGraph, and the
//! two-way translation between MXNet's low-level op graphs and layers.
//!
//! * [`import_symbol`]: an MXNet symbol (and its arrays) becomes a [`Net`] of
//!   [`Layer`]s — a chain exactly when the graph is one. Each op has a
//!   translation rule (`rules/`, one file per rule, both directions side by
//!   side); an op without one becomes an `MXNetOp` layer that keeps it intact.
//! * [`to_symbol`] / [`export`]: a net becomes an MXNet graph and `.params`
//!   that MXNet 1.9.1 loads and runs to the same outputs.
//! * [`unroll::unroll`]: recurrent layers become step-by-step nets of
//!   ordinary layers over a fixed sequence length (export `--unroll`).
//! * [`evaluate`]: runs a net through the one executor (`mxnet-ops`), by
//!   lowering it to MXNet ops first.
//!
//! ```
//! use std::collections::HashMap;
//! use mxnet_net::{evaluate, Element, Layer, LayerKind, Net, Port, ElementwiseFunction};
//! use mxnet_ops::Tensor;
//!
//! let mut linear = Layer::new(LayerKind::Linear { size: 2, bias: true, flatten: true });
//! linear.arrays = vec![
//!     ("Weights".into(), Some(Tensor::new(vec![2, 3], vec![1., 0., 0., 0., 1., 0.]).unwrap())),
//!     ("Biases".into(), Some(Tensor::new(vec![2], vec![0.5, -10.]).unwrap())),
//! ];
//! let relu = Layer::new(LayerKind::Elementwise { function: ElementwiseFunction::Ramp });
//! let net = Net::chain(
//!     Port::with_shape("data", vec![1, 3]),
//!     vec![("fc".into(), Element::Layer(linear)), ("relu".into(), Element::Layer(relu))],
//! )?;
//! let x = Tensor::new(vec![1, 3], vec![1., 2., 3.]).unwrap();
//! let out = evaluate(&net, &HashMap::from([("data".to_owned(), x)]))?;
//! assert_eq!(out[0].data, [1.5, 0.0]);
//! # Ok::<(), mxnet_net::NetError>(())
//! ```

#![deny(missing_docs)]

pub mod describe;
mod error;
mod layer;
mod net;
mod rules;
mod translate;
pub mod unroll;

pub use error::NetError;
pub use layer::{
    ElementwiseFunction, Layer, LayerKind, PaddingMode, PoolingConvention, PoolingFunction,
    RecurrentOptions, ResizeMethod, ThreadingFunction,
};
pub use net::{Element, Net, NetKind, NetNode, Port, Source};
pub use translate::{
    ExportOptions, Exported, Fallback, Imported, evaluate, export, import_symbol, params_arrays,
    to_symbol,
};
