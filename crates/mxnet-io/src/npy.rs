//! NumPy `.npy` arrays and `.npz` archives: the exchange format for inputs
//! and outputs of `mxnet-io run`.
//!
//! Reading accepts format versions 1–3, little- and big-endian, C or Fortran
//! order, and the dtypes MXNet has (`f4 f8 f2 u1 i1 i4 i8 b1`). Writing uses
//! version 1.0 with the header padded to a multiple of 64 bytes, as NumPy
//! does; bfloat16, which NumPy lacks, is written as float32.

use std::io::{Read, Seek, Write};

use mxnet_format::DType;
use mxnet_format::params::Array;

/// A malformed `.npy` file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NpyError(pub String);

fn err(m: impl Into<String>) -> NpyError {
    NpyError(m.into())
}

/// Parses a `.npy` file into an array of its dtype.
pub fn read_npy(bytes: &[u8]) -> Result<Array<'static>, NpyError> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or_else(|| err("not a .npy file (no \\x93NUMPY magic)"))?;
    let (&major, rest) = rest.split_first().ok_or_else(|| err("truncated header"))?;
    let (_, rest) = rest.split_first().ok_or_else(|| err("truncated header"))?;
    let (len, rest) = match major {
        1 => {
            let b = rest.get(..2).ok_or_else(|| err("truncated header"))?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), &rest[2..])
        }
        2 | 3 => {
            let b = rest.get(..4).ok_or_else(|| err("truncated header"))?;
            (
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
                &rest[4..],
            )
        }
        v => return Err(err(format!("unsupported .npy version {v}"))),
    };
    let header = rest.get(..len).ok_or_else(|| err("truncated header"))?;
    let data = &rest[len..];
    let header = std::str::from_utf8(header).map_err(|_| err("header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| err("header has no 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True"));
    let shape_text = dict_value(header, "shape").ok_or_else(|| err("header has no 'shape'"))?;
    let shape = parse_shape(shape_text)?;
    let (endian, code) = descr.split_at(1.min(descr.len()));
    let big = endian == ">";
    let dtype = match code {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "f2" => DType::F16,
        "u1" => DType::U8,
        "i1" => DType::I8,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "b1" => DType::Bool,
        _ => return Err(err(format!("dtype {descr:?} has no MXNet equivalent"))),
    };
    let n: usize = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err("shape overflows"))?;
    let size = dtype.size();
    let need = n.checked_mul(size).ok_or_else(|| err("shape overflows"))?;
    let raw = data.get(..need).ok_or_else(|| {
        err(format!(
            "{} data bytes for shape {shape:?} of {dtype}; expected {need}",
            data.len()
        ))
    })?;
    let mut bytes = raw.to_vec();
    if big && size > 1 {
        for c in bytes.chunks_exact_mut(size) {
            c.reverse();
        }
    }
    if fortran && shape.len() > 1 {
        bytes = fortran_to_c(&bytes, &shape, size);
    }
    Array::from_bytes(dtype, shape, bytes).map_err(|e| err(e.to_string()))
}

/// The text after `'key':` in a Python dict literal, up to the next top-level comma.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    Some(rest.trim())
}

fn parse_shape(s: &str) -> Result<Vec<usize>, NpyError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| err(format!("bad shape {s:?}")))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| err(format!("bad shape {s:?}")))
        })
        .collect()
}

