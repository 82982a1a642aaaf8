//! `.params` from a reader that hands out the bytes in small, uneven pieces
//! (as a pipe does): same result as parsing the bytes at once.

#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use mxnet_format::params::{ParamsFile, ReadError};

/// Yields at most `step` bytes per `read` call, cycling through step sizes.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.step = self.step % 7 + 1;
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = ParamsFile::from_bytes(data.to_vec());
    let step = data.first().map_or(1, |&b| usize::from(b % 13) + 1);
    let streamed = ParamsFile::from_reader(Trickle { data, step });
    match (whole, streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.bytes(), b.bytes());
            assert_eq!(a.index(), b.index());
        }
        (Err(a), Err(ReadError::Params(b))) => assert_eq!(a, b),
        (a, b) => panic!("from_bytes {a:?} but from_reader {b:?}"),
    }
});
