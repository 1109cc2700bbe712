//! `url()` rewriting, so a combined stylesheet written to the output directory still finds
//! its images and fonts.
//!
//! Every relative `url()` of a sheet (and every image in an `image-set()`, `url()` or bare
//! string) is found with lightningcss's visitor (never a regex:
//! comments, strings, `data:` URIs and absolute URLs stay as they are), resolved against
//! the sheet's own directory inside the static directory, and the file it names is copied
//! next to the bundle under a content-hashed name (`fa-solid-900.<hash16>.woff2`), so it
//! is cacheable forever too. The `url()` then names the copy; a `?query` or `#fragment`
//! is kept.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("css"))?;
//! std::fs::create_dir_all(dir.path().join("img"))?;
//! std::fs::write(dir.path().join("img/logo.png"), b"\x89PNG")?;
//! std::fs::write(dir.path().join("css/a.css"),
//!     ".logo { background: url(../img/logo.png) } .x { background: url(data:image/gif;base64,R0lG) }")?;
//!
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Production,
//! })?;
//! let report = assets.build(&["css/a.css"])?;
//! let css = std::fs::read_to_string(dir.path().join("combined").join(&report.file))?;
//! assert!(css.contains("url(logo."), "{css}");
//! assert!(css.contains("url(data:image/gif;base64,R0lG)"), "{css}");
//! assert_eq!(report.assets.len(), 1);
//! # Ok(()) }
//! ```

use std::io;
use std::path::{Component, Path, PathBuf};

use lightningcss::values::image::Image;
use lightningcss::values::url::Url;
use lightningcss::visit_types;
use lightningcss::visitor::{Visit, VisitTypes, Visitor};

use super::digest::{copy_name_for_digest, hex_digest, write_once};

