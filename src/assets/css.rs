//! Stylesheets: each parsed alone by lightningcss, its local `@import`s inlined, its
//! relative `url()`s rewritten (see [`css_urls`](super::css_urls)), and minified for the
//! browser targets.
//!
//! `/*!` licence comments go to the top of the bundle, then remote `@import`s, then the
//! code. A local `@import` with a media query, `supports()` or `layer` is inlined inside
//! the matching `@media`, `@supports` or `@layer` block.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("css/parts"))?;
//! std::fs::write(dir.path().join("css/parts/print.css"), ".no-print { display: none }")?;
//! std::fs::write(dir.path().join("css/a.css"),
//!     "/*! (c) me */\n@import url(parts/print.css) print;\n@media (min-width: 600px) { a { color: #ff0000 } }")?;
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Production,
//! })?;
//! let report = assets.build(&["css/a.css"])?;
//! let css = std::fs::read_to_string(dir.path().join("combined").join(&report.file))?;
//! assert_eq!(
//!     css,
//!     "/*! (c) me */\n@media print{.no-print{display:none}}\n@media (min-width:600px){a{color:red}}\n\
//!      /*# sourceMappingURL=".to_owned() + &report.file + ".map */\n"
//! );
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use lightningcss::error::PrinterError;
use lightningcss::rules::CssRule;
use lightningcss::rules::import::ImportRule;
use lightningcss::stylesheet::{MinifyOptions, ParserOptions, PrinterOptions, StyleSheet};
use lightningcss::targets::{Browsers as CssBrowsers, Targets};
use lightningcss::traits::ToCss;
use lightningcss::visitor::Visit;

use super::css_urls::{self, ReferenceError, Resolved};
use super::digest::hex_digest;
use super::minify::{MinifyError, guarded};
use super::sourcemap::{CssMap, SourceMapError};

/// How deep `@import`s may nest.
const MAX_DEPTH: usize = 32;

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
    /// Android WebView major version, if targeted.
    pub android: Option<u32>,
    /// Opera major version, if targeted.
    pub opera: Option<u32>,
    /// Samsung Internet major version, if targeted.
    pub samsung: Option<u32>,
    /// Internet Explorer major version, if targeted.
    pub ie: Option<u32>,
}

/// A browserslist query [`Browsers::from_browserslist`] cannot use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowsersError {
    /// The query does not parse, or names an unknown browser or version.
    #[error("browserslist query {query:?}: {source}")]
    Query {
        /// The query as given.
        query: String,
        /// What browserslist said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The query parses but selects none of the browsers CSS can be lowered for.
    #[error("browserslist query {query:?} selects no browser CSS can target")]
    NoBrowsers {
        /// The query as given.
        query: String,
    },
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
        android: None,
        opera: None,
        samsung: None,
        ie: None,
    };

    /// The oldest version of each browser a browserslist query selects
    /// (`"safari 14, chrome 90"`, `"> 0.5%, last 2 versions"`, `"defaults"`), by major
    /// version: `safari 15.4` counts as 15, which only lowers more. Mobile Chrome,
    /// Firefox and Opera count as their desktop versions, as lightningcss does; browsers
    /// CSS cannot be lowered for (Opera Mini, KaiOS, …) are left out.
    ///
    /// ```
    /// use squall::assets::Browsers;
    /// let browsers = Browsers::from_browserslist("safari 14, chrome 90")?;
    /// assert_eq!((browsers.safari, browsers.chrome, browsers.firefox), (Some(14), Some(90), None));
    /// assert!(Browsers::from_browserslist("netscape 4").is_err());
    /// # Ok::<_, squall::assets::BrowsersError>(())
    /// ```
    pub fn from_browserslist(query: &str) -> Result<Browsers, BrowsersError> {
        let distribs =
            browserslist::resolve(&[query], &browserslist::Opts::default()).map_err(|source| {
                BrowsersError::Query {
                    query: query.to_owned(),
                    source: Box::new(source),
                }
            })?;
        let mut browsers = Browsers::NONE;
        for distrib in &distribs {
            let slot = match distrib.name() {
                "safari" => &mut browsers.safari,
                "chrome" | "and_chr" => &mut browsers.chrome,
                "firefox" | "and_ff" => &mut browsers.firefox,
                "edge" => &mut browsers.edge,
                "ios_saf" => &mut browsers.ios_saf,
                "android" => &mut browsers.android,
                "opera" | "op_mob" => &mut browsers.opera,
                "samsung" => &mut browsers.samsung,
                "ie" => &mut browsers.ie,
                _ => continue,
            };
            // Versions look like `14`, `15.4` or a range `15.2-15.3`: the first major.
            let major = distrib
                .version()
                .split(['-', '.'])
                .next()
                .and_then(|major| major.parse::<u32>().ok());
            if let Some(major) = major {
                *slot = Some(slot.map_or(major, |oldest| oldest.min(major)));
            }
        }
        if browsers == Browsers::NONE {
            return Err(BrowsersError::NoBrowsers {
                query: query.to_owned(),
            });
        }
        Ok(browsers)
    }

    /// No browser targeted.
    const NONE: Browsers = Browsers {
        safari: None,
        chrome: None,
        firefox: None,
        edge: None,
        ios_saf: None,
        android: None,
        opera: None,
        samsung: None,
        ie: None,
    };

    pub(crate) fn to_lightningcss(self) -> CssBrowsers {
        let v = |major: Option<u32>| major.map(|m| m << 16);
        CssBrowsers {
            safari: v(self.safari),
            chrome: v(self.chrome),
            firefox: v(self.firefox),
            edge: v(self.edge),
            ios_saf: v(self.ios_saf),
            android: v(self.android),
            opera: v(self.opera),
            samsung: v(self.samsung),
            ie: v(self.ie),
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
    /// Make a source map of each sheet.
    pub source_maps: bool,
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
    /// The `@import`ed sheets and `url()` files read, with the sha256 (hex) of their bytes.
    pub inputs: Vec<(String, String)>,
    /// The map of `code`, when asked for.
    pub map: Option<CssMap>,
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
        sheet(ctx, file, path, source, &mut stack)
    })
}

