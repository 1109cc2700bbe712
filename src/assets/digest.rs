//! The helpers every other assets module shares, and which import none of them: content
//! hashes, SRI values, hashed file names and atomic writes.
//!
//! A bundle and every image or font it references are named by the sha256 of their bytes
//! (`a.b.<hash16>.css`, `logo.<hash16>.png`), tagged with a sha384 SRI value, and written
//! through a temporary file renamed into place, so a reader never sees half a file.
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
//!     mode: Mode::Production,
//! })?;
//! let report = assets.build(&["app.js"])?;
//! // `app.<16 hex digits of the sha256 of the minified bytes>.js`
//! assert_eq!(report.file.len(), "app.".len() + 16 + ".js".len());
//! assert!(report.integrity.starts_with("sha384-"));
//! # Ok(()) }
//! ```

use std::io::{self, Write};
use std::path::Path;

use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384};

/// Hex sha256 of `bytes`.
pub(crate) fn hex_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// `sha384-<base64>`, the SRI value of `bytes`.
pub(crate) fn integrity(bytes: &[u8]) -> String {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))
    )
}

/// Keeps `[A-Za-z0-9_-]`; anything else becomes `-`.
pub(crate) fn sanitize_stem(stem: &str) -> String {
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "bundle".to_owned()
    } else {
        cleaned
    }
}

/// `<stems>.<hash16>[.<extension>]`: the readable name followed by the first 16 hex
/// digits of the sha256 of `bytes`.
pub(crate) fn hashed_name(stems: &str, bytes: &[u8], extension: Option<&str>) -> String {
    name_for_digest(stems, &hex_digest(bytes), extension)
}

/// [`hashed_name`] for bytes whose [`hex_digest`] is `hash`.
pub(crate) fn name_for_digest(stems: &str, hash: &str, extension: Option<&str>) -> String {
    match extension {
        Some(extension) => format!("{stems}.{}.{extension}", &hash[..16]),
        None => format!("{stems}.{}", &hash[..16]),
    }
}

/// The name a copied file gets in the output directory: `<stem>.<hash16>.<ext>`, stem and
/// extension as in `source`'s name (sanitized). A CSS `url()` copy and a digested static
/// file of the same bytes and name get this one name, so they share one copy.
pub(crate) fn copy_name(source: &Path, bytes: &[u8]) -> String {
    copy_name_for_digest(source, &hex_digest(bytes))
}

/// [`copy_name`] for bytes whose sha256 (hex) is already known.
pub(crate) fn copy_name_for_digest(source: &Path, digest: &str) -> String {
    let stem = source
        .file_stem()
        .map(|s| sanitize_stem(&s.to_string_lossy()))
        .unwrap_or_else(|| sanitize_stem(""));
    let extension = source
        .extension()
        .map(|ext| sanitize_stem(&ext.to_string_lossy()));
    name_for_digest(&stem, digest, extension.as_deref())
}

/// Whether a file name carries a content digest as squall writes it:
/// `<stems>.<16 lowercase hex>[.<ext>]`, optionally with a `.br` or `.gz` sibling suffix.
pub(crate) fn is_content_hashed(name: &str) -> bool {
    let name = name
        .strip_suffix(".br")
        .or_else(|| name.strip_suffix(".gz"))
        .unwrap_or(name);
    name.split('.').skip(1).any(|part| {
        part.len() == 16
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether a file of this name is worth `.gz`/`.br` siblings: text and other formats
/// that are not compressed already (SVG, JSON, source maps, TrueType fonts, WebAssembly,
/// icons). Images such as PNG and JPEG, WOFF fonts, PDFs and archives are left alone.
pub(crate) fn compressible(name: &str) -> bool {
    const TYPES: &[&str] = &[
        "svg",
        "txt",
        "xml",
        "json",
        "map",
        "webmanifest",
        "html",
        "htm",
        "csv",
        "md",
        "mjs",
        "cjs",
        "ts",
        "wasm",
        "ttf",
        "otf",
        "eot",
        "ico",
        "bmp",
    ];
    Path::new(name)
        .extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| TYPES.iter().any(|t| t.eq_ignore_ascii_case(ext)))
}

/// Writes `dir/name` atomically unless a file is there already (a content-hashed name
/// that exists holds these bytes).
pub(crate) fn write_once(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    if dir.join(name).is_file() {
        return Ok(());
    }
    write_atomic(dir, name, bytes)
}

/// Writes `dir/name` atomically: a temporary file in `dir`, then a rename.
///
/// The file is created with mode 0666 less the process umask (0644 under the usual 022),
/// as `File::create` would, not tempfile's private 0600: a web server or CDN origin
/// running as another user must be able to read what `static-bundle` wrote.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // open(2) applies the umask to this mode.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data()?;
    tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_digests() {
        assert_eq!(
            hex_digest(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hashed_name("a.b", b"", Some("css")),
            "a.b.e3b0c44298fc1c14.css"
        );
        assert_eq!(
            hashed_name("LICENSE", b"", None),
            "LICENSE.e3b0c44298fc1c14"
        );
        assert_eq!(sanitize_stem("b c.d"), "b-c-d");
        assert_eq!(sanitize_stem(""), "bundle");
        assert!(integrity(b"x").starts_with("sha384-"));
        assert_eq!(
            copy_name(Path::new("img/my logo.PNG"), b""),
            "my-logo.e3b0c44298fc1c14.PNG"
        );
        assert!(compressible("a/icon.SVG") && !compressible("logo.png"));
    }

    #[test]
    fn content_hashed_names() {
        for name in [
            "a.b.0123456789abcdef.js",
            "a.0123456789abcdef.js.br",
            "logo.0123456789abcdef.png.gz",
            "x.0123456789abcdef",
        ] {
            assert!(is_content_hashed(name), "{name}");
        }
        for name in [
            "manifest.json",
            "0123456789abcdef.js",
            "a.0123456789ABCDEF.js",
            "a.0123456789abcde.js",
            ".tmp-abc",
            "",
        ] {
            assert!(!is_content_hashed(name), "{name}");
        }
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&dir.path().join("out"), "a.txt", b"one").unwrap();
        write_atomic(&dir.path().join("out"), "a.txt", b"two").unwrap();
        assert_eq!(std::fs::read(dir.path().join("out/a.txt")).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_get_0666_less_the_umask() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        // What the umask allows, seen on a file made the ordinary way.
        std::fs::File::create(dir.path().join("plain")).unwrap();
        let expected = std::fs::metadata(dir.path().join("plain"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        write_atomic(dir.path(), "a.txt", b"one").unwrap();
        let mode = std::fs::metadata(dir.path().join("a.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, expected, "{mode:o} != {expected:o}");
    }
}
