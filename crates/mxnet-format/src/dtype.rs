//! Element types of MXNet arrays and their integer codes (spec §1.8).

use std::fmt;
use std::str::FromStr;

/// The element type of an array, as MXNet's `mshadow` type codes name it.
///
/// Only the types MXNet 1.9.1 can save and load are variants. The codes 8–11
/// (`int16`, `uint16`, `uint32`, `uint64`) exist in MXNet's enum but MXNet can
/// neither create, save nor load them; [`DType::from_code`] reports them as
/// [`DTypeCodeError::Unusable`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// IEEE binary32, code 0.
    F32,
    /// IEEE binary64, code 1.
    F64,
    /// IEEE binary16, code 2.
    F16,
    /// Unsigned byte, code 3.
    U8,
    /// 32-bit signed integer, code 4.
    I32,
    /// 8-bit signed integer, code 5.
    I8,
    /// 64-bit signed integer, code 6.
    I64,
    /// One byte, 0 or 1, code 7.
    Bool,
    /// The top 16 bits of a binary32, code 12.
    BF16,
}

/// Why an integer is not a usable dtype code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DTypeCodeError {
    /// Codes 8–11: in MXNet's enum, but MXNet 1.9.1 cannot load or save them.
    Unusable {
        /// The code found.
        code: i32,
        /// The type MXNet's enum gives it (`int16`, `uint16`, `uint32`, `uint64`).
        name: &'static str,
    },
    /// Not a code MXNet has ever defined.
    Unknown {
        /// The code found.
        code: i32,
    },
}

impl fmt::Display for DTypeCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unusable { code, name } => write!(
                f,
                "dtype code {code} ({name}) is in MXNet's enum but MXNet 1.9.1 cannot load or save it"
            ),
            Self::Unknown { code } => write!(
                f,
                "dtype code {code} is not an MXNet type code (expected 0-7 or 12)"
            ),
        }
    }
}

impl std::error::Error for DTypeCodeError {}

impl DType {
    /// Every dtype, in code order.
    pub const ALL: [DType; 9] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::U8,
        DType::I32,
        DType::I8,
        DType::I64,
        DType::Bool,
        DType::BF16,
    ];

    /// The dtype with MXNet type code `code`.
    pub fn from_code(code: i32) -> Result<DType, DTypeCodeError> {
        Ok(match code {
            0 => DType::F32,
            1 => DType::F64,
            2 => DType::F16,
            3 => DType::U8,
            4 => DType::I32,
            5 => DType::I8,
            6 => DType::I64,
            7 => DType::Bool,
            12 => DType::BF16,
            8 => {
                return Err(DTypeCodeError::Unusable {
                    code,
                    name: "int16",
                });
            }
            9 => {
                return Err(DTypeCodeError::Unusable {
                    code,
                    name: "uint16",
                });
            }
            10 => {
                return Err(DTypeCodeError::Unusable {
                    code,
                    name: "uint32",
                });
            }
            11 => {
                return Err(DTypeCodeError::Unusable {
                    code,
                    name: "uint64",
                });
            }
            _ => return Err(DTypeCodeError::Unknown { code }),
        })
    }

    /// MXNet's integer code for this dtype.
    pub fn code(self) -> i32 {
        match self {
            DType::F32 => 0,
            DType::F64 => 1,
            DType::F16 => 2,
            DType::U8 => 3,
            DType::I32 => 4,
            DType::I8 => 5,
            DType::I64 => 6,
            DType::Bool => 7,
            DType::BF16 => 12,
        }
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 | DType::Bool => 1,
            DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// The name MXNet and NumPy use (`float32`, `bfloat16`, `bool`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::U8 => "uint8",
            DType::I32 => "int32",
            DType::I8 => "int8",
            DType::I64 => "int64",
            DType::Bool => "bool",
            DType::BF16 => "bfloat16",
        }
    }

    /// True for the floating-point types.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a dtype name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDTypeError(pub String);

impl fmt::Display for ParseDTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown dtype {:?}; expected one of float32, float64, float16, uint8, int32, int8, int64, bool, bfloat16",
            self.0
        )
    }
}

impl std::error::Error for ParseDTypeError {}

impl FromStr for DType {
    type Err = ParseDTypeError;

    /// Accepts MXNet's names, and `float`/`double`/`half` as NumPy does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            "float16" | "half" => DType::F16,
            "uint8" => DType::U8,
            "int32" => DType::I32,
            "int8" => DType::I8,
            "int64" => DType::I64,
            "bool" => DType::Bool,
            "bfloat16" => DType::BF16,
            _ => return Err(ParseDTypeError(s.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_sizes_match_spec() {
        for d in DType::ALL {
            assert_eq!(DType::from_code(d.code()), Ok(d));
            assert_eq!(d.as_str().parse::<DType>(), Ok(d));
        }
        assert_eq!(DType::from_code(5), Ok(DType::I8));
        assert_eq!(DType::from_code(4), Ok(DType::I32));
        assert_eq!(DType::BF16.code(), 12);
        assert_eq!(DType::Bool.size(), 1);
        assert_eq!(DType::F64.size(), 8);
    }

    #[test]
    fn unusable_and_unknown_codes_are_distinguished() {
        assert!(matches!(
            DType::from_code(9),
            Err(DTypeCodeError::Unusable {
                code: 9,
                name: "uint16"
            })
        ));
        assert_eq!(
            DType::from_code(13),
            Err(DTypeCodeError::Unknown { code: 13 })
        );
        assert_eq!(
            DType::from_code(-1),
            Err(DTypeCodeError::Unknown { code: -1 })
        );
        let msg = DType::from_code(8).unwrap_err().to_string();
        assert!(msg.contains("int16"), "{msg}");
    }
}
