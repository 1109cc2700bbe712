//! Minifiers: JavaScript through oxc (or the opt-in minify-js engine), CSS through
//! lightningcss with browser targets.
//!
//! Each source file is minified on its own, so a syntax error names the file, the line and
//! the column, and a panic inside an engine is caught and returned as an error instead of
//! unwinding into the caller.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, BundleError, Error, MinifyError, Mode};
//! # let dir = tempfile::tempdir()?;
//! # let config = AssetsConfig { static_dir: dir.path().into(), output_dir: dir.path().join("out"),
//! #     url_prefix: "/static/".into(), cdn_prefix: None, mode: Mode::Production };
//! std::fs::write(dir.path().join("bad.js"), "let x = ;")?;
//! let err = Assets::new(config)?.build(&["bad.js"]).unwrap_err();
//! assert_eq!(err.to_string(), "bad.js:1:9: syntax error: Unexpected token");
//! assert!(matches!(
//!     err,
//!     Error::Bundle(BundleError::Minify(MinifyError::Syntax { line: 1, column: 9, .. }))
//! ));
//! # Ok(()) }
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};

use std::path::{Path, PathBuf};

use lightningcss::targets::Browsers as CssBrowsers;
use lightningcss::visitor::Visit;

use super::css_urls::{self, ReferenceError};

/// What can go wrong while minifying one file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MinifyError {
    /// The file does not parse; `line` and `column` start at 1.
    #[error("{file}:{line}:{column}: syntax error: {message}")]
    Syntax {
        /// The file, as given to the bundle.
        file: String,
        /// Line of the error, from 1.
        line: u32,
        /// Column of the error, from 1 (in characters).
        column: u32,
        /// The parser's message.
        message: String,
    },
    /// The minifier panicked on this file (a bug in the engine, not in the file).
    #[error("{file}: the {engine} minifier panicked: {message}")]
    Panic {
        /// The file, as given to the bundle.
        file: String,
        /// The engine that panicked.
        engine: &'static str,
        /// The panic message.
        message: String,
    },
    /// A `url()` or `@import` in a stylesheet names a file that is missing or outside,
    /// or the `@import`s make a cycle.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// lightningcss could not minify or print a sheet that parsed.
    #[error("{file}: {source}")]
    Css {
        /// The file, as given to the bundle.
        file: String,
        /// lightningcss's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The minifier gave up on this file without a diagnostic.
    #[error("{file}: {message}")]
    Other {
        /// The file, as given to the bundle.
        file: String,
        /// What failed.
        message: String,
    },
}

/// The JavaScript minifier to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsEngine {
    /// oxc's minifier (compress, mangle non-global names, print): the default.
    #[default]
    Oxc,
    /// minify-js 0.6, opt-in behind the `minify-js` cargo feature.
    ///
    /// Known defects, measured: it panics on `if (a) { f(); } else { g(); }` and on any
    /// top-level `if`; it rejects valid syntax (tagged templates, numeric separators,
    /// class static blocks); and it returns *successful but wrong* output for getters and
    /// setters (they lose `get`/`set`), for functions that use `this` (turned into arrows)
    /// and for `"\x41"` escapes (NUL bytes). Every call runs under `catch_unwind`. It is
    /// unmaintained since 2023; use it only if you have checked its output on your code.
    #[cfg(feature = "minify-js")]
    MinifyJs,
}

/// Browser versions the CSS output must work in (lightningcss targets).
///
/// The default is [`Browsers::BASELINE`]: with no targets at all lightningcss rewrites
/// `@media (min-width: 600px)` into range syntax (`(width >= 600px)`) that Safari before
/// 16.4 ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Browsers {
    /// Safari major version, if targeted.
    pub safari: Option<u32>,
    /// Chrome major version, if targeted.
    pub chrome: Option<u32>,
    /// Firefox major version, if targeted.
    pub firefox: Option<u32>,
    /// Edge major version, if targeted.
    pub edge: Option<u32>,
    /// iOS Safari major version, if targeted.
    pub ios_saf: Option<u32>,
}

impl Default for Browsers {
    /// [`Browsers::BASELINE`].
    fn default() -> Self {
        Browsers::BASELINE
    }
}

impl Browsers {
    /// The default targets, a conservative baseline: Safari 14, Chrome 90, Firefox 90,
    /// Edge 90 and iOS Safari 14.
    pub const BASELINE: Browsers = Browsers {
        safari: Some(14),
        chrome: Some(90),
        firefox: Some(90),
        edge: Some(90),
        ios_saf: Some(14),
    };

