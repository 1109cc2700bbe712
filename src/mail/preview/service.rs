//! [`MailPreview`], the tower service: it routes a request to a page, a message part or an
//! attachment, and answers anything but `GET` and `HEAD` with 405.
//!
//! ```
//! use squall::mail::{MailPreview, MemoryMailer, SpoolSource};
//!
//! let preview = MailPreview::new()
//!     .mounted_at("/__mail")
//!     .source("outbox", MemoryMailer::new())
//!     .source("spool", SpoolSource::new("spool"));
//! // axum: Router::new().nest_service("/__mail", preview)
//! # let _ = preview;
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use percent_encoding::percent_decode_str;
use tower::Service;

use super::html::segment;
use super::pages::{self, Tab};
use super::view::View;
use super::{MailSource, Previews, StoredMail};
use crate::mail::queue::unix_ms;

/// The policy of the preview's own pages: their style, and frames of this origin only.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; \
                        img-src 'self' data:; base-uri 'none'; form-action 'none'";
/// The policy of anything taken from a message: a sandbox (no scripts, its own origin).
const SANDBOX_CSP: &str = "sandbox";

/// A read-only view of mail in the browser, as a tower service: see the
/// [module documentation](crate::mail::MailPreview) for its pages. Cheap to clone.
///
/// There is no write action (nothing is deleted, retried or sent), and every request other
/// than `GET` or `HEAD` gets `405 Method Not Allowed`.
#[derive(Clone, Default)]
pub struct MailPreview {
    base: Arc<str>,
    sources: Arc<Vec<(String, Arc<dyn MailSource>)>>,
}

impl std::fmt::Debug for MailPreview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailPreview")
            .field("base", &self.base)
            .field(
                "sources",
                &self.sources.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

type Reply = Response<Full<Bytes>>;

impl MailPreview {
    /// A preview with no sources, serving its pages from `/`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The path the service is mounted at, such as `/__mail`: its links start with it. A
    /// request path that starts with it has it taken off, so the service works both nested
    /// (`router.nest_service("/__mail", preview)`, which strips the prefix) and as it is.
    pub fn mounted_at(mut self, base: &str) -> Self {
        self.base = base.trim_end_matches('/').into();
        self
    }

    /// Adds a source of mail under `name`, which names it on the list and in URLs:
    /// a [`MemoryMailer`](crate::mail::MemoryMailer), a [`SpoolSource`](super::SpoolSource),
    /// a `RedisQueue` (feature `redis`), or any [`MailSource`].
    pub fn source(mut self, name: impl Into<String>, source: impl MailSource + 'static) -> Self {
        Arc::make_mut(&mut self.sources).push((name.into(), Arc::new(source)));
        self
    }

    /// Adds registered previews, under the name `previews`.
    pub fn previews(self, previews: Previews) -> Self {
        self.source("previews", previews)
    }

    /// The path below the mount point, in decoded segments; `None` for a path that is not
    /// valid UTF-8 once decoded.
    fn segments(&self, path: &str) -> Option<Vec<String>> {
        let rest = match path.strip_prefix(&*self.base) {
            Some(rest) if !self.base.is_empty() && (rest.is_empty() || rest.starts_with('/')) => {
                rest
            }
            _ => path,
        };
        let mut out = Vec::new();
        for part in rest.split('/').filter(|s| !s.is_empty()) {
            out.push(percent_decode_str(part).decode_utf8().ok()?.into_owned());
        }
        Some(out)
    }

    fn find(&self, name: &str) -> Option<&Arc<dyn MailSource>> {
        self.sources.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    async fn respond(&self, method: &Method, path: &str) -> Reply {
        if method != Method::GET && method != Method::HEAD {
            let mut reply = self.problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                &format!("the mail preview is read-only: {method} is not served"),
            );
            reply
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return reply;
        }
        let now = unix_ms(SystemTime::now());
        let Some(segments) = self.segments(path) else {
            return self.not_found(path);
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (source_name, id, rest) = match segments.as_slice() {
            [] => {
                let mut sections = Vec::new();
                for (name, source) in self.sources.iter() {
                    sections.push((name.clone(), source.list().await));
                }
                return page(StatusCode::OK, pages::index(&self.base, &sections, now));
            }
            [source, id, rest @ ..] => (*source, *id, rest),
            _ => return self.not_found(path),
        };
        let Some(source) = self.find(source_name) else {
            return self.not_found(path);
        };
        let mail = match source.get(id).await {
            Ok(Some(mail)) => mail,
            Ok(None) => {
                return self.problem(
                    StatusCode::NOT_FOUND,
                    "Not found",
                    &format!("{source_name} has no message {id}"),
                );
            }
            Err(e) => {
                tracing::warn!(source = source_name, id, error = %e, "mail preview: reading failed");
                return self.problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "This message could not be read",
                    &e.to_string(),
                );
            }
        };
        let view = View::parse(&mail.bytes);
        let tab = match rest {
            [] => match &view {
                Some(v) if v.html.is_none() => Tab::Text,
                _ => Tab::Html,
            },
            ["body.html"] => return body_html(view.as_ref(), &mail),
            ["source.eml"] => return source_eml(&mail),
            ["attachments", n] => {
                return attachment(view.as_ref(), n).unwrap_or_else(|| self.not_found(path));
            }
            [tab] => match Tab::from_segment(tab) {
                Some(tab) => tab,
                None => return self.not_found(path),
            },
            _ => return self.not_found(path),
        };
        page(
            StatusCode::OK,
            pages::message(&self.base, source_name, &mail, view.as_ref(), tab, now),
        )
    }

    fn problem(&self, status: StatusCode, title: &str, detail: &str) -> Reply {
        page(status, pages::problem(&self.base, title, detail))
    }

    fn not_found(&self, path: &str) -> Reply {
        self.problem(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("nothing is served at {path}"),
        )
    }
}

fn reply(
    status: StatusCode,
    content_type: &str,
    csp: &'static str,
    body: impl Into<Bytes>,
) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    let headers = reply.headers_mut();
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    reply
}

