//! The `static(...)` and `static_url(...)` template functions for minijinja, and the
//! template scan `static-bundle` runs to precompile every bundle the templates use.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! # let dir = tempfile::tempdir()?;
//! # std::fs::create_dir_all(dir.path().join("js"))?;
//! # std::fs::write(dir.path().join("js/app.js"), "window.app = 1;")?;
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Debug,
//! })?;
//! let mut env = minijinja::Environment::new();
//! assets.register(&mut env);
//! env.add_template("page", r#"{{ static("js/app.js") }} {{ static_url("js/app.js") }}"#)?;
//! let html = env.get_template("page")?.render(())?;
//! assert!(html.starts_with(r#"<script src="/static/js/app.js?v="#), "{html}");
//!
//! env.add_template("bad", r#"{{ static("js/missing.js") }}"#)?;
//! let err = env.get_template("bad")?.render(()).unwrap_err();
//! assert!(err.to_string().contains("js/missing.js: no such file"), "{err}");
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use minijinja::value::{Rest, Value};
use minijinja::{Environment, ErrorKind};
use serde::Serialize;

use super::manifest::{self, Manifest};
use super::{Assets, BundleReport};

/// What can go wrong scanning templates or precompiling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Walking or reading the templates failed.
    #[error("{path}: {message}")]
    Templates {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Writing the manifest or pruning failed.
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
}

fn template_error(function: &str, error: super::Error) -> minijinja::Error {
    minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("{function}(): {error}"),
    )
    .with_source(error)
}

impl Assets {
    /// Adds `static(*files)` (safe HTML tags) and `static_url(*files)` (the URL) to `env`.
    /// An error (missing file, bad path, syntax error…) becomes a template error naming
    /// the file.
    pub fn register(&self, env: &mut Environment<'_>) {
        let assets = self.clone();
        env.add_function("static", move |files: Rest<String>| {
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            assets
                .tags(&files)
                .map(Value::from_safe_string)
                .map_err(|e| template_error("static", e))
        });
        let assets = self.clone();
        env.add_function("static_url", move |files: Rest<String>| {
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            assets
                .url(&files)
                .map(Value::from)
                .map_err(|e| template_error("static_url", e))
        });
    }
}

/// A `static(...)`/`static_url(...)` call found in a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Call {
    /// The template file.
    pub template: PathBuf,
    /// Line of the call, from 1.
    pub line: usize,
    /// The literal arguments (empty when the call has non-literal ones).
    pub files: Vec<String>,
    /// The call's text as written (up to 200 characters).
    pub text: String,
}

/// Every call found in a templates directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Scan {
    /// Calls with string-literal arguments only: these can be precompiled.
    pub literal: Vec<Call>,
    /// Calls with any other argument (a variable, an expression): reported, not built.
    pub non_literal: Vec<Call>,
}

/// Finds every `static(...)` and `static_url(...)` call in the files under `dir`.
pub fn scan_templates(dir: &Path) -> Result<Scan, Error> {
    let mut scan = Scan::default();
    let mut paths = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Templates {
            path: e.path().unwrap_or(dir).to_owned(),
            message: e.to_string(),
        })?;
        if entry.file_type().is_file() {
            paths.push(entry.into_path());
        }
    }
    for path in paths {
        let bytes = std::fs::read(&path).map_err(|e| Error::Templates {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let Ok(text) = String::from_utf8(bytes) else {
            tracing::debug!(path = %path.display(), "skipping a file that is not UTF-8");
            continue;
        };
        scan_text(&path, &text, &mut scan);
    }
    Ok(scan)
}

/// Scans one template's text.
fn scan_text(path: &Path, text: &str, scan: &mut Scan) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &text[at..];
        let Some(found) = rest.find("static") else {
            break;
        };
        let start = at + found;
        let before_ok = start == 0 || {
            let prev = bytes[start - 1];
            !(prev.is_ascii_alphanumeric() || prev == b'_' || prev == b'.')
        };
        let after = &text[start + "static".len()..];
        let open = if after.starts_with("_url(") {
            Some("static_url(".len())
        } else if after.starts_with('(') {
            Some("static(".len())
        } else {
            None
        };
        at = start + "static".len();
        let (true, Some(open)) = (before_ok, open) else {
            continue;
        };
        let args_start = start + open;
        let line = text[..start].matches('\n').count() + 1;
        let (files, end) = parse_args(&text[args_start..]);
        let end_abs = args_start + end;
        let mut shown = text[start..end_abs].to_owned();
        if shown.len() > 200 {
            let mut cut = 200;
            while !shown.is_char_boundary(cut) {
                cut -= 1;
            }
            shown.truncate(cut);
        }
        let call = Call {
            template: path.to_owned(),
            line,
            files: files.clone().unwrap_or_default(),
            text: shown,
        };
        match files {
            Some(files) if !files.is_empty() => scan.literal.push(call),
            _ => scan.non_literal.push(call),
        }
        at = end_abs.max(at);
    }
}

