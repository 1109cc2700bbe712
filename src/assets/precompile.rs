//! Precompiling: find every `static(...)` and `static_url(...)` call in the templates and
//! build each bundle ahead of time, and digest every other static file (see
//! [`Assets::digest_all`]), so production builds nothing at run time. This is
//! what `static-bundle` runs; it only parses arguments and prints the report.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Manifest, PrecompileConfig};
//!
//! let dir = tempfile::tempdir()?;
//! # std::fs::create_dir_all(dir.path().join("static/js"))?;
//! # std::fs::create_dir_all(dir.path().join("templates"))?;
//! std::fs::write(dir.path().join("static/js/app.js"), "var app = 1;")?;
//! std::fs::write(dir.path().join("templates/base.html"), r#"{{ static("js/app.js") }}"#)?;
//! let config = PrecompileConfig::new(
//!     dir.path().join("templates"),
//!     dir.path().join("static"),
//!     dir.path().join("static/combined"),
//! )
//! .cdn_prefix("//cdn.example.com".to_owned());
//! let report = config.run(|index, total, bundle| eprintln!("[{index}/{total}] {bundle}"))?;
//! assert!(report.is_success());
//! assert_eq!(report.bundles[0].files, ["js/app.js"]);
//! let manifest = Manifest::load(&dir.path().join("static/combined"))?.unwrap();
//! assert!(manifest.bundles.contains_key("js/app.js"));
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use super::incremental::{Job, Outcome, build_all};
use super::prune::previous_history;
use super::scan::{ScanError, TemplateCall, scan_templates};
use super::{
    Assets, AssetsConfig, BuildOptions, BundleReport, Error, FileReport, Kind, Manifest,
    ManifestError, Mode, Retention,
};

/// What can go wrong precompiling, apart from a bundle that fails to build (which the
/// report lists).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrecompileError {
    /// The templates directory does not exist or is not a directory.
    #[error("templates directory {path}: {source}")]
    TemplatesDir {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be used.
        #[source]
        source: io::Error,
    },
    /// Scanning the templates failed (a walk, a read, or a template that does not parse).
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// Opening the static or output directory, or the previous manifest, failed.
    #[error(transparent)]
    Assets(#[from] Error),
    /// Writing the manifest or pruning failed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

impl PrecompileError {
    /// Whether this is bad usage or configuration (exit status 2 for `static-bundle`): the
    /// templates or static directory given does not exist. Anything else is a failure
    /// while building (exit status 1).
    pub fn is_usage(&self) -> bool {
        match self {
            PrecompileError::TemplatesDir { .. } => true,
            PrecompileError::Assets(Error::StaticDir { source, .. }) => matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ),
            _ => false,
        }
    }
}

/// What `static-bundle` builds: every bundle the templates use, in production mode.
///
/// Built with [`PrecompileConfig::new`] and setters; [`PrecompileConfig::run`] does the
/// work.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PrecompileConfig {
    /// The templates directory to scan.
    pub templates: PathBuf,
    /// The sources ([`AssetsConfig::static_dir`]).
    pub static_dir: PathBuf,
    /// Where bundles and `manifest.json` go ([`AssetsConfig::output_dir`]).
    pub output_dir: PathBuf,
    /// The URL the static directory is served at (default `/static/`).
    pub url_prefix: String,
    /// The CDN prefix for production URLs, if any.
    pub cdn_prefix: Option<String>,
    /// After a successful build, prune the recorded builds that stopped being current
    /// longer ago than this, beyond the last [`keep`](Self::keep) (see [`Retention`]).
    /// `None` (the default) prunes nothing.
    pub prune_older_than: Option<Duration>,
    /// When pruning, how many builds before the current one to keep whatever their age
    /// (default [`Retention::DEFAULT_KEEP`]).
    pub keep: usize,
    /// Browser targets, JS engine, precompression and brotli quality.
    pub options: BuildOptions,
}

impl PrecompileConfig {
    /// Scans `templates`, builds from `static_dir` into `output_dir`; the rest defaults.
    pub fn new(
        templates: impl Into<PathBuf>,
        static_dir: impl Into<PathBuf>,
        output_dir: impl Into<PathBuf>,
    ) -> Self {
        PrecompileConfig {
            templates: templates.into(),
            static_dir: static_dir.into(),
            output_dir: output_dir.into(),
            url_prefix: "/static/".to_owned(),
            cdn_prefix: None,
            prune_older_than: None,
            keep: Retention::DEFAULT_KEEP,
            options: BuildOptions::default(),
        }
    }

