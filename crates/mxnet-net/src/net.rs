//! Containers: a net is a graph of named layers and nested nets; a
//! [`NetKind::Chain`] is the special case of a linear sequence.

use mxnet_format::DType;
use serde::{Deserialize, Serialize};

use crate::error::NetError;
use crate::layer::Layer;

/// Where a node input or net output takes its value from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A net input port, by name.
    Input(String),
    /// Output `output` of the node called `node`.
    Node {
        /// The node's name.
        node: String,
        /// Which output.
        output: usize,
    },
}

impl Source {
    /// Output 0 of the node called `name`.
    pub fn node(name: impl Into<String>) -> Source {
        Source::Node {
            node: name.into(),
            output: 0,
        }
    }
}

/// A net input port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// Its name (`data`).
    pub name: String,
    /// Its shape, batch axis included, when known (MXNet files do not store
    /// input shapes; `__shape__` hints or the user give them).
    pub shape: Option<Vec<usize>>,
    /// Its element type.
    #[serde(with = "dtype_name")]
    pub dtype: DType,
}

impl Port {
    /// A float32 port with an unknown shape.
    pub fn new(name: impl Into<String>) -> Port {
        Port {
            name: name.into(),
            shape: None,
            dtype: DType::F32,
        }
    }

    /// A float32 port of the given shape.
    pub fn with_shape(name: impl Into<String>, shape: Vec<usize>) -> Port {
        Port {
            name: name.into(),
            shape: Some(shape),
            dtype: DType::F32,
        }
    }
}

mod dtype_name {
    use mxnet_format::DType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &DType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DType, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a node of a net is.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// A layer.
    Layer(Layer),
    /// A nested net, whose inputs are the node's inputs in order.
    Net(Net),
}

/// A named node of a net and the sources of its inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct NetNode {
    /// Unique within the net.
    pub name: String,
    /// The layer or nested net.
    pub element: Element,
    /// Where each input comes from, in port order.
    pub inputs: Vec<Source>,
}

/// Whether a net is a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetKind {
    /// A linear sequence: one input, each node fed by the previous one, the
    /// last one's output the only output.
    Chain,
    /// Anything else.
    Graph,
}

impl NetKind {
    /// `NetChain` or `NetGraph`.
    pub fn as_str(self) -> &'static str {
        match self {
            NetKind::Chain => "NetChain",
            NetKind::Graph => "NetGraph",
        }
    }
}

/// A net: input ports, nodes in an order where every input comes from an
/// earlier node or a net input, and named outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    /// Input ports.
    pub inputs: Vec<Port>,
    /// Nodes, inputs before their consumers.
    pub nodes: Vec<NetNode>,
    /// Output ports: name and source.
    pub outputs: Vec<(String, Source)>,
}

impl Net {
    /// A chain of `layers` fed by one input port; the output is called `Output`.
    pub fn chain(input: Port, layers: Vec<(String, Element)>) -> Result<Net, NetError> {
        let mut nodes = Vec::new();
        let mut prev = Source::Input(input.name.clone());
        for (name, element) in layers {
            nodes.push(NetNode {
                name: name.clone(),
                element,
                inputs: vec![prev],
            });
            prev = Source::node(name);
        }
        Net::graph(vec![input], nodes, vec![("Output".to_owned(), prev)])
    }

    /// A graph; checks that names are unique and every source exists earlier.
    pub fn graph(
        inputs: Vec<Port>,
        nodes: Vec<NetNode>,
        outputs: Vec<(String, Source)>,
    ) -> Result<Net, NetError> {
        let net = Net {
            inputs,
            nodes,
            outputs,
        };
        net.validate()?;
        Ok(net)
    }

    /// Checks names and sources.
    pub fn validate(&self) -> Result<(), NetError> {
        let mut seen = std::collections::HashSet::new();
        let inputs: std::collections::HashSet<&str> =
            self.inputs.iter().map(|p| p.name.as_str()).collect();
        let check = |src: &Source,
                     seen: &std::collections::HashSet<&str>,
                     user: &str|
         -> Result<(), NetError> {
            match src {
                Source::Input(n) if !inputs.contains(n.as_str()) => Err(NetError::Invalid(
                    format!("{user} reads net input {n:?}, which the net does not have"),
                )),
                Source::Node { node, .. } if !seen.contains(node.as_str()) => {
                    Err(NetError::Invalid(format!(
                        "{user} reads node {node:?}, which does not exist or comes later"
                    )))
                }
                _ => Ok(()),
            }
        };
        for n in &self.nodes {
            for s in &n.inputs {
                check(s, &seen, &format!("node {:?}", n.name))?;
            }
            if !seen.insert(n.name.as_str()) {
                return Err(NetError::Invalid(format!(
                    "two nodes are called {:?}",
                    n.name
                )));
            }
        }
        for (name, s) in &self.outputs {
            check(s, &seen, &format!("output {name:?}"))?;
        }
        Ok(())
    }

    /// Chain or graph (see [`NetKind`]).
    pub fn kind(&self) -> NetKind {
        if self.inputs.len() != 1 || self.outputs.len() != 1 || self.nodes.is_empty() {
            return NetKind::Graph;
        }
        let mut prev = Source::Input(self.inputs[0].name.clone());
        for n in &self.nodes {
            if n.inputs != [prev.clone()] {
                return NetKind::Graph;
            }
            prev = Source::node(&n.name);
        }
        if self.outputs[0].1 == prev {
            NetKind::Chain
        } else {
            NetKind::Graph
        }
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NetNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node called `name`, mutably.
    pub fn node_mut(&mut self, name: &str) -> Option<&mut NetNode> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    /// Replaces the element of node `name` (e.g. a layer with new options or
    /// arrays); the wiring stays.
    pub fn replace(&mut self, name: &str, element: Element) -> Result<(), NetError> {
        let node = self
            .node_mut(name)
            .ok_or_else(|| NetError::Invalid(format!("no node called {name:?}")))?;
        node.element = element;
        Ok(())
    }

    /// Sets the shape of input port `name` (MXNet files do not store it).
    pub fn set_input_shape(&mut self, name: &str, shape: Vec<usize>) -> Result<(), NetError> {
        let port = self
            .inputs
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| NetError::Invalid(format!("no input port called {name:?}")))?;
        port.shape = Some(shape);
        Ok(())
    }

    /// Every layer, depth first, with its path of node names
    /// (`block1/conv0` for a layer inside a nested net).
    pub fn layers(&self) -> Vec<(String, &Layer)> {
        let mut out = Vec::new();
        fn walk<'a>(net: &'a Net, prefix: &str, out: &mut Vec<(String, &'a Layer)>) {
            for n in &net.nodes {
                let path = if prefix.is_empty() {
                    n.name.clone()
                } else {
                    format!("{prefix}/{}", n.name)
                };
                match &n.element {
                    Element::Layer(l) => out.push((path, l)),
                    Element::Net(inner) => walk(inner, &path, out),
                }
            }
        }
        walk(self, "", &mut out);
        out
    }

    /// True when every layer's arrays are set.
    pub fn is_initialized(&self) -> bool {
        self.layers().iter().all(|(_, l)| l.is_initialized())
    }
}
