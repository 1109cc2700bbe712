//! Incremental rebuilds: `static-bundle` builds again only the bundles whose inputs
//! changed, and builds those several at once.
//!
//! Every bundle in `manifest.json` records what it was built from ([`BuildInputs`](super::BuildInputs)): a
//! fingerprint of the options that shape its files (squall's version, the JS engine, the
//! browser targets, precompression, brotli's quality, the URL and CDN prefixes) and the
//! sha256 of every file the build read: its sources, the sheets they `@import` and the
//! images and fonts their `url()`s name. The next run hashes those files again. A bundle
//! whose options and hashes are all the same, and whose output files (the bundle, its
//! `.gz` and `.br`, its copied images and fonts) are all still there at their recorded
//! sizes, is taken from the manifest as it is: not minified, compressed or written again.
//! The others are built across cores (rayon), each with its `.gz` and `.br` compressed in
//! parallel.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("css"))?;
//! std::fs::write(dir.path().join("css/logo.png"), b"\x89PNG")?;
//! std::fs::write(dir.path().join("css/base.css"), "b { color: red }")?;
//! std::fs::write(dir.path().join("css/a.css"),
//!     "@import 'base.css'; a { background: url(logo.png) }")?;
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Production,
//! })?;
//! let report = assets.build(&["css/a.css"])?;
//! let read: Vec<&str> = report.inputs.files.keys().map(String::as_str).collect();
//! assert_eq!(read, ["css/a.css", "css/base.css", "css/logo.png"]);
//! assert_eq!(report.inputs.options.len(), 64);
//! # Ok(()) }
//! ```

use parking_lot::Mutex;
use rayon::prelude::*;

use super::bundle::{BundleReport, resolve_source};
use super::compress::DEFAULT_BROTLI_QUALITY;
use super::digest::hex_digest;
use super::{Assets, AssetsConfig, BuildOptions, Error, Manifest, Precompression};

/// [`BuildInputs::options`](super::BuildInputs::options) for a build with `config` and `options`.
pub(crate) fn options_fingerprint(config: &AssetsConfig, options: &BuildOptions) -> String {
    let text = format!(
        "squall {}\nengine {:?}\nbrowsers {:?}\nprecompression {:?}\nbrotli {}\nurl {:?}\ncdn {:?}\n",
        env!("CARGO_PKG_VERSION"),
        options.js_engine,
        options.browsers,
        options.precompression,
        options.brotli_quality.min(DEFAULT_BROTLI_QUALITY),
        config.url_prefix,
        config.cdn_prefix,
    ) + &format!("source maps {}\n", options.source_maps);
    hex_digest(text.as_bytes())
}

/// Whether building `files` now would make what `previous` (a manifest entry) describes:
/// the same files, options fingerprint and input hashes, a minified bundle, and every
/// output file still there at its recorded size.
fn unchanged(assets: &Assets, files: &[&str], previous: &BundleReport, fingerprint: &str) -> bool {
    let inputs = &previous.inputs;
    if inputs.options != fingerprint
        || inputs.files.is_empty()
        || !previous.minified
        || previous
            .files
            .iter()
            .map(String::as_str)
            .ne(files.iter().copied())
    {
        return false;
    }
    let root = &assets.inner.static_root;
    let same_inputs = inputs.files.iter().all(|(name, digest)| {
        resolve_source(root, name)
            .ok()
            .and_then(|path| std::fs::read(path).ok())
            .is_some_and(|bytes| hex_digest(&bytes) == *digest)
    });
    same_inputs && outputs_present(assets, previous)
}

/// Whether every file `report` names in the output directory is there, at its size.
fn outputs_present(assets: &Assets, report: &BundleReport) -> bool {
    let dir = &assets.config().output_dir;
    let size = |name: &str| {
        std::fs::metadata(dir.join(name))
            .ok()
            .filter(|meta| meta.is_file())
            .map(|meta| meta.len())
    };
    let siblings = match assets.inner.options.precompression {
        Precompression::Off => true,
        Precompression::On => {
            report.gzip.is_some()
                && report.brotli.is_some()
                && size(&format!("{}.gz", report.file)) == report.gzip
                && size(&format!("{}.br", report.file)) == report.brotli
        }
    };
    siblings
        && size(&report.file) == Some(report.bytes_out)
        && report.assets.iter().all(|name| size(name).is_some())
        && report.source_map.iter().all(|name| size(name).is_some())
        && report.chunks.iter().all(|name| size(name).is_some())
}

/// One bundle to build: its manifest key and its files.
#[cfg_attr(not(feature = "minijinja"), allow(dead_code))] // used by precompiling
pub(crate) struct Job<'a> {
    pub key: &'a str,
    pub files: Vec<&'a str>,
}

/// What became of one bundle.
#[cfg_attr(not(feature = "minijinja"), allow(dead_code))] // used by precompiling
pub(crate) enum Outcome {
    /// Built (or rebuilt) now.
    Built(BundleReport),
    /// Taken from the previous manifest: nothing it was built from changed.
    Unchanged(BundleReport),
    /// The build failed.
    Failed(Error),
}

/// Builds every job strictly with `.gz`/`.br` ([`Assets::build`]), several at once; a
/// job whose entry in `previous` is unchanged is taken from it instead. Outcomes are in
/// the order of `jobs`; `progress(index, total, key)` runs (from any thread, in any order)
/// as each job starts, with the job's place in `jobs` from 1.
#[cfg_attr(not(feature = "minijinja"), allow(dead_code))] // used by precompiling
pub(crate) fn build_all(
    assets: &Assets,
    previous: Option<&Manifest>,
    jobs: &[Job<'_>],
    progress: impl FnMut(usize, usize, &str) + Send,
) -> Vec<Outcome> {
    let fingerprint = options_fingerprint(assets.config(), &assets.inner.options);
    let progress = Mutex::new(progress);
    let total = jobs.len();
    jobs.par_iter()
        .enumerate()
        .map(|(index, job)| {
            (progress.lock())(index + 1, total, job.key);
            if let Some(previous) = previous.and_then(|m| m.bundles.get(job.key))
                && unchanged(assets, &job.files, previous, &fingerprint)
            {
                tracing::debug!(bundle = %job.key, "unchanged; not rebuilt");
                return Outcome::Unchanged(previous.clone());
            }
            match assets.build(&job.files) {
                Ok(report) => Outcome::Built(report),
                Err(error) => Outcome::Failed(error),
            }
        })
        .collect()
}
