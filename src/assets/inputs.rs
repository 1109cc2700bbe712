//! [`BuildInputs`]: what a bundle was built from, as `manifest.json` records it, so that
//! a later run can tell whether the bundle must be built again (see `incremental`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a bundle was built from; a build with the same is not done again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuildInputs {
    /// The sha256 (hex) of the options that shape the bundle's files: squall's version,
    /// the JS engine, the browser targets, precompression, brotli's quality, and the URL
    /// and CDN prefixes.
    pub options: String,
    /// Every file the build read, by its path relative to the static directory (sources
    /// as given, `@import`ed sheets and `url()` files as reached from their sheet) → the
    /// sha256 (hex) of the bytes read.
    pub files: BTreeMap<String, String>,
}

impl BuildInputs {
    pub(crate) fn new(options: String) -> Self {
        BuildInputs {
            options,
            files: BTreeMap::new(),
        }
    }

    /// Whether nothing is recorded (a manifest written before squall recorded inputs).
    pub fn is_empty(&self) -> bool {
        self.options.is_empty() && self.files.is_empty()
    }
}