/// One sheet, and through `@import` the sheets it names; `stack` holds the sheets being
/// imported, to refuse a cycle.
fn sheet(
    ctx: &CssContext<'_>,
    file: &str,
    path: &Path,
    source: &str,
    stack: &mut Vec<PathBuf>,
) -> Result<CssOutput, MinifyError> {
    stack.push(path.to_owned());
    let base_dir = path.parent().unwrap_or(ctx.static_root).to_owned();
    let mut sheet = parse(file, source)?;
    let mut out = CssOutput {
        licences: licences(&mut sheet, source),
        ..CssOutput::default()
    };
    let printer_error = |source| printer_error(file, source);
    let targets: Targets = ctx.browsers.to_lightningcss().into();
    for rule in &sheet.rules.0 {
        let CssRule::Import(import) = rule else {
            continue;
        };
        if !css_urls::is_relative(&import.url) {
            let printed = import
                .to_css_string(PrinterOptions::default())
                .map_err(printer_error)?;
            out.hoisted.push(printed);
            continue;
        }
        let target = resolve_import(ctx, file, &base_dir, import, stack)?;
        let imported_name = target
            .strip_prefix(ctx.static_root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| import.url.to_string());
        let imported_source = std::fs::read_to_string(&target).map_err(|e| ReferenceError::Io {
            path: target.clone(),
            source: e,
        })?;
        let reference: &str = &import.url;
        let cut = reference.find(['?', '#']).unwrap_or(reference.len());
        if let Some(reached) = css_urls::reached(ctx.static_root, &base_dir, &reference[..cut]) {
            out.inputs
                .push((reached, hex_digest(imported_source.as_bytes())));
        }
        let inner = self::sheet(ctx, &imported_name, &target, &imported_source, stack)?;
        out.inputs.extend(inner.inputs);
        out.licences.extend(inner.licences);
        out.hoisted.extend(inner.hoisted);
        add_unique(&mut out.copied, inner.copied);
        let (wrapped, column) = wrap(import, inner.code, targets).map_err(printer_error)?;
        CssMap::append(&mut out.map, file, lines(&out.code), column, inner.map)
            .map_err(map_error)?;
        out.code.push_str(&wrapped);
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
        inputs: Vec::new(),
    };
    sheet.visit(&mut rewriter)?;
    add_unique(&mut out.copied, rewriter.copied);
    out.inputs.extend(rewriter.inputs);
    sheet
        .minify(MinifyOptions {
            targets,
            ..MinifyOptions::default()
        })
        .map_err(|source| MinifyError::Css {
            file: file.to_owned(),
            source: Box::new(source),
        })?;
    let mut map = match ctx.source_maps {
        true => Some(CssMap::for_sheet(file, source).map_err(map_error)?),
        false => None,
    };
    let printed = sheet
        .to_css(PrinterOptions {
            minify: true,
            targets,
            source_map: map.as_mut().map(CssMap::printer_map),
            ..PrinterOptions::default()
        })
        .map_err(printer_error)?;
    CssMap::append(&mut out.map, file, lines(&out.code), 0, map).map_err(map_error)?;
    out.code.push_str(&printed.code);
    stack.pop();
    Ok(out)
}

