//! Fixture models for the test suites of several crates, included with
//! `#[path = "../../../tests/support/fixtures.rs"] mod fixtures;`.
//!
//! A fixture model is `PREFIX-symbol.json` with its weights and a
//! `PREFIX-io.params` holding the inputs and MXNet 1.9.1's outputs; the
//! weights are found the way `ArrayPath` automatic finds them.

// Each including suite uses a part.
#![allow(dead_code)]

use std::path::PathBuf;

/// The workspace's `tests/fixtures` folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// One fixture model with reference outputs.
pub struct FixtureModel {
    /// The folder under `tests/fixtures` it is in.
    pub dir: &'static str,
    /// Its file-name prefix.
    pub prefix: String,
    /// `PREFIX-symbol.json`.
    pub symbol: PathBuf,
    /// Its weights, paired by `mxnet_format::pairing::find_params`.
    pub params: PathBuf,
    /// `PREFIX-io.params`.
    pub io: PathBuf,
}

/// Every model with an `-io.params` in the given folders of
/// `tests/fixtures`, in name order.
pub fn fixture_models(dirs: &[&'static str]) -> Vec<FixtureModel> {
    let mut out = Vec::new();
    for &dir in dirs {
        let d = fixtures().join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in &names {
            let Some(prefix) = n.strip_suffix("-io.params") else {
                continue;
            };
            let symbol = d.join(format!("{prefix}-symbol.json"));
            let pairing = mxnet_format::pairing::find_params(&symbol)
                .unwrap()
                .unwrap_or_else(|| panic!("{dir}/{prefix}: no params file"));
            assert!(
                pairing.reason.contains("epoch"),
                "{dir}/{prefix}: weights should be an epoch file, got {}",
                pairing.params.display()
            );
            out.push(FixtureModel {
                dir,
                prefix: prefix.to_owned(),
                symbol,
                params: pairing.params,
                io: d.join(n),
            });
        }
    }
    out
}

/// Checks `got` against MXNet's `want` with the tolerance all model tests
/// use: |ours − mxnet| ≤ 1e-5·max(1, max|mxnet|) + 1e-4·|mxnet|.
pub fn close_to_mxnet(label: &str, got: &[f32], want: &[f64]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{label}: {} values, MXNet's {}",
            got.len(),
            want.len()
        ));
    }
    let atol = 1e-5 * want.iter().fold(1f64, |m, v| m.max(v.abs()));
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        if (f64::from(a) - b).abs() > atol + 1e-4 * b.abs() {
            return Err(format!("{label}[{i}]: {a} vs MXNet {b}"));
        }
    }
    Ok(())
}
