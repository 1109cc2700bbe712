//! Combine, minify, fingerprint and write one bundle.
//!
//! A bundle is a list of files under the static directory, all `.css` or all `.js`. Each
//! file is minified alone (so an error names it), the results are joined in the given
//! order, the name is made from the readable stems and a sha256 of the *final* bytes
//! (`a.b.<hash16>.js`; with a source map, of the code, the map and the publishing mode:
//! see [`sourcemap`](super::sourcemap)), and the file is written atomically (a temporary
//! file renamed into place) with `.gz` and `.br` siblings and its map. A file already there under that name is left as
//! it is, and nothing is ever deleted: pages still open need the previous build.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("js"))?;
//! std::fs::write(dir.path().join("js/a.js"), "var first = 1;")?;
//! std::fs::write(dir.path().join("js/b.js"), "var second = first + 1;")?;
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Production,
//! })?;
//! let report = assets.build(&["js/a.js", "js/b.js"])?;
//! assert!(report.file.starts_with("a.b.") && report.file.ends_with(".js"));
//! assert!(report.integrity.starts_with("sha384-"));
//! assert!(dir.path().join("combined").join(format!("{}.br", report.file)).is_file());
//! # Ok(()) }
//! ```

use std::io;
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::compress::{self, When};
use super::css::{self, Browsers, CssContext, CssOutput, add_unique};
use super::digest::{hashed_name, hex_digest, integrity, sanitize_stem, write_atomic};
use super::inputs::BuildInputs;
use super::join::{Script, join, join_scripts};
pub use super::kind::Kind;
use super::minify::{self, JsEngine, MinifyError, ScriptShape};
use super::modules::{self, ModuleError};
use super::sourcemap::{self, CssMap, JsMap, SourceMaps};

/// What can go wrong while building a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle names no files.
    #[error("a bundle needs at least one file")]
    Empty,
    /// The path leaves the static directory (`..`, absolute, or a symlink pointing out).
    #[error("{file}: path leaves the static directory; refused")]
    Outside {
        /// The file as given.
        file: String,
    },
    /// The file does not exist under the static directory.
    #[error("{file}: no such file ({path})")]
    NotFound {
        /// The file as given.
        file: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Neither `.css` nor `.js`, nor a module entry.
    #[error(
        "{file}: unknown extension; a bundle holds .css or .js files, or one module entry \
         (.mjs, .ts, .mts, .tsx, .jsx)"
    )]
    UnknownExtension {
        /// The file as given.
        file: String,
    },
    /// `.css` and `.js` in one bundle.
    #[error("{other}: a bundle mixes no kinds, but {first} is {first_kind} and this is not")]
    Mixed {
        /// The first file of the bundle.
        first: String,
        /// Its kind (`css` or `js`).
        first_kind: Kind,
        /// The first file of another kind.
        other: String,
    },
    /// A source is not UTF-8.
    #[error("{file}: not UTF-8 text")]
    NotUtf8 {
        /// The file as given.
        file: String,
        /// Where the first invalid byte is.
        #[source]
        source: std::str::Utf8Error,
    },
    /// Reading a source or writing the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file read or written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Minifying a file failed (syntax error with file:line:col, engine panic, bad `url()`).
    #[error(transparent)]
    Minify(#[from] MinifyError),
    /// Building a source map failed.
    #[error(transparent)]
    SourceMap(#[from] sourcemap::SourceMapError),
    /// An ES module entry shares a bundle: it is bundled alone, its imports with it.
    #[error("{file}: an ES module entry is bundled alone (its imports come with it)")]
    ModuleNotAlone {
        /// The module entry, as given.
        file: String,
    },
    /// Bundling an ES module entry failed (names the importing file and line).
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// A strict-mode script (`"use strict"`) that declares globals joins non-strict ones:
    /// one script cannot hold both at top level, and wrapping it in a function would make
    /// its globals local. Put it in a bundle of its own (or of strict files only).
    #[error(
        "{file}: a \"use strict\" file that declares top-level names ({}) cannot join \
         non-strict files without changing what one of them means; bundle it alone or \
         with strict files only",
        globals.join(", ")
    )]
    Strictness {
        /// The strict file, as given.
        file: String,
        /// The names it declares (or uses, for `arguments`) at top level.
        globals: Vec<String>,
    },
}

