//! Source maps for production bundles: every minified script and stylesheet bundle gets a
//! v3 map, `<bundle>.map` next to it, that maps each part back to its own source file.
//!
//! Scripts map through oxc's code generator (one map per file, joined at the line each
//! file starts in the bundle); stylesheets through lightningcss, `@import`ed sheets
//! included. The maps carry the sources' text (`sourcesContent`), so a browser or an error
//! tracker needs nothing else. How they are published is [`SourceMaps`]: a
//! `sourceMappingURL` comment (the default), hidden (maps written, no comment) or off.
//! Debug mode writes no maps: the files served are the sources.
//!
//! The bundle's name hashes the minified code, the map (when one is written) and whether
//! the comment is there, so a source change that moves code without changing the output
//! still gets a new name and a fresh map. The comment itself names `<bundle>.map` relative
//! to the bundle, so it is right under any prefix or CDN and follows from the name.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, BuildOptions, Mode, SourceMaps};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("a.js"), "function greet(name) {\n  return 'hi ' + name;\n}\n")?;
//! let config = AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Production,
//! };
//! let assets = Assets::open(config.clone(), BuildOptions::default())?;
//! let report = assets.build(&["a.js"])?;
//! let map = report.source_map.clone().expect("a map");
//! assert_eq!(map, format!("{}.map", report.file));
//! let js = std::fs::read_to_string(dir.path().join("combined").join(&report.file))?;
//! assert!(js.ends_with(&format!("//# sourceMappingURL={map}\n")), "{js}");
//! let json = std::fs::read_to_string(dir.path().join("combined").join(&map))?;
//! assert!(json.contains("\"sources\":[\"a.js\"]"), "{json}");
//!
//! let hidden = Assets::open(config, BuildOptions::default().source_maps(SourceMaps::Hidden))?;
//! let report = hidden.build(&["a.js"])?;
//! let js = std::fs::read_to_string(dir.path().join("combined").join(&report.file))?;
//! assert!(!js.contains("sourceMappingURL") && report.source_map.is_some());
//! # Ok(()) }
//! ```

use std::str::FromStr;

use super::bundle::Kind;

/// How production bundles publish their source maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SourceMaps {
    /// Write `<bundle>.map` and end the bundle with a `sourceMappingURL` comment naming
    /// it (relative, so it resolves next to the bundle under any prefix): the default.
    #[default]
    Comment,
    /// Write `<bundle>.map` but no comment: for error trackers that are given the maps,
    /// while browsers' developer tools do not fetch them.
    Hidden,
    /// Write no maps.
    Off,
}

impl SourceMaps {
    /// Whether maps are written at all.
    pub fn writes(self) -> bool {
        !matches!(self, SourceMaps::Off)
    }

    /// The name used on the command line (`comment`, `hidden`, `off`).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceMaps::Comment => "comment",
            SourceMaps::Hidden => "hidden",
            SourceMaps::Off => "off",
        }
    }
}

impl std::fmt::Display for SourceMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceMaps {
    type Err = SourceMapError;

    /// `comment`, `hidden` or `off`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "comment" => Ok(SourceMaps::Comment),
            "hidden" => Ok(SourceMaps::Hidden),
            "off" => Ok(SourceMaps::Off),
            _ => Err(SourceMapError::UnknownMode {
                given: s.to_owned(),
            }),
        }
    }
}

/// What can go wrong with source maps.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceMapError {
    /// A publishing mode other than `comment`, `hidden` or `off`.
    #[error("source maps {given:?}: expected comment, hidden or off")]
    UnknownMode {
        /// The mode as given.
        given: String,
    },
    /// Building a stylesheet's map failed.
    #[error("{file}: source map: {message}")]
    Css {
        /// The stylesheet (or bundle) whose map failed.
        file: String,
        /// What the map library said.
        message: String,
    },
}

/// One script's map, as oxc's code generator made it.
pub(crate) type JsMap = oxc_sourcemap::SourceMap<'static>;

/// The map of a script bundle: each part's map placed at the line the part starts on.
pub(crate) fn join_js(parts: &[(Option<JsMap>, u32)]) -> String {
    let present: Vec<(&JsMap, u32)> = parts
        .iter()
        .filter_map(|(map, line)| map.as_ref().map(|map| (map, *line)))
        .collect();
    oxc_sourcemap::ConcatSourceMapBuilder::from_sourcemaps(&present)
        .into_sourcemap()
        .to_json_string()
}

/// A stylesheet's map (lightningcss's map type), mapping generated text that starts at
/// line 0, column 0.
pub(crate) struct CssMap(parcel_sourcemap::SourceMap);

impl std::fmt::Debug for CssMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CssMap")
            .field("sources", self.0.get_sources())
            .finish_non_exhaustive()
    }
}

impl CssMap {
    /// An empty map for the sheet `file` (source index 0) whose text is `source`.
    pub fn for_sheet(file: &str, source: &str) -> Result<CssMap, SourceMapError> {
        let mut map = parcel_sourcemap::SourceMap::new("/");
        let index = map.add_source(file);
        map.set_source_content(index as usize, source)
            .map_err(|e| css_error(file, e))?;
        Ok(CssMap(map))
    }

    /// The map lightningcss's printer writes into.
    pub fn printer_map(&mut self) -> &mut parcel_sourcemap::SourceMap {
        &mut self.0
    }

