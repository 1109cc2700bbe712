//! Digesting every static file, not only bundles (as Propshaft, Django's
//! `ManifestStaticFilesStorage` and whitenoise do): `static_url("img/logo.png")` is the
//! file's content-hashed copy in production, cacheable forever, and its plain path in debug.
//!
//! A digested file is copied into the output directory as `<stem>.<hash16>.<ext>`, the
//! sha256 of its bytes, written atomically and only when that name is not there yet, with
//! `.gz`/`.br` siblings when its type compresses (SVG, JSON, TrueType fonts, icons, …; not
//! PNG, JPEG, WOFF or PDF). A stylesheet's `url()` copies get the very same name, so an
//! image a bundle references and `static_url()` share one copy. `.css` and `.js` files are
//! bundle sources: `static_url("js/app.js")` is the minified one-file bundle, and a plain
//! copy of a stylesheet would break its relative `url()`s, so neither is digested as a
//! plain file.
//!
//! `static-bundle` digests the whole static tree (every file but bundle sources, hidden
//! files and directories, and the output directory) into `manifest.json`'s `files`. In
//! production a file the manifest does not name (added after the build) is digested on
//! its first `static_url()`, and cached: unlike a bundle there is nothing to minify, and a
//! hash and a copy are cheap.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("img"))?;
//! std::fs::write(dir.path().join("img/logo.png"), b"\x89PNG")?;
//! let config = AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: Some("//cdn.example.com".into()),
//!     mode: Mode::Production,
//! };
//! let assets = Assets::new(config.clone())?;
//! let url = assets.url(&["img/logo.png"])?;
//! assert!(url.starts_with("//cdn.example.com/combined/logo."), "{url}");
//! let name = url.rsplit('/').next().unwrap_or_default();
//! assert_eq!(std::fs::read(dir.path().join("combined").join(name))?, b"\x89PNG");
//!
//! let debug = Assets::new(AssetsConfig { mode: Mode::Debug, ..config })?;
//! assert_eq!(debug.url(&["img/logo.png"])?, "/static/img/logo.png");
//! # Ok(()) }
//! ```

use std::io;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bundle::{self, BundleError, Kind};
use super::compress::{self, When};
use super::digest::{compressible, copy_name, is_content_hashed, write_once};
use super::{Assets, Error, Manifest, Mode, Precompression};

/// What can go wrong digesting a static file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file does not exist under the static directory.
    #[error("{file}: no such file ({path})")]
    NotFound {
        /// The file as given.
        file: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The path leaves the static directory (`..`, absolute, or a symlink pointing out).
    #[error("{file}: path leaves the static directory; refused")]
    Outside {
        /// The file as given.
        file: String,
    },
    /// The file is a build output (in the output directory, or `manifest.json`): it is
    /// not a source, and digesting it would publish the manifest.
    #[error("{file}: is a build output in the output directory, not a static file; refused")]
    Output {
        /// The file as given.
        file: String,
    },
    /// Reading the file or writing its copy failed.
    #[error("{path}: {source}")]
    Io {
        /// The file read or written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Walking the static directory failed.
    #[error("walking the static directory: {source}")]
    Walk {
        /// walkdir's error (it names the path).
        #[source]
        source: walkdir::Error,
    },
}

/// One digested static file: what `static-bundle` reports; the manifest keeps
/// `source → file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileReport {
    /// The file, relative to the static directory, with `/` separators (`img/logo.png`).
    pub source: String,
    /// The copy's name in the output directory (`logo.<hash16>.png`).
    pub file: String,
    /// Its size.
    pub bytes: u64,
    /// Size of the `.gz` sibling, when written in this build.
    pub gzip: Option<u64>,
    /// Size of the `.br` sibling, when written in this build.
    pub brotli: Option<u64>,
}

/// `file`'s normal components joined with `/` (`./img//a.png` → `img/a.png`); call it on
/// a path [`bundle::resolve_source`] accepted (no `..`, not absolute).
fn normalize(file: &str) -> String {
    let parts: Vec<_> = Path::new(file)
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

/// Whether `path` (under the canonical `static_root`) is a build output: anything inside
/// an output directory below the static root, or, when the output directory is the static
/// root itself, a content-hashed name or the manifest at its top.
fn is_output(static_root: &Path, output_root: Option<&Path>, path: &Path) -> bool {
    let Some(out) = output_root else {
        return false;
    };
    if out == static_root {
        path.parent() == Some(out)
            && path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name == Manifest::FILE_NAME || is_content_hashed(name))
    } else {
        out.starts_with(static_root) && path.starts_with(out)
    }
}

fn hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_none_or(|name| name.starts_with('.'))
}

impl Assets {
    /// The URL of a file that is not a bundle source: its digested copy in production
    /// (from the manifest, or digested now and cached), its plain path in debug.
    pub(crate) fn file_url(&self, file: &str) -> Result<String, Error> {
        if self.inner.config.mode == Mode::Production
            && let Some(url) = self.inner.digested.read().get(file)
        {
            return Ok(url.clone());
        }
        let (key, path) = self.file_source(file)?;
        if self.inner.config.mode == Mode::Debug {
            let prefix = self.inner.config.url_prefix.trim_end_matches('/');
            return Ok(format!("{prefix}/{key}"));
        }
        if let Some(url) = self.inner.digested.read().get(&key) {
            return Ok(url.clone());
        }
        let report = self.digest_path(key, &path, When::Background)?;
        if self.inner.manifest.is_some() {
            tracing::warn!(file = %report.source, copy = %report.file,
                "digested a static file the manifest does not name; run static-bundle again");
        } else {
            tracing::info!(file = %report.source, copy = %report.file, "digested a static file");
        }
        Ok(format!("{}{}", self.inner.bundle_base, report.file))
    }

