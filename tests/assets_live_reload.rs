//! Live reload (debug mode): real files in a temporary directory, a real inotify watcher,
//! and the event stream read as a browser's `EventSource` reads it. The stream's chunk
//! timeout is only the failure bound: each test waits on the events themselves.
#![cfg(all(feature = "minijinja", feature = "testing"))]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use squall::assets::{Assets, AssetsConfig, LiveReload, LiveReloadError, Mode};
use squall::testing::TestClient;

const BOUND: Duration = Duration::from_secs(20);

fn site(mode: Mode) -> (tempfile::TempDir, Assets) {
    let dir = tempfile::tempdir().unwrap();
    let static_dir = dir.path().join("static");
    std::fs::create_dir_all(static_dir.join("css")).unwrap();
    std::fs::create_dir_all(static_dir.join("js")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(static_dir.join("css/site.css"), "body { color: red }").unwrap();
    std::fs::write(static_dir.join("css/print.css"), "body { color: black }").unwrap();
    std::fs::write(static_dir.join("js/app.js"), "window.app = 1;").unwrap();
    std::fs::write(dir.path().join("templates/page.html"), "<p>one</p>").unwrap();
    let assets = Assets::new(AssetsConfig {
        static_dir: static_dir.clone(),
        output_dir: static_dir.join("combined"),
        url_prefix: "/static/".into(),
        cdn_prefix: None,
        mode,
    })
    .unwrap();
    (dir, assets)
}

fn page(assets: &Assets) -> String {
    let mut env = minijinja::Environment::new();
    assets.register(&mut env);
    env.add_template(
        "page",
        r#"<head>{{ static("css/site.css", "css/print.css") }}</head>
<body>{{ static("js/app.js") }}{% for i in [1, 2] %}{{ static("js/app.js") }}{% endfor %}</body>"#,
    )
    .unwrap();
    env.get_template("page").unwrap().render(()).unwrap()
}

async fn open(live: &LiveReload) -> squall::testing::SseStream {
    TestClient::new(live.clone())
        .get("/")
        .stream()
        .await
        .chunk_timeout(BOUND)
        .sse()
}

async fn next(events: &mut squall::testing::SseStream) -> (String, String) {
    let event = events
        .next_event()
        .await
        .expect("the event stream ended")
        .expect("no event within the bound");
    (event.event, event.data)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn a_stylesheet_change_is_a_css_event_naming_it() {
    let (dir, assets) = site(Mode::Debug);
    let live = LiveReload::builder(&assets).start().unwrap();
    let mut events = open(&live).await;
    assert_eq!(live.clients(), 1);
    write(
        &dir.path().join("static/css/site.css"),
        "body { color: blue }",
    );
    assert_eq!(
        next(&mut events).await,
        ("css".into(), "/static/css/site.css".into())
    );
}

#[tokio::test]
async fn a_template_change_is_a_reload_and_reaches_the_hook_and_every_page() {
    let (dir, assets) = site(Mode::Debug);
    let seen: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
    let hook = Arc::clone(&seen);
    let templates = dir.path().join("templates");
    let live = LiveReload::builder(&assets)
        .templates(&templates)
        .on_change(move |paths| hook.lock().unwrap().extend_from_slice(paths))
        .start()
        .unwrap();
    let mut first = open(&live).await;
    let mut second = open(&live).await;
    assert_eq!(live.clients(), 2);
    write(&templates.join("page.html"), "<p>two</p>");
    let (kind, data) = next(&mut first).await;
    assert_eq!(kind, "reload");
    assert!(data.ends_with("templates/page.html"), "{data}");
    assert_eq!(next(&mut second).await.0, "reload");
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|p| p.ends_with("templates/page.html")),
        "{seen:?}"
    );

    // A page that goes away is dropped.
    drop(second);
    assert_eq!(live.clients(), 1);
}

