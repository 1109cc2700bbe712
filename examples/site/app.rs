//! The example site's application: an axum `Router` built from a [`SiteConfig`]. The
//! example's `main.rs` serves it; the end-to-end tests drive it in-process and over HTTP.
//!
//! - `GET /` greets the visitor ("hello stranger" or "hi <user>") and shows a contact form
//!   whose message goes through `squall::mail::from_url(mail_url)` (a disk spool by
//!   default): the handler returns as soon as the message is queued.
//! - `GET/POST /login/` and `POST /logout/` keep a session in an HttpOnly cookie.
//! - In debug mode, `GET /__mail/` previews the mail in the spool (read-only).
//! - `GET/POST /forgot/` mails a password-reset link (`SQUALL_SITE_URL`, default
//!   `http://localhost:8000`, then `/reset/<token>`); `GET /reset/<token>` names the user.
//! - In debug mode, `/__live/` tells open pages to reload (or swap a changed stylesheet)
//!   when a file under `static/` or `templates/` changes.
//! - Every unsafe request must carry the `_xsrf` cookie's value back, as the `_xsrf` form
//!   field or the `X-XSRFToken` header (Tornado's rule), or it gets a 403.
//! - Templates use `static(...)`: one tag per file in debug mode, one hashed, minified
//!   bundle per call in production, served with immutable cache headers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Environment, Value, context, path_loader};
use serde::Deserialize;
use squall::assets::{Assets, AssetsConfig, LiveReload, Mode};
use squall::mail::{Email, MailTemplates, Mailer, from_url};

/// Who may log in: the example's one user.
const USERS: &[(&str, &str)] = &[("peterbe", "secret")];
const SESSION_COOKIE: &str = "session";
const XSRF_COOKIE: &str = "_xsrf";

/// Everything the site needs to know; [`SiteConfig::from_env`] reads the environment.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// The directory holding `templates/` and `static/`.
    pub root: PathBuf,
    /// Where contact mail goes (`SQUALL_MAIL_URL`, default `spool:spool`).
    pub mail_url: String,
    /// Debug or production assets (`SQUALL_ASSETS=production`).
    pub assets_mode: Mode,
    /// Where production bundles are written (default `<root>/static/combined`).
    pub output_dir: PathBuf,
    /// A CDN prefix for production URLs (`SQUALL_CDN_PREFIX`).
    pub cdn_prefix: Option<String>,
}

impl SiteConfig {
    /// Reads `SQUALL_MAIL_URL`, `SQUALL_ASSETS` and `SQUALL_CDN_PREFIX`.
    pub fn from_env(root: PathBuf) -> Result<Self, String> {
        let assets_mode = match std::env::var("SQUALL_ASSETS").as_deref() {
            Ok("production") => Mode::Production,
            Ok("debug") | Err(_) => Mode::Debug,
            Ok(other) => {
                return Err(format!(
                    "SQUALL_ASSETS={other:?}: expected debug or production"
                ));
            }
        };
        Ok(SiteConfig {
            output_dir: root.join("static/combined"),
            root,
            mail_url: std::env::var("SQUALL_MAIL_URL").unwrap_or_else(|_| "spool:spool".into()),
            assets_mode,
            cdn_prefix: std::env::var("SQUALL_CDN_PREFIX")
                .ok()
                .filter(|p| !p.is_empty()),
        })
    }
}

struct Site {
    /// Behind a lock so that live reload (debug mode) can clear its cache.
    templates: Arc<RwLock<Environment<'static>>>,
    /// Mail templates (`templates/mail/`), rendered with the site's own environment.
    mails: MailTemplates,
    mailer: Box<dyn Mailer>,
    config: SiteConfig,
    /// Session token -> user name.
    sessions: Mutex<HashMap<String, String>>,
    /// Password-reset token -> user name.
    resets: Mutex<HashMap<String, String>>,
}

/// Builds the site's router.
pub fn router(config: SiteConfig) -> Result<Router, Box<dyn std::error::Error>> {
    let mailer = from_url(&config.mail_url)?;
    router_with_mailer(config, mailer)
}

