//! Static assets for templates: one tag per source file in debug, one combined, minified,
//! content-hashed bundle in production (what tornado-utils' `tornado_static` did).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! # let dir = tempfile::tempdir()?;
//! # std::fs::create_dir_all(dir.path().join("css"))?;
//! # std::fs::write(dir.path().join("css/a.css"), "a { color: red }")?;
//! # std::fs::write(dir.path().join("css/b.css"), "b { color: blue }")?;
//! # let static_dir = dir.path().to_path_buf();
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: static_dir.clone(),               // sources
//!     output_dir: static_dir.join("combined"),      // bundles
//!     url_prefix: "/static/".into(),                // where static_dir is served
//!     cdn_prefix: Some("//cdn.example.com".into()), // production URLs
//!     mode: Mode::Production,
//! })?;
//! let tag = assets.tags(&["css/a.css", "css/b.css"])?;
//! assert!(tag.starts_with(r#"<link rel="stylesheet" href="//cdn.example.com/combined/a.b."#));
//! assert!(tag.contains(r#"integrity="sha384-"#) && tag.contains(r#"crossorigin="anonymous""#));
//! assert_eq!(assets.tags(&["css/a.css", "css/b.css"])?, tag); // a map lookup now
//!
//! let debug = Assets::new(AssetsConfig { mode: Mode::Debug, ..assets.config().clone() })?;
//! let tags = debug.tags(&["css/a.css", "css/b.css"])?;
//! assert!(tags.starts_with(r#"<link rel="stylesheet" href="/static/css/a.css?v="#));
//! assert_eq!(tags.lines().count(), 2);
//! # Ok(()) }
//! ```
//!
//! In production the first call for a bundle builds it (concurrent callers wait for that
//! one build; it blocks the calling thread, so precompile with `static-bundle` for busy
//! sites); later calls are a map lookup. With a `manifest.json` from `static-bundle` in
//! the output directory, nothing is built at run time. A minifier error never takes a
//! page down at run time: the bundle is served unminified and a warning logged.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

use tags::tag;

mod bundle;
mod compress;
mod css;
mod css_urls;
mod digest;
mod files;
mod incremental;
mod inputs;
mod join;
mod kind;
mod live;
mod manifest;
mod minify;
#[cfg(feature = "minijinja")]
mod minijinja;
mod modules;
#[cfg(feature = "minijinja")]
mod precompile;
mod prune;
#[cfg(feature = "minijinja")]
mod scan;
mod serve;
mod sourcemap;
mod tags;

pub use bundle::{BundleError, BundleReport, Kind};
pub use compress::{BROTLI_FULL_QUALITY_UP_TO, DEFAULT_BROTLI_QUALITY, Precompression};
pub use css::{Browsers, BrowsersError};
pub use css_urls::ReferenceError;
pub use files::{FileError, FileReport};
pub use inputs::BuildInputs;
pub use live::{
    CLIENT_JS, DEFAULT_DEBOUNCE, LiveBody, LiveReload, LiveReloadBuilder, LiveReloadError,
};
pub use manifest::{Manifest, ManifestError};
pub use minify::{JsEngine, MinifyError};
pub use modules::ModuleError;
#[cfg(feature = "minijinja")]
pub use precompile::{
    PrecompileConfig, PrecompileError, PrecompileFailure, PrecompileReport, precompile,
};
pub use prune::{BuildRecord, Retention};
#[cfg(feature = "minijinja")]
pub use scan::{CallProblem, ScanError, TemplateCall, TemplateScan, scan_templates};
pub use serve::{ServeAssets, serve_immutable, serve_no_cache};
pub use sourcemap::{SourceMapError, SourceMaps};

/// What can go wrong with assets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The static directory cannot be opened.
    #[error("static directory {path}: {source}")]
    StaticDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The output directory cannot be created.
    #[error("output directory {path}: {source}")]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Building a bundle failed (names the file, and line:col for a syntax error).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A static file cannot be digested (missing, outside, a build output, I/O).
    #[error(transparent)]
    File(#[from] FileError),
    /// The manifest cannot be read.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// In production with a manifest, a bundle the manifest does not know.
    #[error("bundle {bundle} is not in {manifest}; run static-bundle again")]
    NotInManifest {
        /// The bundle key (files joined with `,`).
        bundle: String,
        /// The manifest file.
        manifest: PathBuf,
    },
}