    /// Places `piece` (the map of text appended at `line`, shifted right by `column` on
    /// its first line) into this map. No other piece maps text on the lines it covers.
    pub fn append(
        into: &mut Option<CssMap>,
        file: &str,
        line: usize,
        column: usize,
        piece: Option<CssMap>,
    ) -> Result<(), SourceMapError> {
        let Some(mut piece) = piece else {
            return Ok(());
        };
        if column > 0 {
            piece
                .0
                .offset_columns(0, 0, column as i64)
                .map_err(|e| css_error(file, e))?;
        }
        match into {
            None if line == 0 => *into = Some(piece),
            None => {
                let mut map = parcel_sourcemap::SourceMap::new("/");
                map.add_sourcemap(&mut piece.0, line as i64)
                    .map_err(|e| css_error(file, e))?;
                *into = Some(CssMap(map));
            }
            Some(map) => map
                .0
                .add_sourcemap(&mut piece.0, line as i64)
                .map_err(|e| css_error(file, e))?,
        }
        Ok(())
    }

    /// The v3 JSON of a bundle whose parts (with their maps) start on `lines`.
    pub fn join(
        pieces: Vec<Option<CssMap>>,
        lines: &[u32],
    ) -> Result<Option<String>, SourceMapError> {
        let mut map = None;
        for (piece, line) in pieces.into_iter().zip(lines) {
            CssMap::append(&mut map, "bundle", *line as usize, 0, piece)?;
        }
        map.map(|mut map| map.0.to_json(None).map_err(|e| css_error("bundle", e)))
            .transpose()
    }
}

fn css_error(file: &str, error: impl std::fmt::Display) -> SourceMapError {
    SourceMapError::Css {
        file: file.to_owned(),
        message: error.to_string(),
    }
}

/// What a bundle becomes once its map is settled: the bytes to write, its name, and the
/// map's name and JSON.
pub(crate) struct Published {
    /// The file's bytes: the code, then the comment if any.
    pub bytes: Vec<u8>,
    /// The bundle's name.
    pub name: String,
    /// `<name>.map` and its JSON, when a map is written.
    pub map: Option<(String, String)>,
}

/// Names the bundle (see the module docs for what the hash covers) and adds the comment.
pub(crate) fn publish(
    code: String,
    map: Option<String>,
    mode: SourceMaps,
    kind: Kind,
    name_for: impl FnOnce(&[u8]) -> String,
) -> Published {
    let Some(json) = map.filter(|_| mode.writes()) else {
        return Published {
            name: name_for(code.as_bytes()),
            bytes: code.into_bytes(),
            map: None,
        };
    };
    let mut hashed = Vec::with_capacity(code.len() + json.len() + 16);
    hashed.extend_from_slice(code.as_bytes());
    hashed.extend_from_slice(b"\n");
    hashed.extend_from_slice(json.as_bytes());
    hashed.extend_from_slice(b"\n");
    hashed.extend_from_slice(mode.as_str().as_bytes());
    let name = name_for(&hashed);
    let map_name = format!("{name}.map");
    let mut bytes = code.into_bytes();
    if mode == SourceMaps::Comment {
        let comment = match kind {
            Kind::Css => format!("/*# sourceMappingURL={map_name} */\n"),
            _ => format!("//# sourceMappingURL={map_name}\n"),
        };
        bytes.extend_from_slice(comment.as_bytes());
    }
    Published {
        bytes,
        name,
        map: Some((map_name, json)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for mode in [SourceMaps::Comment, SourceMaps::Hidden, SourceMaps::Off] {
            assert_eq!(mode.as_str().parse::<SourceMaps>().unwrap(), mode);
        }
        let err = "inline".parse::<SourceMaps>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "source maps \"inline\": expected comment, hidden or off"
        );
    }

    #[test]
    fn the_name_covers_map_and_mode_not_the_comment() {
        let name = |bytes: &[u8]| super::super::digest::hashed_name("a", bytes, Some("js"));
        let shown = publish(
            "x;\n".into(),
            Some("{}".into()),
            SourceMaps::Comment,
            Kind::Js,
            name,
        );
        let again = publish(
            "x;\n".into(),
            Some("{}".into()),
            SourceMaps::Comment,
            Kind::Js,
            name,
        );
        let hidden = publish(
            "x;\n".into(),
            Some("{}".into()),
            SourceMaps::Hidden,
            Kind::Js,
            name,
        );
        let moved = publish(
            "x;\n".into(),
            Some("{\"a\":1}".into()),
            SourceMaps::Comment,
            Kind::Js,
            name,
        );
        let off = publish(
            "x;\n".into(),
            Some("{}".into()),
            SourceMaps::Off,
            Kind::Js,
            name,
        );
        assert_eq!(shown.name, again.name);
        assert_ne!(shown.name, hidden.name);
        assert_ne!(shown.name, moved.name);
        assert_eq!(off.name, name(b"x;\n"));
        assert!(off.map.is_none() && off.bytes == b"x;\n");
        let comment = format!("x;\n//# sourceMappingURL={}.map\n", shown.name);
        assert_eq!(String::from_utf8(shown.bytes).unwrap(), comment);
        assert_eq!(hidden.bytes, b"x;\n");
    }
}
