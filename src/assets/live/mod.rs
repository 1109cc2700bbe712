//! Live reload in debug mode: a watcher over the static and template directories tells
//! open pages what changed, over server-sent events from a tower service ([`LiveReload`]).
//!
//! A changed stylesheet is sent as `event: css` with its URL path (`/static/css/site.css`):
//! the client script swaps the matching `<link rel="stylesheet">` without reloading the
//! page. Anything else (a template, a script, an image) is sent as `event: reload`. Bursts
//! of writes (editors save in several steps) are debounced into one event. The client
//! script, served by the same service at `client.js`, is injected by the template function
//! `static()` with the first tag it emits in each render, in debug mode only: production
//! output never carries it, and [`LiveReloadBuilder::start`] refuses a production
//! [`Assets`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, LiveReload, Mode};
//! use tower::ServiceExt;
//!
//! # let dir = tempfile::tempdir()?;
//! # std::fs::create_dir_all(dir.path().join("css"))?;
//! # std::fs::write(dir.path().join("css/site.css"), "body { color: red }")?;
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: dir.path().into(),
//!     output_dir: dir.path().join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: None,
//!     mode: Mode::Debug,
//! })?;
//! // Mount it at /__live (axum: `router.nest_service("/__live", live)`).
//! let live = LiveReload::builder(&assets).start()?;
//! assert_eq!(assets.live_reload_tag(), Some(r#"<script src="/__live/client.js"></script>"#));
//!
//! let mut env = minijinja::Environment::new();
//! assets.register(&mut env);
//! env.add_template("page", r#"{{ static("css/site.css") }}{{ static("css/site.css") }}"#)?;
//! let html = env.get_template("page")?.render(())?;
//! assert_eq!(html.matches("/__live/client.js").count(), 1, "{html}"); // once per page
//!
//! let get = |path: &str| http::Request::get(path).body(String::new());
//! let script = live.clone().oneshot(get("/client.js")?).await?;
//! assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
//! let events = live.oneshot(get("/")?).await?;
//! assert_eq!(events.headers()["content-type"], "text/event-stream");
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::{Assets, Mode};

mod service;

pub use service::LiveBody;

/// The client script: `EventSource` on the directory it is served from; `css` swaps the
/// matching stylesheet links, `reload` reloads, and a reconnection after the server went
/// away reloads (the server may have new code).
pub const CLIENT_JS: &str = include_str!("client.js");

/// The default debounce: events closer together than this make one notice.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// A burst longer than this is cut into several notices.
const MAX_BURST: Duration = Duration::from_secs(2);

/// Events a slow page may fall behind by before it misses some.
const CLIENT_BUFFER: usize = 32;

/// What can go wrong starting live reload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveReloadError {
    /// Live reload is for debug mode only; these assets are in production mode.
    #[error("live reload is for debug mode only; these assets are in production mode")]
    Production,
    /// A directory cannot be watched (missing, unreadable, out of inotify watches).
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// The watcher's error.
        #[source]
        source: notify::Error,
    },
    /// The thread that debounces changes cannot be started.
    #[error("cannot start the live reload thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The mount path is not a plain absolute URL path (`/__live`).
    #[error(
        "mount path {0:?} must start with / and hold only letters, digits and / - _ . ~ (as in /__live)"
    )]
    MountPath(String),
}

/// Called with every changed path of a debounced burst, before pages are told (clear a
/// template cache here).
type OnChange = Box<ChangeFn>;

/// The hook itself.
type ChangeFn = dyn Fn(&[PathBuf]) + Send + Sync;

/// Sets up [`LiveReload`]: what to watch, where it is mounted, the debounce.
#[must_use]
pub struct LiveReloadBuilder {
    assets: Assets,
    templates: Vec<PathBuf>,
    mount: String,
    debounce: Duration,
    on_change: Option<OnChange>,
}

impl std::fmt::Debug for LiveReloadBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveReloadBuilder")
            .field("templates", &self.templates)
            .field("mount", &self.mount)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

impl LiveReloadBuilder {
    /// Also watches a template directory (a change there sends `reload`).
    pub fn templates(mut self, dir: impl Into<PathBuf>) -> Self {
        self.templates.push(dir.into());
        self
    }

    /// Where the service is mounted (default `/__live`); the injected script tag points
    /// at `<mount>/client.js`.
    pub fn mount(mut self, path: impl Into<String>) -> Self {
        self.mount = path.into();
        self
    }

    /// How long the files must be quiet before pages are told (default
    /// [`DEFAULT_DEBOUNCE`]).
    pub fn debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// Calls `f` with the changed paths of each burst before pages are told: clear the
    /// template cache there (minijinja's `Environment::clear_templates`).
    pub fn on_change(mut self, f: impl Fn(&[PathBuf]) + Send + Sync + 'static) -> Self {
        self.on_change = Some(Box::new(f));
        self
    }

