//! What MXNet tolerates and we read the same way: GPU contexts, trailing
//! bytes, a raw record without list header, a non-zero reserved word.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use mxnet_format::params::{Context, ParamsFile, ParamsWarning, ParamsWriter, parse};

fn small_dict() -> Vec<u8> {
    std::fs::read(common::fixtures().join("spec-examples/params/small_dict.params")).unwrap()
}

fn rewrite(file: &ParamsFile) -> Vec<u8> {
    let mut w = ParamsWriter::new();
    for e in file.iter() {
        w.push_raw_name(e.name_bytes, e.array.clone());
    }
    w.to_vec().unwrap()
}

#[test]
fn gpu_context_is_read_and_written_back_as_cpu() {
    let original = small_dict();
    let mut bytes = original.clone();
    // Record 0's context sits at 0x34 (spec §1.14): make it gpu(1).
    bytes[0x34..0x38].copy_from_slice(&2i32.to_le_bytes());
    bytes[0x38..0x3c].copy_from_slice(&1i32.to_le_bytes());
    let file = ParamsFile::from_bytes(bytes).unwrap();
    let w = file.get(0).unwrap();
    assert_eq!(
        w.record.context(),
        Context {
            dev_type: 2,
            dev_id: 1
        }
    );
    assert_eq!(
        w.array.to_f32_vec().unwrap(),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    assert!(file.warnings().is_empty());
    // MXNet loads it onto the CPU and saves cpu(0): the original bytes.
    assert_eq!(rewrite(&file), original);
}

#[test]
fn trailing_bytes_are_a_warning() {
    let mut bytes = small_dict();
    let len = bytes.len() as u64;
    bytes.extend_from_slice(b"garbage");
    let index = parse(&bytes).unwrap();
    assert_eq!(
        index.warnings(),
        [ParamsWarning::TrailingBytes {
            offset: len,
            count: 7
        }]
    );
    assert!(index.warnings()[0].to_string().contains("7 trailing bytes"));
}

#[test]
fn reserved_word_is_ignored_with_a_warning() {
    let mut bytes = small_dict();
    bytes[8] = 77;
    let index = parse(&bytes).unwrap();
    assert_eq!(
        index.warnings(),
        [ParamsWarning::ReservedNotZero { value: 77 }]
    );
}

#[test]
fn a_raw_record_reads_as_a_one_array_list() {
    // MXNDArraySaveRawBytes of mx.nd.ones((2,)) (spec §1.13).
    let raw: Vec<u8> = [
        &0xF993FAC9u32.to_le_bytes()[..],
        &0i32.to_le_bytes(),
        &1i32.to_le_bytes(),
        &2i64.to_le_bytes(),
        &1i32.to_le_bytes(),
        &0i32.to_le_bytes(),
        &0i32.to_le_bytes(),
        &1f32.to_le_bytes(),
        &1f32.to_le_bytes(),
    ]
    .concat();
    let file = ParamsFile::from_bytes(raw).unwrap();
    assert_eq!(file.len(), 1);
    assert_eq!(file.get(0).unwrap().array.to_f32_vec().unwrap(), [1.0, 1.0]);
    assert!(file.warnings().contains(&ParamsWarning::RawRecord));
}

#[test]
fn reading_from_a_reader_matches_reading_the_file() {
    let bytes = small_dict();
    let from_reader = ParamsFile::from_reader(&bytes[..]).unwrap();
    let from_file =
        ParamsFile::open(common::fixtures().join("spec-examples/params/small_dict.params"))
            .unwrap();
    assert_eq!(from_reader.index(), from_file.index());
}

#[test]
fn aligned_arrays_are_viewed_without_copying() {
    let bytes = small_dict();
    let file = ParamsFile::from_bytes(bytes).unwrap();
    let w = file.get_by_name("arg:w").unwrap();
    // Record 0's values start at 0x40, 4-byte aligned within the buffer.
    if let Some(slice) = w.array.try_as_slice::<f32>() {
        assert_eq!(slice, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            slice.as_ptr() as usize,
            file.bytes().as_ptr() as usize + 0x40
        );
    }
    assert!(
        w.array.try_as_slice::<i64>().is_none(),
        "dtype mismatch must not view"
    );
    assert_eq!(
        file.get_by_name("aux:m")
            .unwrap()
            .array
            .to_vec::<i64>()
            .unwrap(),
        [7, 8]
    );
}

#[cfg(feature = "ndarray")]
#[test]
fn arrays_decode_to_ndarray() {
    let file = ParamsFile::from_bytes(small_dict()).unwrap();
    let w = file
        .get_by_name("arg:w")
        .unwrap()
        .array
        .to_ndarray::<f32>()
        .unwrap();
    assert_eq!(w.shape(), [2, 3]);
    assert_eq!(w[[1, 2]], 6.0);
}
