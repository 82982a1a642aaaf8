//! Parsing attribute value strings the way MXNet's `dmlc::Parameter` does
//! (spec §2.6).
//!
//! Every attribute in a symbol file is a string. Python frontends write
//! `str(value)` (`"(3, 3)"`, `"True"`, `"1e-05"`); other frontends and
//! hand-written files use `"[3,3]"`, `"true"`, `"1"`. These functions accept the
//! whole grammar MXNet accepts and reject what it rejects.

use std::fmt;

/// An attribute value that does not parse as the expected kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrError {
    /// The value as written.
    pub value: String,
    /// What was expected ("a boolean", "an integer", "an integer tuple", …).
    pub expected: &'static str,
}

impl fmt::Display for AttrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "value {:?} is not {}", self.value, self.expected)
    }
}

impl std::error::Error for AttrError {}

fn err(value: &str, expected: &'static str) -> AttrError {
    AttrError {
        value: value.to_owned(),
        expected,
    }
}

/// `True`/`true`/`1`/`False`/`false`/`0`, any case, surrounding spaces allowed.
pub fn parse_bool(s: &str) -> Result<bool, AttrError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("true") || t == "1" {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") || t == "0" {
        Ok(false)
    } else {
        Err(err(s, "a boolean (True/False/1/0)"))
    }
}

/// A decimal integer with optional sign and surrounding spaces (`" 2"`,
/// `"+2"`, `"-1"`); not `"2.0"`, `"0x2"` or `"2L"`.
pub fn parse_int(s: &str) -> Result<i64, AttrError> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(s, "an integer"));
    }
    t.trim_start_matches('+')
        .parse::<i64>()
        .map_err(|_| err(s, "an integer in range"))
}

/// A float as C's `strtod` reads it, plus a trailing `f` (`"0.5f"`):
/// `"0.1"`, `"1e-05"`, `".5"`, `"5."`, `"inf"`, `"nan"`.
pub fn parse_float(s: &str) -> Result<f64, AttrError> {
    let t = s.trim();
    let t = t
        .strip_suffix(['f', 'F'])
        .filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("in"))
        .unwrap_or(t);
    let lower = t.to_ascii_lowercase();
    let body = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    let special = matches!(body, "inf" | "infinity" | "nan");
    let numeric = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
        && body.bytes().any(|b| b.is_ascii_digit());
    if !special && !numeric {
        return Err(err(s, "a number"));
    }
    lower
        .trim_start_matches('+')
        .parse::<f64>()
        .map_err(|_| err(s, "a number"))
}

/// Splits a tuple string into its items: `"(3, 3)"`, `"[3,3]"`, `"(3,3,)"`,
/// `" ( 3 , 3 ) "`; a bare item `"3"` is a 1-tuple; `"()"` is empty.
/// Returns `None` for `"None"` (an unknown tuple).
fn tuple_items(s: &str) -> Result<Option<Vec<&str>>, AttrError> {
    let t = s.trim();
    if t == "None" {
        return Ok(None);
    }
    let inner = if let Some(r) = t.strip_prefix('(') {
        r.strip_suffix(')')
    } else if let Some(r) = t.strip_prefix('[') {
        r.strip_suffix(']')
    } else {
        return if t.is_empty() || t.contains(',') {
            Err(err(s, "a tuple like (3, 3)"))
        } else {
            Ok(Some(vec![t]))
        };
    };
    let inner = inner.ok_or_else(|| err(s, "a tuple like (3, 3)"))?;
    let inner = inner.trim();
    if inner.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let inner = inner.strip_suffix(',').unwrap_or(inner);
    let items: Vec<&str> = inner.split(',').map(str::trim).collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(err(s, "a tuple like (3, 3)"));
    }
    Ok(Some(items))
}

