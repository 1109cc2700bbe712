#![cfg(all(feature = "assets", feature = "minijinja"))]
//! Source maps of production bundles, checked by an independent consumer: the `source-map`
//! npm package through node (tests/support/sourcemap_check.js), on real libraries from
//! target/npm (installed by tests/assets_npm.sh) joined with files of our own. Also: the
//! hidden and off modes, debug mode, the tags, and `static-bundle --source-maps`.

use std::path::{Path, PathBuf};
use std::process::Command;

use squall::assets::{Assets, AssetsConfig, BuildOptions, Mode, SourceMaps};

fn node_modules() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/npm/node_modules");
    for package in ["jquery", "lodash", "bootstrap", "source-map"] {
        assert!(
            dir.join(package).is_dir(),
            "{} is missing: run tests/assets_npm.sh to install the npm inputs",
            dir.join(package).display()
        );
    }
    dir
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
}

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn config(root: &Path, mode: Mode) -> AssetsConfig {
    AssetsConfig {
        static_dir: root.into(),
        output_dir: root.join("combined"),
        url_prefix: "/static/".into(),
        cdn_prefix: Some("//cdn.example.com".into()),
        mode,
    }
}

fn assets(root: &Path, maps: SourceMaps) -> Assets {
    Assets::open(
        config(root, Mode::Production),
        BuildOptions::default().source_maps(maps),
    )
    .unwrap()
}

/// Runs the node checker; returns its JSON report.
fn check(root: &Path, bundle: &str, map: &str, expects: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/sourcemap_check.js");
    let out = Command::new("node")
        .arg(script)
        .arg(node_modules())
        .arg(root)
        .arg(root.join("combined").join(bundle))
        .arg(root.join("combined").join(map))
        .args(expects)
        .output()
        .expect("node is needed for these tests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts the checker found no wrong position, at most 1% approximate ones (fused
/// statements, see the checker), at least `min` exact ones in each of `big` sources, and
/// every expected identifier.
fn assert_maps_back(report: &serde_json::Value, sources: &[&str], big: &[&str], min: u64) {
    assert_eq!(report["failureCount"], 0, "{report:#}");
    let (exact, approximate) = (
        report["checked"].as_u64().unwrap(),
        report["approximate"].as_u64().unwrap(),
    );
    assert!(approximate * 100 <= exact, "{report:#}");
    assert_eq!(report["sources"], serde_json::json!(sources), "{report}");
    for source in big {
        let n = report["perSource"][source].as_u64().unwrap_or(0);
        assert!(n >= min, "{source}: {n} positions checked: {report}");
    }
    for (spec, found) in report["expected"].as_object().unwrap() {
        assert_eq!(found, true, "{spec} not mapped back: {report}");
    }
}

const APP_JS: &str = "'use strict';\n\
window.greetVisitor = function greetVisitor(visitorName) {\n\
  var salutation = 'Hello, ' + visitorName;\n\
  return jQuery.trim(salutation) + _.escape('!');\n\
};\n\
window.countWords = function countWords(sentence) {\n\
  var words = sentence.split(' ');\n\
  return words.length;\n\
};\n";

#[test]
fn a_script_bundle_of_several_parts_maps_each_part_to_its_file() {
    let modules = node_modules();
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
    // Strict among non-strict files: joined inside a wrapper, one line down.
    write(root, "js/app.js", APP_JS);
    let files = ["js/jquery.js", "js/lodash.js", "js/app.js"];
    let report = assets(root, SourceMaps::Comment).build(&files).unwrap();
    let map = report.source_map.clone().expect("a source map");
    assert_eq!(map, format!("{}.map", report.file));
    let code = std::fs::read_to_string(root.join("combined").join(&report.file)).unwrap();
    assert!(
        code.ends_with(&format!("\n//# sourceMappingURL={map}\n")),
        "{}",
        &code[code.len() - 80..]
    );

    let checked = check(
        root,
        &report.file,
        &map,
        &[
            // Parameters and locals: mangled in the bundle, named in the map.
            "visitorName@js/app.js:3",
            "salutation@js/app.js:3",
            "sentence@js/app.js:7",
            "isArrayLike@js/jquery.js:546",
            "toType@js/jquery.js:134",
            "debounce@js/lodash.js:10372",
        ],
    );
    assert_maps_back(&checked, &files, &files[..2], 20);
    assert!(checked["checked"].as_u64().unwrap() > 1000, "{checked}");
}

#[test]
fn a_stylesheet_bundle_maps_through_imports() {
    let modules = node_modules();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy(
        &modules.join("bootstrap/dist/css/bootstrap.css"),
        &root.join("css/bootstrap.css"),
    );
    let mut buttons = String::new();
    for i in 0..25 {
        buttons.push_str(&format!(".site-button-{i} {{\n  color: #{i:02}0000;\n}}\n"));
    }
    write(root, "css/parts/buttons.css", &buttons);
    write(
        root,
        "css/site.css",
        "@import \"parts/buttons.css\" screen and (min-width: 600px);\n\n\
         .site-header {\n  margin: 0 auto;\n}\n\n.site-footer {\n  padding: 1em;\n}\n",
    );
    let files = ["css/bootstrap.css", "css/site.css"];
    let report = assets(root, SourceMaps::Comment).build(&files).unwrap();
    let map = report.source_map.clone().expect("a source map");
    let code = std::fs::read_to_string(root.join("combined").join(&report.file)).unwrap();
    assert!(code.ends_with(&format!("/*# sourceMappingURL={map} */\n")));
    // The imported rules are inside `@media …{`, so their map is shifted right.
    assert!(
        code.contains("@media screen and (min-width:600px){.site-button-0"),
        "{code}"
    );

    let checked = check(root, &report.file, &map, &[]);
    let sources = ["css/bootstrap.css", "css/parts/buttons.css", "css/site.css"];
    assert_eq!(checked["failureCount"], 0, "{checked:#}");
    let mut listed: Vec<&str> = checked["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, sources, "{checked}");
    let n = |source: &str| checked["perSource"][source].as_u64().unwrap_or(0);
    assert!(n("css/bootstrap.css") >= 20, "{checked}");
    assert_eq!(n("css/parts/buttons.css"), 25, "{checked}");
    assert_eq!(n("css/site.css"), 2, "{checked}");
}

#[test]
fn hidden_writes_the_map_without_a_comment_and_off_writes_neither() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "js/app.js", APP_JS);
    write(root, "css/a.css", ".a {\n  color: red;\n}\n");

    let hidden = assets(root, SourceMaps::Hidden);
    for file in ["js/app.js", "css/a.css"] {
        let report = hidden.build(&[file]).unwrap();
        let map = report.source_map.clone().expect("a map");
        let code = std::fs::read_to_string(root.join("combined").join(&report.file)).unwrap();
        assert!(!code.contains("sourceMappingURL"), "{code}");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("combined").join(map)).unwrap(),
        )
        .unwrap();
        assert_eq!(json["version"], 3);
        assert_eq!(json["sources"], serde_json::json!([file]));
    }

    let off_dir = tempfile::tempdir().unwrap();
    let root = off_dir.path();
    write(root, "js/app.js", APP_JS);
    write(root, "css/a.css", ".a {\n  color: red;\n}\n");
    let off = assets(root, SourceMaps::Off);
    for file in ["js/app.js", "css/a.css"] {
        let report = off.build(&[file]).unwrap();
        assert_eq!(report.source_map, None);
        let code = std::fs::read_to_string(root.join("combined").join(&report.file)).unwrap();
        assert!(!code.contains("sourceMappingURL"), "{code}");
    }
    let maps: Vec<_> = std::fs::read_dir(root.join("combined"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".map"))
        .collect();
    assert!(maps.is_empty(), "{maps:?}");
}

