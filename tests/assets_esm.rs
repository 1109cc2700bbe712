#![cfg(feature = "esm")]
//! ES module entries (`.mjs`): the production bundle, run in node, does what the sources
//! do (relative imports, a bare import resolved through a package's `exports` map, a
//! dynamic `import()` loaded from its own chunk); tags carry `type="module"` and
//! `modulepreload`; errors name the importing file and line.

use std::path::{Path, PathBuf};
use std::process::Command;

use squall::assets::{Assets, AssetsConfig, BundleError, Error, Mode, ModuleError};

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
        cdn_prefix: None,
        mode,
    }
}

/// An app: a relative import, a bare import of a package whose `exports` map sends
/// `import` to an ES module (its `main` and `require` files throw), and a dynamic import of
/// a module that uses a package nothing else uses. Sources in `project/static`, packages in
/// `project/node_modules` (found by walking up, as node does); returns the static dir.
fn app(project: &Path) -> PathBuf {
    let root = &project.join("static");
    write(
        root,
        "js/app.mjs",
        "import { greet } from './lib/greet.mjs';\n\
         import { shout } from 'shouty';\n\
         globalThis.result.push(greet('squall'), shout('hi'));\n\
         import('./lazy.mjs').then((m) => { globalThis.result.push(m.lazy()); globalThis.done(); });\n",
    );
    write(
        root,
        "js/lib/greet.mjs",
        "export function greet(name) { return 'hello ' + name; }\n",
    );
    write(
        root,
        "js/lazy.mjs",
        "import { greet } from './lib/greet.mjs';\n\
         import { whisper } from 'whisper';\n\
         export function lazy() { return whisper('LAZY ' + greet('chunk')); }\n",
    );
    write(
        project,
        "node_modules/shouty/package.json",
        r#"{"name": "shouty", "version": "1.0.0", "main": "./main.js",
            "exports": {".": {"import": "./esm/index.mjs", "require": "./main.js"}}}"#,
    );
    write(
        project,
        "node_modules/shouty/main.js",
        "throw new Error('main was used, not the exports map');\n",
    );
    write(
        project,
        "node_modules/shouty/esm/index.mjs",
        "export const shout = (s) => s.toUpperCase() + '!';\n\
         export const unused = () => 'tree-shaken away';\n",
    );
    write(
        project,
        "node_modules/whisper/package.json",
        r#"{"name": "whisper", "version": "1.0.0", "exports": {".": "./index.mjs"}}"#,
    );
    write(
        project,
        "node_modules/whisper/index.mjs",
        "export const whisper = (s) => 'psst, ' + s.toLowerCase();\n",
    );
    root.clone()
}

/// Runs the bundle `entry` (in `dir`) in node as a module; returns what it printed.
fn run_in_node(dir: &Path, entry: &str) -> String {
    // node reads `.js` as CommonJS unless the nearest package.json says otherwise.
    std::fs::write(dir.join("package.json"), r#"{"type": "module"}"#).unwrap();
    let script = "globalThis.result = []; \
                  globalThis.done = () => console.log(JSON.stringify(globalThis.result)); \
                  await import(process.argv[1]);";
    let out = Command::new("node")
        .args(["--input-type=module", "-e", script])
        .arg(dir.join(entry))
        .output()
        .expect("node is needed for these tests");
    assert!(
        out.status.success(),
        "node failed on {entry}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn is_hashed(name: &str, stem: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("{stem}.")) else {
        return false;
    };
    let Some(hash) = rest.strip_suffix(".js") else {
        return false;
    };
    hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit())
}