/// Parses `'a', "b")`: `Some(files)` when every argument is a string literal, and the
/// length consumed (through the `)`, or to the end of the line when it is not found).
fn parse_args(text: &str) -> (Option<Vec<String>>, usize) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut files = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].1.is_whitespace() {
            *i += 1;
        }
    };
    let give_up = || {
        let end = text
            .find(')')
            .map(|p| p + 1)
            .or_else(|| text.find('\n'))
            .unwrap_or(text.len());
        (None, end)
    };
    loop {
        skip_ws(&mut i);
        let Some(&(_, c)) = chars.get(i) else {
            return give_up();
        };
        if c == ')' {
            return (Some(files), chars[i].0 + 1);
        }
        if c != '"' && c != '\'' {
            return give_up();
        }
        let quote = c;
        i += 1;
        let mut value = String::new();
        loop {
            let Some(&(_, c)) = chars.get(i) else {
                return give_up();
            };
            i += 1;
            if c == '\\' {
                if let Some(&(_, escaped)) = chars.get(i) {
                    value.push(escaped);
                    i += 1;
                }
            } else if c == quote {
                break;
            } else {
                value.push(c);
            }
        }
        files.push(value);
        skip_ws(&mut i);
        match chars.get(i) {
            Some(&(pos, ')')) => return (Some(files), pos + 1),
            Some(&(_, ',')) => i += 1,
            _ => return give_up(),
        }
    }
}

/// One bundle that failed to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Failure {
    /// The bundle key (files joined with `,`).
    pub bundle: String,
    /// Where the first call for it is, `template:line`.
    pub found_at: String,
    /// The error, naming the file (and line:col).
    pub error: String,
}

/// What [`precompile`] did: `static-bundle`'s report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PrecompileReport {
    /// The bundles built, sorted by key.
    pub bundles: Vec<BundleReport>,
    /// The bundles that failed.
    pub failed: Vec<Failure>,
    /// Calls with non-literal arguments (not built).
    pub non_literal: Vec<Call>,
    /// The manifest written (none when a bundle failed: the previous one stays).
    pub manifest: Option<PathBuf>,
    /// Files removed by pruning.
    pub pruned: Vec<PathBuf>,
}

impl PrecompileReport {
    /// Whether everything was built and no call was left out.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.non_literal.is_empty()
    }
}

/// Scans `templates`, builds every bundle found (strictly, with `.gz`/`.br`), writes
/// `manifest.json` when all succeeded, then removes unreferenced files older than
/// `prune_older_than` if given. `progress(index, total, bundle_key)` runs before each
/// build.
pub fn precompile(
    assets: &Assets,
    templates: &Path,
    prune_older_than: Option<Duration>,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<PrecompileReport, Error> {
    let scan = scan_templates(templates)?;
    let mut bundles: std::collections::BTreeMap<String, &Call> = Default::default();
    for call in &scan.literal {
        let files: Vec<&str> = call.files.iter().map(String::as_str).collect();
        bundles.entry(Manifest::key(&files)).or_insert(call);
    }
    let mut report = PrecompileReport {
        non_literal: scan.non_literal.clone(),
        ..PrecompileReport::default()
    };
    let mut manifest = Manifest::default();
    let total = bundles.len();
    for (index, (key, call)) in bundles.iter().enumerate() {
        progress(index + 1, total, key);
        let files: Vec<&str> = call.files.iter().map(String::as_str).collect();
        match assets.build(&files) {
            Ok(built) => {
                manifest.insert(built.clone());
                report.bundles.push(built);
            }
            Err(error) => report.failed.push(Failure {
                bundle: key.clone(),
                found_at: format!("{}:{}", call.template.display(), call.line),
                error: error.to_string(),
            }),
        }
    }
    let output_dir = &assets.config().output_dir;
    if report.failed.is_empty() {
        manifest.version = 1;
        manifest.save(output_dir)?;
        report.manifest = Some(output_dir.join(manifest::FILE_NAME));
        if let Some(age) = prune_older_than {
            report.pruned = manifest.prune(output_dir, age)?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literal_and_other_calls() {
        let mut scan = Scan::default();
        let text = "{{ static('css/a.css', \"css/b.css\") }}\n{{ mystatic('x.css') }}\n\
                    {{ static_url(name) }} {{ static( 'js/a.js' , ) }}\n{{ static(";
        scan_text(Path::new("t.html"), text, &mut scan);
        let literal: Vec<_> = scan
            .literal
            .iter()
            .map(|c| (c.line, c.files.clone()))
            .collect();
        assert_eq!(
            literal,
            vec![
                (1, vec!["css/a.css".to_owned(), "css/b.css".to_owned()]),
                (3, vec!["js/a.js".to_owned()])
            ]
        );
        let other: Vec<_> = scan
            .non_literal
            .iter()
            .map(|c| (c.line, c.text.clone()))
            .collect();
        assert_eq!(
            other,
            vec![
                (3, "static_url(name)".to_owned()),
                (4, "static(".to_owned())
            ]
        );
    }
}