/// What one build produced: the figures `static-bundle` prints and the manifest keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BundleReport {
    /// The source files, in order, as given.
    pub files: Vec<String>,
    /// Stylesheets or scripts.
    pub kind: Kind,
    /// The written file's name inside the output directory (`a.b.<hash16>.css`).
    pub file: String,
    /// The SRI value, `sha384-<base64>`.
    pub integrity: String,
    /// Total size of the sources.
    pub bytes_in: u64,
    /// Size of the bundle.
    pub bytes_out: u64,
    /// Size of the `.gz` sibling, when written in this build.
    pub gzip: Option<u64>,
    /// Size of the `.br` sibling, when written in this build.
    pub brotli: Option<u64>,
    /// Images and fonts copied next to the bundle (CSS only).
    pub assets: Vec<String>,
    /// `false` when minifying failed and the bundle holds the sources as they are.
    pub minified: bool,
    /// The source map written next to the bundle (`<file>.map`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_map: Option<String>,
    /// What it was built from, for incremental rebuilds (none in older manifests).
    #[serde(default, skip_serializing_if = "BuildInputs::is_empty")]
    pub inputs: BuildInputs,
    /// An ES module bundle's other files: its chunks (shared and dynamic) and assets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
    /// The chunks the entry imports statically, at any depth: `modulepreload` links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preload: Vec<String>,
}

/// How to build.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Fail on a minifier error (`static-bundle`) instead of serving the sources unminified.
    pub strict: bool,
    /// Minify at all (debug bundles of several files are only joined).
    pub minify: bool,
    /// When to write the `.gz` and `.br` siblings.
    pub precompress: When,
    /// Brotli's quality for the `.br` sibling (0–11).
    pub brotli_quality: u32,
    /// CSS browser targets.
    pub browsers: Browsers,
    /// The JS minifier.
    pub engine: JsEngine,
    /// [`BuildInputs::options`] for the report.
    pub fingerprint: String,
    /// Whether and how minified bundles publish source maps.
    pub source_maps: SourceMaps,
}

/// Checks that `file` stays inside `static_root` (canonical) and exists there; returns its
/// canonical path.
pub(crate) fn resolve_source(static_root: &Path, file: &str) -> Result<PathBuf, BundleError> {
    let outside = || BundleError::Outside {
        file: file.to_owned(),
    };
    let relative = Path::new(file);
    if file.is_empty() {
        return Err(BundleError::NotFound {
            file: file.to_owned(),
            path: static_root.to_owned(),
        });
    }
    for component in relative.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside());
            }
        }
    }
    let joined = static_root.join(relative);
    match joined.canonicalize() {
        Ok(real) if !real.starts_with(static_root) => Err(outside()),
        Ok(real) if real.is_file() => Ok(real),
        _ => Err(BundleError::NotFound {
            file: file.to_owned(),
            path: joined,
        }),
    }
}

