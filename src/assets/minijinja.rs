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

use minijinja::value::{Rest, Value};
use minijinja::{Environment, ErrorKind};

use super::Assets;

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
