//! Minifying JavaScript through oxc (or the opt-in minify-js engine), and what every
//! minifier shares: the error type and the guard that turns an engine's panic into an
//! error. Stylesheets go through [`css`](super::css) with the same error and guard.
//!
//! Each source file is minified on its own, so a syntax error names the file, the line and
//! the column, and a panic inside an engine is caught and returned as an error instead of
//! unwinding into the caller.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, BundleError, Error, MinifyError, Mode};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("add.js"),
//!     "/*! (c) me */\nfunction add(first, second) { return first + second; }\nwindow.add = add;")?;
//! std::fs::write(dir.path().join("bad.js"), "let x = ;")?;
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Production,
//! })?;
//! let report = assets.build(&["add.js"])?;
//! let js = std::fs::read_to_string(dir.path().join("combined").join(&report.file))?;
//! let code = js.lines().take(2).collect::<Vec<_>>().join("\n"); // then the map's comment
//! assert!(code.starts_with("/*! (c) me */") && code.len() < 70, "{js}");
//!
//! let err = assets.build(&["bad.js"]).unwrap_err();
//! assert_eq!(err.to_string(), "bad.js:1:9: syntax error: Unexpected token");
//! assert!(matches!(
//!     err,
//!     Error::Bundle(BundleError::Minify(MinifyError::Syntax { line: 1, column: 9, .. }))
//! ));
//! # Ok(()) }
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::css_urls::ReferenceError;
use super::sourcemap::JsMap;

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

/// What joining a script with others needs to know about it: whether it is strict-mode
/// code, and what it would lose if wrapped in a function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScriptShape {
    /// The script opens with a `"use strict"` directive.
    pub strict: bool,
    /// The names it declares at top level (`var`, `let`, `const`, `function`, `class`,
    /// and `var`s in top-level blocks): globals other scripts and the page may use. Sorted;
    /// only computed for strict scripts.
    pub globals: Vec<String>,
    /// It reads `arguments` outside any function (a global variable there, the function's
    /// own arguments inside a wrapper).
    pub global_arguments: bool,
}

impl ScriptShape {
    /// Whether running the script inside `(function () { … }).call(this)` means what it
    /// means at top level: nothing it declares becomes local, and `this` is the same.
    pub fn wrappable(&self) -> bool {
        self.globals.is_empty() && !self.global_arguments
    }

    fn of(program: &oxc::ast::ast::Program<'_>) -> ScriptShape {
        use oxc::semantic::SemanticBuilder;

        let strict = program.has_use_strict_directive();
        if !strict {
            return ScriptShape::default();
        }
        let built = SemanticBuilder::new().build(program);
        let scoping = built.semantic.scoping();
        let mut globals: Vec<String> = scoping
            .get_bindings(scoping.root_scope_id())
            .keys()
            .map(|name| name.to_string())
            .collect();
        globals.sort();
        let global_arguments = scoping
            .root_unresolved_references()
            .get("arguments")
            .is_some_and(|references| {
                references.iter().any(|&id| {
                    let scope = scoping.get_reference(id).scope_id();
                    !scoping.scope_ancestors(scope).any(|ancestor| {
                        let flags = scoping.scope_flags(ancestor);
                        flags.is_function() && !flags.is_arrow()
                    })
                })
            });
        ScriptShape {
            strict,
            globals,
            global_arguments,
        }
    }
}

/// The shape of a script that is joined unminified; `None` when it does not parse.
pub(crate) fn script_shape(source: &str) -> Option<ScriptShape> {
    use oxc::allocator::Allocator;
    use oxc::parser::Parser;
    use oxc::span::SourceType;

    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::script()).parse();
    (parsed.diagnostics.is_empty() && !parsed.panicked).then(|| ScriptShape::of(&parsed.program))
}

/// One minified script: the code, its shape, and its source map when one was asked for
/// (oxc only).
pub(crate) type MinifiedJs = (String, ScriptShape, Option<JsMap>);

/// Minifies one JavaScript file, a classic script (top-level names are globals and keep
/// their names), and tells its shape; with `map`, also its source map (sources named
/// `file`). `/*!` licence comments are kept. Never panics.
pub(crate) fn js(
    file: &str,
    source: &str,
    engine: JsEngine,
    map: bool,
) -> Result<MinifiedJs, MinifyError> {
    match engine {
        JsEngine::Oxc => guarded(file, "oxc", || oxc_js(file, source, map)),
        #[cfg(feature = "minify-js")]
        JsEngine::MinifyJs => guarded(file, "minify-js", || {
            let code = minify_js(file, source)?;
            Ok((code, script_shape(source).unwrap_or_default(), None))
        }),
    }
}

/// Runs one engine on one file; a panic becomes [`MinifyError::Panic`].
pub(crate) fn guarded<T>(
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

fn oxc_js(file: &str, source: &str, map: bool) -> Result<MinifiedJs, MinifyError> {
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
    let shape = ScriptShape::of(&program);
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
            source_map_path: map.then(|| std::path::PathBuf::from(file)),
            ..CodegenOptions::minify()
        })
        .with_scoping(minified.scoping)
        .build(&program);
    Ok((printed.code, shape, printed.map.map(|m| m.into_owned())))
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
            false,
        )
        .unwrap()
        .0;
        assert!(out.contains("/*! licence */"), "{out}");
        assert!(out.contains("keepMe"), "{out}");
        assert!(!out.contains("longName"), "{out}");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = js("b.js", "var a = 1;\nvar b = );", JsEngine::Oxc, false).unwrap_err();
        match err {
            MinifyError::Syntax { line, column, .. } => assert_eq!((line, column), (2, 9)),
            other => panic!("{other}"),
        }
    }

    #[cfg(feature = "minify-js")]
    #[test]
    fn minify_js_panics_are_caught() {
        let result = js(
            "m.js",
            "if (a) { f(); } else { g(); }",
            JsEngine::MinifyJs,
            false,
        );
        assert!(
            matches!(
                result,
                Err(MinifyError::Panic {
                    engine: "minify-js",
                    ..
                })
            ),
            "{result:?}"
        );
        let ok = js(
            "m.js",
            "function add(aa, bb) { return aa + bb; }",
            JsEngine::MinifyJs,
            false,
        )
        .unwrap()
        .0;
        assert!(ok.len() < 40, "{ok}");
    }

    #[test]
    fn shapes() {
        let sloppy = script_shape("var a = 1; function f() {}").unwrap();
        assert_eq!(sloppy, ScriptShape::default());
        let strict = script_shape("'use strict'; go(); { let local = 1; }").unwrap();
        assert!(strict.strict && strict.wrappable(), "{strict:?}");
        let declares =
            script_shape("'use strict'; if (x) { var v = 1; } function f() {} class C {}").unwrap();
        assert_eq!(declares.globals, ["C", "f", "v"]);
        let arguments = script_shape("'use strict'; g(() => arguments[0]);").unwrap();
        assert!(arguments.global_arguments && !arguments.wrappable());
        let inner = script_shape("'use strict'; g(function () { return arguments; });").unwrap();
        assert!(inner.wrappable(), "{inner:?}");
        assert_eq!(script_shape("var = ;"), None);
    }

    #[test]
    fn line_col_handles_multibyte() {
        assert_eq!(line_col("é\nab", 4), (2, 2));
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