/// Builds the site's router with its mail going to `mailer` (a test's `MemoryMailer`)
/// instead of `config.mail_url`.
pub fn router_with_mailer(
    config: SiteConfig,
    mailer: Box<dyn Mailer>,
) -> Result<Router, Box<dyn std::error::Error>> {
    let assets = Assets::new(AssetsConfig {
        static_dir: config.root.join("static"),
        output_dir: config.output_dir.clone(),
        url_prefix: "/static/".into(),
        cdn_prefix: config.cdn_prefix.clone(),
        mode: config.assets_mode,
    })?;
    let mut templates = Environment::new();
    templates.set_loader(path_loader(config.root.join("templates")));
    assets.register(&mut templates);
    let mails = MailTemplates::new(templates.clone());
    let templates = Arc::new(RwLock::new(templates));
    let live = live_reload(&assets, &config, &templates)?;
    let site = Arc::new(Site {
        mails,
        templates,
        mailer,
        config,
        sessions: Mutex::new(HashMap::new()),
        resets: Mutex::new(HashMap::new()),
    });

    let mut router = Router::new()
        .route("/", get(home))
        .route("/contact/", post(contact))
        .route("/login/", get(login_page).post(login))
        .route("/logout/", post(logout))
        .route("/forgot/", get(forgot_page).post(forgot))
        .route("/reset/{token}", get(reset_page));
    if site.config.assets_mode == Mode::Production {
        // Bundles are named by their content: cache them forever, precompressed.
        router = router.nest_service(
            "/static/combined",
            squall::assets::serve_immutable(&site.config.output_dir),
        );
    }
    if site.config.assets_mode == Mode::Debug {
        router = router.nest_service("/__mail", mail_preview(&site.config.mail_url));
    }
    if let Some(live) = live {
        router = router.nest_service("/__live", live);
    }
    let sources = squall::assets::serve_no_cache(site.config.root.join("static"));
    Ok(router.nest_service("/static", sources).with_state(site))
}

/// Live reload at `/__live/` (debug mode only): watches `static/` and `templates/`,
/// clears the template cache on a change, and `static()` injects the client script.
fn live_reload(
    assets: &Assets,
    config: &SiteConfig,
    templates: &Arc<RwLock<Environment<'static>>>,
) -> Result<Option<LiveReload>, Box<dyn std::error::Error>> {
    if config.assets_mode != Mode::Debug {
        return Ok(None);
    }
    let templates = Arc::clone(templates);
    let live = LiveReload::builder(assets)
        .templates(config.root.join("templates"))
        .on_change(move |_| {
            templates
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .clear_templates();
        })
        .start()?;
    Ok(Some(live))
}

/// The mail preview at `/__mail/` (debug mode only): the site's spool, read-only. A
/// message's page is `/__mail/spool/<queue id>`.
fn mail_preview(mail_url: &str) -> squall::mail::MailPreview {
    let preview = squall::mail::MailPreview::new().mounted_at("/__mail");
    match squall::mail::SpoolConfig::from_url(mail_url) {
        Ok(spool) => preview.source("spool", squall::mail::SpoolSource::new(spool.dir())),
        Err(_) => preview,
    }
}

/// The request's cookies, by name.
fn cookies(headers: &HeaderMap) -> HashMap<&str, &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .collect()
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    // The OS always has entropy here; a failure leaves zeros, which the XSRF check and
    // session lookup treat as any other token.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a page needs from the request: the user, and the XSRF token (made if missing).
struct Visitor {
    user: Option<String>,
    xsrf: String,
    new_xsrf: bool,
}

impl Site {
    fn visitor(&self, headers: &HeaderMap) -> Visitor {
        let cookies = cookies(headers);
        let user = cookies.get(SESSION_COOKIE).and_then(|token| {
            self.sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(*token)
                .cloned()
        });
        match cookies.get(XSRF_COOKIE) {
            Some(token) if !token.is_empty() => Visitor {
                user,
                xsrf: (*token).to_owned(),
                new_xsrf: false,
            },
            _ => Visitor {
                user,
                xsrf: random_token(),
                new_xsrf: true,
            },
        }
    }

    fn page(&self, template: &str, visitor: &Visitor, extra: Value) -> Response {
        let ctx = context! {
            user => visitor.user,
            xsrf => visitor.xsrf,
            mail_url => self.config.mail_url,
            assets_mode => match self.config.assets_mode { Mode::Production => "production", _ => "debug" },
            ..extra
        };
        let templates = self.templates.read().unwrap_or_else(|e| e.into_inner());
        let html = match templates.get_template(template).and_then(|t| t.render(ctx)) {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(error = %e, "template failed");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("template error: {e}"),
                )
                    .into_response();
            }
        };
        let mut response = Html(html).into_response();
        if visitor.new_xsrf
            && let Ok(cookie) = HeaderValue::from_str(&format!(
                "{XSRF_COOKIE}={}; Path=/; SameSite=Lax",
                visitor.xsrf
            ))
        {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// Tornado's rule: an unsafe request carries the `_xsrf` cookie's value back.
    fn xsrf_ok(&self, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
        let cookies = cookies(headers);
        let expected = cookies.get(XSRF_COOKIE).copied().unwrap_or("");
        let given = form
            .get("_xsrf")
            .map(String::as_str)
            .or_else(|| headers.get("x-xsrftoken").and_then(|v| v.to_str().ok()))
            .unwrap_or("");
        !expected.is_empty() && given == expected
    }
}

