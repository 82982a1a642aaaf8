//! The op registry: one visible list, built from the op files.
//!
//! Every op file exports a slice of [`OpEntry`] values; `ops::LISTS`
//! concatenates them. The same declarations produce the support table that
//! `mxnet-io ops` prints.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::attrs::Attrs;
use crate::error::AttrError;
use crate::kernel::Kernel;

/// Builds a kernel from a node's attributes.
pub type BuildFn = fn(&Attrs<'_>) -> Result<Box<dyn Kernel>, AttrError>;

/// One runnable op.
#[derive(Debug)]
pub struct OpEntry {
    /// The canonical MXNet name (aliases resolve to it through MXNet's registry).
    pub name: &'static str,
    /// Builds the kernel for a node.
    pub build: BuildFn,
    /// Family for the support table (`nn`, `tensor`, `math`, …).
    pub family: &'static str,
    /// What it computes, in a phrase.
    pub summary: &'static str,
}

/// Names older MXNet versions used that 1.9.1 no longer registers.
const LEGACY_ALIASES: &[(&str, &str)] = &[
    ("MultiBoxPrior", "_contrib_MultiBoxPrior"),
    ("MultiBoxDetection", "_contrib_MultiBoxDetection"),
    ("MultiBoxTarget", "_contrib_MultiBoxTarget"),
    ("Proposal", "_contrib_Proposal"),
    ("_contrib_box_non_maximum_suppression", "_contrib_box_nms"),
];

fn index() -> &'static HashMap<&'static str, &'static OpEntry> {
    static INDEX: OnceLock<HashMap<&'static str, &'static OpEntry>> = OnceLock::new();
    INDEX.get_or_init(|| {
        crate::ops::LISTS
            .iter()
            .flat_map(|l| l.iter())
            .map(|e| (e.name, e))
            .collect()
    })
}

/// The canonical name we run `op` under: MXNet 1.9.1's canonical name, or the
/// modern name of a pre-1.0 spelling.
pub fn canonical(op: &str) -> &str {
    if let Some(c) = mxnet_format::schema::canonical_name(op) {
        return c;
    }
    LEGACY_ALIASES
        .iter()
        .find(|(old, _)| *old == op)
        .map_or(op, |(_, new)| new)
}

/// The entry that runs `op` (canonical name or any alias), if there is one.
pub fn find(op: &str) -> Option<&'static OpEntry> {
    index().get(canonical(op)).copied()
}

/// Every runnable op, sorted by name.
pub fn entries() -> Vec<&'static OpEntry> {
    let mut v: Vec<&'static OpEntry> = index().values().copied().collect();
    v.sort_by_key(|e| e.name);
    v
}
