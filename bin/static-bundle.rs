//! static-bundle: precompiles every asset bundle the templates use, digests every other
//! static file (images, fonts, PDFs, favicons), writes `manifest.json`, and prints a table (bundle, files, bytes in, bytes out, gzip, brotli).
//! Every decision lives in `squall::assets` ([`PrecompileConfig::run`]); this file parses
//! flags, sets up logging (`SQUALL_LOG`, default `warn`), prints the report and maps it to
//! an exit status.
//!
//! Exit status: 0 all built; 1 a bundle failed, a call cannot be precompiled (no
//! arguments, or arguments that are not string literals), or reading or writing a file
//! failed; 2 bad usage or configuration (a bad flag, or a templates or static directory
//! that does not exist).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use squall::assets::{
    Browsers, BuildOptions, CallProblem, DEFAULT_BROTLI_QUALITY, JsEngine, PrecompileConfig,
    PrecompileReport, Precompression, Retention, SourceMaps,
};

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// Combines, minifies and fingerprints every `static(...)`/`static_url(...)` bundle the
/// templates use, and digests every other static file, so production builds nothing at
/// run time.
///
/// Exit status: 0 all built; 1 a bundle failed, a call cannot be precompiled, or
/// reading or writing a file failed; 2 bad usage or configuration. Logs: SQUALL_LOG
/// (default warn).
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// The templates directory to scan.
    #[arg(long, default_value = "templates")]
    templates: PathBuf,
    /// The static directory (sources).
    #[arg(long = "static", default_value = "static")]
    static_dir: PathBuf,
    /// Where bundles and manifest.json go.
    #[arg(long, default_value = "static/combined")]
    out: PathBuf,
    /// The URL the static directory is served at.
    #[arg(long, default_value = "/static/")]
    url_prefix: String,
    /// The CDN prefix for production URLs (//cdn.example.com).
    #[arg(long, env = "SQUALL_CDN_PREFIX")]
    cdn_prefix: Option<String>,
    /// After a successful build, delete the files of old builds recorded in the
    /// manifest: those that stopped being current more than DUR ago (30m, 12h, 7d) and
    /// are not among the last --keep builds. Files no build wrote are never deleted.
    #[arg(long, value_name = "DUR", value_parser = squall::parse_duration)]
    prune_older_than: Option<std::time::Duration>,
    /// With --prune-older-than: how many builds before the current one to keep whatever
    /// their age.
    #[arg(long, value_name = "N", default_value_t = Retention::DEFAULT_KEEP, requires = "prune_older_than")]
    keep: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// The browsers the CSS must work in, as a browserslist query ("safari 14, chrome
    /// 90", "defaults"). Default: Safari 14, Chrome 90, Firefox 90, Edge 90, iOS 14.
    #[arg(long, value_name = "QUERY", value_parser = Browsers::from_browserslist)]
    targets: Option<Browsers>,
    /// The JS minifier: oxc, or minify-js when built with the `minify-js` feature.
    #[arg(long, value_enum, default_value_t = Engine::Oxc)]
    js_engine: Engine,
    /// Write no .gz/.br siblings next to the bundles.
    #[arg(long)]
    no_precompress: bool,
    /// Brotli's quality for the .br siblings, 0 (fastest) to 11 (smallest).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BROTLI_QUALITY,
          value_parser = clap::value_parser!(u32).range(0..=11))]
    brotli_quality: u32,
    /// Source maps: `comment` (write `<bundle>.map` and a sourceMappingURL comment),
    /// `hidden` (write the maps, no comment) or `off`.
    #[arg(long, value_name = "MODE", default_value = "comment",
          value_parser = |s: &str| s.parse::<SourceMaps>())]
    source_maps: SourceMaps,
}

/// `--js-engine`'s values.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Engine {
    Oxc,
    MinifyJs,
}

fn main() -> ExitCode {
    squall::cli::init_logging();
    let cli = Cli::parse();
    let js_engine = match cli.js_engine {
        Engine::Oxc => JsEngine::Oxc,
        #[cfg(feature = "minify-js")]
        Engine::MinifyJs => JsEngine::MinifyJs,
        #[cfg(not(feature = "minify-js"))]
        Engine::MinifyJs => {
            eprintln!(
                "static-bundle: --js-engine minify-js: this build lacks the `minify-js` feature"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let options = BuildOptions::default()
        .browsers(cli.targets.unwrap_or_default())
        .js_engine(js_engine)
        .precompression(if cli.no_precompress {
            Precompression::Off
        } else {
            Precompression::On
        })
        .brotli_quality(cli.brotli_quality)
        .source_maps(cli.source_maps);
    let config = PrecompileConfig::new(cli.templates, cli.static_dir, cli.out)
        .url_prefix(cli.url_prefix)
        .cdn_prefix(cli.cdn_prefix)
        .prune_older_than(cli.prune_older_than)
        .keep(cli.keep)
        .options(options);
    let report = match config.run(|i, n, key| eprintln!("static-bundle: [{i}/{n}] {key}")) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("static-bundle: {error}");
            return ExitCode::from(if error.is_usage() {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            });
        }
    };
    for warning in &report.warnings {
        eprintln!("static-bundle: warning: {warning}");
    }
    if cli.json {
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("static-bundle: {error}");
                return ExitCode::from(EXIT_FAILED);
            }
        }
    } else {
        print_table(&report);
    }
    for call in &report.non_literal {
        eprintln!(
            "static-bundle: {}:{}: {} {}; not built",
            call.template.display(),
            call.line,
            call.text,
            call.problem.unwrap_or(CallProblem::NonLiteral)
        );
    }
    for failure in &report.failed {
        eprintln!(
            "static-bundle: FAILED {} (used at {}): {}",
            failure.bundle, failure.found_at, failure.error
        );
    }
    eprintln!(
        "static-bundle: {} built, {} failed, {} non-literal call(s), {} file(s) digested, {} pruned, {} unchanged{}",
        report.bundles.len(),
        report.failed.len(),
        report.non_literal.len(),
        report.files.len(),
        report.pruned.len(),
        report.unchanged.len(),
        match &report.manifest {
            Some(path) => format!(", wrote {}", path.display()),
            None => ", manifest left as it was".to_owned(),
        }
    );
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn print_table(report: &PrecompileReport) {
    let rows: Vec<[String; 6]> = report
        .bundles
        .iter()
        .map(|b| {
            [
                b.file.clone(),
                b.files.len().to_string(),
                b.bytes_in.to_string(),
                b.bytes_out.to_string(),
                b.gzip.map(|v| v.to_string()).unwrap_or_default(),
                b.brotli.map(|v| v.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["bundle", "files", "bytes in", "bytes out", "gzip", "brotli"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut out = format!("{:<w$}", cells[0], w = widths[0]);
        for (cell, w) in cells[1..].iter().zip(&widths[1..]) {
            out.push_str(&format!("  {cell:>w$}"));
        }
        println!("{out}");
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
    }
}