#[test]
fn the_production_bundle_runs_in_node_with_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let root = &app(dir.path());
    let assets = Assets::new(config(root, Mode::Production)).unwrap();
    let report = assets.build(&["js/app.mjs"]).unwrap();
    assert!(is_hashed(&report.file, "app"), "{}", report.file);
    assert!(report.minified);
    let out_dir = root.join("combined");
    let entry_code = std::fs::read_to_string(out_dir.join(&report.file)).unwrap();
    assert!(
        !entry_code.contains("tree-shaken away") && !entry_code.contains("main was used"),
        "{entry_code}"
    );
    let code = |file: &str| std::fs::read_to_string(out_dir.join(file)).unwrap();
    // The dynamic import is a chunk of its own, loaded by `import()`.
    let lazy = report
        .chunks
        .iter()
        .find(|c| c.starts_with("lazy."))
        .unwrap();
    assert!(is_hashed(lazy, "lazy"), "{lazy}");
    assert!(
        ["\"", "'", "`"]
            .iter()
            .any(|q| entry_code.contains(&format!("import({q}./{lazy}{q})"))),
        "{entry_code}"
    );
    // The package the entry uses is a static chunk, preloaded; the one only the lazy
    // module uses is in no file loaded before the import runs.
    assert_eq!(report.preload.len(), 1, "{report:?}");
    assert!(code(&report.preload[0]).contains("toUpperCase"));
    assert!(!entry_code.contains("toUpperCase"), "{entry_code}");
    assert!(!report.preload.contains(lazy));
    for eager in std::iter::once(&report.file).chain(&report.preload) {
        assert!(!code(eager).contains("psst"), "{eager}");
    }
    assert!(report.chunks.iter().any(|c| code(c).contains("psst")));
    for file in std::iter::once(&report.file).chain(&report.chunks) {
        assert!(out_dir.join(file).is_file(), "{file}");
        assert!(out_dir.join(format!("{file}.br")).is_file(), "{file}.br");
    }

    let printed = run_in_node(&out_dir, &report.file);
    assert_eq!(
        printed.trim(),
        r#"["hello squall","HI!","psst, lazy hello chunk"]"#
    );

    let tags = assets.tags(&["js/app.mjs"]).unwrap();
    let mut lines = tags.lines();
    let script = lines.next().unwrap();
    assert!(
        script.starts_with(&format!(
            "<script type=\"module\" src=\"/static/combined/{}\" integrity=\"sha384-",
            report.file
        )),
        "{tags}"
    );
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "<link rel=\"modulepreload\" href=\"/static/combined/{}\">",
                report.preload[0]
            )
            .as_str()
        ),
        "{tags}"
    );
    assert_eq!(lines.next(), None, "{tags}");
}

#[test]
fn debug_mode_tags_the_source_as_a_module() {
    let dir = tempfile::tempdir().unwrap();
    let root = app(dir.path());
    let assets = Assets::new(config(&root, Mode::Debug)).unwrap();
    let tags = assets.tags(&["js/app.mjs"]).unwrap();
    assert!(
        tags.starts_with("<script type=\"module\" src=\"/static/js/app.mjs?v="),
        "{tags}"
    );
    assert!(!tags.contains("modulepreload"), "{tags}");
    let url = assets.url(&["js/app.mjs"]).unwrap();
    assert!(url.starts_with("/static/js/app.mjs?v="), "{url}");
    assert!(!root.join("combined").exists());
}

#[tokio::test]
async fn a_build_inside_a_tokio_runtime_works() {
    let dir = tempfile::tempdir().unwrap();
    let root = app(dir.path());
    let assets = Assets::new(config(&root, Mode::Production)).unwrap();
    let tags = assets.tags(&["js/app.mjs"]).unwrap();
    assert!(tags.contains("type=\"module\""), "{tags}");
    assert_eq!(assets.builds(), 1);
}

fn module_error(root: &Path) -> ModuleError {
    let assets = Assets::new(config(root, Mode::Production)).unwrap();
    match assets.build(&["js/app.mjs"]) {
        Err(Error::Bundle(BundleError::Module(error))) => error,
        other => panic!("expected a module error, got {other:?}"),
    }
}

#[test]
fn a_missing_relative_import_names_the_importer_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "js/app.mjs", "import './lib/ok.mjs';\n");
    write(
        root,
        "js/lib/ok.mjs",
        "export const a = 1;\n\nimport { b } from './nope.mjs';\nconsole.log(b);\n",
    );
    let error = module_error(root);
    match &error {
        ModuleError::Unresolved {
            importer,
            line,
            specifier,
            ..
        } => {
            assert_eq!(importer, &PathBuf::from("js/lib/ok.mjs"));
            assert_eq!(*line, 3);
            assert_eq!(specifier, "./nope.mjs");
        }
        other => panic!("expected Unresolved, got {other:?}"),
    }
    let text = error.to_string();
    assert!(text.starts_with("js/lib/ok.mjs:3:"), "{text}");
    assert!(text.contains("./nope.mjs"), "{text}");
}

#[test]
fn a_missing_package_names_the_importer_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "js/app.mjs",
        "// first\nimport { x } from 'not-installed';\nconsole.log(x);\n",
    );
    match module_error(root) {
        ModuleError::Unresolved {
            importer,
            line,
            specifier,
            ..
        } => {
            assert_eq!(importer, PathBuf::from("js/app.mjs"));
            assert_eq!(line, 2);
            assert_eq!(specifier, "not-installed");
        }
        other => panic!("expected Unresolved, got {other:?}"),
    }
}

