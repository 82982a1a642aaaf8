//! Typed access to a node's attribute strings, with MXNet's defaults.

use mxnet_format::attr;
use mxnet_format::symbol::Node;

use crate::error::AttrError;

/// Reads a node's attributes with MXNet's grammar; errors name the attribute
/// and the value.
#[derive(Clone, Copy)]
pub struct Attrs<'a> {
    node: &'a Node,
}

impl<'a> Attrs<'a> {
    /// The attributes of `node`.
    pub fn new(node: &'a Node) -> Attrs<'a> {
        Attrs { node }
    }

    /// The node.
    pub fn node(&self) -> &'a Node {
        self.node
    }

    fn err(&self, key: &str, value: &str, expected: &'static str) -> AttrError {
        AttrError {
            key: key.to_owned(),
            value: value.to_owned(),
            expected,
        }
    }

    /// The raw value, if present.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.node.attrs.get(key).map(String::as_str)
    }

    fn required(&self, key: &str) -> Result<&'a str, AttrError> {
        self.get(key)
            .ok_or_else(|| self.err(key, "", "present (it is required)"))
    }

    /// An integer attribute.
    pub fn int(&self, key: &str, default: i64) -> Result<i64, AttrError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => attr::parse_int(v).map_err(|_| self.err(key, v, "an integer")),
        }
    }

    /// A required integer attribute.
    pub fn req_int(&self, key: &str) -> Result<i64, AttrError> {
        let v = self.required(key)?;
        attr::parse_int(v).map_err(|_| self.err(key, v, "an integer"))
    }

    /// A non-negative count (e.g. `num_filter`), bounded to keep allocations sane.
    pub fn req_count(&self, key: &str) -> Result<usize, AttrError> {
        let v = self.required(key)?;
        attr::parse_int(v)
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n <= 1 << 31)
            .ok_or_else(|| self.err(key, v, "a non-negative integer"))
    }

    /// A non-negative count with a default.
    pub fn count(&self, key: &str, default: usize) -> Result<usize, AttrError> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.req_count(key),
        }
    }

    /// An optional integer (`"None"` or absent → `None`).
    pub fn opt_int(&self, key: &str) -> Result<Option<i64>, AttrError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => attr::parse_opt_int(v).map_err(|_| self.err(key, v, "an integer or None")),
        }
    }

    /// A float attribute.
    pub fn float(&self, key: &str, default: f64) -> Result<f64, AttrError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => attr::parse_float(v).map_err(|_| self.err(key, v, "a number")),
        }
    }

    /// A required float attribute.
    pub fn req_float(&self, key: &str) -> Result<f64, AttrError> {
        let v = self.required(key)?;
        attr::parse_float(v).map_err(|_| self.err(key, v, "a number"))
    }

    /// An optional float (`"None"` or absent → `None`).
    pub fn opt_float(&self, key: &str) -> Result<Option<f64>, AttrError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.trim() == "None" => Ok(None),
            Some(v) => attr::parse_float(v)
                .map(Some)
                .map_err(|_| self.err(key, v, "a number or None")),
        }
    }

    /// A boolean attribute.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, AttrError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => attr::parse_bool(v).map_err(|_| self.err(key, v, "True or False")),
        }
    }

    /// An optional boolean (`"None"` or absent → `None`).
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, AttrError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.trim() == "None" => Ok(None),
            Some(v) => attr::parse_bool(v)
                .map(Some)
                .map_err(|_| self.err(key, v, "True, False or None")),
        }
    }

    /// An integer tuple; `"None"` and absent give `default`.
    pub fn tuple(&self, key: &str, default: &[i64]) -> Result<Vec<i64>, AttrError> {
        match self.get(key) {
            None => Ok(default.to_vec()),
            Some(v) => attr::parse_int_tuple(v)
                .map(|t| t.unwrap_or_else(|| default.to_vec()))
                .map_err(|_| self.err(key, v, "an integer tuple like (3, 3)")),
        }
    }

    /// A required integer tuple.
    pub fn req_tuple(&self, key: &str) -> Result<Vec<i64>, AttrError> {
        let v = self.required(key)?;
        attr::parse_int_tuple(v)
            .ok()
            .flatten()
            .ok_or_else(|| self.err(key, v, "an integer tuple like (3, 3)"))
    }

    /// `values` (the tuple read from `key`) as sizes or axes, or an error
    /// saying `expected` when one is negative.
    pub fn non_negative(
        &self,
        key: &str,
        values: &[i64],
        expected: &'static str,
    ) -> Result<Vec<usize>, AttrError> {
        values
            .iter()
            .map(|&v| usize::try_from(v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| self.err(key, self.get(key).unwrap_or(""), expected))
    }

    /// A tuple whose items may be `None` (slice begin/end/step).
    pub fn opt_tuple(&self, key: &str) -> Result<Vec<Option<i64>>, AttrError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(v) => attr::parse_opt_int_tuple(v)
                .map_err(|_| self.err(key, v, "a tuple of integers or None")),
        }
    }

    /// A float tuple.
    pub fn float_tuple(&self, key: &str, default: &[f64]) -> Result<Vec<f64>, AttrError> {
        match self.get(key) {
            None => Ok(default.to_vec()),
            Some(v) => attr::parse_float_tuple(v)
                .map(|t| t.unwrap_or_else(|| default.to_vec()))
                .map_err(|_| self.err(key, v, "a tuple of numbers")),
        }
    }

    /// One of a fixed set of names (case-sensitive, as MXNet).
    pub fn choice(
        &self,
        key: &str,
        options: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, AttrError> {
        let v = match self.get(key) {
            None => return Ok(default),
            Some(v) => v.trim(),
        };
        options
            .iter()
            .find(|o| **o == v)
            .copied()
            .ok_or_else(|| self.err(key, v, "one of the names MXNet accepts for it"))
    }

    /// A string attribute.
    pub fn string(&self, key: &str, default: &'a str) -> &'a str {
        self.get(key).map_or(default, str::trim)
    }
}
