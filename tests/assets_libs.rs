#![cfg(all(feature = "assets", feature = "minijinja"))]
//! Real libraries as inputs (installed from npm by tests/run.sh into target/npm): the
//! minified jQuery + lodash + d3 bundle behaves as the sources do in node (jsdom), and the
//! Bootstrap and Font Awesome bundles re-parse with every url() resolving to a file.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;

use lightningcss::stylesheet::{ParserOptions, StyleSheet};
use lightningcss::values::url::Url;
use lightningcss::visit_types;
use lightningcss::visitor::{Visit, VisitTypes, Visitor};
use squall::assets::{Assets, AssetsConfig, Mode};

fn node_modules() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/npm/node_modules");
    for package in [
        "jquery",
        "lodash",
        "d3",
        "bootstrap",
        "@fortawesome/fontawesome-free",
        "jsdom",
    ] {
        assert!(
            dir.join(package).is_dir(),
            "{} is missing: run tests/run.sh (or tests/assets_npm.sh) to install the npm inputs",
            dir.join(package).display()
        );
    }
    dir
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
}

fn production(static_dir: &Path) -> Assets {
    Assets::new(AssetsConfig {
        static_dir: static_dir.into(),
        output_dir: static_dir.join("combined"),
        url_prefix: "/static/".into(),
        cdn_prefix: Some("//cdn.example.com".into()),
        mode: Mode::Production,
    })
    .unwrap()
}

fn run_in_node(modules: &Path, bundle: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assets/run_libs.js");
    let out = Command::new("node")
        .arg(script)
        .arg(modules)
        .arg(bundle)
        .output()
        .expect("node is needed for these tests");
    assert!(
        out.status.success(),
        "node failed on {}: {}",
        bundle.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn minified_jquery_lodash_d3_behave_like_the_sources() {
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
    copy(&modules.join("d3/dist/d3.js"), &root.join("js/d3.js"));
    let files = ["js/jquery.js", "js/lodash.js", "js/d3.js"];

    let assets = production(root);
    let report = assets.build(&files).unwrap();
    assert!(report.minified);
    assert!(
        report.bytes_out * 2 < report.bytes_in,
        "{} -> {}",
        report.bytes_in,
        report.bytes_out
    );
    let bundle = root.join("combined").join(&report.file);
    let minified = std::fs::read_to_string(&bundle).unwrap();
    assert!(
        minified.starts_with("/*!"),
        "jQuery's licence comment is kept"
    );
    assert!(minified[..200].contains("jQuery JavaScript Library v3.7.1"));
    assert!(
        minified.contains("@license"),
        "lodash's licence comment is kept"
    );

    // The same checks on the sources joined as they are and on the bundle.
    let original = root.join("original.js");
    let mut joined = String::new();
    for file in files {
        joined.push_str(&std::fs::read_to_string(root.join(file)).unwrap());
        joined.push_str("\n;\n");
    }
    std::fs::write(&original, joined).unwrap();
    let expected = run_in_node(&modules, &original);
    let got = run_in_node(&modules, &bundle);
    assert!(expected.contains("\"3.7.1\"") && expected.contains("\"7.9.0\""));
    assert_eq!(got, expected);

    // The tag names the bundle on the CDN with SRI.
    let tag = assets.tags(&files).unwrap();
    assert_eq!(
        tag,
        format!(
            "<script src=\"//cdn.example.com/combined/{}\" integrity=\"{}\" crossorigin=\"anonymous\"></script>",
            report.file, report.integrity
        )
    );
}

struct Urls(Vec<(String, u32)>);

impl<'i> Visitor<'i> for Urls {
    type Error = Infallible;
    fn visit_types(&self) -> VisitTypes {
        visit_types!(URLS)
    }
    fn visit_url(&mut self, url: &mut Url<'i>) -> Result<(), Infallible> {
        self.0.push((url.url.to_string(), url.loc.line));
        Ok(())
    }
}

fn urls(css: &str) -> Vec<String> {
    let mut sheet = StyleSheet::parse(css, ParserOptions::default()).unwrap();
    let mut urls = Urls(Vec::new());
    sheet.visit(&mut urls).unwrap();
    urls.0.into_iter().map(|(u, _)| u).collect()
}

fn check_css(root: &Path, source: &str, report_file: &str) -> Vec<String> {
    let out_dir = root.join("combined");
    let output = std::fs::read_to_string(out_dir.join(report_file)).unwrap();
    let before = urls(&std::fs::read_to_string(root.join(source)).unwrap());
    let after = urls(&output);
    assert_eq!(before.len(), after.len(), "same number of url()s");
    for url in &after {
        if url.starts_with("data:") {
            continue;
        }
        let name = url.split(['?', '#']).next().unwrap();
        assert!(
            !name.contains('/') && out_dir.join(name).is_file(),
            "url({url}) in {report_file} does not resolve to a file in the output"
        );
    }
    after
}

#[test]
fn bootstrap_css_is_minified_with_conservative_targets() {
    let modules = node_modules();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy(
        &modules.join("bootstrap/dist/css/bootstrap.css"),
        &root.join("css/bootstrap.css"),
    );
    let assets = production(root);
    let report = assets.build(&["css/bootstrap.css"]).unwrap();
    let css = std::fs::read_to_string(root.join("combined").join(&report.file)).unwrap();
    assert!(
        css.starts_with("/*!\n * Bootstrap  v5.3.3"),
        "{}",
        &css[..100]
    );
    assert!(
        css.contains("@media (min-width:576px)"),
        "min-width queries kept"
    );
    assert!(!css.contains("width>="), "no range syntax for old Safari");
    assert!(report.bytes_out < report.bytes_in * 9 / 10);
    let after = check_css(root, "css/bootstrap.css", &report.file);
    assert!(after.iter().all(|u| u.starts_with("data:")));
    assert!(!after.is_empty());
}

#[test]
fn font_awesome_fonts_are_copied_with_hashed_names() {
    let modules = node_modules();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fa = modules.join("@fortawesome/fontawesome-free");
    copy(&fa.join("css/all.css"), &root.join("vendor/fa/css/all.css"));
    for font in std::fs::read_dir(fa.join("webfonts")).unwrap() {
        let font = font.unwrap().path();
        copy(
            &font,
            &root
                .join("vendor/fa/webfonts")
                .join(font.file_name().unwrap()),
        );
    }
    let assets = production(root);
    let report = assets.build(&["vendor/fa/css/all.css"]).unwrap();
    let after = check_css(root, "vendor/fa/css/all.css", &report.file);
    let fonts: Vec<_> = after.iter().filter(|u| !u.starts_with("data:")).collect();
    assert!(fonts.len() >= 8, "{fonts:?}");
    assert!(
        fonts
            .iter()
            .any(|u| u.starts_with("fa-solid-900.") && u.ends_with(".woff2"))
    );
    assert!(!report.assets.is_empty());
    for name in &report.assets {
        let bytes = std::fs::read(root.join("combined").join(name)).unwrap();
        let stem = name.split('.').next().unwrap();
        let ext = name.rsplit('.').next().unwrap();
        let original = std::fs::read(
            root.join("vendor/fa/webfonts")
                .join(format!("{stem}.{ext}")),
        )
        .unwrap();
        assert_eq!(bytes, original, "{name} is a copy");
    }
    let css = std::fs::read_to_string(root.join("combined").join(&report.file)).unwrap();
    assert!(css.starts_with("/*!\n * Font Awesome Free"));
}
