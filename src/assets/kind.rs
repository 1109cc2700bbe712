//! [`Kind`]: what a bundle holds, by the extension of its files: stylesheets (`.css`),
//! classic scripts (`.js`) or an ES module entry (`.mjs`; TypeScript and JSX, `.ts`,
//! `.mts`, `.tsx` and `.jsx`, are module entries too).
//!
//! ```
//! use squall::assets::Kind;
//! assert_eq!(Kind::of("css/a.css"), Some(Kind::Css));
//! assert_eq!(Kind::of("js/app.mjs"), Some(Kind::Module));
//! assert_eq!(Kind::of("js/app.tsx"), Some(Kind::Module));
//! assert_eq!(Kind::Module.extension(), "js"); // what the bundle is written as
//! assert_eq!(Kind::of("img/logo.png"), None);
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The kind of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Kind {
    /// Stylesheets.
    Css,
    /// Classic scripts.
    Js,
    /// An ES module entry (`.mjs`, or TypeScript or JSX: `.ts`, `.mts`, `.tsx`, `.jsx`),
    /// bundled alone with what it imports.
    Module,
}

impl Kind {
    /// The extension of the bundle written, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Css => "css",
            Kind::Js | Kind::Module => "js",
        }
    }

    /// The kind of a file name, by extension.
    pub fn of(file: &str) -> Option<Kind> {
        let ext = Path::new(file).extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("css") {
            Some(Kind::Css)
        } else if ext.eq_ignore_ascii_case("js") {
            Some(Kind::Js)
        } else if ["mjs", "mts", "ts", "tsx", "jsx"]
            .iter()
            .any(|m| ext.eq_ignore_ascii_case(m))
        {
            Some(Kind::Module)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Module => "module",
            kind => kind.extension(),
        })
    }
}