#[test]
fn html_is_the_same_and_debug_writes_no_maps() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "js/app.js", APP_JS);
    let with = assets(root, SourceMaps::Comment);
    let tags = with.tags(&["js/app.js"]).unwrap();
    let report = with.build(&["js/app.js"]).unwrap();
    assert!(
        tags.contains(&format!("//cdn.example.com/combined/{}\"", report.file)),
        "{tags}"
    );
    assert!(!tags.contains(".map"), "{tags}");
    // The map sits next to the bundle, so the relative name in the comment resolves under
    // the CDN prefix too.
    assert!(
        root.join("combined")
            .join(format!("{}.map", report.file))
            .is_file()
    );

    let debug_dir = tempfile::tempdir().unwrap();
    let root = debug_dir.path();
    write(root, "js/a.js", "var a = 1;\n");
    write(root, "js/b.js", "var b = 2;\n");
    let debug = Assets::open(config(root, Mode::Debug), BuildOptions::default()).unwrap();
    let tags = debug.tags(&["js/a.js", "js/b.js"]).unwrap();
    assert!(!tags.contains(".map"), "{tags}");
    let written: Vec<_> = std::fs::read_dir(root.join("combined"))
        .map(|dir| {
            dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !written.iter().any(|n: &String| n.ends_with(".map")),
        "{written:?}"
    );
}

#[test]
fn static_bundle_takes_the_mode_lists_maps_and_prunes_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "static/js/app.js", APP_JS);
    write(root, "templates/page.html", "{{ static(\"js/app.js\") }}\n");
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_static-bundle"))
            .current_dir(root)
            .args(["--templates", "templates", "--static", "static"])
            .args(["--out", "static/combined"])
            .args(extra)
            .env_remove("SQUALL_CDN_PREFIX")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&["--source-maps", "inline"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("expected comment, hidden or off"),
        "{stderr}"
    );

    let (code, stderr) = run(&["--source-maps=hidden"]);
    assert_eq!(code, Some(0), "{stderr}");
    let out = root.join("static/combined");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let bundle = manifest["bundles"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let (file, map) = (
        bundle["file"].as_str().unwrap().to_owned(),
        bundle["source_map"].as_str().unwrap().to_owned(),
    );
    assert_eq!(map, format!("{file}.map"));
    assert!(out.join(&map).is_file());
    let code_text = std::fs::read_to_string(out.join(&file)).unwrap();
    assert!(!code_text.contains("sourceMappingURL"));

    // A deleted map is an output missing: the next run rebuilds the bundle and writes it.
    std::fs::remove_file(out.join(&map)).unwrap();
    let (code, stderr) = run(&["--source-maps=hidden"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        out.join(&map).is_file(),
        "the deleted map was not written again"
    );

    // A new build (the source changed), then pruning with no grace: the old map goes with
    // its bundle, the current one stays.
    write(root, "static/js/app.js", &APP_JS.replace("Hello", "Howdy"));
    let (code, stderr) = run(&["--prune-older-than", "0s", "--keep", "0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!out.join(&map).exists(), "the old map was not pruned");
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".map"))
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
}
