//! The `.gz` and `.br` siblings of a bundle, which the service from
//! [`serve_immutable`](super::serve_immutable) sends to clients that accept them.
//!
//! Gzip at the best level and brotli at [`DEFAULT_BROTLI_QUALITY`] (11) unless
//! [`BuildOptions::brotli_quality`](super::BuildOptions::brotli_quality) says otherwise,
//! each written atomically and only when not there yet. `static-bundle` writes them before it reports; at run time they are
//! written on a background thread, so the first page need not wait for brotli.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, BuildOptions, Mode, Precompression};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("app.js"), "var app = 1;")?;
//! let config = AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Production,
//! };
//! let report = Assets::new(config.clone())?.build(&["app.js"])?;
//! assert!(report.gzip.is_some() && report.brotli.is_some());
//! assert!(dir.path().join("combined").join(format!("{}.br", report.file)).is_file());
//!
//! let off = BuildOptions::default().precompression(Precompression::Off);
//! let report = Assets::open(config, off)?.build(&["app.js"])?;
//! assert_eq!((report.gzip, report.brotli), (None, None));
//! # Ok(()) }
//! ```

use std::io::{self, Write};
use std::path::Path;

use super::digest::write_atomic;

/// Brotli's quality unless set otherwise: 11, the best.
pub const DEFAULT_BROTLI_QUALITY: u32 = 11;

/// Whether builds write `.gz` and `.br` siblings next to each bundle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precompression {
    /// Write them (the default): by [`Assets::build`](super::Assets::build) before it
    /// returns, at run time on a background thread.
    #[default]
    On,
    /// Write none (for benchmarks, or when a CDN compresses).
    Off,
}

/// When one build writes the siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// Before the build returns (sizes in the report).
    Inline,
    /// On a background thread (at run time: the first page need not wait for brotli).
    Background,
    /// Not at all.
    Skip,
}

/// Writes the siblings of `dir/name` (whose bytes are `bytes`) as `when` says; returns
/// their sizes when written inline. `brotli_quality` above 11 counts as 11.
pub(crate) fn siblings(
    dir: &Path,
    name: &str,
    bytes: Vec<u8>,
    when: When,
    brotli_quality: u32,
) -> io::Result<Option<(u64, u64)>> {
    let quality = brotli_quality.min(DEFAULT_BROTLI_QUALITY);
    match when {
        When::Inline => precompress(dir, name, &bytes, quality).map(Some),
        When::Background => {
            let (dir, name) = (dir.to_owned(), name.to_owned());
            let spawned = std::thread::Builder::new()
                .name("squall-precompress".into())
                .spawn(move || {
                    if let Err(error) = precompress(&dir, &name, &bytes, quality) {
                        tracing::warn!(%error, file = %name, "writing .gz/.br siblings failed");
                    }
                });
            if let Err(error) = spawned {
                tracing::warn!(%error, "could not start the precompression thread");
            }
            Ok(None)
        }
        When::Skip => Ok(None),
    }
}

/// Writes `<name>.gz` and `<name>.br` next to `name` in `dir`, atomically, unless they are
/// there already (brotli at `quality`); returns their sizes.
fn precompress(dir: &Path, name: &str, bytes: &[u8], quality: u32) -> io::Result<(u64, u64)> {
    let gz = sibling(dir, &format!("{name}.gz"), || gzip(bytes))?;
    let br = sibling(dir, &format!("{name}.br"), || brotli(bytes, quality))?;
    Ok((gz, br))
}

/// The size of `dir/name`, writing it from `encode` first when it is not there.
fn sibling(
    dir: &Path,
    name: &str,
    encode: impl FnOnce() -> io::Result<Vec<u8>>,
) -> io::Result<u64> {
    match std::fs::metadata(dir.join(name)) {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        _ => {
            let encoded = encode()?;
            write_atomic(dir, name, &encoded)?;
            Ok(encoded.len() as u64)
        }
    }
}

/// Gzip at the best level.
fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::best(),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Brotli at `quality` (0–11), window 22.
fn brotli(bytes: &[u8], quality: u32) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 64 * 1024, quality, 22);
        writer.write_all(bytes)?;
        writer.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_are_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = b"var a = 1; ".repeat(100);
        let (gz, br) = siblings(dir.path(), "a.js", bytes.clone(), When::Inline, 11)
            .unwrap()
            .unwrap();
        assert!(gz < bytes.len() as u64 && br < bytes.len() as u64);
        std::fs::write(dir.path().join("b.js.gz"), b"kept").unwrap();
        let (gz, _) = siblings(dir.path(), "b.js", bytes, When::Inline, 11)
            .unwrap()
            .unwrap();
        assert_eq!(gz, 4, "an existing sibling is left as it is");
        assert_eq!(
            siblings(dir.path(), "c.js", Vec::new(), When::Skip, 11).unwrap(),
            None
        );
    }
}