fn fortran_to_c(bytes: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let mut out = vec![0u8; bytes.len()];
    // Fortran strides: first axis fastest.
    let mut fstride = vec![1usize; shape.len()];
    for i in 1..shape.len() {
        fstride[i] = fstride[i - 1] * shape[i - 1];
    }
    let mut idx = vec![0usize; shape.len()];
    for c in 0..n {
        let f: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out[c * size..(c + 1) * size].copy_from_slice(&bytes[f * size..(f + 1) * size]);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Encodes a dense array as a `.npy` file (bfloat16 becomes float32).
pub fn write_npy(array: &Array<'_>, out: &mut impl Write) -> std::io::Result<()> {
    let dense;
    let array = if matches!(array.storage(), mxnet_format::params::Storage::Dense { .. }) {
        array
    } else {
        dense = array.to_dense().map_err(std::io::Error::other)?;
        &dense
    };
    let (descr, converted): (&str, Option<Vec<u8>>) = match array.dtype() {
        DType::F32 => ("<f4", None),
        DType::F64 => ("<f8", None),
        DType::F16 => ("<f2", None),
        DType::U8 => ("|u1", None),
        DType::I8 => ("|i1", None),
        DType::I32 => ("<i4", None),
        DType::I64 => ("<i8", None),
        DType::Bool => ("|b1", None),
        _ => {
            let v = array.to_f32_vec().map_err(std::io::Error::other)?;
            (
                "<f4",
                Some(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            )
        }
    };
    let dims: Vec<String> = array.shape().iter().map(ToString::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    match converted {
        Some(v) => out.write_all(&v),
        None => out.write_all(array.value_bytes()),
    }
}

/// Writes named arrays as an `.npz` archive (entries `NAME.npy`, stored
/// uncompressed, as `numpy.savez` does).
pub fn write_npz<W: Write + Seek>(arrays: &[(String, Array<'_>)], out: W) -> std::io::Result<()> {
    let mut zip = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(
            arrays
                .iter()
                .map(|(_, a)| a.value_bytes().len())
                .sum::<usize>()
                > (1 << 31),
        );
    for (name, array) in arrays {
        zip.start_file(format!("{name}.npy"), options)
            .map_err(std::io::Error::other)?;
        write_npy(array, &mut zip)?;
    }
    zip.finish().map_err(std::io::Error::other)?;
    Ok(())
}

/// Reads every array of an `.npz` archive, by name (without `.npy`).
pub fn read_npz<R: Read + Seek>(input: R) -> Result<Vec<(String, Array<'static>)>, NpyError> {
    let mut zip =
        zip::ZipArchive::new(input).map_err(|e| err(format!("not a readable .npz: {e}")))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| err(e.to_string()))?;
        let entry = f.name().map_err(|e| err(e.to_string()))?.into_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(|e| err(e.to_string()))?;
        let array = read_npy(&bytes).map_err(|e| err(format!("{entry}: {e}")))?;
        out.push((entry.trim_end_matches(".npy").to_owned(), array));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_every_dtype() {
        let arrays = [
            Array::from_values(vec![2, 3], &[1f32, -2., 3.5, 4., 5., 6.]).unwrap(),
            Array::from_values(vec![3], &[1i64, -1, 1 << 40]).unwrap(),
            Array::from_values(vec![2, 1], &[true, false]).unwrap(),
            Array::from_values(vec![], &[7f64]).unwrap(),
            Array::from_values(
                vec![2],
                &[half::f16::from_f32(0.5), half::f16::from_f32(-1.0)],
            )
            .unwrap(),
        ];
        for a in arrays {
            let mut buf = Vec::new();
            write_npy(&a, &mut buf).unwrap();
            assert_eq!(
                buf.len() % 64,
                (a.value_bytes().len()) % 64,
                "header padded to 64"
            );
            let back = read_npy(&buf).unwrap();
            assert_eq!(back.shape(), a.shape());
            assert_eq!(back.dtype(), a.dtype());
            assert_eq!(back.value_bytes(), a.value_bytes());
        }
    }

    #[test]
    fn fortran_and_big_endian_inputs_are_converted() {
        // A (2, 3) float32 array in Fortran order, big-endian.
        let header = "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }";
        let mut buf = b"\x93NUMPY\x01\x00".to_vec();
        buf.extend_from_slice(&(header.len() as u16).to_le_bytes());
        buf.extend_from_slice(header.as_bytes());
        for v in [1f32, 4., 2., 5., 3., 6.] {
            buf.extend_from_slice(&v.to_be_bytes());
        }
        let a = read_npy(&buf).unwrap();
        assert_eq!(a.to_f32_vec().unwrap(), [1., 2., 3., 4., 5., 6.]);
    }

    #[test]
    fn npz_round_trips() {
        let a = Array::from_values(vec![2], &[1f32, 2.]).unwrap();
        let b = Array::from_values(vec![1], &[3i32]).unwrap();
        let mut cur = std::io::Cursor::new(Vec::new());
        write_npz(&[("x".into(), a), ("y_output".into(), b)], &mut cur).unwrap();
        cur.set_position(0);
        let back = read_npz(cur).unwrap();
        assert_eq!(back[0].0, "x");
        assert_eq!(back[1].1.to_vec::<i32>().unwrap(), [3]);
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(read_npy(b"hello").is_err());
        assert!(read_npy(b"\x93NUMPY\x01\x00\xff\xff{").is_err());
    }
}