/// Debug or production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// One tag per source file, `?v=<short content hash>`, served from `url_prefix`.
    #[default]
    Debug,
    /// One combined, minified, fingerprinted bundle per call, from `cdn_prefix` if set.
    Production,
}

/// Where sources are, where bundles go and how they are addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetsConfig {
    /// The sources; every file named in a bundle is relative to it and must stay inside.
    pub static_dir: PathBuf,
    /// Where bundles, their `.gz`/`.br` siblings, copied images and fonts and
    /// `manifest.json` are written. Usually inside `static_dir` (`static/combined`): it is
    /// then addressed as that path below the prefix; otherwise by its last component.
    pub output_dir: PathBuf,
    /// The URL `static_dir` is served at (`/static/`).
    pub url_prefix: String,
    /// In production, the URL `static_dir` is served at on a CDN (`//cdn.example.com`);
    /// tags then carry `crossorigin="anonymous"`.
    pub cdn_prefix: Option<String>,
    /// Debug or production.
    pub mode: Mode,
}

/// Options beyond [`AssetsConfig`]: browser targets for CSS, the JS engine and the
/// `.gz`/`.br` siblings. Pass them to [`Assets::open`].
///
/// ```
/// use squall::assets::{BuildOptions, Browsers, Precompression};
/// let options = BuildOptions::default()
///     .browsers(Browsers { safari: Some(15), ..Browsers::BASELINE })
///     .precompression(Precompression::Off);
/// assert_eq!(options.browsers.chrome, Browsers::BASELINE.chrome);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildOptions {
    /// CSS browser targets (default [`Browsers::BASELINE`]).
    pub browsers: Browsers,
    /// The JS minifier (default [`JsEngine::Oxc`]).
    pub js_engine: JsEngine,
    /// Whether to write `.gz` and `.br` siblings (default [`Precompression::On`]; at run
    /// time on a background thread).
    pub precompression: Precompression,
    /// Brotli's quality for the `.br` siblings, 0 (fastest) to 11 (smallest; the
    /// default, [`DEFAULT_BROTLI_QUALITY`]), for bundles up to
    /// [`BROTLI_FULL_QUALITY_UP_TO`] bytes; bigger ones get less. Above 11 counts as 11.
    pub brotli_quality: u32,
    /// Whether and how production bundles publish source maps (default
    /// [`SourceMaps::Comment`]).
    pub source_maps: SourceMaps,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            browsers: Browsers::default(),
            js_engine: JsEngine::default(),
            precompression: Precompression::default(),
            brotli_quality: DEFAULT_BROTLI_QUALITY,
            source_maps: SourceMaps::default(),
        }
    }
}

impl BuildOptions {
    /// Sets the CSS browser targets.
    pub fn browsers(mut self, browsers: Browsers) -> Self {
        self.browsers = browsers;
        self
    }

    /// Sets the JS minifier.
    pub fn js_engine(mut self, engine: JsEngine) -> Self {
        self.js_engine = engine;
        self
    }

    /// Sets whether to write `.gz` and `.br` siblings.
    pub fn precompression(mut self, precompression: Precompression) -> Self {
        self.precompression = precompression;
        self
    }

    /// Sets brotli's quality for the `.br` siblings (0–11; above 11 counts as 11).
    pub fn brotli_quality(mut self, quality: u32) -> Self {
        self.brotli_quality = quality;
        self
    }

    /// Sets whether and how production bundles publish source maps.
    pub fn source_maps(mut self, source_maps: SourceMaps) -> Self {
        self.source_maps = source_maps;
        self
    }
}

struct Entry {
    tags: String,
    url: String,
}