    /// Sets the URL the static directory is served at.
    pub fn url_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.url_prefix = prefix.into();
        self
    }

    /// Sets (or, with `None`, clears) the CDN prefix for production URLs.
    pub fn cdn_prefix(mut self, prefix: impl Into<Option<String>>) -> Self {
        self.cdn_prefix = prefix.into();
        self
    }

    /// Sets (or, with `None`, clears) the age past which old builds are pruned: a build
    /// that stopped being current longer ago than this, and is not one of the last
    /// [`keep`](Self::keep), has its files deleted.
    pub fn prune_older_than(mut self, age: impl Into<Option<Duration>>) -> Self {
        self.prune_older_than = age.into();
        self
    }

    /// Sets how many builds before the current one pruning keeps whatever their age.
    pub fn keep(mut self, keep: usize) -> Self {
        self.keep = keep;
        self
    }

    /// Sets the build options.
    pub fn options(mut self, options: BuildOptions) -> Self {
        self.options = options;
        self
    }

    /// Checks that the templates directory exists (so bad usage changes nothing on disk),
    /// opens the static and output directories in production mode and runs
    /// [`precompile`]. The previous manifest is read only for its history: one that does
    /// not parse, or is of an unknown version, is rebuilt with a warning in the report.
    pub fn run(
        &self,
        progress: impl FnMut(usize, usize, &str) + Send,
    ) -> Result<PrecompileReport, PrecompileError> {
        match std::fs::metadata(&self.templates) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(PrecompileError::TemplatesDir {
                    path: self.templates.clone(),
                    source: io::ErrorKind::NotADirectory.into(),
                });
            }
            Err(source) => {
                return Err(PrecompileError::TemplatesDir {
                    path: self.templates.clone(),
                    source,
                });
            }
        }
        let assets = Assets::open_to_build(
            AssetsConfig {
                static_dir: self.static_dir.clone(),
                output_dir: self.output_dir.clone(),
                url_prefix: self.url_prefix.clone(),
                cdn_prefix: self.cdn_prefix.clone(),
                mode: Mode::Production,
            },
            self.options.clone(),
        )?;
        let retention = self
            .prune_older_than
            .map(|age| Retention::new(age).keep(self.keep));
        precompile(&assets, &self.templates, retention, progress)
    }
}

/// One bundle that failed to build.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PrecompileFailure {
    /// The bundle key (files joined with `,`).
    pub bundle: String,
    /// Where the first call for it is, `template:line`.
    pub found_at: String,
    /// The error, naming the file (and line:col); a string in JSON.
    #[serde(serialize_with = "display")]
    pub error: Arc<Error>,
}

fn display<S: Serializer>(error: &Arc<Error>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(error)
}

/// What [`precompile`] did: `static-bundle`'s report.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct PrecompileReport {
    /// The bundles built, sorted by key.
    pub bundles: Vec<BundleReport>,
    /// The static files digested (every file of the static tree but bundle sources),
    /// sorted by path.
    pub files: Vec<FileReport>,
    /// The bundles (and static files named in a template) that failed.
    pub failed: Vec<PrecompileFailure>,
    /// The keys of the bundles in [`bundles`](Self::bundles) taken from the previous
    /// manifest because nothing they were built from changed (see [`BuildInputs`]).
    ///
    /// [`BuildInputs`]: super::BuildInputs
    pub unchanged: Vec<String>,
    /// Calls that cannot be precompiled (not built): no arguments, or arguments that
    /// are not string literals ([`TemplateCall::problem`] says which).
    pub non_literal: Vec<TemplateCall>,
    /// For each bundle key (built or failed), the first call for it: `template:line`.
    pub found_at: BTreeMap<String, String>,
    /// The manifest written (none when a bundle failed: the previous one stays).
    pub manifest: Option<PathBuf>,
    /// Files removed by pruning.
    pub pruned: Vec<PathBuf>,
    /// Problems that did not stop the run (a previous manifest rebuilt because it did
    /// not parse or was of an unknown version).
    pub warnings: Vec<String>,
}

impl PrecompileReport {
    /// Whether everything was built and no call was left out.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.non_literal.is_empty()
    }
}

/// Digests the whole static tree, then each file a template names with `static_url()`
/// that the tree walk left out (a hidden file), or that does not exist: that fails as a
/// bundle does, naming the template line.
fn digest_files(
    assets: &Assets,
    named: &BTreeMap<&str, &TemplateCall>,
    report: &mut PrecompileReport,
) -> Result<(), PrecompileError> {
    let mut files: BTreeMap<String, FileReport> = BTreeMap::new();
    for file in assets.digest_all()? {
        files.insert(file.source.clone(), file);
    }
    for (file, call) in named {
        let found_at = format!("{}:{}", call.template.display(), call.line);
        report.found_at.insert((*file).to_owned(), found_at.clone());
        if files.contains_key(*file) {
            continue;
        }
        match assets.digest(file) {
            Ok(digested) => {
                files.insert(digested.source.clone(), digested);
            }
            Err(error) => report.failed.push(PrecompileFailure {
                bundle: (*file).to_owned(),
                found_at,
                error: Arc::new(error),
            }),
        }
    }
    report.files = files.into_values().collect();
    Ok(())
}