    /// Starts watching and makes `static()` inject the client script. The watch ends when
    /// the last clone of the returned service is dropped.
    pub fn start(self) -> Result<LiveReload, LiveReloadError> {
        if self.assets.inner.config.mode != Mode::Debug {
            return Err(LiveReloadError::Production);
        }
        let mount = self.mount.trim_end_matches('/').to_owned();
        let plain = |c: char| c.is_ascii_alphanumeric() || "/-_.~".contains(c);
        if !self.mount.starts_with('/') || !self.mount.chars().all(plain) {
            return Err(LiveReloadError::MountPath(self.mount));
        }
        let inner = &self.assets.inner;
        let rules = Rules {
            static_root: inner.static_root.clone(),
            output_root: inner
                .config
                .output_dir
                .canonicalize()
                .unwrap_or_else(|_| inner.config.output_dir.clone()),
            url_prefix: inner.config.url_prefix.trim_end_matches('/').to_owned(),
            template_roots: self
                .templates
                .iter()
                .map(|dir| dir.canonicalize().unwrap_or_else(|_| dir.clone()))
                .collect(),
        };
        let (tx, rx) = std_mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            // The receiver is gone only when the service is: nothing to tell then.
            let _ = tx.send(event);
        })
        .map_err(|source| LiveReloadError::Watch {
            path: rules.static_root.clone(),
            source,
        })?;
        let mut dirs = vec![rules.static_root.clone()];
        dirs.extend(rules.template_roots.iter().cloned());
        for dir in &dirs {
            watcher
                .watch(dir, RecursiveMode::Recursive)
                .map_err(|source| LiveReloadError::Watch {
                    path: dir.clone(),
                    source,
                })?;
        }
        let hub = Arc::new(Hub::default());
        let thread_hub = Arc::clone(&hub);
        let debounce = self.debounce;
        let on_change = self.on_change;
        std::thread::Builder::new()
            .name("squall-live-reload".into())
            .spawn(move || debounce_loop(&rx, debounce, &rules, on_change.as_deref(), &thread_hub))
            .map_err(LiveReloadError::Thread)?;
        let tag = format!("<script src=\"{mount}/client.js\"></script>");
        let _ = inner.live_tag.set(tag);
        tracing::info!(dirs = ?dirs, mount = %mount, "live reload is watching");
        Ok(LiveReload {
            shared: Arc::new(Shared {
                hub,
                _watcher: Mutex::new(Box::new(watcher)),
            }),
        })
    }
}

/// The pages listening: one sender per open event stream.
#[derive(Default)]
struct Hub {
    clients: Mutex<Vec<mpsc::Sender<Bytes>>>,
}

impl Hub {
    /// Sends `chunk` to every page; drops those that went away.
    fn broadcast(&self, chunk: &Bytes) {
        self.clients
            .lock()
            .retain(|client| match client.try_send(chunk.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!("a live reload page is not reading; it missed an event");
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }
}

struct Shared {
    hub: Arc<Hub>,
    /// Kept for its lifetime: dropping it ends the watch and the debounce thread.
    _watcher: Mutex<Box<dyn Watcher + Send>>,
}

/// The live reload service: `GET <mount>/` is the event stream, `GET <mount>/client.js`
/// the client script; anything else is `404`. Cheap to clone (shared state).
#[derive(Clone)]
pub struct LiveReload {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LiveReload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveReload")
            .field("clients", &self.clients())
            .finish_non_exhaustive()
    }
}

impl LiveReload {
    /// Live reload for `assets` (debug mode), watching its static directory.
    pub fn builder(assets: &Assets) -> LiveReloadBuilder {
        LiveReloadBuilder {
            assets: assets.clone(),
            templates: Vec::new(),
            mount: "/__live".into(),
            debounce: DEFAULT_DEBOUNCE,
            on_change: None,
        }
    }

    /// How many pages are listening (those that went away are not counted).
    pub fn clients(&self) -> usize {
        let mut clients = self.shared.hub.clients.lock();
        clients.retain(|client| !client.is_closed());
        clients.len()
    }

    pub(super) fn subscribe(&self) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
        // Opens the stream at once (and sets how soon a page reconnects).
        let _ = tx.try_send(Bytes::from_static(b": squall live reload\nretry: 500\n\n"));
        self.shared.hub.clients.lock().push(tx);
        rx
    }
}

impl Assets {
    /// The `<script>` tag of the live reload client, once [`LiveReloadBuilder::start`]
    /// ran for these assets (debug mode only; always `None` in production). `static()`
    /// injects it; other template engines can place it themselves.
    pub fn live_reload_tag(&self) -> Option<&str> {
        match self.inner.config.mode {
            Mode::Debug => self.inner.live_tag.get().map(String::as_str),
            _ => None,
        }
    }

    /// `tags` with the live reload tag after them if this is the first `static()` of this
    /// render and live reload is on.
    #[cfg(feature = "minijinja")]
    pub(crate) fn with_live_reload(
        &self,
        state: &minijinja::State<'_, '_>,
        tags: String,
    ) -> String {
        const DONE: &str = "__squall_live_reload";
        match self.live_reload_tag() {
            Some(tag) if state.get_temp(DONE).is_none() => {
                state.set_temp(DONE, minijinja::Value::from(true));
                format!("{tags}\n{tag}")
            }
            _ => tags,
        }
    }
}