fn page(status: StatusCode, html: String) -> Reply {
    reply(status, "text/html; charset=utf-8", PAGE_CSP, html)
}

/// The HTML part alone, for the sandboxed iframe.
fn body_html(view: Option<&View>, mail: &StoredMail) -> Reply {
    match view.and_then(|v| v.html.clone()) {
        Some(html) => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            SANDBOX_CSP,
            html,
        ),
        None => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            SANDBOX_CSP,
            format!("message {} has no HTML part\n", mail.id),
        ),
    }
}

/// `attachment; filename="…"` with an ASCII fallback and the UTF-8 name (RFC 6266).
fn disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let value = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        segment(name)
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

fn source_eml(mail: &StoredMail) -> Reply {
    let mut reply = reply(
        StatusCode::OK,
        "message/rfc822",
        SANDBOX_CSP,
        mail.bytes.clone(),
    );
    reply.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        disposition(&format!("{}.eml", mail.id)),
    );
    reply
}

/// Attachment `n` (from 1), with its own type; `None` when there is no such attachment.
fn attachment(view: Option<&View>, n: &str) -> Option<Reply> {
    let index = n.parse::<usize>().ok()?.checked_sub(1)?;
    let part = view?.attachments.get(index)?;
    // mail-parser hands text parts over decoded to UTF-8.
    let content_type = if part.content_type.starts_with("text/") {
        format!("{}; charset=utf-8", part.content_type)
    } else {
        part.content_type.clone()
    };
    let mut reply = reply(
        StatusCode::OK,
        &content_type,
        SANDBOX_CSP,
        part.bytes.clone(),
    );
    reply
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, disposition(&part.name));
    Some(reply)
}

impl<B> Service<Request<B>> for MailPreview {
    type Response = Reply;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        Box::pin(async move { Ok(this.respond(&method, &path).await) })
    }
}