/// The kind shared by all `files`, or why there is none.
pub(crate) fn kind_of(files: &[&str]) -> Result<Kind, BundleError> {
    let first = files.first().ok_or(BundleError::Empty)?;
    if let Some(module) = files.iter().find(|f| Kind::of(f) == Some(Kind::Module))
        && files.len() > 1
    {
        let file = (*module).to_owned();
        return Err(BundleError::ModuleNotAlone { file });
    }
    let first_kind = Kind::of(first).ok_or_else(|| BundleError::UnknownExtension {
        file: (*first).to_owned(),
    })?;
    for file in &files[1..] {
        match Kind::of(file) {
            None => {
                return Err(BundleError::UnknownExtension {
                    file: (*file).to_owned(),
                });
            }
            Some(kind) if kind != first_kind => {
                return Err(BundleError::Mixed {
                    first: (*first).to_owned(),
                    first_kind,
                    other: (*file).to_owned(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(first_kind)
}

/// The bundle's file name: readable stems, then the hash of `bytes` (what names it).
pub(crate) fn bundle_name(files: &[&str], kind: Kind, bytes: &[u8]) -> String {
    let mut stems = String::new();
    for file in files {
        let stem = Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default();
        if !stems.is_empty() {
            stems.push('.');
        }
        stems.push_str(&sanitize_stem(&stem));
        if stems.len() > 80 {
            stems.truncate(80);
            break;
        }
    }
    hashed_name(&stems, bytes, Some(kind.extension()))
}

struct Source<'a> {
    name: &'a str,
    path: PathBuf,
    text: String,
}

/// Builds one bundle into `output_dir`.
pub(crate) fn build(
    static_root: &Path,
    output_dir: &Path,
    files: &[&str],
    options: &Options,
) -> Result<BundleReport, BundleError> {
    let kind = kind_of(files)?;
    if kind == Kind::Module {
        return modules::build(static_root, output_dir, files[0], options);
    }
    let mut sources = Vec::with_capacity(files.len());
    let mut inputs = BuildInputs::new(options.fingerprint.clone());
    for file in files {
        let path = resolve_source(static_root, file)?;
        let bytes = std::fs::read(&path).map_err(|e| BundleError::Io {
            path: path.clone(),
            source: e,
        })?;
        inputs.files.insert((*file).to_owned(), hex_digest(&bytes));
        let text = String::from_utf8(bytes).map_err(|e| BundleError::NotUtf8 {
            file: (*file).to_owned(),
            source: e.utf8_error(),
        })?;
        sources.push(Source {
            name: file,
            path,
            text,
        });
    }
    let bytes_in: u64 = sources.iter().map(|s| s.text.len() as u64).sum();

    let minified = if options.minify {
        minify_all(static_root, output_dir, kind, &sources, options)
    } else {
        Err(None)
    };
    let (code, map, assets, was_minified) = match minified {
        Ok((code, map, assets, read)) => {
            inputs.files.extend(read);
            (code, map, assets, true)
        }
        Err(Some(error)) if options.strict => return Err(error),
        Err(Some(error @ BundleError::Strictness { .. })) => return Err(error),
        Err(error) => {
            if let Some(error) = error {
                tracing::warn!(%error, bundle = ?files, "minifying failed; serving the bundle unminified");
            }
            (concatenate(kind, &sources)?, None, Vec::new(), false)
        }
    };

    let published = sourcemap::publish(code, map, options.source_maps, kind, |bytes| {
        bundle_name(files, kind, bytes)
    });
    let (name, code) = (published.name, published.bytes);
    let target = output_dir.join(&name);
    let mut writes = vec![(name.as_str(), code.as_slice())];
    if let Some((map_name, json)) = &published.map {
        writes.push((map_name.as_str(), json.as_bytes()));
    }
    for (file, bytes) in writes {
        let path = output_dir.join(file);
        if !path.is_file() {
            write_atomic(output_dir, file, bytes)
                .map_err(|e| BundleError::Io { path, source: e })?;
        }
    }
    let mut report = BundleReport {
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        kind,
        integrity: integrity(&code),
        bytes_in,
        bytes_out: code.len() as u64,
        source_map: published.map.map(|(map_name, _)| map_name),
        gzip: None,
        brotli: None,
        assets,
        minified: was_minified,
        inputs,
        file: name.clone(),
        chunks: Vec::new(),
        preload: Vec::new(),
    };
    let sizes = compress::siblings(
        output_dir,
        &name,
        code,
        options.precompress,
        options.brotli_quality,
    )
    .map_err(|e| BundleError::Io {
        path: target,
        source: e,
    })?;
    if let Some((gzip, brotli)) = sizes {
        report.gzip = Some(gzip);
        report.brotli = Some(brotli);
    }
    Ok(report)
}

/// The sources joined as they are (the fallback when minifying fails).
fn concatenate(kind: Kind, sources: &[Source<'_>]) -> Result<String, BundleError> {
    match kind {
        Kind::Css => {
            let parts: Vec<&str> = sources.iter().map(|s| s.text.as_str()).collect();
            Ok(join(kind, &parts).0)
        }
        Kind::Js | Kind::Module => {
            let shapes: Vec<ScriptShape> = sources
                .iter()
                .map(|s| minify::script_shape(&s.text).unwrap_or_default())
                .collect();
            let scripts: Vec<Script<'_>> = sources
                .iter()
                .zip(&shapes)
                .map(|(source, shape)| Script {
                    file: source.name,
                    code: &source.text,
                    shape,
                })
                .collect();
            Ok(join_scripts(&scripts)?.0)
        }
    }
}

/// The joined code, its source map (JSON), the copied assets and the other files read
/// (name, sha256 hex).
type Minified = (String, Option<String>, Vec<String>, Vec<(String, String)>);

/// Minifies every source (in parallel), joined in order. `Err(Some(e))` names the first
/// file that failed.
fn minify_all(
    static_root: &Path,
    output_dir: &Path,
    kind: Kind,
    sources: &[Source<'_>],
    options: &Options,
) -> Result<Minified, Option<BundleError>> {
    let maps = options.source_maps.writes();
    let ctx = CssContext {
        static_root,
        output_dir,
        browsers: options.browsers,
        source_maps: maps,
    };
    type One = (CssOutput, ScriptShape, Option<JsMap>);
    let one = |source: &Source<'_>| -> Result<One, MinifyError> {
        match kind {
            Kind::Js | Kind::Module => {
                let (code, shape, map) =
                    minify::js(source.name, &source.text, options.engine, maps)?;
                let code = CssOutput {
                    code,
                    ..CssOutput::default()
                };
                Ok((code, shape, map))
            }
            Kind::Css => Ok((
                css::css(&ctx, source.name, &source.path, &source.text)?,
                ScriptShape::default(),
                None,
            )),
        }
    };
    let results: Vec<Result<_, MinifyError>> = sources.par_iter().map(one).collect();
    let mut top = Vec::new();
    let mut hoisted = Vec::new();
    let mut codes = Vec::with_capacity(results.len());
    let mut shapes = Vec::with_capacity(results.len());
    let (mut js_maps, mut css_maps) = (Vec::new(), Vec::new());
    let mut assets = Vec::new();
    let mut read = Vec::new();
    for result in results {
        let (out, shape, js_map) = result.map_err(|e| Some(BundleError::Minify(e)))?;
        top.extend(out.licences);
        hoisted.extend(out.hoisted);
        codes.push(out.code);
        shapes.push(shape);
        js_maps.push(js_map);
        css_maps.push(out.map);
        add_unique(&mut assets, out.copied);
        read.extend(out.inputs);
    }
    if kind == Kind::Js {
        let scripts: Vec<Script<'_>> = sources
            .iter()
            .zip(codes.iter().zip(&shapes))
            .map(|(source, (code, shape))| Script {
                file: source.name,
                code,
                shape,
            })
            .collect();
        // Not a minifier failure: joining the sources unminified would fail the same way.
        let (code, lines) = join_scripts(&scripts).map_err(Some)?;
        let map =
            maps.then(|| sourcemap::join_js(&js_maps.into_iter().zip(lines).collect::<Vec<_>>()));
        return Ok((code, map, assets, read));
    }
    top.extend(hoisted);
    let mut parts: Vec<&str> = top.iter().map(String::as_str).collect();
    parts.extend(codes.iter().map(String::as_str));
    let (code, lines) = join(kind, &parts);
    let map = CssMap::join(css_maps, &lines[top.len()..]).map_err(|e| Some(e.into()))?;
    Ok((code, map, assets, read))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind_of(&["a.css", "b.CSS"]).unwrap(), Kind::Css);
        assert!(matches!(
            kind_of(&["a.css", "b.js"]),
            Err(BundleError::Mixed { .. })
        ));
        assert!(matches!(
            kind_of(&["a.txt"]),
            Err(BundleError::UnknownExtension { .. })
        ));
        assert_eq!(kind_of(&["a.ts"]).unwrap(), Kind::Module);
        assert!(matches!(kind_of(&[]), Err(BundleError::Empty)));
    }

    #[test]
    fn names_keep_stems() {
        let name = bundle_name(&["css/a.css", "vendor/b c.css"], Kind::Css, b"x");
        assert!(name.starts_with("a.b-c."), "{name}");
        assert_eq!(name.len(), "a.b-c.".len() + 16 + 4);
    }
}