/// What a path means: ignored, a stylesheet (its URL path), or anything else.
struct Rules {
    static_root: PathBuf,
    output_root: PathBuf,
    url_prefix: String,
    /// The template directories watched.
    template_roots: Vec<PathBuf>,
}

enum Meaning {
    Ignore,
    Css(String),
    Other(String),
}

impl Rules {
    fn meaning(&self, path: &Path) -> Meaning {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        // Below the directory watched (whose own path may have hidden parts, as /tmp/.tmpX).
        let below = std::iter::once(&self.static_root)
            .chain(&self.template_roots)
            .find_map(|root| path.strip_prefix(root).ok())
            .unwrap_or(path);
        // Editors' swap, backup and probe files, hidden files; debug bundles.
        if name.is_empty()
            || name.ends_with('~')
            || name.ends_with(".swp")
            || name.ends_with(".swx")
            || name == "4913"
            || path.starts_with(&self.output_root)
            || below
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
        {
            return Meaning::Ignore;
        }
        match path.strip_prefix(&self.static_root) {
            Ok(rel) => {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let url = format!("{}/{}", self.url_prefix, rel.join("/"));
                if path.extension().is_some_and(|e| e == "css") {
                    Meaning::Css(url)
                } else {
                    Meaning::Other(url)
                }
            }
            Err(_) => Meaning::Other(path.display().to_string()),
        }
    }
}

fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any | EventKind::Other => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) => false,
    }
}

/// Waits for a change, gathers the burst until `debounce` of quiet, then tells the pages.
/// Ends when the watcher is dropped.
fn debounce_loop(
    rx: &std_mpsc::Receiver<notify::Result<notify::Event>>,
    debounce: Duration,
    rules: &Rules,
    on_change: Option<&ChangeFn>,
    hub: &Hub,
) {
    let take = |event: notify::Result<notify::Event>, paths: &mut BTreeSet<PathBuf>| match event {
        Ok(event) if relevant(&event.kind) => paths.extend(event.paths),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "live reload watcher"),
    };
    loop {
        let Ok(first) = rx.recv() else { return };
        let mut paths = BTreeSet::new();
        take(first, &mut paths);
        let started = Instant::now();
        while started.elapsed() < MAX_BURST {
            match rx.recv_timeout(debounce) {
                Ok(event) => take(event, &mut paths),
                Err(std_mpsc::RecvTimeoutError::Timeout) => break,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        let mut css = BTreeSet::new();
        let mut other = None;
        let mut changed = Vec::new();
        for path in paths {
            match rules.meaning(&path) {
                Meaning::Ignore => continue,
                Meaning::Css(url) => {
                    css.insert(url);
                }
                Meaning::Other(what) => {
                    other.get_or_insert(what);
                }
            }
            changed.push(path);
        }
        if changed.is_empty() {
            continue;
        }
        if let Some(f) = on_change {
            f(&changed);
        }
        let mut chunk = String::new();
        match other {
            Some(what) => {
                tracing::debug!(changed = %what, "live reload: reload");
                chunk.push_str(&format!("event: reload\ndata: {what}\n\n"));
            }
            None => {
                for url in css {
                    tracing::debug!(stylesheet = %url, "live reload: css");
                    chunk.push_str(&format!("event: css\ndata: {url}\n\n"));
                }
            }
        }
        hub.broadcast(&Bytes::from(chunk));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        let rules = Rules {
            static_root: "/site/static".into(),
            output_root: "/site/static/combined".into(),
            url_prefix: "/static".into(),
            template_roots: vec!["/site/templates".into()],
        };
        let url = |p: &str| match rules.meaning(Path::new(p)) {
            Meaning::Css(u) => format!("css {u}"),
            Meaning::Other(u) => format!("other {u}"),
            Meaning::Ignore => "ignore".into(),
        };
        assert_eq!(url("/site/static/css/a.css"), "css /static/css/a.css");
        assert_eq!(url("/site/static/js/a.js"), "other /static/js/a.js");
        assert_eq!(
            url("/site/templates/base.html"),
            "other /site/templates/base.html"
        );
        assert_eq!(url("/site/static/combined/a.123.css"), "ignore");
        assert_eq!(url("/site/static/css/.a.css.swp"), "ignore");
        assert_eq!(url("/site/static/css/a.css~"), "ignore");
        assert_eq!(url("/site/templates/4913"), "ignore");
        assert_eq!(url("/site/templates/.hidden/a.html"), "ignore");
        let tmp = Rules {
            static_root: "/tmp/.tmpAb/static".into(),
            output_root: "/tmp/.tmpAb/static/combined".into(),
            url_prefix: "/static".into(),
            template_roots: vec![],
        };
        assert!(matches!(
            tmp.meaning(Path::new("/tmp/.tmpAb/static/a.css")),
            Meaning::Css(_)
        ));
    }
}
