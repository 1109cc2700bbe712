//! The build manifest, `manifest.json` in the output directory: bundle key → hashed file,
//! SRI value and sizes, and static file → its digested copy.
//!
//! `static-bundle` writes it; in production an [`Assets`](super::Assets) that finds it
//! builds nothing at run time, every `static()` is a lookup. The key is the bundle's
//! files joined with `,`. It also keeps the history of builds (which files each wrote, and
//! when), so that pruning deletes only files a build of ours wrote and keeps the builds
//! that servers may still be using (see [`Retention`](super::Retention)).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::Manifest;
//!
//! let dir = tempfile::tempdir()?;
//! assert!(Manifest::load(dir.path())?.is_none());
//! let manifest = Manifest::default();
//! manifest.save(dir.path())?;
//! assert_eq!(Manifest::load(dir.path())?, Some(manifest));
//! assert_eq!(Manifest::key(&["css/a.css", "css/b.css"]), "css/a.css,css/b.css");
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bundle::BundleReport;
use super::digest::{compressible, write_atomic};
use super::prune::BuildRecord;

/// What can go wrong reading, writing or pruning with the manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The manifest cannot be turned into JSON (a bug: it holds only strings and numbers).
    #[error("{path}: {source}")]
    Encode {
        /// The manifest file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest is not valid JSON of the expected shape.
    #[error("{path}:{line}:{column}: {source}")]
    Parse {
        /// The manifest file.
        path: PathBuf,
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest is of a format version this squall does not read.
    #[error(
        "{path}: format version {found} is not one this squall reads ({})",
        Manifest::VERSION
    )]
    Version {
        /// The manifest file.
        path: PathBuf,
        /// The version the file gives.
        found: u64,
    },
}

impl ManifestError {
    /// Whether the file is there but is not a manifest this squall reads (not JSON, the
    /// wrong shape, an unknown version): `static-bundle` rebuilds it, with a warning. An
    /// I/O error is not.
    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            ManifestError::Parse { .. } | ManifestError::Version { .. }
        )
    }
}

/// The manifest: every bundle `static-bundle` built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// Format version, [`Manifest::VERSION`].
    pub version: u32,
    /// Bundle key ([`Manifest::key`]) → what was built.
    pub bundles: BTreeMap<String, BundleReport>,
    /// Every digested static file: its path in the static directory (`img/logo.png`) →
    /// its content-hashed copy in the output directory (`logo.<hash16>.png`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// The builds recorded in this output directory, oldest first; the last one is the
    /// current build. Empty in a manifest written before squall kept a history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<BuildRecord>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            version: Self::VERSION,
            bundles: BTreeMap::new(),
            files: BTreeMap::new(),
            history: Vec::new(),
        }
    }
}

/// Reads only the version, to tell an unknown version from a corrupt file.
#[derive(Deserialize)]
struct VersionProbe {
    version: u64,
}

impl Manifest {
    /// The manifest's file name in the output directory.
    pub const FILE_NAME: &str = "manifest.json";

    /// The format version this squall writes and reads.
    pub const VERSION: u32 = 1;

    /// The key of a bundle: its files joined with `,`.
    pub fn key(files: &[&str]) -> String {
        files.join(",")
    }

    /// Adds (or replaces) a bundle.
    pub fn insert(&mut self, report: BundleReport) {
        let files: Vec<&str> = report.files.iter().map(String::as_str).collect();
        self.version = Self::VERSION;
        self.bundles.insert(Self::key(&files), report);
    }

    /// Reads `dir/manifest.json`; `Ok(None)` when there is none. A file of another
    /// format version is [`ManifestError::Version`], one that does not parse
    /// [`ManifestError::Parse`] (both [`ManifestError::is_invalid`]).
    pub fn load(dir: &Path) -> Result<Option<Manifest>, ManifestError> {
        let path = dir.join(Self::FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ManifestError::Io { path, source: e }),
        };
        let version = serde_json::from_str::<VersionProbe>(&text)
            .ok()
            .map(|probe| probe.version);
        if let Some(found) = version
            && found != u64::from(Self::VERSION)
        {
            return Err(ManifestError::Version { path, found });
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ManifestError::Parse {
                line: e.line(),
                column: e.column(),
                path,
                source: e,
            })
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), ManifestError> {
        let path = dir.join(Self::FILE_NAME);
        let mut text = serde_json::to_string_pretty(self).map_err(|e| ManifestError::Encode {
            path: path.clone(),
            source: e,
        })?;
        text.push('\n');
        write_atomic(dir, Self::FILE_NAME, text.as_bytes())
            .map_err(|e| ManifestError::Io { path, source: e })
    }

    /// Every file name in the output directory this manifest needs: bundles, their `.gz`
    /// and `.br` siblings, copied images and fonts, digested static files (with their
    /// siblings when their type compresses), and the manifest itself.
    pub fn referenced(&self) -> HashSet<String> {
        let mut names = HashSet::new();
        names.insert(Self::FILE_NAME.to_owned());
        for report in self.bundles.values() {
            names.insert(report.file.clone());
            names.insert(format!("{}.gz", report.file));
            names.insert(format!("{}.br", report.file));
            names.extend(report.assets.iter().cloned());
            names.extend(report.source_map.iter().cloned());
            for chunk in &report.chunks {
                names.insert(format!("{chunk}.gz"));
                names.insert(format!("{chunk}.br"));
                names.insert(chunk.clone());
            }
        }
        for copy in self.files.values() {
            if compressible(copy) {
                names.insert(format!("{copy}.gz"));
                names.insert(format!("{copy}.br"));
            }
            names.insert(copy.clone());
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_names_the_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(Manifest::FILE_NAME),
            "{\n  \"version\": 1,\n  oops",
        )
        .unwrap();
        let err = Manifest::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("manifest.json:3:"), "{err}");
        assert!(err.is_invalid());
    }

    #[test]
    fn versions_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Manifest::FILE_NAME);
        std::fs::write(&path, r#"{"version": 2, "bundles": {}, "new": [1]}"#).unwrap();
        let err = Manifest::load(dir.path()).unwrap_err();
        assert!(
            matches!(err, ManifestError::Version { found: 2, .. }),
            "{err}"
        );
        assert!(err.is_invalid());
        std::fs::write(&path, r#"{"version": 1, "bundles": {}}"#).unwrap();
        let manifest = Manifest::load(dir.path()).unwrap().unwrap();
        assert_eq!(manifest, Manifest::default());
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::create_dir(dir.path().join("sub").join(Manifest::FILE_NAME)).unwrap();
        let err = Manifest::load(&dir.path().join("sub")).unwrap_err();
        assert!(!err.is_invalid(), "an I/O error is not rebuilt over: {err}");
    }
}
