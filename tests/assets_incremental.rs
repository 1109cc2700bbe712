#![cfg(all(feature = "assets", feature = "minijinja", feature = "cli"))]
//! Incremental `static-bundle` runs, on real files: a run with nothing changed builds
//! nothing and leaves the manifest alone; a changed source, `@import`ed sheet, `url()`
//! file or option rebuilds exactly the bundles that read it; a deleted output is rebuilt.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use squall::assets::{BuildOptions, PrecompileConfig, Precompression};

mod support;

fn site() -> tempfile::TempDir {
    support::assets::fixture_site()
}

const ALL: [&str; 4] = [
    "css/a.css,css/b.css",
    "css/b.css",
    "js/a.js",
    "js/a.js,js/b.js",
];

fn out_dir(root: &Path) -> PathBuf {
    root.join("static/combined")
}

/// Runs `static-bundle --json` with `extra`; returns the report.
fn run(root: &Path, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_static-bundle"))
        .current_dir(root)
        .args(["--templates", "templates", "--static", "static"])
        .args(["--out", "static/combined", "--json"])
        .args(extra)
        .env_remove("SQUALL_CDN_PREFIX")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn unchanged(report: &serde_json::Value) -> BTreeSet<String> {
    report["unchanged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key.as_str().unwrap().to_owned())
        .collect()
}

/// The keys of all bundles but `rebuilt`.
fn all_but(rebuilt: &[&str]) -> BTreeSet<String> {
    ALL.iter()
        .filter(|key| !rebuilt.contains(key))
        .map(|key| (*key).to_owned())
        .collect()
}

/// The output file of bundle `key` in `report`.
fn file_of(report: &serde_json::Value, key: &str) -> String {
    let bundles = report["bundles"].as_array().unwrap();
    let files: Vec<&str> = key.split(',').collect();
    let bundle = bundles
        .iter()
        .find(|b| b["files"].as_array().unwrap() == &files)
        .unwrap_or_else(|| panic!("no bundle {key} in {report}"));
    bundle["file"].as_str().unwrap().to_owned()
}

#[test]
fn a_run_with_nothing_changed_builds_nothing_and_keeps_the_manifest() {
    let dir = site();
    let root = dir.path();
    let first = run(root, &[]);
    assert_eq!(
        unchanged(&first),
        BTreeSet::new(),
        "a cold run builds everything"
    );
    let manifest = out_dir(root).join("manifest.json");
    let (text, modified) = (
        std::fs::read(&manifest).unwrap(),
        std::fs::metadata(&manifest).unwrap().modified().unwrap(),
    );
    let second = run(root, &[]);
    assert_eq!(unchanged(&second), all_but(&[]));
    assert_eq!(
        second["bundles"], first["bundles"],
        "the same report, sizes too"
    );
    assert_eq!(std::fs::read(&manifest).unwrap(), text);
    assert_eq!(
        std::fs::metadata(&manifest).unwrap().modified().unwrap(),
        modified,
        "an unchanged manifest is not written again"
    );
}

#[test]
fn a_changed_source_rebuilds_only_the_bundles_that_read_it() {
    let dir = site();
    let root = dir.path();
    let first = run(root, &[]);
    let js = root.join("static/js/b.js");
    let mut text = std::fs::read_to_string(&js).unwrap();
    text.push_str("\nwindow.added = 1;\n");
    std::fs::write(&js, text).unwrap();
    let second = run(root, &[]);
    assert_eq!(unchanged(&second), all_but(&["js/a.js,js/b.js"]));
    assert_ne!(
        file_of(&second, "js/a.js,js/b.js"),
        file_of(&first, "js/a.js,js/b.js")
    );
    let built = out_dir(root).join(file_of(&second, "js/a.js,js/b.js"));
    assert!(
        std::fs::read_to_string(built)
            .unwrap()
            .contains("window.added=1")
    );
    assert_eq!(unchanged(&run(root, &[])), all_but(&[]));
}

#[test]
fn a_changed_import_or_url_file_rebuilds_the_sheets_that_use_it() {
    let dir = site();
    let root = dir.path();
    let first = run(root, &[]);
    // Imported by css/a.css only: css/b.css alone stays.
    std::fs::write(
        root.join("static/css/parts/print.css"),
        ".no-print { display: none; } .changed { color: red }",
    )
    .unwrap();
    let second = run(root, &[]);
    assert_eq!(unchanged(&second), all_but(&["css/a.css,css/b.css"]));
    let key = "css/a.css,css/b.css";
    assert_ne!(file_of(&second, key), file_of(&first, key));

    // A font named by url() in the imported sheet of the imported sheet's sibling.
    std::fs::write(root.join("static/fonts/icons.woff2"), b"wOF2 changed").unwrap();
    let third = run(root, &[]);
    assert_eq!(unchanged(&third), all_but(&[key]));
    let css = std::fs::read_to_string(out_dir(root).join(file_of(&third, key))).unwrap();
    let font = third["bundles"][0]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .find(|a| a.starts_with("icons."))
        .unwrap()
        .to_owned();
    assert!(css.contains(&font), "{css}");
    assert_eq!(
        std::fs::read(out_dir(root).join(&font)).unwrap(),
        b"wOF2 changed"
    );

    // An image named by url() in css/a.css itself.
    std::fs::write(root.join("static/img/logo.png"), b"\x89PNG changed").unwrap();
    assert_eq!(unchanged(&run(root, &[])), all_but(&[key]));
}

#[test]
fn a_changed_option_rebuilds_everything() {
    let dir = site();
    let root = dir.path();
    run(root, &[]);
    for options in [
        &["--brotli-quality", "4"][..],
        &["--brotli-quality", "4", "--cdn-prefix", "//cdn.example.com"],
        &[
            "--brotli-quality",
            "4",
            "--cdn-prefix",
            "//cdn.example.com",
            "--targets",
            "chrome 120",
        ],
    ] {
        assert_eq!(
            unchanged(&run(root, options)),
            BTreeSet::new(),
            "{options:?}"
        );
        assert_eq!(unchanged(&run(root, options)), all_but(&[]), "{options:?}");
    }
}

#[test]
fn a_deleted_output_file_is_rebuilt() {
    let dir = site();
    let root = dir.path();
    let first = run(root, &[]);
    let key = "js/a.js";
    let file = file_of(&first, key);
    for name in [format!("{file}.br"), format!("{file}.gz"), file.clone()] {
        let path = out_dir(root).join(&name);
        std::fs::remove_file(&path).unwrap();
        let again = run(root, &[]);
        assert_eq!(unchanged(&again), all_but(&[key]), "{name}");
        assert!(path.is_file(), "{name} was not written again");
    }
    // A copied image, and a .br cut short.
    let css = "css/a.css,css/b.css";
    let assets = first["bundles"][0]["assets"].as_array().unwrap();
    let logo = assets
        .iter()
        .map(|a| a.as_str().unwrap())
        .find(|a| a.starts_with("logo."))
        .unwrap();
    std::fs::remove_file(out_dir(root).join(logo)).unwrap();
    assert_eq!(unchanged(&run(root, &[])), all_but(&[css]));
    assert!(out_dir(root).join(logo).is_file());
    let br = out_dir(root).join(format!("{}.br", file_of(&first, css)));
    std::fs::write(&br, b"cut").unwrap();
    assert_eq!(unchanged(&run(root, &[])), all_but(&[css]));
}

#[test]
fn the_library_reports_what_it_did_not_rebuild() {
    let dir = site();
    let root = dir.path();
    let config = PrecompileConfig::new(root.join("templates"), root.join("static"), out_dir(root))
        .options(BuildOptions::default().precompression(Precompression::Off));
    let first = config.run(|_, _, _| {}).unwrap();
    assert!(first.unchanged.is_empty());
    let bundle = &first.bundles[0];
    let read: Vec<&str> = bundle.inputs.files.keys().map(String::as_str).collect();
    assert_eq!(
        read,
        [
            "css/a.css",
            "css/b.css",
            "css/parts/imported.css",
            "css/parts/print.css",
            "fonts/icons.woff2",
            "img/logo.png",
        ]
    );
    let second = config.run(|_, _, _| {}).unwrap();
    assert_eq!(second.unchanged, ALL);
    // Precompression turned on is an option changed: everything gets its .gz/.br.
    let on = config
        .clone()
        .options(BuildOptions::default().precompression(Precompression::On));
    let third = on.run(|_, _, _| {}).unwrap();
    assert!(third.unchanged.is_empty());
    assert!(third.bundles.iter().all(|b| b.brotli.is_some()));
}
