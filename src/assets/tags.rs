//! The HTML a template gets for a bundle: a `<link rel="stylesheet">` or a `<script>`
//! tag, its URL escaped for an attribute, with SRI `integrity` and `crossorigin` when
//! asked.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("app.js"), "var app = 1;")?;
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Debug,
//! })?;
//! assert!(assets.tags(&["app.js"])?.starts_with(r#"<script src="/static/app.js?v="#));
//! # Ok(()) }
//! ```

use super::Kind;

/// `value` escaped for a double-quoted HTML attribute.
fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// The tag for a bundle of `kind` at `url`, with `integrity` and `crossorigin` if given.
pub(crate) fn tag(kind: Kind, url: &str, integrity: Option<&str>, crossorigin: bool) -> String {
    let mut attrs = String::new();
    if let Some(integrity) = integrity {
        attrs.push_str(&format!(" integrity=\"{integrity}\""));
    }
    if crossorigin {
        attrs.push_str(" crossorigin=\"anonymous\"");
    }
    let url = escape_attr(url);
    match kind {
        Kind::Css => format!("<link rel=\"stylesheet\" href=\"{url}\"{attrs}>"),
        Kind::Js => format!("<script src=\"{url}\"{attrs}></script>"),
        Kind::Module => format!("<script type=\"module\" src=\"{url}\"{attrs}></script>"),
    }
}

/// A `<link rel="modulepreload">` for a chunk an ES module bundle imports statically.
pub(crate) fn modulepreload(url: &str, crossorigin: bool) -> String {
    let crossorigin = if crossorigin {
        " crossorigin=\"anonymous\""
    } else {
        ""
    };
    format!(
        "<link rel=\"modulepreload\" href=\"{}\"{crossorigin}>",
        escape_attr(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_escape_urls() {
        let t = tag(Kind::Js, "/a\"b.js", Some("sha384-x"), true);
        assert_eq!(
            t,
            "<script src=\"/a&quot;b.js\" integrity=\"sha384-x\" crossorigin=\"anonymous\"></script>"
        );
    }
}