    pub(crate) fn to_lightningcss(self) -> CssBrowsers {
        let v = |major: Option<u32>| major.map(|m| m << 16);
        CssBrowsers {
            safari: v(self.safari),
            chrome: v(self.chrome),
            firefox: v(self.firefox),
            edge: v(self.edge),
            ios_saf: v(self.ios_saf),
            ..CssBrowsers::default()
        }
    }
}

/// Minifies one JavaScript file, a classic script (top-level names are globals and keep
/// their names). `/*!` licence comments are kept. Never panics.
pub(crate) fn js(file: &str, source: &str, engine: JsEngine) -> Result<String, MinifyError> {
    match engine {
        JsEngine::Oxc => guarded(file, "oxc", || oxc_js(file, source)),
        #[cfg(feature = "minify-js")]
        JsEngine::MinifyJs => guarded(file, "minify-js", || minify_js(file, source)),
    }
}

fn guarded<T>(
    file: &str,
    engine: &'static str,
    run: impl FnOnce() -> Result<T, MinifyError>,
) -> Result<T, MinifyError> {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(MinifyError::Panic {
                file: file.to_owned(),
                engine,
                message,
            })
        }
    }
}

fn oxc_js(file: &str, source: &str) -> Result<String, MinifyError> {
    use oxc::allocator::Allocator;
    use oxc::codegen::{Codegen, CodegenOptions, CommentOptions, LegalComment};
    use oxc::minifier::MangleOptions;
    use oxc::minifier::{CompressOptions, Minifier, MinifierOptions};
    use oxc::parser::Parser;
    use oxc::span::SourceType;

    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::script()).parse();
    if let Some(diagnostic) = parsed.diagnostics.first() {
        let offset = diagnostic
            .labels
            .first()
            .map(|label| label.offset() as usize)
            .unwrap_or(0);
        let (line, column) = line_col(source, offset);
        return Err(MinifyError::Syntax {
            file: file.to_owned(),
            line,
            column,
            message: diagnostic.message.to_string(),
        });
    }
    if parsed.panicked {
        return Err(MinifyError::Other {
            file: file.to_owned(),
            message: "the oxc parser gave up on this file".to_owned(),
        });
    }
    let mut program = parsed.program;
    let options = MinifierOptions {
        mangle: Some(MangleOptions {
            top_level: Some(false),
            ..MangleOptions::default()
        }),
        mangle_properties: None,
        // One compress pass: measured on jQuery + lodash + d3, the fixed point (2 or 3
        // passes) costs ~40% more time for 25 bytes (and gzips 12 bytes larger).
        compress: Some(CompressOptions {
            max_iterations: Some(1),
            ..CompressOptions::smallest()
        }),
    };
    let minified = Minifier::new(options).minify(&allocator, &mut program);
    let printed = Codegen::new()
        .with_options(CodegenOptions {
            minify: true,
            comments: CommentOptions {
                normal: false,
                jsdoc: false,
                annotation: false,
                legal: LegalComment::Inline,
            },
            ..CodegenOptions::minify()
        })
        .with_scoping(minified.scoping)
        .build(&program);
    Ok(printed.code)
}

#[cfg(feature = "minify-js")]
fn minify_js(file: &str, source: &str) -> Result<String, MinifyError> {
    let session = minify_js::Session::new();
    let mut out = Vec::with_capacity(source.len() / 2);
    match minify_js::minify(
        &session,
        minify_js::TopLevelMode::Global,
        source.as_bytes(),
        &mut out,
    ) {
        Ok(()) => String::from_utf8(out).map_err(|_| MinifyError::Other {
            file: file.to_owned(),
            message: "minify-js produced invalid UTF-8".to_owned(),
        }),
        Err(e) => {
            let (line, column) = line_col(source, e.source.start());
            Err(MinifyError::Syntax {
                file: file.to_owned(),
                line,
                column,
                message: e.to_string(),
            })
        }
    }
}

/// What processing one stylesheet needs to know.
pub(crate) struct CssContext<'a> {
    /// Canonical static directory.
    pub static_root: &'a Path,
    /// Where referenced images and fonts are copied.
    pub output_dir: &'a Path,
    /// Browser targets.
    pub browsers: Browsers,
}

