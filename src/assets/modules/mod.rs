//! ES module entries: a `.mjs` file named alone in `static()` is a module. Debug mode tags
//! it `<script type="module">` as it is; production bundles it with its imports (relative
//! files and npm packages from `node_modules`, `exports` maps included) by rolldown,
//! minified, each dynamic `import()` split into a chunk of its own, every file named by
//! its content hash, and the static chunks announced with `<link rel="modulepreload">`.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("app.mjs"), "import { n } from './n.mjs';\nglobalThis.n = n;\n")?;
//! std::fs::write(dir.path().join("n.mjs"), "export const n = 'hi';\n")?;
//! let config = AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Debug,
//! };
//! let debug = Assets::new(config.clone())?;
//! assert!(debug.tags(&["app.mjs"])?.starts_with(r#"<script type="module" src="/static/app.mjs?v="#));
//! # #[cfg(feature = "esm")] {
//! let production = Assets::new(AssetsConfig { mode: Mode::Production, ..config })?;
//! let tag = production.tags(&["app.mjs"])?;
//! assert!(tag.starts_with(r#"<script type="module" src="/static/combined/app."#), "{tag}");
//! # }
//! # Ok(()) }
//! ```
//!
//! TypeScript and JSX entries (`.ts`, `.mts`, `.tsx`, `.jsx`) are modules too: rolldown
//! strips the types and transforms the JSX (no type checking, as esbuild does); browsers
//! cannot run them as they are, so debug mode builds them too, unminified.
//!
//! Bundling needs the `esm` feature (rolldown); without it a production build of a module
//! entry (or a debug one of TypeScript or JSX) is [`ModuleError::FeatureOff`]. Errors name the file and line: an import that
//! does not resolve names the importing file, a syntax error the file that has it.

use std::io;
use std::path::PathBuf;

/// What can go wrong bundling an ES module entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleError {
    /// This squall was built without the `esm` feature, which does the bundling.
    #[error(
        "{file}: ES module entries are bundled by squall's `esm` feature, which this build leaves out"
    )]
    FeatureOff {
        /// The entry, as given.
        file: String,
    },
    /// An `import` names a file or package that cannot be found.
    #[error("{importer}:{line}:{column}: cannot resolve import \"{specifier}\"")]
    Unresolved {
        /// The importing file, relative to the static directory.
        importer: PathBuf,
        /// Line of the import, from 1.
        line: usize,
        /// Column of the specifier, from 1.
        column: usize,
        /// The specifier as written (`./missing.mjs`, `left-pad`).
        specifier: String,
    },
    /// A file in the module graph does not parse (the entry or any file it imports).
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file, relative to the static directory.
        file: PathBuf,
        /// Line of the error, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Any other error the bundler reports.
    #[error("{entry}: {message}")]
    Bundler {
        /// The entry, as given.
        entry: String,
        /// The bundler's message (with file and line when it gives them).
        message: String,
    },
    /// Writing a chunk failed, or the bundler's thread could not start.
    #[error("{path}: {source}")]
    Io {
        /// The file written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Whether `file` is TypeScript or JSX (`.ts`, `.mts`, `.tsx`, `.jsx`): a module entry
/// that browsers cannot run as it is, so debug mode builds it too (unminified).
pub(crate) fn needs_transform(file: &str) -> bool {
    std::path::Path::new(file)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|ext| {
            ["mts", "ts", "tsx", "jsx"]
                .iter()
                .any(|m| ext.eq_ignore_ascii_case(m))
        })
}

#[cfg(not(feature = "esm"))]
pub(crate) fn build(
    _static_root: &std::path::Path,
    _output_dir: &std::path::Path,
    entry: &str,
    _options: &super::bundle::Options,
) -> Result<super::BundleReport, super::BundleError> {
    Err(ModuleError::FeatureOff {
        file: entry.to_owned(),
    }
    .into())
}

#[cfg(feature = "esm")]
pub(crate) use bundler::build;

#[cfg(feature = "esm")]
mod bundler;
