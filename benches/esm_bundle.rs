//! An ES module app bundled by squall (rolldown) against
//! `esbuild --bundle --minify --format=esm --splitting` on the same entry, same run (see
//! benches/parts/assets.sh): an entry that imports from `d3` and `lodash-es` (npm, ES
//! module sources) and loads one module with a dynamic `import()`. Time to build (median),
//! and the gzip bytes of every file written (each file gzipped at the best level, summed).
//!
//! Usage: esm_bundle <node_modules dir>. Prints `METRIC` lines last.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use squall::assets::{Assets, AssetsConfig, BuildOptions, Mode, Precompression};

const RUNS: usize = 7;

const APP: &str = "import { scaleLinear, extent, max } from 'd3';
import { debounce, chunk, sortBy } from 'lodash-es';
const data = sortBy([5, 3, 9, 1, 7], (x) => x);
const scale = scaleLinear().domain(extent(data)).range([0, 100]);
globalThis.out = [scale(max(data)), chunk(data, 2).length, typeof debounce(() => {}, 10)];
import('./chart.mjs').then((m) => { globalThis.path = m.draw(data); });
";

const CHART: &str = "import { line, curveMonotoneX } from 'd3';
export function draw(data) {
  return line().curve(curveMonotoneX)(data.map((v, i) => [i * 10, v]));
}
";

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

/// Gzip at the best level, as squall writes its `.gz` siblings.
fn gzip_len(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

/// The summed gzip sizes of the `.js` files in `dir`, and how many there are.
fn gzip_js(dir: &Path) -> (usize, usize) {
    let mut total = 0;
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "js") {
            total += gzip_len(&std::fs::read(&path).unwrap());
            count += 1;
        }
    }
    (total, count)
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
    for package in ["d3", "lodash-es", ".bin/esbuild"] {
        assert!(
            modules.join(package).exists(),
            "{}: missing; run tests/assets_npm.sh",
            modules.join(package).display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("js")).unwrap();
    std::fs::write(root.join("js/app.mjs"), APP).unwrap();
    std::fs::write(root.join("js/chart.mjs"), CHART).unwrap();
    std::os::unix::fs::symlink(&modules, root.join("node_modules")).unwrap();

    let mut squall = Vec::new();
    let mut squall_out = PathBuf::new();
    for run in 0..=RUNS {
        let out = root.join(format!("out-{run}"));
        let assets = Assets::open(
            AssetsConfig {
                static_dir: root.to_path_buf(),
                output_dir: out.clone(),
                url_prefix: "/static/".into(),
                cdn_prefix: None,
                mode: Mode::Production,
            },
            BuildOptions::default().precompression(Precompression::Off),
        )
        .unwrap();
        let start = Instant::now();
        assets.build(&["js/app.mjs"]).unwrap();
        if run > 0 {
            squall.push(start.elapsed());
        }
        squall_out = out;
    }

    let mut esbuild = Vec::new();
    let esbuild_out = root.join("esbuild-out");
    for run in 0..=RUNS {
        let _ = std::fs::remove_dir_all(&esbuild_out);
        let start = Instant::now();
        let out = Command::new(modules.join(".bin/esbuild"))
            .arg(root.join("js/app.mjs"))
            .args(["--bundle", "--minify", "--format=esm", "--splitting"])
            .arg("--log-level=error")
            .arg(format!("--outdir={}", esbuild_out.display()))
            .output()
            .unwrap();
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "esbuild: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if run > 0 {
            esbuild.push(took);
        }
    }

    let (squall_gz, squall_files) = gzip_js(&squall_out);
    let (esbuild_gz, esbuild_files) = gzip_js(&esbuild_out);
    eprintln!(
        "esm: squall {squall_files} files, gzip {squall_gz} bytes; esbuild {esbuild_files} files, gzip {esbuild_gz} bytes"
    );
    metric("esm_bundle_ms", median(squall), median(esbuild), "ms");
    metric(
        "esm_bundle_gzip_bytes",
        squall_gz as f64,
        esbuild_gz as f64,
        "bytes",
    );
}