    /// Digests one static file now, whatever the mode: copies it into the output directory
    /// under its content-hashed name, with `.gz`/`.br` siblings when its type compresses
    /// (and precompression is on). Later production `static_url()` calls for it are
    /// lookups. `static-bundle` runs this for every file of the static tree.
    pub fn digest(&self, file: &str) -> Result<FileReport, Error> {
        let (key, path) = self.file_source(file)?;
        self.digest_path(key, &path, When::Inline)
    }

    /// Digests every file of the static tree but bundle sources (`.css`, `.js`), hidden
    /// files and directories (`.gitkeep`, `.well-known/`), and the output directory's
    /// contents, sorted by path. A symlink that leaves the static directory is skipped.
    pub fn digest_all(&self) -> Result<Vec<FileReport>, Error> {
        let root = self.inner.static_root.clone();
        let output = self.output_root();
        let skip = output.clone().filter(|out| *out != root);
        let walk = walkdir::WalkDir::new(&root)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() == 0
                    || (!hidden(entry.file_name()) && skip.as_deref() != Some(entry.path()))
            });
        let mut reports = Vec::new();
        for entry in walk {
            let entry = entry.map_err(|source| FileError::Walk { source })?;
            if entry.file_type().is_dir() {
                continue;
            }
            let Some(relative) = entry.path().strip_prefix(&root).ok().and_then(Path::to_str)
            else {
                tracing::warn!(path = %entry.path().display(), "not digesting a file whose name is not UTF-8");
                continue;
            };
            if Kind::of(relative).is_some() {
                continue;
            }
            match self.file_source(relative) {
                Ok((key, path)) => reports.push(self.digest_path(key, &path, When::Inline)?),
                Err(FileError::Outside { .. } | FileError::NotFound { .. }) => {
                    tracing::debug!(file = relative, "not digesting a link that leads out");
                }
                Err(FileError::Output { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(reports)
    }

    /// The canonical output directory, when it exists.
    fn output_root(&self) -> Option<PathBuf> {
        self.inner.config.output_dir.canonicalize().ok()
    }

    /// `file`'s manifest key and canonical path, refused when it leaves the static
    /// directory, does not exist, or is a build output.
    fn file_source(&self, file: &str) -> Result<(String, PathBuf), FileError> {
        let root = &self.inner.static_root;
        let path = bundle::resolve_source(root, file).map_err(|error| match error {
            BundleError::Outside { file } => FileError::Outside { file },
            BundleError::NotFound { file, path } => FileError::NotFound { file, path },
            // resolve_source refuses nothing else.
            _ => FileError::NotFound {
                file: file.to_owned(),
                path: root.join(file),
            },
        })?;
        if is_output(root, self.output_root().as_deref(), &path) {
            return Err(FileError::Output {
                file: file.to_owned(),
            });
        }
        Ok((normalize(file), path))
    }

    /// Copies `path` (the source `key`) under its content-hashed name and records its URL.
    fn digest_path(&self, key: String, path: &Path, when: When) -> Result<FileReport, Error> {
        let output_dir = &self.inner.config.output_dir;
        let bytes = std::fs::read(path).map_err(|source| FileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let name = copy_name(path, &bytes);
        write_once(output_dir, &name, &bytes).map_err(|source| FileError::Io {
            path: output_dir.join(&name),
            source,
        })?;
        let mut report = FileReport {
            source: key,
            bytes: bytes.len() as u64,
            file: name,
            gzip: None,
            brotli: None,
        };
        let options = &self.inner.options;
        if compressible(&report.file) && options.precompression == Precompression::On {
            let sizes = compress::siblings(
                output_dir,
                &report.file,
                bytes,
                when,
                options.brotli_quality,
            )
            .map_err(|source| FileError::Io {
                path: output_dir.join(&report.file),
                source,
            })?;
            if let Some((gzip, brotli)) = sizes {
                (report.gzip, report.brotli) = (Some(gzip), Some(brotli));
            }
        }
        let url = format!("{}{}", self.inner.bundle_base, report.file);
        self.inner
            .digested
            .write()
            .insert(report.source.clone(), url);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_outputs() {
        assert_eq!(normalize("./img//a.png"), "img/a.png");
        let root = Path::new("/s");
        let out = Path::new("/s/combined");
        assert!(is_output(root, Some(out), Path::new("/s/combined/x.png")));
        assert!(!is_output(root, Some(out), Path::new("/s/img/x.png")));
        assert!(!is_output(
            root,
            Some(Path::new("/elsewhere")),
            Path::new("/s/x.png")
        ));
        let manifest = root.join(Manifest::FILE_NAME);
        assert!(is_output(root, Some(root), &manifest));
        assert!(is_output(
            root,
            Some(root),
            Path::new("/s/a.0123456789abcdef.png")
        ));
        assert!(!is_output(root, Some(root), Path::new("/s/robots.txt")));
        assert!(!is_output(
            root,
            Some(root),
            Path::new("/s/img/manifest.json")
        ));
        assert!(!is_output(root, None, &manifest));
    }
}
