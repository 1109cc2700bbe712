//! Asset bundles against their peers, same input, same run (see benches/parts/assets.sh):
//!
//! - jQuery + lodash + d3: squall (combine, minify, hash, write; the build with `.gz`/`.br`
//!   timed apart) against `esbuild --minify` on the same concatenated input: time and gzip
//!   bytes.
//! - Bootstrap CSS: squall against the lightningcss CLI (same browser targets): time, bytes.
//! - A production `tags()` call for a built bundle (peer: the 1 µs goal).
//!
//! Usage: assets_bundle <node_modules dir>. Prints `METRIC` lines last.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use std::io::Write;

use squall::assets::{Assets, AssetsConfig, BuildOptions, Mode, Precompression};

const RUNS: usize = 7;

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

fn metric(name: &str, squall: f64, peer: f64, unit: &str) {
    println!(
        "METRIC {name} squall={squall:.3} peer={peer:.3} ratio={:.3} unit={unit}",
        squall / peer
    );
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
}

fn assets(root: &Path, out: &str, precompression: Precompression) -> Assets {
    Assets::open(
        AssetsConfig {
            static_dir: root.to_path_buf(),
            output_dir: root.join(out),
            url_prefix: "/static/".into(),
            cdn_prefix: Some("//cdn.example.com".into()),
            mode: Mode::Production,
        },
        BuildOptions::default().precompression(precompression),
    )
    .unwrap()
}

