//! The build manifest, `manifest.json` in the output directory: bundle key → hashed file,
//! SRI value and sizes.
//!
//! `static-bundle` writes it; in production an [`Assets`](super::Assets) that finds it
//! builds nothing at run time, every `static()` is a lookup. The key is the bundle's
//! files joined with `,`.
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
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::bundle::BundleReport;
use super::digest::write_atomic;

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
}

/// The manifest: every bundle `static-bundle` built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// Format version, 1.
    pub version: u32,
    /// Bundle key ([`Manifest::key`]) → what was built.
    pub bundles: BTreeMap<String, BundleReport>,
}

impl Manifest {
    /// The manifest's file name in the output directory.
    pub const FILE_NAME: &str = "manifest.json";

    /// The key of a bundle: its files joined with `,`.
    pub fn key(files: &[&str]) -> String {
        files.join(",")
    }

    /// Adds (or replaces) a bundle.
    pub fn insert(&mut self, report: BundleReport) {
        let files: Vec<&str> = report.files.iter().map(String::as_str).collect();
        self.version = 1;
        self.bundles.insert(Self::key(&files), report);
    }

    /// Reads `dir/manifest.json`; `Ok(None)` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Manifest>, ManifestError> {
        let path = dir.join(Self::FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ManifestError::Io { path, source: e }),
        };
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
    /// and `.br` siblings, copied images and fonts, and the manifest itself.
    pub fn referenced(&self) -> HashSet<String> {
        let mut names = HashSet::new();
        names.insert(Self::FILE_NAME.to_owned());
        for report in self.bundles.values() {
            names.insert(report.file.clone());
            names.insert(format!("{}.gz", report.file));
            names.insert(format!("{}.br", report.file));
            names.extend(report.assets.iter().cloned());
        }
        names
    }

    /// Removes the files directly in `dir` that this manifest does not reference and that
    /// were last modified more than `older_than` ago; returns what was removed.
    pub fn prune(&self, dir: &Path, older_than: Duration) -> Result<Vec<PathBuf>, ManifestError> {
        let keep = self.referenced();
        let now = SystemTime::now();
        let io_err = |path: &Path, source| ManifestError::Io {
            path: path.to_owned(),
            source,
        };
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
            let entry = entry.map_err(|e| io_err(dir, e))?;
            let path = entry.path();
            let meta = entry.metadata().map_err(|e| io_err(&path, e))?;
            if !meta.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep.contains(&name) {
                continue;
            }
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if age >= older_than {
                std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
                removed.push(path);
            }
        }
        removed.sort();
        Ok(removed)
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
    }
}