/// Scans `templates`, builds every bundle found (strictly, with `.gz`/`.br` unless
/// precompression is off), digests every other static file ([`Assets::digest_all`]), and
/// when all succeeded writes `manifest.json` with this build
/// added to the history of builds, then, given a [`Retention`], prunes the old builds it
/// does not keep. The previous manifest in the output directory is read for its history;
/// one that is not valid is replaced, with a warning in the report. Bundles are built
/// several at once; one that the previous manifest shows unchanged (same options, same
/// content hashes of every file it read, its output files all there) is not built again.
/// `progress(index, total, bundle_key)` runs before each build, from any thread.
pub fn precompile(
    assets: &Assets,
    templates: &Path,
    retention: Option<Retention>,
    progress: impl FnMut(usize, usize, &str) + Send,
) -> Result<PrecompileReport, PrecompileError> {
    let output_dir = &assets.config().output_dir;
    let mut warnings = Vec::new();
    let previous = match Manifest::load(output_dir) {
        Ok(previous) => {
            if let Some(previous) = &previous {
                tracing::debug!(
                    path = %output_dir.join(Manifest::FILE_NAME).display(),
                    bundles = previous.bundles.len(),
                    builds = previous.history.len(),
                    "loaded the assets manifest"
                );
            }
            previous
        }
        Err(error) if error.is_invalid() => {
            warnings.push(format!("{error}; rebuilding it"));
            None
        }
        Err(error) => return Err(error.into()),
    };
    let scan = scan_templates(templates)?;
    let mut bundles: BTreeMap<String, &TemplateCall> = BTreeMap::new();
    let mut named_files: BTreeMap<&str, &TemplateCall> = BTreeMap::new();
    for call in &scan.literal {
        if let [file] = call.files.as_slice()
            && Kind::of(file).is_none()
        {
            named_files.entry(file).or_insert(call);
            continue;
        }
        let files: Vec<&str> = call.files.iter().map(String::as_str).collect();
        bundles.entry(Manifest::key(&files)).or_insert(call);
    }
    let mut report = PrecompileReport {
        non_literal: scan.non_literal.clone(),
        warnings,
        ..PrecompileReport::default()
    };
    let mut manifest = Manifest::default();
    let jobs: Vec<Job<'_>> = bundles
        .iter()
        .map(|(key, call)| Job {
            key,
            files: call.files.iter().map(String::as_str).collect(),
        })
        .collect();
    let outcomes = build_all(assets, previous.as_ref(), &jobs, progress);
    for ((key, call), outcome) in bundles.iter().zip(outcomes) {
        let found_at = format!("{}:{}", call.template.display(), call.line);
        report.found_at.insert(key.clone(), found_at.clone());
        match outcome {
            Outcome::Built(built) => {
                manifest.insert(built.clone());
                report.bundles.push(built);
            }
            Outcome::Unchanged(built) => {
                manifest.insert(built.clone());
                report.bundles.push(built);
                report.unchanged.push(key.clone());
            }
            Outcome::Failed(error) => report.failed.push(PrecompileFailure {
                bundle: key.clone(),
                found_at,
                error: Arc::new(error),
            }),
        }
    }
    digest_files(assets, &named_files, &mut report)?;
    for file in &report.files {
        manifest
            .files
            .insert(file.source.clone(), file.file.clone());
    }
    if report.failed.is_empty() {
        manifest.record_build(
            previous_history(previous.as_ref(), output_dir),
            SystemTime::now(),
        );
        // The new manifest is in place before any old file goes, and records every build
        // until pruning is done, so a run stopped halfway forgets nothing it wrote. One
        // that says what the previous one said is not written again.
        if previous.as_ref() != Some(&manifest) {
            manifest.save(output_dir)?;
        }
        report.manifest = Some(output_dir.join(Manifest::FILE_NAME));
        if let Some(retention) = retention {
            let recorded = manifest.history.len();
            report.pruned = manifest.prune(output_dir, retention)?;
            if manifest.history.len() != recorded {
                manifest.save(output_dir)?;
            }
        }
    }
    Ok(report)
}