/// One processed stylesheet.
#[derive(Debug, Default)]
pub(crate) struct CssOutput {
    /// `/*! … */` licence comments, to go at the very top of the bundle.
    pub licences: Vec<String>,
    /// Remote `@import`s, to go at the top of the bundle (after the licences).
    pub hoisted: Vec<String>,
    /// Minified CSS, local `@import`s inlined and `url()`s rewritten.
    pub code: String,
    /// Names of the images and fonts copied to the output.
    pub copied: Vec<String>,
}

/// Parses one stylesheet alone, inlines its local `@import`s, rewrites its `url()`s and
/// minifies it. Never panics on malformed input.
pub(crate) fn css(
    ctx: &CssContext<'_>,
    file: &str,
    path: &Path,
    source: &str,
) -> Result<CssOutput, MinifyError> {
    let mut stack = Vec::new();
    guarded(file, "lightningcss", || {
        css_inner(ctx, file, path, source, &mut stack)
    })
}

fn css_inner(
    ctx: &CssContext<'_>,
    file: &str,
    path: &Path,
    source: &str,
    stack: &mut Vec<PathBuf>,
) -> Result<CssOutput, MinifyError> {
    use lightningcss::rules::CssRule;
    use lightningcss::stylesheet::{MinifyOptions, ParserOptions, PrinterOptions, StyleSheet};
    use lightningcss::traits::ToCss;

    const MAX_DEPTH: usize = 32;
    stack.push(path.to_owned());
    let base_dir = path.parent().unwrap_or(ctx.static_root).to_owned();
    let mut sheet = StyleSheet::parse(
        source,
        ParserOptions {
            filename: file.to_owned(),
            ..ParserOptions::default()
        },
    )
    .map_err(|e| {
        let (line, column) = e
            .loc
            .as_ref()
            .map(|l| (l.line + 1, l.column))
            .unwrap_or((1, 1));
        MinifyError::Syntax {
            file: file.to_owned(),
            line,
            column,
            message: e.kind.to_string(),
        }
    })?;
    let mut out = CssOutput::default();
    // lightningcss keeps `/*!` comments only before the first token; Bootstrap's come after
    // `@charset "UTF-8";`. They go to the top of the bundle, before any `@import`.
    let licences: Vec<String> = if sheet.license_comments.is_empty() {
        leading_licence_comments(source)
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        std::mem::take(&mut sheet.license_comments)
            .iter()
            .map(|c| c.to_string())
            .collect()
    };
    sheet.license_comments.clear();
    out.licences = licences.into_iter().map(|c| format!("/*{c}*/")).collect();
    let css_error = |source: lightningcss::error::PrinterError| MinifyError::Css {
        file: file.to_owned(),
        source: Box::new(source),
    };
    for rule in &sheet.rules.0 {
        let CssRule::Import(import) = rule else {
            continue;
        };
        let reference = import.url.as_ref();
        if !css_urls::is_relative(reference) {
            out.hoisted.push(
                import
                    .to_css_string(PrinterOptions::default())
                    .map_err(css_error)?,
            );
            continue;
        }
        // `rules::Location` counts lines from 0 (columns from 1); errors count both from 1.
        let (line, column) = (import.loc.line.saturating_add(1), import.loc.column);
        let cut = reference.find(['?', '#']).unwrap_or(reference.len());
        let target = match css_urls::resolve(ctx.static_root, &base_dir, &reference[..cut]) {
            css_urls::Resolved::File(found) => found,
            css_urls::Resolved::Missing(looked) => {
                return Err(ReferenceError::Missing {
                    file: file.to_owned(),
                    line,
                    column,
                    url: reference.to_owned(),
                    path: looked,
                }
                .into());
            }
            css_urls::Resolved::Outside => {
                return Err(ReferenceError::Outside {
                    file: file.to_owned(),
                    line,
                    column,
                    url: reference.to_owned(),
                }
                .into());
            }
        };
        if stack.contains(&target) || stack.len() > MAX_DEPTH {
            return Err(ReferenceError::ImportCycle {
                file: file.to_owned(),
                line,
                column,
                url: reference.to_owned(),
            }
            .into());
        }
        let imported_name = target
            .strip_prefix(ctx.static_root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| reference.to_owned());
        let imported_source = std::fs::read_to_string(&target).map_err(|e| ReferenceError::Io {
            path: target.clone(),
            source: e,
        })?;
        let inner = css_inner(ctx, &imported_name, &target, &imported_source, stack)?;
        out.licences.extend(inner.licences);
        out.hoisted.extend(inner.hoisted);
        for name in inner.copied {
            if !out.copied.contains(&name) {
                out.copied.push(name);
            }
        }
        let mut code = inner.code;
        if !import.media.media_queries.is_empty() {
            let media = import
                .media
                .to_css_string(PrinterOptions::default())
                .map_err(css_error)?;
            code = format!("@media {media}{{{code}}}");
        }
        if let Some(supports) = &import.supports {
            let condition = supports
                .to_css_string(PrinterOptions::default())
                .map_err(css_error)?;
            code = format!("@supports {condition}{{{code}}}");
        }
        if let Some(layer) = &import.layer {
            let name = match layer {
                Some(name) => format!(
                    " {}",
                    name.to_css_string(PrinterOptions::default())
                        .map_err(css_error)?
                ),
                None => String::new(),
            };
            code = format!("@layer{name}{{{code}}}");
        }
        out.code.push_str(&code);
        out.code.push('\n');
    }
    sheet
        .rules
        .0
        .retain(|rule| !matches!(rule, CssRule::Import(_)));

    let mut rewriter = css_urls::Rewriter {
        static_root: ctx.static_root,
        file,
        base_dir: &base_dir,
        output_dir: ctx.output_dir,
        copied: Vec::new(),
    };
    sheet.visit(&mut rewriter)?;
    for name in rewriter.copied {
        if !out.copied.contains(&name) {
            out.copied.push(name);
        }
    }
    let targets: lightningcss::targets::Targets = ctx.browsers.to_lightningcss().into();
    sheet
        .minify(MinifyOptions {
            targets,
            ..MinifyOptions::default()
        })
        .map_err(|source| MinifyError::Css {
            file: file.to_owned(),
            source: Box::new(source),
        })?;
    let printed = sheet
        .to_css(PrinterOptions {
            minify: true,
            targets,
            ..PrinterOptions::default()
        })
        .map_err(css_error)?;
    out.code.push_str(&printed.code);
    stack.pop();
    Ok(out)
}

