//! One ES module entry through rolldown: resolve, link, tree-shake, split at dynamic
//! `import()`, minify, name every file by its content hash, write it with its `.gz` and
//! `.br` siblings.
//!
//! rolldown is async; `Assets` is called from templates, which are not. Each build runs on
//! a short-lived thread of its own that blocks on one shared tokio runtime, so it works
//! the same from a plain thread and from inside another runtime.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rolldown::{
    AssetFilenamesOutputOption, Bundler, BundlerOptions, ChunkFilenamesOutputOption,
    CodeSplittingMode, HashCharacters, InputItem, ManualCodeSplittingOptions, MatchGroup,
    MatchGroupName, MatchGroupTest, OutputFormat, Platform, RawMinifyOptions,
};
use rolldown_common::Output;
use rolldown_error::{BuildDiagnostic, DiagnosticOptions, EventKind, Severity};

use super::ModuleError;
use crate::assets::bundle::{BundleError, BundleReport, Options, resolve_source};
use crate::assets::compress;
use crate::assets::digest::{integrity, sanitize_stem, write_atomic};
use crate::assets::{BuildInputs, Kind};

/// What rolldown produced, or its diagnostics.
type Generated = Result<rolldown::BundleOutput, Vec<BuildDiagnostic>>;

/// The runtime every module build blocks on (rolldown reads files on its blocking pool
/// and runs its stages as tasks), made by the first build.
fn runtime() -> io::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let made = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("squall-esm")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the module bundler's runtime: {e}"))
    });
    made.as_ref().map_err(|e| io::Error::other(e.clone()))
}

/// Runs rolldown on its own thread; `Err` when the thread or the runtime cannot start or
/// the bundler panicked.
fn generate(options: BundlerOptions) -> io::Result<Generated> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("squall-esm-build".into())
            .spawn_scoped(scope, move || {
                runtime()?.block_on(async move {
                    let mut bundler = match Bundler::new(options) {
                        Ok(bundler) => bundler,
                        Err(e) => return Ok(Err(e.into_vec())),
                    };
                    let generated = bundler.generate().await.map_err(|e| e.into_vec());
                    if let Err(error) = bundler.close().await {
                        tracing::debug!(%error, "closing the module bundler");
                    }
                    Ok(generated)
                })
            })?;
        handle
            .join()
            .map_err(|_| io::Error::other("the module bundler panicked"))?
    })
}

/// npm packages go to chunks of their own, split by which chunks use them
/// (`entries_aware`): the packages the entry needs form a chunk it imports statically
/// (preloaded, and cached across deploys that change only the app's code), and those only
/// a dynamic import needs stay behind that import.
fn vendor_chunks() -> CodeSplittingMode {
    let test = MatchGroupTest::Function(Arc::new(|id: &str| {
        let npm = id.contains("/node_modules/");
        Box::pin(async move { Ok(Some(npm)) })
    }));
    CodeSplittingMode::Advanced(ManualCodeSplittingOptions {
        groups: Some(vec![MatchGroup {
            name: MatchGroupName::Static("vendor".to_owned()),
            test: Some(test),
            entries_aware: Some(true),
            ..MatchGroup::default()
        }]),
        ..ManualCodeSplittingOptions::default()
    })
}

/// The first error among `diagnostics`, as a [`ModuleError`] that names the file and line.
fn module_error(entry: &str, static_root: &Path, diagnostics: &[&BuildDiagnostic]) -> ModuleError {
    let options = DiagnosticOptions {
        cwd: static_root.to_owned(),
    };
    let first = diagnostics
        .iter()
        .find(|d| matches!(d.severity(), Severity::Error))
        .or(diagnostics.first())
        .copied();
    let Some(first) = first else {
        return ModuleError::Bundler {
            entry: entry.to_owned(),
            message: "the bundler failed without saying why".to_owned(),
        };
    };
    let message = first.to_message_with(&options);
    let location = first.to_diagnostic_with(&options).get_primary_location();
    match (first.kind(), location) {
        (EventKind::UnresolvedImport, Some((file, line, column, _))) => ModuleError::Unresolved {
            importer: file.into(),
            line,
            column: column + 1,
            specifier: first.exporter().unwrap_or_default(),
        },
        (EventKind::ParseError, Some((file, line, column, _))) => ModuleError::Syntax {
            file: file.into(),
            line,
            column: column + 1,
            message,
        },
        (_, Some((file, line, column, _))) => ModuleError::Bundler {
            entry: entry.to_owned(),
            message: format!("{file}:{line}:{}: {message}", column + 1),
        },
        (_, None) => ModuleError::Bundler {
            entry: entry.to_owned(),
            message,
        },
    }
}

