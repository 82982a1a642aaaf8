//! Deserialising the JSON text into the file's own structure, every dialect.
//!
//! Node objects are read with a hand-written visitor because MXNet's merge
//! rules depend on key order: `attrs` and `attr` fill the same map and each
//! clears it first (the later key wins wholesale), and `param` entries are
//! merged afterwards without overwriting (spec §2.12).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One `[node, index, version]` entry as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub node: u32,
    pub index: u32,
    pub version: u32,
    /// The entry had only two elements (≤ 0.8 files).
    pub short: bool,
}

/// Notes about the text that do not stop reading.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RawNotes {
    /// Keys MXNet would reject ("JSONReader: Unknown field").
    pub unknown_keys: Vec<String>,
    /// Attribute values that were numbers or booleans instead of strings.
    pub non_string_attrs: Vec<String>,
    /// `"op": null` written as a JSON null.
    pub null_op: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RawNode {
    pub op: String,
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    pub inputs: Vec<RawEntry>,
    pub control_deps: Vec<u32>,
    pub subgraphs: Vec<RawGraph>,
    pub has_param: bool,
    pub has_attr: bool,
    pub has_backward_source_id: bool,
    pub notes: RawNotes,
}

/// A graph attribute: `["TYPE", VALUE]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawGraphAttr {
    pub ty: String,
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RawGraph {
    pub nodes: Vec<RawNode>,
    pub arg_nodes: Option<Vec<u32>>,
    pub node_row_ptr: Option<Vec<u64>>,
    pub heads: Vec<RawEntry>,
    /// Graph attributes as written; each should be a [`RawGraphAttr`] pair.
    pub attrs: Option<BTreeMap<String, serde_json::Value>>,
    pub missing: Vec<&'static str>,
    pub unknown_keys: Vec<String>,
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entry [node_id, output_index, version] of non-negative integers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawEntry, A::Error> {
                let node = seq
                    .next_element::<u32>()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let index = seq
                    .next_element::<u32>()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let version = seq.next_element::<u32>()?;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(RawEntry {
                    node,
                    index,
                    version: version.unwrap_or(0),
                    short: version.is_none(),
                })
            }
        }
        d.deserialize_seq(V)
    }
}

/// An attribute map whose values should be strings; numbers and booleans are
/// accepted and converted (MXNet would reject them) and reported.
struct AttrMap(BTreeMap<String, String>, Vec<String>);

impl<'de> Deserialize<'de> for AttrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AttrMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string attribute values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AttrMap, A::Error> {
                let mut out = BTreeMap::new();
                let mut odd = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: serde_json::Value = map.next_value()?;
                    let text = match value {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Number(n) => {
                            odd.push(key.clone());
                            n.to_string()
                        }
                        serde_json::Value::Bool(b) => {
                            odd.push(key.clone());
                            if b { "True" } else { "False" }.to_owned()
                        }
                        serde_json::Value::Null => {
                            odd.push(key.clone());
                            "None".to_owned()
                        }
                        other => {
                            return Err(de::Error::custom(format!(
                                "attribute {key:?} has value {other}; attribute values are strings"
                            )));
                        }
                    };
                    out.insert(key, text);
                }
                Ok(AttrMap(out, odd))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawNode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node object with \"op\", \"name\" and \"inputs\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
                let mut node = RawNode::default();
                let mut op = None;
                let mut name = None;
                let mut inputs = None;
                let mut param: Option<BTreeMap<String, String>> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "op" => {
                            let v: Option<String> = map.next_value()?;
                            if v.is_none() {
                                node.notes.null_op = true;
                            }
                            op = Some(v.unwrap_or_else(|| "null".to_owned()));
                        }
                        "name" => name = Some(map.next_value::<String>()?),
                        "inputs" => inputs = Some(map.next_value::<Vec<RawEntry>>()?),
                        "attrs" | "attr" => {
                            let AttrMap(m, odd) = map.next_value()?;
                            node.has_attr |= key == "attr";
                            node.attrs = m;
                            node.notes.non_string_attrs.extend(odd);
                        }
                        "param" => {
                            let AttrMap(m, odd) = map.next_value()?;
                            node.has_param = true;
                            param = Some(m);
                            node.notes.non_string_attrs.extend(odd);
                        }
                        "control_deps" => node.control_deps = map.next_value()?,
                        "subgraphs" => node.subgraphs = map.next_value()?,
                        "backward_source_id" => {
                            map.next_value::<IgnoredAny>()?;
                            node.has_backward_source_id = true;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            node.notes.unknown_keys.push(key);
                        }
                    }
                }
                node.op = op.ok_or_else(|| de::Error::missing_field("op"))?;
                node.name = name.ok_or_else(|| de::Error::missing_field("name"))?;
                node.inputs = inputs.ok_or_else(|| de::Error::missing_field("inputs"))?;
                if let Some(param) = param {
                    for (k, v) in param {
                        node.attrs.entry(k).or_insert(v);
                    }
                }
                Ok(node)
            }
        }
        d.deserialize_map(V)
    }
}

impl RawGraphAttr {
    /// Reads `["TYPE", VALUE]`; `None` when `value` has another form (a bare
    /// number, an object, a longer list), which the caller reports with the
    /// attribute's key.
    pub(crate) fn from_value(value: &serde_json::Value) -> Option<RawGraphAttr> {
        match value.as_array()?.as_slice() {
            [serde_json::Value::String(ty), v] => Some(RawGraphAttr {
                ty: ty.clone(),
                value: v.clone(),
            }),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for RawGraph {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawGraph;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an MXNet symbol: an object with \"nodes\", \"arg_nodes\" and \"heads\"",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawGraph, A::Error> {
                let mut g = RawGraph::default();
                let (mut nodes, mut heads) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "nodes" => nodes = Some(map.next_value()?),
                        "arg_nodes" => g.arg_nodes = Some(map.next_value()?),
                        "node_row_ptr" => g.node_row_ptr = Some(map.next_value()?),
                        "heads" => heads = Some(map.next_value()?),
                        "attrs" => g.attrs = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            g.unknown_keys.push(key);
                        }
                    }
                }
                match nodes {
                    Some(n) => g.nodes = n,
                    None => g.missing.push("nodes"),
                }
                match heads {
                    Some(h) => g.heads = h,
                    None => g.missing.push("heads"),
                }
                if g.arg_nodes.is_none() {
                    g.missing.push("arg_nodes");
                }
                Ok(g)
            }
        }
        d.deserialize_map(V)
    }
}