fn xsrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "403: the _xsrf argument is missing or does not match the _xsrf cookie",
    )
        .into_response()
}

#[derive(Deserialize)]
struct HomeQuery {
    sent: Option<String>,
}

async fn home(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    Query(q): Query<HomeQuery>,
) -> Response {
    let visitor = site.visitor(&headers);
    site.page(
        "index.html",
        &visitor,
        context! { sent => q.sent.is_some() },
    )
}

async fn contact(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !site.xsrf_ok(&headers, &form) {
        return xsrf_refused();
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("").trim();
    // templates/mail/contact.{subject.txt,txt,html}: the text part is the message as
    // typed; the HTML part has its CSS inlined.
    let email = site
        .mails
        .render(
            "contact",
            context! { email => field("email"), message => field("message") },
        )
        .map_err(|e| e.to_string())
        .and_then(|mail| {
            mail.from("squall example <site@example.com>")
                .to("owner@example.com")
                .reply_to(field("email"))
                .build()
                .map_err(|e| e.to_string())
        });
    let sent = match email {
        Ok(email) => site.mailer.send(&email).await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => Redirect::to("/?sent=1").into_response(),
        Err(error) => {
            let visitor = site.visitor(&headers);
            let page = site.page("index.html", &visitor, context! { error => error });
            (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
        }
    }
}

async fn login_page(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    let visitor = site.visitor(&headers);
    site.page("login.html", &visitor, context! {})
}

async fn login(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !site.xsrf_ok(&headers, &form) {
        return xsrf_refused();
    }
    let username = form.get("username").map(String::as_str).unwrap_or("");
    let password = form.get("password").map(String::as_str).unwrap_or("");
    if !USERS.contains(&(username, password)) {
        let visitor = site.visitor(&headers);
        let page = site.page(
            "login.html",
            &visitor,
            context! { error => "Wrong username or password." },
        );
        return (StatusCode::FORBIDDEN, page).into_response();
    }
    let token = random_token();
    site.sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(token.clone(), username.to_owned());
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax");
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "/".to_owned()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

async fn logout(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !site.xsrf_ok(&headers, &form) {
        return xsrf_refused();
    }
    if let Some(token) = cookies(&headers).get(SESSION_COOKIE) {
        site.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(*token);
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "/".to_owned()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

// The password-reset flow: a form mails a link with a one-time token; the link's page
// names the account. (The example stops there: it sets no new password.)

/// Where the links in the site's mail point (a mail has no base URL).
fn site_url() -> String {
    std::env::var("SQUALL_SITE_URL").unwrap_or_else(|_| "http://localhost:8000".into())
}

async fn forgot_page(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    let visitor = site.visitor(&headers);
    site.page("forgot.html", &visitor, context! {})
}

async fn forgot(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !site.xsrf_ok(&headers, &form) {
        return xsrf_refused();
    }
    let username = form
        .get("username")
        .map(String::as_str)
        .unwrap_or("")
        .trim();
    // Known or not, the page says the same, so it tells no one which accounts exist.
    if USERS.iter().any(|(user, _)| *user == username) {
        let token = random_token();
        let link = format!("{}/reset/{token}", site_url().trim_end_matches('/'));
        let email = Email::builder()
            .from("squall example <site@example.com>")
            .to(format!("{username}@example.com"))
            .subject("Reset your password")
            .text(format!(
                "Hi {username},\n\nReset your password here: {link}\n"
            ))
            .html(format!(
                "<p>Hi {username},</p><p><a href=\"{link}\">Reset your password</a></p>"
            ))
            .build();
        let sent = match email {
            Ok(email) => site.mailer.send(&email).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = sent {
            tracing::error!(%error, "the password-reset mail could not be sent");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the mail could not be sent",
            )
                .into_response();
        }
        site.resets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, username.to_owned());
    }
    let visitor = site.visitor(&headers);
    site.page("forgot.html", &visitor, context! { sent => true })
}

async fn reset_page(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    let user = site
        .resets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&token)
        .cloned();
    let Some(name) = user else {
        return (StatusCode::NOT_FOUND, "this reset link is unknown or used").into_response();
    };
    let visitor = site.visitor(&headers);
    site.page("reset.html", &visitor, context! { name => name })
}