struct Inner {
    config: AssetsConfig,
    options: BuildOptions,
    static_root: PathBuf,
    /// URL of the output directory, ending in `/`.
    bundle_base: String,
    manifest: Option<PathBuf>,
    built: RwLock<HashMap<String, Entry>>,
    /// Digested static files: source (`img/logo.png`) → URL of the hashed copy.
    digested: RwLock<HashMap<String, String>>,
    building: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    builds: AtomicUsize,
    /// The live reload `<script>` tag, once live reload started (debug mode only).
    live_tag: std::sync::OnceLock<String>,
}

/// Template assets: tags and URLs for bundles. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Assets {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Assets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assets")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Assets {
    /// Opens the static directory; in production, creates the output directory and loads
    /// its `manifest.json` if there is one.
    pub fn new(config: AssetsConfig) -> Result<Assets, Error> {
        Assets::open(config, BuildOptions::default())
    }

    /// [`Assets::new`] with [`BuildOptions`] other than the defaults.
    pub fn open(config: AssetsConfig, options: BuildOptions) -> Result<Assets, Error> {
        Assets::open_with(config, options, true)
    }

    /// [`Assets::open`] without reading the manifest, for a run that writes a new one
    /// (and rebuilds over one that does not parse).
    #[cfg_attr(not(feature = "minijinja"), allow(dead_code))]
    pub(crate) fn open_to_build(
        config: AssetsConfig,
        options: BuildOptions,
    ) -> Result<Assets, Error> {
        Assets::open_with(config, options, false)
    }

    fn open_with(
        config: AssetsConfig,
        options: BuildOptions,
        load_manifest: bool,
    ) -> Result<Assets, Error> {
        let static_root = config
            .static_dir
            .canonicalize()
            .map_err(|e| Error::StaticDir {
                path: config.static_dir.clone(),
                source: e,
            })?;
        let mut built = HashMap::new();
        let mut manifest_path = None;
        if config.mode == Mode::Production {
            std::fs::create_dir_all(&config.output_dir).map_err(|e| Error::OutputDir {
                path: config.output_dir.clone(),
                source: e,
            })?;
        }
        let output_root = config
            .output_dir
            .canonicalize()
            .unwrap_or_else(|_| config.output_dir.clone());
        let relative = match output_root.strip_prefix(&static_root) {
            Ok(rel) => rel.to_path_buf(),
            Err(_) => match config.output_dir.strip_prefix(&config.static_dir) {
                Ok(rel) => rel.to_path_buf(),
                Err(_) => config
                    .output_dir
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_default(),
            },
        };
        let prefix = match (&config.mode, &config.cdn_prefix) {
            (Mode::Production, Some(cdn)) => cdn.as_str(),
            _ => config.url_prefix.as_str(),
        };
        let mut bundle_base = prefix.trim_end_matches('/').to_owned();
        bundle_base.push('/');
        for part in relative.components() {
            bundle_base.push_str(&part.as_os_str().to_string_lossy());
            bundle_base.push('/');
        }
        let mut inner = Inner {
            config,
            options,
            static_root,
            bundle_base,
            manifest: None,
            built: RwLock::new(HashMap::new()),
            digested: RwLock::new(HashMap::new()),
            building: Mutex::new(HashMap::new()),
            builds: AtomicUsize::new(0),
            live_tag: std::sync::OnceLock::new(),
        };
        if inner.config.mode == Mode::Production
            && load_manifest
            && let Some(manifest) = Manifest::load(&inner.config.output_dir)?
        {
            for report in manifest.bundles.values() {
                built.insert(report.files.join("\n"), inner.entry_for(report));
            }
            for (source, copy) in &manifest.files {
                let url = format!("{}{copy}", inner.bundle_base);
                inner.digested.get_mut().insert(source.clone(), url);
            }
            manifest_path = Some(inner.config.output_dir.join(Manifest::FILE_NAME));
            tracing::debug!(bundles = built.len(), "loaded the assets manifest");
        }
        inner.manifest = manifest_path;
        inner.built = RwLock::new(built);
        Ok(Assets {
            inner: Arc::new(inner),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AssetsConfig {
        &self.inner.config
    }

    /// How many bundles this instance has built at run time (not counting
    /// [`Assets::build`]).
    pub fn builds(&self) -> usize {
        self.inner.builds.load(Ordering::Relaxed)
    }

    /// The HTML for `files`: `<link rel="stylesheet">` or `<script>` tags, one per file in
    /// debug, one for the bundle in production.
    pub fn tags(&self, files: &[&str]) -> Result<String, Error> {
        if self.inner.config.mode == Mode::Production {
            return self.production(files, |e| e.tags.clone());
        }
        let kind = bundle::kind_of(files)?;
        let mut out = String::new();
        for file in files {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&tag(kind, &self.debug_url(file)?, None, false));
        }
        Ok(out)
    }

    /// The URL for `files`: the bundle's in production; in debug the file's own URL for
    /// one file, or an unminified bundle built on each call for several. One file that is
    /// not `.css` or `.js` (an image, a font, a PDF) is digested instead: its hashed copy's
    /// URL in production, its plain path in debug (see [`Assets::digest`]).
    pub fn url(&self, files: &[&str]) -> Result<String, Error> {
        if let [file] = files
            && Kind::of(file).is_none()
        {
            return self.file_url(file);
        }
        if self.inner.config.mode == Mode::Production {
            return self.production(files, |e| e.url.clone());
        }
        bundle::kind_of(files)?;
        if let [file] = files {
            return self.debug_url(file);
        }
        let report = self.run_build(files, false, false, compress::When::Skip)?;
        Ok(format!("{}{}", self.inner.bundle_base, report.file))
    }

    /// Builds the bundle for `files` now, strictly (a minifier error is an error), with
    /// `.gz` and `.br` siblings (unless turned off), whatever the mode and even with a manifest; later
    /// production calls for it are lookups. This is what `static-bundle` runs.
    pub fn build(&self, files: &[&str]) -> Result<BundleReport, Error> {
        let report = self.run_build(files, true, true, compress::When::Inline)?;
        let entry = self.inner.entry_for(&report);
        self.inner.built.write().insert(files.join("\n"), entry);
        Ok(report)
    }

    /// Builds `files` into the output directory with this instance's browser targets and
    /// JS engine; `precompress` applies only when precompression is on.
    fn run_build(
        &self,
        files: &[&str],
        strict: bool,
        minify: bool,
        precompress: compress::When,
    ) -> Result<BundleReport, Error> {
        let options = &self.inner.options;
        Ok(bundle::build(
            &self.inner.static_root,
            &self.inner.config.output_dir,
            files,
            &bundle::Options {
                strict,
                minify,
                precompress: match options.precompression {
                    Precompression::On => precompress,
                    Precompression::Off => compress::When::Skip,
                },
                brotli_quality: options.brotli_quality,
                browsers: options.browsers,
                engine: options.js_engine,
                fingerprint: incremental::options_fingerprint(&self.inner.config, options),
                source_maps: options.source_maps,
            },
        )?)
    }

    /// A tower service for the output directory (production) or the static directory
    /// (debug); see [`serve_immutable`] and [`serve_no_cache`].
    pub fn service(&self) -> ServeAssets {
        match self.inner.config.mode {
            Mode::Production => serve_immutable(&self.inner.config.output_dir),
            Mode::Debug => serve_no_cache(&self.inner.config.static_dir),
        }
    }

    fn production(&self, files: &[&str], pick: impl Fn(&Entry) -> String) -> Result<String, Error> {
        // The hot path: one read lock and a lookup (no allocation for one file).
        {
            let built = self.inner.built.read();
            let found = match files {
                [file] => built.get(*file),
                _ => built.get(&files.join("\n")),
            };
            if let Some(entry) = found {
                return Ok(pick(entry));
            }
        }
        let key = files.join("\n");
        if let Some(manifest) = &self.inner.manifest {
            return Err(Error::NotInManifest {
                bundle: Manifest::key(files),
                manifest: manifest.clone(),
            });
        }
        let slot = BuildSlot::claim(&self.inner.building, &key);
        let _one_build = slot.lock.lock();
        if let Some(entry) = self.inner.built.read().get(&key) {
            return Ok(pick(entry));
        }
        let report = self.run_build(files, false, true, compress::When::Background)?;
        self.inner.builds.fetch_add(1, Ordering::Relaxed);
        tracing::info!(bundle = %Manifest::key(files), file = %report.file, "built an asset bundle");
        let entry = self.inner.entry_for(&report);
        let out = pick(&entry);
        self.inner.built.write().insert(key.clone(), entry);
        Ok(out)
    }

    fn debug_url(&self, file: &str) -> Result<String, Error> {
        if modules::needs_transform(file) {
            // Browsers run no TypeScript or JSX: an unminified build stands in for it.
            let report = self.run_build(&[file], false, false, compress::When::Skip)?;
            return Ok(format!("{}{}", self.inner.bundle_base, report.file));
        }
        let path = bundle::resolve_source(&self.inner.static_root, file)?;
        let bytes = std::fs::read(&path).map_err(|e| BundleError::Io { path, source: e })?;
        let hash = digest::hex_digest(&bytes);
        let prefix = self.inner.config.url_prefix.trim_end_matches('/');
        let file = file.trim_start_matches("./");
        Ok(format!("{prefix}/{file}?v={}", &hash[..10]))
    }
}

/// One bundle's place in the `building` map: concurrent first callers share its lock, so
/// one builds and the others wait. Dropping it removes the key whether the build
/// succeeded, failed or panicked, so a failed build is retried by the next call and the
/// map never keeps keys of builds that are over.
struct BuildSlot<'a> {
    building: &'a Mutex<HashMap<String, Arc<Mutex<()>>>>,
    key: &'a str,
    lock: Arc<Mutex<()>>,
}

