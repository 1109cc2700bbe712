//! The `static(...)` and `static_url(...)` template functions for minijinja
//! ([`Assets::register`]); [`precompile`](super::precompile) builds every bundle they
//! name ahead of time.
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

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, ErrorKind, State};

use super::Assets;

fn template_error(function: &str, error: super::Error) -> minijinja::Error {
    minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("{function}(): {error}"),
    )
    .with_source(error)
}

/// The file names given to `function`: at least one, each a string; otherwise an error
/// that says which argument is what.
fn file_names(function: &str, args: &[Value]) -> Result<Vec<String>, minijinja::Error> {
    if args.is_empty() {
        return Err(minijinja::Error::new(
            ErrorKind::MissingArgument,
            format!("{function}() needs at least one file name, as in {function}(\"js/app.js\")"),
        ));
    }
    args.iter()
        .enumerate()
        .map(|(index, arg)| match arg.as_str() {
            Some(name) if arg.kind() == ValueKind::String => Ok(name.to_owned()),
            _ => Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "{function}(): argument {} is {}, not a string naming a file",
                    index + 1,
                    describe(arg)
                ),
            )),
        })
        .collect()
}

/// `undefined`, `none`, or the kind and the value: `a number (1)`.
fn describe(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => "undefined".to_owned(),
        ValueKind::None => "none".to_owned(),
        ValueKind::Number => format!("a number ({value})"),
        ValueKind::Bool => format!("a boolean ({value})"),
        kind => format!("a {kind} ({value})"),
    }
}

impl Assets {
    /// Adds `static(*files)` (safe HTML tags; the first call of a render also brings the
    /// live reload script when [`LiveReload`](super::LiveReload) runs) and `static_url(*files)` (the URL) to `env`.
    /// An error (no file named, an argument that is not a string, a missing file, a bad
    /// path, a syntax error…) becomes a template error that says which.
    pub fn register(&self, env: &mut Environment<'_>) {
        let assets = self.clone();
        env.add_function("static", move |state: &State, args: Rest<Value>| {
            let files = file_names("static", &args)?;
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            assets
                .tags(&files)
                .map(|tags| Value::from_safe_string(assets.with_live_reload(state, tags)))
                .map_err(|e| template_error("static", e))
        });
        let assets = self.clone();
        env.add_function("static_url", move |args: Rest<Value>| {
            let files = file_names("static_url", &args)?;
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            assets
                .url(&files)
                .map(Value::from)
                .map_err(|e| template_error("static_url", e))
        });
    }
}