/// An integer tuple (`kernel`, `stride`, `shape`, …); items may carry Python
/// 2's `L` suffix. `Ok(None)` means `"None"` (unknown).
pub fn parse_int_tuple(s: &str) -> Result<Option<Vec<i64>>, AttrError> {
    let Some(items) = tuple_items(s)? else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|i| {
            parse_int(i.strip_suffix('L').unwrap_or(i)).map_err(|_| err(s, "an integer tuple"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// An integer tuple whose items may be `None` (`slice` begin/end/step).
pub fn parse_opt_int_tuple(s: &str) -> Result<Vec<Option<i64>>, AttrError> {
    let items = tuple_items(s)?.unwrap_or_default();
    items
        .into_iter()
        .map(|i| {
            if i == "None" {
                Ok(None)
            } else {
                parse_int(i.strip_suffix('L').unwrap_or(i))
                    .map(Some)
                    .map_err(|_| err(s, "a tuple of integers or None"))
            }
        })
        .collect()
}

/// A float tuple (`MultiBoxPrior sizes`).
pub fn parse_float_tuple(s: &str) -> Result<Option<Vec<f64>>, AttrError> {
    let Some(items) = tuple_items(s)? else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|i| parse_float(i).map_err(|_| err(s, "a tuple of numbers")))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// An optional integer: `"None"` or an integer.
pub fn parse_opt_int(s: &str) -> Result<Option<i64>, AttrError> {
    if s.trim() == "None" {
        Ok(None)
    } else {
        parse_int(s).map(Some)
    }
}

/// Formats a tuple the way Python's `str(tuple)` does: `(3, 3)`, `(3,)`, `()`.
pub fn format_tuple<T: fmt::Display>(items: &[T]) -> String {
    match items {
        [] => "()".to_owned(),
        [one] => format!("({one},)"),
        _ => {
            let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_follow_dmlc() {
        for (s, v) in [("2", 2), (" 2", 2), ("2 ", 2), ("+2", 2), ("-1", -1)] {
            assert_eq!(parse_int(s), Ok(v), "{s}");
        }
        for s in ["2.0", "0x2", "2L", "", "-", "1,5"] {
            assert!(parse_int(s).is_err(), "{s}");
        }
    }

    #[test]
    fn floats_follow_strtod() {
        for (s, v) in [
            ("0.1", 0.1),
            ("1e-05", 1e-5),
            ("1E-1", 0.1),
            (".5", 0.5),
            ("5.", 5.0),
            ("-0.5", -0.5),
            (" 0.5", 0.5),
            ("0.5f", 0.5),
        ] {
            assert_eq!(parse_float(s), Ok(v), "{s}");
        }
        assert_eq!(parse_float("inf"), Ok(f64::INFINITY));
        assert!(parse_float("nan").unwrap().is_nan());
        for s in ["1,5", "0x1p3", "abc", ""] {
            assert!(parse_float(s).is_err(), "{s}");
        }
    }

    #[test]
    fn bools_are_case_insensitive() {
        for s in ["True", "true", "TRUE", "1"] {
            assert_eq!(parse_bool(s), Ok(true));
        }
        for s in ["False", "false", "0"] {
            assert_eq!(parse_bool(s), Ok(false));
        }
        for s in ["yes", "2"] {
            assert!(parse_bool(s).is_err());
        }
    }

    #[test]
    fn tuples_accept_the_whole_grammar() {
        for s in ["(3, 3)", "[3,3]", "(3,3,)", " ( 3 , 3 ) ", "(3L, 3L)"] {
            assert_eq!(parse_int_tuple(s), Ok(Some(vec![3, 3])), "{s}");
        }
        assert_eq!(parse_int_tuple("3"), Ok(Some(vec![3])));
        assert_eq!(parse_int_tuple("-1"), Ok(Some(vec![-1])));
        assert_eq!(parse_int_tuple("()"), Ok(Some(vec![])));
        assert_eq!(parse_int_tuple("None"), Ok(None));
        for s in ["3,3", "(3.0, 3.0)", "(,1)"] {
            assert!(parse_int_tuple(s).is_err(), "{s}");
        }
        assert_eq!(parse_opt_int_tuple("(None, 1)"), Ok(vec![None, Some(1)]));
        assert_eq!(parse_float_tuple("(0.1, 0.2)"), Ok(Some(vec![0.1, 0.2])));
    }

    #[test]
    fn tuples_format_like_python() {
        assert_eq!(format_tuple(&[3, 3]), "(3, 3)");
        assert_eq!(format_tuple(&[3]), "(3,)");
        assert_eq!(format_tuple::<i64>(&[]), "()");
    }
}