/// Gzip at the best level, as squall writes its `.gz` siblings.
fn gzip_len(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

fn time_command(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn main() {
    let modules = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/npm/node_modules"));
    let modules = modules
        .canonicalize()
        .unwrap_or_else(|_| panic!("{}: missing; run tests/assets_npm.sh", modules.display()));
    let bin = modules.join(".bin");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy(
        &modules.join("jquery/dist/jquery.js"),
        &root.join("js/jquery.js"),
    );
    copy(
        &modules.join("lodash/lodash.js"),
        &root.join("js/lodash.js"),
    );
    copy(&modules.join("d3/dist/d3.js"), &root.join("js/d3.js"));
    copy(
        &modules.join("bootstrap/dist/css/bootstrap.css"),
        &root.join("css/bootstrap.css"),
    );
    let js_files = ["js/jquery.js", "js/lodash.js", "js/d3.js"];

    // JS: squall.
    let mut squall_js = Vec::new();
    let mut report = None;
    for run in 0..=RUNS {
        let a = assets(root, &format!("out-js-{run}"), Precompression::Off);
        let start = Instant::now();
        let r = a.build(&js_files).unwrap();
        if run > 0 {
            squall_js.push(start.elapsed());
        }
        report = Some(r);
    }
    let report = report.unwrap();
    // The same build with its .gz/.br siblings written (squall's gzip is flate2's best).
    let start = Instant::now();
    let siblings = assets(root, "out-js-gz", Precompression::On)
        .build(&js_files)
        .unwrap();
    let with_siblings_ms = start.elapsed().as_secs_f64() * 1000.0;
    let (gz, br) = (siblings.gzip.unwrap(), siblings.brotli.unwrap());

    // JS: esbuild on the same concatenated input.
    let mut joined = String::new();
    for file in js_files {
        joined.push_str(&std::fs::read_to_string(root.join(file)).unwrap());
        joined.push_str("\n;\n");
    }
    let input = root.join("joined.js");
    std::fs::write(&input, &joined).unwrap();
    let esbuild_out = root.join("esbuild.min.js");
    let mut esbuild_js = Vec::new();
    for run in 0..=RUNS {
        let took = time_command(
            Command::new(bin.join("esbuild"))
                .arg(&input)
                .arg("--minify")
                .arg("--log-level=error")
                .arg(format!("--outfile={}", esbuild_out.display())),
        );
        if run > 0 {
            esbuild_js.push(took);
        }
    }
    let esbuild_bytes = std::fs::read(&esbuild_out).unwrap();
    let esbuild_gz = gzip_len(&esbuild_bytes) as f64;

    // CSS: squall.
    let mut squall_css = Vec::new();
    let mut css_report = None;
    for run in 0..=RUNS {
        let a = assets(root, &format!("out-css-{run}"), Precompression::Off);
        let start = Instant::now();
        let r = a.build(&["css/bootstrap.css"]).unwrap();
        if run > 0 {
            squall_css.push(start.elapsed());
        }
        css_report = Some(r);
    }
    let css_report = css_report.unwrap();

    // CSS: the lightningcss CLI, same targets.
    let css_out = root.join("lightningcss.min.css");
    let mut peer_css = Vec::new();
    for run in 0..=RUNS {
        let took = time_command(
            Command::new(bin.join("lightningcss"))
                .arg("--minify")
                .arg("--targets")
                .arg("safari >= 14, chrome >= 90, firefox >= 90, edge >= 90, ios_saf >= 14")
                .arg(root.join("css/bootstrap.css"))
                .arg("-o")
                .arg(&css_out),
        );
        if run > 0 {
            peer_css.push(took);
        }
    }
    let peer_css_bytes = std::fs::metadata(&css_out).unwrap().len() as f64;

    // static(): a production lookup for a built bundle.
    let a = assets(root, &format!("out-js-{RUNS}"), Precompression::Off);
    a.build(&js_files).unwrap();
    let css_files = ["css/bootstrap.css"];
    a.build(&css_files).unwrap();
    let mut sink = 0usize;
    for _ in 0..10_000 {
        sink += a.tags(&js_files).unwrap().len();
    }
    let calls = 1_000_000u32;
    let start = Instant::now();
    for _ in 0..calls {
        sink += std::hint::black_box(a.tags(std::hint::black_box(&js_files)))
            .unwrap()
            .len();
    }
    let tag_ns = start.elapsed().as_nanos() as f64 / f64::from(calls);
    let start = Instant::now();
    for _ in 0..calls {
        sink += std::hint::black_box(a.tags(std::hint::black_box(&css_files)))
            .unwrap()
            .len();
    }
    let tag_one_ns = start.elapsed().as_nanos() as f64 / f64::from(calls);
    let mut env = minijinja::Environment::new();
    a.register(&mut env);
    env.add_template(
        "t",
        r#"{{ static("js/jquery.js", "js/lodash.js", "js/d3.js") }}"#,
    )
    .unwrap();
    let template = env.get_template("t").unwrap();
    let renders = 100_000u32;
    let start = Instant::now();
    for _ in 0..renders {
        sink += template.render(()).unwrap().len();
    }
    let render_ns = start.elapsed().as_nanos() as f64 / f64::from(renders);
    assert!(sink > 0);

    println!(
        "js: {} -> {} bytes (esbuild {}), gzip {} (esbuild {}), brotli {}; with .gz/.br {:.1} ms",
        report.bytes_in,
        report.bytes_out,
        esbuild_bytes.len(),
        gz,
        esbuild_gz,
        br,
        with_siblings_ms
    );
    println!(
        "css: {} -> {} bytes (lightningcss CLI {})",
        css_report.bytes_in, css_report.bytes_out, peer_css_bytes
    );
    println!(
        "static(): tags() {tag_ns:.0} ns for 3 files, {tag_one_ns:.0} ns for 1; a whole minijinja render {render_ns:.0} ns"
    );
    metric("js_bundle_ms", median(squall_js), median(esbuild_js), "ms");
    metric("js_bundle_gzip_bytes", gz as f64, esbuild_gz, "bytes");
    metric("css_bundle_ms", median(squall_css), median(peer_css), "ms");
    metric(
        "css_bundle_bytes",
        css_report.bytes_out as f64,
        peer_css_bytes,
        "bytes",
    );
    metric("static_tag_ns", tag_ns, 1000.0, "ns");
}
