//! The `.gz` and `.br` siblings of a bundle, which the service from
//! [`serve_immutable`](super::serve_immutable) sends to clients that accept them.
//!
//! Both are compressed at once (on rayon's pool), each written atomically and only when
//! not there yet. `static-bundle` writes them before it reports; at run time they are
//! written on a background thread, so the first page need not wait for brotli.
//!
//! The settings follow the bundle's size, so that a big bundle does not take minutes:
//!
//! - brotli's window is the smallest that holds the whole bundle (10 to 24 bits, as the
//!   `brotli` CLI picks it), and its quality is [`BuildOptions::brotli_quality`] (default
//!   [`DEFAULT_BROTLI_QUALITY`], 11) up to [`BROTLI_FULL_QUALITY_UP_TO`] bytes (4 MiB)
//!   and at most 9 above: quality 10 and 11 spend some 2.5 µs per byte, most of a minute
//!   on the 18 MB that a 50 MB script minifies to, where 9 takes 3 s;
//! - gzip is at the best level (9).
//!
//! [`BuildOptions::brotli_quality`]: super::BuildOptions::brotli_quality
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

/// The largest bundle (in bytes) compressed at the full brotli quality asked for; bigger
/// ones get at most quality 9 (quality 10 and 11 spend some 2.5 µs per byte: most of a
/// minute on an 18 MB bundle, where 9 takes 3 s).
pub const BROTLI_FULL_QUALITY_UP_TO: usize = 4 << 20;

/// Brotli's highest quality for bundles over [`BROTLI_FULL_QUALITY_UP_TO`].
const LARGE_QUALITY: u32 = 9;

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
/// there already (brotli at most at `quality`), both at once; returns their sizes.
fn precompress(dir: &Path, name: &str, bytes: &[u8], quality: u32) -> io::Result<(u64, u64)> {
    let (gz, br) = rayon::join(
        || sibling(dir, &format!("{name}.gz"), || gzip(bytes)),
        || sibling(dir, &format!("{name}.br"), || brotli(bytes, quality)),
    );
    Ok((gz?, br?))
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

/// Brotli's quality and window (log2 of its size) for `len` bytes, the quality at most
/// `quality`.
fn brotli_settings(len: usize, quality: u32) -> (u32, u32) {
    let quality = if len <= BROTLI_FULL_QUALITY_UP_TO {
        quality
    } else {
        quality.min(LARGE_QUALITY)
    };
    // The window holds 2^bits - 16 bytes.
    let mut bits = 10;
    while bits < 24 && (1usize << bits) - 16 < len {
        bits += 1;
    }
    (quality, bits)
}

/// Brotli with [`brotli_settings`].
fn brotli(bytes: &[u8], quality: u32) -> io::Result<Vec<u8>> {
    let (quality, window) = brotli_settings(bytes.len(), quality);
    let params = brotli::enc::BrotliEncoderParams {
        quality: quality as i32,
        lgwin: window as i32,
        size_hint: bytes.len(),
        ..brotli::enc::BrotliEncoderParams::default()
    };
    let mut out = Vec::with_capacity(bytes.len() / 4);
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brotli_settings_follow_the_size() {
        // The window holds the whole bundle, as the brotli CLI picks it, from 10 to 24 bits.
        assert_eq!(brotli_settings(100, 11), (11, 10));
        assert_eq!(brotli_settings(300_000, 11), (11, 19));
        assert_eq!(brotli_settings(BROTLI_FULL_QUALITY_UP_TO, 11), (11, 23));
        assert_eq!(brotli_settings(BROTLI_FULL_QUALITY_UP_TO, 4), (4, 23));
        // Past 4 MiB quality 10 and 11 would take most of a minute on a big bundle.
        assert_eq!(brotli_settings(BROTLI_FULL_QUALITY_UP_TO + 1, 11), (9, 23));
        assert_eq!(brotli_settings(50 << 20, 11), (9, 24));
        assert_eq!(brotli_settings(50 << 20, 5), (5, 24));
    }

    #[test]
    fn a_small_bundle_gets_brotli_at_the_quality_asked() {
        let bytes: Vec<u8> = (0..2_000u32)
            .flat_map(|i| format!("var v{i} = f({}, \"s{}\");\n", i % 97, i % 13).into_bytes())
            .collect();
        let ours = brotli(&bytes, 11).unwrap();
        let mut best = Vec::new();
        let params = brotli::enc::BrotliEncoderParams {
            quality: 11,
            lgwin: 24,
            ..brotli::enc::BrotliEncoderParams::default()
        };
        brotli::BrotliCompress(&mut &bytes[..], &mut best, &params).unwrap();
        assert!(
            ours.len() * 100 <= best.len() * 101,
            "{} vs {}",
            ours.len(),
            best.len()
        );
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &ours[..], &mut decoded).unwrap();
        assert_eq!(decoded, bytes);
    }

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