fn parse<'i>(file: &str, source: &'i str) -> Result<StyleSheet<'i>, MinifyError> {
    StyleSheet::parse(
        source,
        ParserOptions {
            filename: file.to_owned(),
            ..ParserOptions::default()
        },
    )
    .map_err(|e| {
        // lightningcss counts lines from 0 and columns from 1.
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
    })
}

/// Takes the sheet's `/*! … */` comments, as `/*!…*/` strings.
fn licences(sheet: &mut StyleSheet<'_>, source: &str) -> Vec<String> {
    // lightningcss keeps `/*!` comments only before the first token; Bootstrap's come after
    // `@charset "UTF-8";`.
    let found: Vec<String> = if sheet.license_comments.is_empty() {
        leading_licence_comments(source)
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        sheet
            .license_comments
            .iter()
            .map(|c| c.to_string())
            .collect()
    };
    sheet.license_comments.clear();
    found.into_iter().map(|c| format!("/*{c}*/")).collect()
}

/// The file a local `@import` names, inside the static directory and not in `stack`.
fn resolve_import(
    ctx: &CssContext<'_>,
    file: &str,
    base_dir: &Path,
    import: &ImportRule<'_>,
    stack: &[PathBuf],
) -> Result<PathBuf, ReferenceError> {
    let reference: &str = &import.url;
    // `rules::Location` counts lines from 0 (columns from 1); errors count both from 1.
    let (line, column) = (import.loc.line.saturating_add(1), import.loc.column);
    let (file, url) = (file.to_owned(), reference.to_owned());
    let cut = reference.find(['?', '#']).unwrap_or(reference.len());
    match css_urls::resolve(ctx.static_root, base_dir, &reference[..cut]) {
        Resolved::File(target) if stack.contains(&target) || stack.len() > MAX_DEPTH => {
            Err(ReferenceError::ImportCycle {
                file,
                line,
                column,
                url,
            })
        }
        Resolved::File(target) => Ok(target),
        Resolved::Missing(path) => Err(ReferenceError::Missing {
            file,
            line,
            column,
            url,
            path,
        }),
        Resolved::Outside => Err(ReferenceError::Outside {
            file,
            line,
            column,
            url,
        }),
    }
}

/// The imported `code` inside the `@media`, `@supports` and `@layer` blocks its
/// `@import` asks for, printed for the browser `targets` (so `min-width` stays `min-width`
/// where range syntax is not supported), and the column `code` starts at.
fn wrap(
    import: &ImportRule<'_>,
    mut code: String,
    targets: Targets,
) -> Result<(String, usize), PrinterError> {
    let (length, mut closers) = (code.len(), 0);
    let options = || PrinterOptions {
        minify: true,
        targets,
        ..PrinterOptions::default()
    };
    if !import.media.media_queries.is_empty() {
        let media = import.media.to_css_string(options())?;
        code = format!("@media {media}{{{code}}}");
        closers += 1;
    }
    if let Some(supports) = &import.supports {
        let condition = supports.to_css_string(options())?;
        code = format!("@supports {condition}{{{code}}}");
        closers += 1;
    }
    if let Some(layer) = &import.layer {
        let name = match layer {
            Some(name) => format!(" {}", name.to_css_string(options())?),
            None => String::new(),
        };
        code = format!("@layer{name}{{{code}}}");
        closers += 1;
    }
    let column = code.len() - length - closers;
    Ok((code, column))
}

/// How many lines `code` ends (where text appended to it starts).
fn lines(code: &str) -> usize {
    code.bytes().filter(|&b| b == b'\n').count()
}

fn map_error(source: SourceMapError) -> MinifyError {
    match source {
        SourceMapError::Css { file, message } => MinifyError::Other {
            file,
            message: format!("source map: {message}"),
        },
        other => MinifyError::Other {
            file: String::new(),
            message: other.to_string(),
        },
    }
}

fn printer_error(file: &str, source: PrinterError) -> MinifyError {
    MinifyError::Css {
        file: file.to_owned(),
        source: Box::new(source),
    }
}

/// Appends the names not in `names` yet.
pub(crate) fn add_unique(names: &mut Vec<String>, more: Vec<String>) {
    for name in more {
        if !names.contains(&name) {
            names.push(name);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_after_charset() {
        let found =
            leading_licence_comments("@charset \"UTF-8\";\n/*!\n * Lib v1\n */\n/* x */ a{}");
        assert_eq!(found, vec!["!\n * Lib v1\n "]);
        assert!(leading_licence_comments("/*! unterminated").is_empty());
    }
}