#[tokio::test]
async fn a_burst_of_writes_is_one_event() {
    let (dir, assets) = site(Mode::Debug);
    let templates = dir.path().join("templates");
    let live = LiveReload::builder(&assets)
        .templates(&templates)
        .debounce(Duration::from_millis(300))
        .start()
        .unwrap();
    let mut events = open(&live).await;
    let css = dir.path().join("static/css/site.css");
    for n in 0..10 {
        write(&css, &format!("body {{ margin: {n}px }}"));
    }
    assert_eq!(
        next(&mut events).await,
        ("css".into(), "/static/css/site.css".into())
    );
    // Had the burst made more than one event, the next one would be another css.
    write(&templates.join("page.html"), "<p>three</p>");
    assert_eq!(next(&mut events).await.0, "reload");
}

#[tokio::test]
async fn a_script_change_reloads_and_editor_files_are_ignored() {
    let (dir, assets) = site(Mode::Debug);
    let live = LiveReload::builder(&assets).start().unwrap();
    let mut events = open(&live).await;
    // Editors' swap and backup files, and debug bundles in the output directory.
    write(&dir.path().join("static/css/.site.css.swp"), "x");
    write(&dir.path().join("static/css/site.css~"), "x");
    std::fs::create_dir_all(dir.path().join("static/combined")).unwrap();
    write(&dir.path().join("static/combined/a.0123.css"), "x");
    write(&dir.path().join("static/js/app.js"), "window.app = 2;");
    assert_eq!(
        next(&mut events).await,
        ("reload".into(), "/static/js/app.js".into())
    );
}

#[tokio::test]
async fn debug_pages_get_the_client_script_once() {
    let (_dir, assets) = site(Mode::Debug);
    assert!(
        !page(&assets).contains("__live"),
        "no script before live reload starts"
    );
    let _live = LiveReload::builder(&assets).start().unwrap();
    let html = page(&assets);
    assert_eq!(
        html.matches(r#"<script src="/__live/client.js"></script>"#)
            .count(),
        1,
        "{html}"
    );
    // And with every render, not only the first.
    assert_eq!(page(&assets).matches("/__live/client.js").count(), 1);
}

#[tokio::test]
async fn production_output_has_no_trace_of_live_reload() {
    let (_dir, assets) = site(Mode::Production);
    let err = LiveReload::builder(&assets).start().unwrap_err();
    assert!(matches!(err, LiveReloadError::Production), "{err}");
    assert_eq!(assets.live_reload_tag(), None);
    let html = page(&assets);
    assert!(html.contains("<link rel=\"stylesheet\""), "{html}");
    for trace in ["__live", "client.js", "EventSource", "live"] {
        assert!(
            !html.contains(trace),
            "{trace:?} in production output: {html}"
        );
    }
}

#[tokio::test]
async fn the_service_serves_the_client_and_refuses_the_rest() {
    let (_dir, assets) = site(Mode::Debug);
    let live = LiveReload::builder(&assets).start().unwrap();
    let client = TestClient::new(live);
    let script = client.get("/client.js").await;
    script.assert_status(200);
    let text = script.text();
    assert!(text.contains("new EventSource"), "{text}");
    assert!(text.contains("\"css\"") && text.contains("location.reload()"));
    client.get("/other").await.assert_status(404);
}

#[tokio::test]
async fn bad_setups_are_errors_that_say_what_is_wrong() {
    let (dir, assets) = site(Mode::Debug);
    let missing = dir.path().join("no-templates");
    let err = LiveReload::builder(&assets)
        .templates(&missing)
        .start()
        .unwrap_err();
    assert!(matches!(err, LiveReloadError::Watch { .. }), "{err}");
    assert!(err.to_string().contains("no-templates"), "{err}");
    for mount in ["__live", "/__live\"><script>"] {
        let err = LiveReload::builder(&assets)
            .mount(mount)
            .start()
            .unwrap_err();
        assert!(matches!(err, LiveReloadError::MountPath(_)), "{err}");
        assert!(err.to_string().contains("must start with /"), "{err}");
    }
    // None of these turned injection on.
    assert_eq!(assets.live_reload_tag(), None);
}