impl<'a> BuildSlot<'a> {
    fn claim(building: &'a Mutex<HashMap<String, Arc<Mutex<()>>>>, key: &'a str) -> Self {
        let lock = building.lock().entry(key.to_owned()).or_default().clone();
        BuildSlot {
            building,
            key,
            lock,
        }
    }
}

impl Drop for BuildSlot<'_> {
    fn drop(&mut self) {
        let mut building = self.building.lock();
        // A later caller may have put a new slot there already: leave that one alone.
        if building
            .get(self.key)
            .is_some_and(|lock| Arc::ptr_eq(lock, &self.lock))
        {
            building.remove(self.key);
        }
    }
}

impl Inner {
    fn entry_for(&self, report: &BundleReport) -> Entry {
        let url = format!("{}{}", self.bundle_base, report.file);
        let crossorigin = self.config.cdn_prefix.is_some();
        let mut tags = tag(report.kind, &url, Some(&report.integrity), crossorigin);
        for chunk in &report.preload {
            let href = format!("{}{chunk}", self.bundle_base);
            tags.push('\n');
            tags.push_str(&tags::modulepreload(&href, crossorigin));
        }
        Entry { tags, url }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_leaves_no_key_behind_and_the_next_call_retries() {
        let dir = tempfile::tempdir().unwrap();
        let assets = Assets::new(AssetsConfig {
            static_dir: dir.path().into(),
            output_dir: dir.path().join("combined"),
            url_prefix: "/static/".into(),
            cdn_prefix: None,
            mode: Mode::Production,
        })
        .unwrap();
        assert!(matches!(
            assets.tags(&["js/late.js"]),
            Err(Error::Bundle(BundleError::NotFound { .. }))
        ));
        assert!(
            assets.inner.building.lock().is_empty(),
            "the failed build's key is still in the building map"
        );
        std::fs::create_dir_all(dir.path().join("js")).unwrap();
        std::fs::write(dir.path().join("js/late.js"), "var late = 1;").unwrap();
        let tag = assets.tags(&["js/late.js"]).unwrap();
        assert!(
            tag.starts_with("<script src=\"/static/combined/late."),
            "{tag}"
        );
        assert_eq!(assets.builds(), 1);
        assert!(assets.inner.building.lock().is_empty());
    }
}
