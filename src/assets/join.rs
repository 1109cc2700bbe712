//! Joining the parts of a classic bundle: scripts keep their own strictness, and every
//! part starts a line of its own, so a part's source map needs only a line offset.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("a.js"), "'use strict'; go();")?;
//! std::fs::write(dir.path().join("b.js"), "var loose = 1;")?;
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Production,
//! })?;
//! let report = assets.build(&["a.js", "b.js"])?;
//! let js = std::fs::read_to_string(dir.path().join("combined").join(&report.file))?;
//! assert!(js.starts_with("(function(){\n\"use strict\";go()"), "{js}");
//! # Ok(()) }
//! ```

use super::bundle::{BundleError, Kind};
use super::minify::ScriptShape;

/// One script to join: its name, its code and its shape.
pub(crate) struct Script<'a> {
    /// The file, as given.
    pub file: &'a str,
    /// Its code.
    pub code: &'a str,
    /// Its shape.
    pub shape: &'a ScriptShape,
}

/// Joins scripts into one, each keeping its own strictness, as separate `<script>` tags
/// would run them.
///
/// A `"use strict"` directive at the top of a script makes all of it strict, and further
/// down it is an ordinary string. So when every file is strict (or none is) they are joined
/// as they are: the first file's directive covers the bundle, as each file's covered
/// itself. When they mix, the bundle stays non-strict at top level and each strict file
/// runs as `(function(){"use strict";…}).call(this)`, which means what it meant at top
/// level as long as it declares no top-level name (those would become locals) and reads no
/// global `arguments`; a strict file that does is refused
/// ([`BundleError::Strictness`]) rather than changed.
///
/// Two differences from separate tags remain, as with any joined bundle: an exception
/// thrown by one file stops the files after it, and top-level `var`s and functions are
/// hoisted to the start of the bundle rather than of their own file.
///
/// Also returns the line each script's own code starts on.
pub(crate) fn join_scripts(scripts: &[Script<'_>]) -> Result<(String, Vec<u32>), BundleError> {
    let strict = scripts.iter().filter(|s| s.shape.strict).count();
    if strict == 0 || strict == scripts.len() {
        let parts: Vec<&str> = scripts.iter().map(|s| s.code).collect();
        return Ok(join(Kind::Js, &parts));
    }
    let mut shifts = Vec::with_capacity(scripts.len());
    let mut wrapped = Vec::with_capacity(scripts.len());
    for script in scripts {
        if !script.shape.strict {
            wrapped.push(script.code.to_owned());
            shifts.push(0);
            continue;
        }
        if !script.shape.wrappable() {
            let mut globals = script.shape.globals.clone();
            if script.shape.global_arguments {
                globals.push("arguments".to_owned());
            }
            return Err(BundleError::Strictness {
                file: script.file.to_owned(),
                globals,
            });
        }
        // The code starts a line (so its map needs only a line offset); the newline after
        // it ends a trailing `//` comment.
        wrapped.push(format!("(function(){{\n{}\n}}).call(this);", script.code));
        shifts.push(1);
    }
    let parts: Vec<&str> = wrapped.iter().map(String::as_str).collect();
    let (code, mut lines) = join(Kind::Js, &parts);
    for (line, shift) in lines.iter_mut().zip(shifts) {
        *line += shift;
    }
    Ok((code, lines))
}

/// The parts joined, each starting a line, and the line each starts on.
pub(crate) fn join(kind: Kind, parts: &[&str]) -> (String, Vec<u32>) {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 2).sum());
    let mut lines = Vec::with_capacity(parts.len());
    let mut line = 0u32;
    for part in parts {
        lines.push(line);
        let trimmed = part.trim_end();
        line += trimmed.bytes().filter(|&b| b == b'\n').count() as u32 + 1;
        out.push_str(trimmed);
        match kind {
            // A newline ends a trailing `//` comment; `;` ends a statement left open.
            Kind::Js if !trimmed.is_empty() && !trimmed.ends_with(';') => {
                out.push_str("\n;\n");
                line += 1;
            }
            _ => out.push('\n'),
        }
    }
    (out, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_join_closes_statements() {
        let (code, lines) = join(Kind::Js, &["a()", "b();", "/*\n*/c"]);
        assert_eq!(code, "a()\n;\nb();\n/*\n*/c\n;\n");
        assert_eq!(lines, [0, 2, 3]);
        assert_eq!(join(Kind::Js, &["x // c"]).0, "x // c\n;\n");
    }
}