/// What can go wrong with a reference (`url()` or `@import`) in a stylesheet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The reference names a file that does not exist.
    #[error("{file}:{line}:{column}: url({url}) names a file that does not exist ({path})")]
    Missing {
        /// The stylesheet, as given to the bundle.
        file: String,
        /// Line of the reference, from 1.
        line: u32,
        /// Column of the reference, from 1.
        column: u32,
        /// The reference as written.
        url: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The reference leaves the static directory (`..` too far, or a symlink out).
    #[error("{file}:{line}:{column}: url({url}) leaves the static directory; refused")]
    Outside {
        /// The stylesheet, as given to the bundle.
        file: String,
        /// Line of the reference, from 1.
        line: u32,
        /// Column of the reference, from 1.
        column: u32,
        /// The reference as written.
        url: String,
    },
    /// An `@import` leads back to a sheet that is being imported (or nests too deep).
    #[error("{file}:{line}:{column}: @import url({url}) makes a cycle; refused")]
    ImportCycle {
        /// The stylesheet with the `@import`, as given to the bundle.
        file: String,
        /// Line of the `@import`, from 1.
        line: u32,
        /// Column of the `@import`, from 1.
        column: u32,
        /// The reference as written.
        url: String,
    },
    /// Reading the referenced file or writing its copy failed.
    #[error("{path}: {source}")]
    Io {
        /// The file read or written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Whether a `url()` is relative to the sheet (and so must be rewritten).
pub(crate) fn is_relative(url: &str) -> bool {
    let url = url.trim();
    if url.is_empty() || url.starts_with('/') || url.starts_with('#') || url.starts_with('\\') {
        return false;
    }
    // A scheme: letters, digits, `+`, `-`, `.` before the first `:` (data:, http:, …).
    if let Some(colon) = url.find(':') {
        let scheme = &url[..colon];
        let mut chars = scheme.chars();
        if chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return false;
        }
    }
    true
}

/// Where a reference resolves: a file inside the static root, or why not.
pub(crate) enum Resolved {
    /// The canonical path of the file.
    File(PathBuf),
    /// No such file (the path where it was looked for).
    Missing(PathBuf),
    /// It leaves the static root.
    Outside,
}

/// Resolves `reference` (a path without query or fragment) against `base_dir`, keeping it
/// inside `static_root` (both canonical).
pub(crate) fn resolve(static_root: &Path, base_dir: &Path, reference: &str) -> Resolved {
    let Some(joined) = join_lexically(static_root, base_dir, reference) else {
        return Resolved::Outside;
    };
    match joined.canonicalize() {
        Ok(real) if real.starts_with(static_root) && real.is_file() => Resolved::File(real),
        Ok(real) if !real.starts_with(static_root) => Resolved::Outside,
        _ => Resolved::Missing(joined),
    }
}

/// `reference` joined to `base_dir` without following links, `..` taken away; `None` when
/// that leaves `static_root`.
fn join_lexically(static_root: &Path, base_dir: &Path, reference: &str) -> Option<PathBuf> {
    let mut joined = base_dir.to_path_buf();
    for component in Path::new(reference).components() {
        match component {
            Component::Normal(part) => joined.push(part),
            Component::ParentDir => {
                if !joined.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    joined.starts_with(static_root).then_some(joined)
}

/// The path by which a build reaches `reference` from `base_dir`, relative to
/// `static_root` and with `/` separators, as incremental rebuilds record it (reading it
/// again follows the links a build would follow).
pub(crate) fn reached(static_root: &Path, base_dir: &Path, reference: &str) -> Option<String> {
    let joined = join_lexically(static_root, base_dir, reference)?;
    let relative = joined.strip_prefix(static_root).ok()?;
    let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
    Some(parts.join("/"))
}

/// Copies `source` into `output_dir` as `<stem>.<hash16>.<ext>` (atomically, only when
/// that name is not there yet) and returns the new name, the same copy a digested static
/// file of these bytes gets (see [`Assets::digest`](super::Assets::digest)), and the
/// sha256 (hex) of the bytes.
pub(crate) fn copy_hashed(
    source: &Path,
    output_dir: &Path,
) -> Result<(String, String), ReferenceError> {
    let bytes = std::fs::read(source).map_err(|e| ReferenceError::Io {
        path: source.to_owned(),
        source: e,
    })?;
    let digest = hex_digest(&bytes);
    let name = copy_name_for_digest(source, &digest);
    write_once(output_dir, &name, &bytes).map_err(|e| ReferenceError::Io {
        path: output_dir.join(&name),
        source: e,
    })?;
    Ok((name, digest))
}

/// The lightningcss visitor that rewrites a sheet's relative `url()`s.
pub(crate) struct Rewriter<'a> {
    /// Canonical static directory.
    pub static_root: &'a Path,
    /// The sheet's name, for errors.
    pub file: &'a str,
    /// Canonical directory of the sheet.
    pub base_dir: &'a Path,
    /// Where the copies go.
    pub output_dir: &'a Path,
    /// Names of the copies made (or found already there).
    pub copied: Vec<String>,
    /// The files read ([`reached`] path, sha256 hex), for incremental rebuilds.
    pub inputs: Vec<(String, String)>,
}

impl<'i> Visitor<'i> for Rewriter<'_> {
    type Error = ReferenceError;

    fn visit_types(&self) -> VisitTypes {
        visit_types!(URLS | IMAGES)
    }

    /// lightningcss's visitor does not walk into `image-set()` options (nor
    /// `-webkit-image-set()`), whose images are `url()`s or bare strings: walk them here.
    fn visit_image(&mut self, image: &mut Image<'i>) -> Result<(), Self::Error> {
        match image {
            Image::ImageSet(set) => {
                for option in &mut set.options {
                    option.image.visit(self)?;
                }
                Ok(())
            }
            other => other.visit_children(self),
        }
    }

    fn visit_url(&mut self, url: &mut Url<'i>) -> Result<(), Self::Error> {
        let raw = url.url.as_ref();
        if !is_relative(raw) {
            return Ok(());
        }
        let cut = raw.find(['?', '#']).unwrap_or(raw.len());
        let (path, suffix) = raw.split_at(cut);
        let name = match resolve(self.static_root, self.base_dir, path) {
            Resolved::File(found) => {
                let (name, digest) = copy_hashed(&found, self.output_dir)?;
                if let Some(reached) = reached(self.static_root, self.base_dir, path) {
                    self.inputs.push((reached, digest));
                }
                name
            }
            Resolved::Missing(looked) => {
                return Err(ReferenceError::Missing {
                    file: self.file.to_owned(),
                    line: url.loc.line,
                    column: url.loc.column,
                    url: raw.to_owned(),
                    path: looked,
                });
            }
            Resolved::Outside => {
                return Err(ReferenceError::Outside {
                    file: self.file.to_owned(),
                    line: url.loc.line,
                    column: url.loc.column,
                    url: raw.to_owned(),
                });
            }
        };
        if !self.copied.contains(&name) {
            self.copied.push(name.clone());
        }
        url.url = format!("{name}{suffix}").into();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_or_not() {
        for url in [
            "a.png",
            "../img/a.png",
            "./x.woff2?v=1#iefix",
            "img/a:b.png",
        ] {
            assert!(is_relative(url), "{url}");
        }
        for url in [
            "data:image/png;base64,AAA",
            "https://x.org/a.png",
            "//cdn/a.png",
            "/abs.png",
            "#grad",
            "",
            "about:blank",
        ] {
            assert!(!is_relative(url), "{url}");
        }
    }
}