/// The `/*! … */` comments at the top of a stylesheet, after an optional BOM and
/// `@charset`, as lightningcss stores them (without `/*` and `*/`).
fn leading_licence_comments(source: &str) -> Vec<&str> {
    let mut rest = source.trim_start_matches('\u{feff}');
    if rest.starts_with("@charset") {
        match rest.find(';') {
            Some(end) => rest = &rest[end + 1..],
            None => return Vec::new(),
        }
    }
    let mut found = Vec::new();
    loop {
        rest = rest.trim_start();
        let Some(body) = rest.strip_prefix("/*") else {
            break;
        };
        let Some(end) = body.find("*/") else {
            break;
        };
        if body.starts_with('!') {
            found.push(&body[..end]);
        }
        rest = &body[end + 2..];
    }
    found
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(source: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_licence_comments_and_globals() {
        let out = js(
            "a.js",
            "/*! licence */\nvar keepMe = function (longName) { return longName * 2; };",
            JsEngine::Oxc,
        )
        .unwrap();
        assert!(out.contains("/*! licence */"), "{out}");
        assert!(out.contains("keepMe"), "{out}");
        assert!(!out.contains("longName"), "{out}");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = js("b.js", "var a = 1;\nvar b = );", JsEngine::Oxc).unwrap_err();
        match err {
            MinifyError::Syntax { line, column, .. } => assert_eq!((line, column), (2, 9)),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn licence_after_charset() {
        let found =
            leading_licence_comments("@charset \"UTF-8\";\n/*!\n * Lib v1\n */\n/* x */ a{}");
        assert_eq!(found, vec!["!\n * Lib v1\n "]);
        assert!(leading_licence_comments("/*! unterminated").is_empty());
    }

    #[cfg(feature = "minify-js")]
    #[test]
    fn minify_js_panics_are_caught() {
        let result = js("m.js", "if (a) { f(); } else { g(); }", JsEngine::MinifyJs);
        assert!(result.is_err(), "{result:?}");
        let ok = js(
            "m.js",
            "function add(aa, bb) { return aa + bb; }",
            JsEngine::MinifyJs,
        )
        .unwrap();
        assert!(ok.len() < 40, "{ok}");
    }

    #[test]
    fn line_col_handles_multibyte() {
        assert_eq!(line_col("é\nab", 4), (2, 2));
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
