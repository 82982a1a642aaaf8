//! Writing JSON exactly as MXNet 1.9.1 (dmlc's `JSONWriter`) does (spec §2.11).
//!
//! dmlc's writer keeps a stack of scopes. A multi-line scope puts every member
//! on its own line, indented two spaces per open scope; members are separated
//! by `", "` before the newline, so lines end with a space. Arrays of plain
//! numbers or entries are single-line up to ten elements; arrays of objects or
//! strings are always multi-line; objects are single-line with at most one
//! member. No newline at the end.

use serde_json::Value;

use super::{GraphAttr, MXNET_VERSION, Node, NodeEntry, Symbol};

struct Writer {
    out: String,
    /// Per open scope: (multi_line, members written).
    scopes: Vec<(bool, usize)>,
}

impl Writer {
    fn separator(&mut self) {
        if self.scopes.last().is_none_or(|s| s.0) {
            self.out.push('\n');
            for _ in 0..self.scopes.len() * 2 {
                self.out.push(' ');
            }
        }
    }
    fn begin(&mut self, open: char, multi_line: bool) {
        self.out.push(open);
        self.scopes.push((multi_line, 0));
    }
    fn end(&mut self, close: char) {
        let (multi_line, n) = self.scopes.pop().unwrap_or((false, 0));
        if multi_line && n != 0 {
            self.separator();
        }
        self.out.push(close);
    }
    /// Starts the next member of the innermost scope.
    fn item(&mut self) {
        let first = self.scopes.last().is_none_or(|s| s.1 == 0);
        if !first {
            self.out.push_str(", ");
        }
        self.separator();
        if let Some(s) = self.scopes.last_mut() {
            s.1 += 1;
        }
    }
    fn key(&mut self, key: &str) {
        self.item();
        self.string(key);
        self.out.push_str(": ");
    }
    fn string(&mut self, s: &str) {
        self.out.push('"');
        for ch in s.chars() {
            match ch {
                '\r' => self.out.push_str("\\r"),
                '\n' => self.out.push_str("\\n"),
                '\\' => self.out.push_str("\\\\"),
                '\t' => self.out.push_str("\\t"),
                '"' => self.out.push_str("\\\""),
                // dmlc writes other control characters raw, which no JSON
                // parser (ours included) reads back. They only reach here
                // through escapes (`\f`, `\u0001`) that dmlc cannot read
                // either, so write the standard escape.
                c if u32::from(c) < 0x20 => {
                    use std::fmt::Write;
                    let _ = write!(self.out, "\\u{:04x}", u32::from(c));
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }
    fn number(&mut self, n: impl std::fmt::Display) {
        use std::fmt::Write;
        let _ = write!(self.out, "{n}");
    }
    fn numbers(&mut self, items: impl ExactSizeIterator<Item = u64>) {
        self.begin('[', items.len() > 10);
        for n in items {
            self.item();
            self.number(n);
        }
        self.end(']');
    }
    fn entry(&mut self, e: &NodeEntry) {
        self.begin('[', false);
        for v in [e.node, e.index, e.version] {
            self.item();
            self.number(v);
        }
        self.end(']');
    }
    fn entries(&mut self, entries: &[NodeEntry]) {
        self.begin('[', entries.len() > 10);
        for e in entries {
            self.item();
            self.entry(e);
        }
        self.end(']');
    }
    fn string_map<'a>(&mut self, map: impl ExactSizeIterator<Item = (&'a String, &'a String)>) {
        self.begin('{', map.len() > 1);
        for (k, v) in map {
            self.key(k);
            self.string(v);
        }
        self.end('}');
    }
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.number(b),
            Value::Number(n) => self.number(n),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                let plain = items.iter().all(|i| i.is_number() || i.is_boolean());
                self.begin('[', !plain || items.len() > 10);
                for i in items {
                    self.item();
                    self.value(i);
                }
                self.end(']');
            }
            Value::Object(map) => {
                self.begin('{', map.len() > 1);
                for (k, v) in map {
                    self.key(k);
                    self.value(v);
                }
                self.end('}');
            }
        }
    }
    fn typed(&mut self, ty: &str, v: &Value) {
        self.begin('[', false);
        self.item();
        self.string(ty);
        self.item();
        self.value(v);
        self.end(']');
    }
}

fn node(w: &mut Writer, n: &Node) {
    w.begin('{', true);
    w.key("op");
    w.string(n.canonical_op());
    w.key("name");
    w.string(&n.name);
    if !n.attrs.is_empty() {
        w.key("attrs");
        w.string_map(n.attrs.iter());
    }
    w.key("inputs");
    w.entries(&n.inputs);
    if !n.control_deps.is_empty() {
        w.key("control_deps");
        w.numbers(n.control_deps.iter().map(|&d| u64::from(d)));
    }
    if !n.subgraphs.is_empty() {
        w.key("subgraphs");
        w.begin('[', true);
        for g in &n.subgraphs {
            w.item();
            graph(w, g, false);
        }
        w.end(']');
    }
    w.end('}');
}

fn graph(w: &mut Writer, sym: &Symbol, top: bool) {
    w.begin('{', true);
    w.key("nodes");
    w.begin('[', true);
    for n in sym.nodes() {
        w.item();
        node(w, n);
    }
    w.end(']');
    w.key("arg_nodes");
    let args = sym.arg_nodes();
    w.numbers(args.iter().map(|&i| i as u64));
    w.key("node_row_ptr");
    let ptr = sym.node_row_ptr();
    w.numbers(ptr.iter().copied());
    w.key("heads");
    w.entries(sym.heads());
    if top {
        let version = GraphAttr {
            ty: "int".to_owned(),
            value: Value::from(MXNET_VERSION),
        };
        let mut attrs: Vec<(&str, &GraphAttr)> = sym
            .graph_attrs()
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        attrs.push(("mxnet_version", &version));
        attrs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        w.key("attrs");
        w.begin('{', attrs.len() > 1);
        for (k, a) in attrs {
            w.key(k);
            w.typed(&a.ty, &a.value);
        }
        w.end('}');
    }
    w.end('}');
}

pub(crate) fn to_json(sym: &Symbol) -> String {
    let mut w = Writer {
        out: String::with_capacity(sym.nodes().len() * 160 + 256),
        scopes: Vec::new(),
    };
    graph(&mut w, sym, true);
    w.out
}