#[test]
fn a_syntax_error_in_a_dependency_names_that_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "js/app.mjs",
        "import { f } from './lib/bad.mjs';\nf();\n",
    );
    write(
        root,
        "js/lib/bad.mjs",
        "export function f() {\n  return 1 +;\n}\n",
    );
    let error = module_error(root);
    match &error {
        ModuleError::Syntax { file, line, .. } => {
            assert_eq!(file, &PathBuf::from("js/lib/bad.mjs"));
            assert_eq!(*line, 2);
        }
        other => panic!("expected Syntax, got {other:?}"),
    }
    assert!(
        error.to_string().starts_with("js/lib/bad.mjs:2:"),
        "{error}"
    );
}

#[test]
fn a_module_entry_is_bundled_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = app(dir.path());
    write(&root, "js/classic.js", "var classic = 1;\n");
    for mode in [Mode::Debug, Mode::Production] {
        let assets = Assets::new(config(&root, mode)).unwrap();
        let error = assets.tags(&["js/classic.js", "js/app.mjs"]).unwrap_err();
        assert!(
            matches!(&error, Error::Bundle(BundleError::ModuleNotAlone { file }) if file == "js/app.mjs"),
            "{error:?}"
        );
    }
}

#[cfg(feature = "minijinja")]
#[test]
fn static_bundle_writes_the_chunks_into_the_manifest() {
    use squall::assets::{Kind, Manifest, PrecompileConfig};
    let dir = tempfile::tempdir().unwrap();
    let root = app(dir.path());
    write(
        dir.path(),
        "templates/base.html",
        "<head>{{ static(\"js/app.mjs\") }}</head>\n",
    );
    let out = root.join("combined");
    let report = PrecompileConfig::new(dir.path().join("templates"), &root, &out)
        .run(|_, _, _| {})
        .unwrap();
    assert!(report.is_success(), "{report:?}");
    let manifest = Manifest::load(&out).unwrap().unwrap();
    let built = &manifest.bundles["js/app.mjs"];
    assert_eq!(built.kind, Kind::Module);
    assert!(built.chunks.len() >= 2, "{built:?}");
    let referenced = manifest.referenced();
    for chunk in &built.chunks {
        assert!(out.join(chunk).is_file(), "{chunk}");
        assert!(referenced.contains(chunk), "{chunk}");
        assert!(referenced.contains(&format!("{chunk}.br")), "{chunk}.br");
    }
    // A server with the manifest builds nothing, and tags with the preload links.
    let assets = Assets::new(config(&root, Mode::Production)).unwrap();
    let tags = assets.tags(&["js/app.mjs"]).unwrap();
    assert_eq!(assets.builds(), 0);
    assert!(tags.contains(&built.file), "{tags}");
    assert!(
        tags.contains(&format!(
            "<link rel=\"modulepreload\" href=\"/static/combined/{}\">",
            built.preload[0]
        )),
        "{tags}"
    );
}

#[test]
fn typescript_and_jsx_entries_are_transformed_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "js/app.ts",
        "import { h } from './h.ts';\n\
         import { view } from './view.jsx';\n\
         interface Point { x: number; y: number }\n\
         const p: Point = { x: 1, y: 2 };\n\
         globalThis.result.push(p.x + p.y, view(h));\n\
         globalThis.done();\n",
    );
    write(
        root,
        "js/h.ts",
        "export function h(tag: string, _props: unknown, ...kids: string[]): string {\n\
           return '<' + tag + '>' + kids.join('') + '</' + tag + '>';\n\
         }\n",
    );
    write(
        root,
        "js/view.jsx",
        "/** @jsxRuntime classic */\n/** @jsx h */\n\
         export const view = (h) => <b>bold</b>;\n",
    );
    for mode in [Mode::Debug, Mode::Production] {
        let assets = Assets::new(config(root, mode)).unwrap();
        let tags = assets.tags(&["js/app.ts"]).unwrap();
        assert!(
            tags.starts_with("<script type=\"module\" src=\"/static/combined/app."),
            "{mode:?}: {tags}"
        );
        let file = tags
            .split("/static/combined/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        let out_dir = root.join("combined");
        let code = std::fs::read_to_string(out_dir.join(file)).unwrap();
        assert!(!code.contains("interface"), "{mode:?}: {code}");
        assert_eq!(
            run_in_node(&out_dir, file).trim(),
            r#"[3,"<b>bold</b>"]"#,
            "{mode:?}"
        );
    }
}