/// Bundles the module entry `entry` into `output_dir`.
pub(crate) fn build(
    static_root: &Path,
    output_dir: &Path,
    entry: &str,
    options: &Options,
) -> Result<BundleReport, BundleError> {
    let path = resolve_source(static_root, entry)?;
    let stem = path
        .file_stem()
        .map(|s| sanitize_stem(&s.to_string_lossy()))
        .unwrap_or_else(|| "module".to_owned());
    let hashed = "[name].[hash:16].js".to_owned();
    let bundler_options = BundlerOptions {
        input: Some(vec![InputItem {
            name: Some(stem),
            import: path.to_string_lossy().into_owned(),
        }]),
        cwd: Some(static_root.to_owned()),
        format: Some(OutputFormat::Esm),
        platform: Some(Platform::Browser),
        entry_filenames: Some(ChunkFilenamesOutputOption::String(hashed.clone())),
        chunk_filenames: Some(ChunkFilenamesOutputOption::String(hashed)),
        asset_filenames: Some(AssetFilenamesOutputOption::String(
            "[name].[hash:16][extname]".to_owned(),
        )),
        hash_characters: Some(HashCharacters::Hex),
        minify: Some(RawMinifyOptions::Bool(options.minify)),
        code_splitting: Some(vendor_chunks()),
        ..BundlerOptions::default()
    };
    let generated = generate(bundler_options).map_err(|e| ModuleError::Io {
        path: path.clone(),
        source: e,
    })?;
    let output =
        generated.map_err(|d| module_error(entry, static_root, &d.iter().collect::<Vec<_>>()))?;
    // rolldown leaves an import it cannot resolve external, with a warning; in a browser
    // bundle that import would fail at run time, so it is an error here.
    let unresolved: Vec<&BuildDiagnostic> = output
        .warnings
        .iter()
        .filter(|w| matches!(w.kind(), EventKind::UnresolvedImport))
        .collect();
    if !unresolved.is_empty() {
        return Err(module_error(entry, static_root, &unresolved).into());
    }
    for warning in &output.warnings {
        tracing::warn!(entry, warning = %warning, "module bundler warning");
    }
    let write = |name: &str, bytes: &[u8]| -> Result<(), ModuleError> {
        let target = output_dir.join(name);
        if target.is_file() {
            return Ok(());
        }
        write_atomic(output_dir, name, bytes).map_err(|e| ModuleError::Io {
            path: target,
            source: e,
        })
    };
    let mut report = BundleReport {
        files: vec![entry.to_owned()],
        kind: Kind::Module,
        file: String::new(),
        integrity: String::new(),
        bytes_in: 0,
        bytes_out: 0,
        gzip: None,
        brotli: None,
        assets: Vec::new(),
        minified: options.minify,
        // Module bundles get no source map yet (rolldown can write one; not wired in).
        source_map: None,
        // No file list: a module graph's files are rolldown's to find, so `static-bundle`
        // builds module entries every time rather than trust a list that may miss one.
        inputs: BuildInputs::new(options.fingerprint.clone()),
        chunks: Vec::new(),
        preload: Vec::new(),
    };
    let mut modules = BTreeSet::new();
    let mut entry_imports = Vec::new();
    let mut imports_of = std::collections::HashMap::new();
    let mut codes = Vec::new();
    for item in &output.assets {
        match item {
            Output::Chunk(chunk) => {
                let name = chunk.filename.to_string();
                write(&name, chunk.code.as_bytes())?;
                modules.extend(chunk.module_ids.iter().map(|id| id.to_string()));
                let imports: Vec<String> = chunk.imports.iter().map(|i| i.to_string()).collect();
                if chunk.is_entry && report.file.is_empty() {
                    report.integrity = integrity(chunk.code.as_bytes());
                    report.bytes_out = chunk.code.len() as u64;
                    report.file = name.clone();
                    entry_imports.clone_from(&imports);
                } else {
                    report.chunks.push(name.clone());
                }
                imports_of.insert(name.clone(), imports);
                codes.push((name, chunk.code.clone()));
            }
            Output::Asset(asset) => {
                let name = asset.filename.to_string();
                let bytes: &[u8] = match &asset.source {
                    rolldown_common::StrOrBytes::Str(text) => text.as_bytes(),
                    rolldown_common::StrOrBytes::Bytes(bytes) => bytes,
                };
                write(&name, bytes)?;
                report.chunks.push(name);
            }
        }
    }
    if report.file.is_empty() {
        return Err(ModuleError::Bundler {
            entry: entry.to_owned(),
            message: "the bundler produced no entry chunk".to_owned(),
        }
        .into());
    }
    // The chunks the entry needs before it runs: its static imports, at any depth.
    let mut pending = entry_imports;
    while let Some(chunk) = pending.pop() {
        if report.preload.contains(&chunk) || chunk == report.file {
            continue;
        }
        // Only chunks of this build (an import of something else is not preloaded).
        if let Some(more) = imports_of.get(&chunk) {
            pending.extend(more.iter().cloned());
            report.preload.push(chunk);
        }
    }
    report.preload.sort();
    report.bytes_in = modules
        .iter()
        .filter_map(|id| std::fs::metadata(id).ok())
        .map(|meta| meta.len())
        .sum();
    for (name, code) in codes {
        let sizes = compress::siblings(
            output_dir,
            &name,
            code.into_bytes(),
            options.precompress,
            options.brotli_quality,
        )
        .map_err(|e| ModuleError::Io {
            path: output_dir.join(&name),
            source: e,
        })?;
        if name == report.file
            && let Some((gzip, brotli)) = sizes
        {
            report.gzip = Some(gzip);
            report.brotli = Some(brotli);
        }
    }
    Ok(report)
}
