//! Finding the `.params` file that belongs to a symbol (`ArrayPath` automatic).
//!
//! MXNet names a checkpoint `PREFIX-symbol.json` + `PREFIX-EEEE.params`, one
//! params file per saved epoch. For `x-symbol.json` or `x.json` we look in the
//! same folder for `x*.params` and prefer, in order: the highest epoch
//! `x-NNNN.params`; `x.params`; any other `x*.params` that no other symbol in
//! the folder claims (e.g. Gluon's `x.save_parameters.params`; `x-io.params`
//! style files come last).

use std::path::{Path, PathBuf};

/// The params file chosen for a symbol, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairing {
    /// The chosen file.
    pub params: PathBuf,
    /// Why it was chosen ("highest epoch 3 of 0001, 0003").
    pub reason: String,
    /// Other candidates that were not chosen.
    pub others: Vec<PathBuf>,
}

/// The model prefix of a symbol path: `dir/x` for `dir/x-symbol.json` or `dir/x.json`.
pub fn model_prefix(symbol: &Path) -> Option<String> {
    let name = symbol.file_name()?.to_str()?;
    let stem = name
        .strip_suffix("-symbol.json")
        .or_else(|| name.strip_suffix(".json"))?;
    Some(stem.to_owned())
}

/// Finds the params file for `symbol` in its folder, or `None` when there is none.
pub fn find_params(symbol: &Path) -> std::io::Result<Option<Pairing>> {
    let Some(prefix) = model_prefix(symbol) else {
        return Ok(None);
    };
    let dir = match symbol.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    // Prefixes of the other symbols in the folder, longest first, so that
    // `x_big-0001.params` is not taken for `x`.
    let others: Vec<String> = names
        .iter()
        .filter_map(|n| model_prefix(Path::new(n)))
        .filter(|p| p != &prefix && p.starts_with(&prefix))
        .collect();
    let candidates: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".params"))
        .filter(|n| !others.iter().any(|o| n.starts_with(o.as_str())))
        .collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    let epoch = |n: &str| -> Option<u64> {
        let rest = n
            .strip_prefix(&prefix)?
            .strip_prefix('-')?
            .strip_suffix(".params")?;
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            rest.parse().ok()
        } else {
            None
        }
    };
    let mut epochs: Vec<(u64, &String)> = candidates
        .iter()
        .filter_map(|n| epoch(n).map(|e| (e, *n)))
        .collect();
    epochs.sort();
    let all_paths = |chosen: &str| -> Vec<PathBuf> {
        candidates
            .iter()
            .filter(|n| n.as_str() != chosen)
            .map(|n| dir.join(n))
            .collect()
    };
    if let Some((e, name)) = epochs.last() {
        let listed: Vec<&str> = epochs
            .iter()
            .map(|(_, n)| {
                n.strip_prefix(&prefix)
                    .and_then(|r| r.strip_prefix('-'))
                    .and_then(|r| r.strip_suffix(".params"))
                    .unwrap_or(n)
            })
            .collect();
        let reason = if epochs.len() > 1 {
            format!("highest epoch {e} of {}", listed.join(", "))
        } else {
            format!("epoch {e}")
        };
        return Ok(Some(Pairing {
            params: dir.join(name),
            reason,
            others: all_paths(name),
        }));
    }
    let exact = format!("{prefix}.params");
    if candidates.iter().any(|n| **n == exact) {
        return Ok(Some(Pairing {
            params: dir.join(&exact),
            reason: "same name".to_owned(),
            others: all_paths(&exact),
        }));
    }
    // Files like x-io.params (inputs and outputs saved beside a model) come last.
    let mut rest = candidates.clone();
    rest.sort_by_key(|n| (n.contains("-io.") || n.ends_with("-io.params"), n.as_str()));
    let name = rest[0];
    let reason = if candidates.len() > 1 {
        format!(
            "first of {} files matching {prefix}*.params",
            candidates.len()
        )
    } else {
        format!("the only file matching {prefix}*.params")
    };
    Ok(Some(Pairing {
        params: dir.join(name),
        reason,
        others: all_paths(name),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, names: &[&str]) {
        for n in names {
            std::fs::write(dir.join(n), b"").unwrap();
        }
    }

    #[test]
    fn prefers_highest_epoch_then_exact_then_others() {
        let d = tempfile::tempdir().unwrap();
        touch(
            d.path(),
            &[
                "m-symbol.json",
                "m-0001.params",
                "m-0010.params",
                "m-0002.params",
                "m-io.params",
                "m.params",
                "m_big-symbol.json",
                "m_big-0099.params",
            ],
        );
        let p = find_params(&d.path().join("m-symbol.json"))
            .unwrap()
            .unwrap();
        assert_eq!(p.params, d.path().join("m-0010.params"));
        assert!(p.reason.contains("highest epoch 10"), "{}", p.reason);
        assert!(!p.others.iter().any(|o| o.ends_with("m_big-0099.params")));

        let d = tempfile::tempdir().unwrap();
        touch(d.path(), &["m.json", "m.params", "m-io.params"]);
        let p = find_params(&d.path().join("m.json")).unwrap().unwrap();
        assert_eq!(p.params, d.path().join("m.params"));

        let d = tempfile::tempdir().unwrap();
        touch(
            d.path(),
            &["m-symbol.json", "m-io.params", "m.save_parameters.params"],
        );
        let p = find_params(&d.path().join("m-symbol.json"))
            .unwrap()
            .unwrap();
        assert_eq!(p.params, d.path().join("m.save_parameters.params"));

        let d = tempfile::tempdir().unwrap();
        touch(d.path(), &["m-symbol.json"]);
        assert!(
            find_params(&d.path().join("m-symbol.json"))
                .unwrap()
                .is_none()
        );
    }
}
