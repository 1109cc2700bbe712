//! HTML's form submission: the entry list a form sends (its enabled, successful controls
//! and the submit button used), and the request that carries it: a GET form's query, or
//! an urlencoded, multipart or text/plain body.

use std::borrow::Cow;

use bytes::Bytes;
use http::{Method, header};
use url::Url;

use super::client::TestClient;
use super::form_dom::{Control, File, Kind};
use super::multipart::Multipart;
use super::request::RequestBuilder;

/// What one entry sends: text, or a file (none when the file input is empty).
pub(super) enum Value<'a> {
    Text(&'a str),
    File(Option<&'a File>),
}

/// One name and value a form sends.
pub(super) type Entry<'a> = (Cow<'a, str>, Value<'a>);

/// HTML's entry list: the name and value of every enabled control that is sent, in tree
/// order, with the submit button `submitter` when one is used.
pub(super) fn entries<'a>(controls: &'a [Control], submitter: Option<&Control>) -> Vec<Entry<'a>> {
    let mut out = Vec::new();
    for c in controls.iter().filter(|c| !c.disabled) {
        let name = || Cow::Borrowed(c.name.as_str());
        match &c.kind {
            Kind::Text { value } => out.push((name(), Value::Text(value))),
            Kind::Check {
                value,
                checked: true,
                ..
            } => out.push((name(), Value::Text(value))),
            Kind::Check { .. } => {}
            Kind::Select { options, .. } => out.extend(
                options
                    .iter()
                    .filter(|o| o.selected && !o.disabled)
                    .map(|o| (name(), Value::Text(&o.value))),
            ),
            Kind::File { files, .. } if files.is_empty() => out.push((name(), Value::File(None))),
            Kind::File { files, .. } => {
                out.extend(files.iter().map(|f| (name(), Value::File(Some(f)))));
            }
            Kind::Submit(b) if submitter.is_some_and(|s| std::ptr::eq(s, c)) => {
                if b.image {
                    // A click at the image's top left corner.
                    let (x, y) = if c.name.is_empty() {
                        (Cow::Borrowed("x"), Cow::Borrowed("y"))
                    } else {
                        (
                            format!("{}.x", c.name).into(),
                            format!("{}.y", c.name).into(),
                        )
                    };
                    out.push((x, Value::Text("0")));
                    out.push((y, Value::Text("0")));
                } else if !c.name.is_empty() {
                    out.push((name(), Value::Text(&b.value)));
                }
            }
            Kind::Submit(_) => {}
        }
    }
    out
}

/// The request that sends `entries` to `action`, as HTML's form submission does: a GET
/// form replaces the action's query; any other goes as a body in `enctype`. The client
/// adds no XSRF token of its own: the form is sent as the page has it.
pub(super) fn request<'c>(
    client: &'c TestClient,
    mut action: Url,
    method: Method,
    enctype: &str,
    entries: &[Entry<'_>],
) -> RequestBuilder<'c> {
    if method == Method::GET {
        action.set_query(Some(&urlencoded(entries)));
        return client.get(action.as_str());
    }
    let request = client.request(method, action.as_str()).without_xsrf();
    match enctype {
        "multipart/form-data" => {
            let mut form = Multipart::new();
            for (name, value) in entries {
                let name = crlf(name);
                form = match value {
                    Value::Text(text) => form.text(name, crlf(text)),
                    Value::File(Some(f)) => form.file(
                        name,
                        f.filename.clone(),
                        f.content_type.clone(),
                        f.data.clone(),
                    ),
                    Value::File(None) => {
                        form.file(name, "", "application/octet-stream", Bytes::new())
                    }
                };
            }
            request.multipart(form)
        }
        "text/plain" => {
            let body: String = entries
                .iter()
                .map(|(name, value)| format!("{}={}\r\n", crlf(name), crlf(text_of(value))))
                .collect();
            request
                .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
                .body(body)
        }
        _ => request
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(urlencoded(entries)),
    }
}

/// The `method` HTML takes from an attribute: `post`, or else `get`.
pub(super) fn method_of(method: Option<&str>) -> Method {
    match method {
        Some(m) if m.trim().eq_ignore_ascii_case("post") => Method::POST,
        _ => Method::GET,
    }
}

/// The `enctype` HTML takes from an attribute: one of three, urlencoded by default.
pub(super) fn enctype_of(enctype: Option<&str>) -> &'static str {
    match enctype.map(str::trim) {
        Some(e) if e.eq_ignore_ascii_case("multipart/form-data") => "multipart/form-data",
        Some(e) if e.eq_ignore_ascii_case("text/plain") => "text/plain",
        _ => "application/x-www-form-urlencoded",
    }
}

/// An entry's value as text (a file as its name).
pub(super) fn text_of<'a>(value: &'a Value<'_>) -> &'a str {
    match value {
        Value::Text(text) => text,
        Value::File(Some(f)) => &f.filename,
        Value::File(None) => "",
    }
}

/// Line breaks as a form sends them: every CR, LF and CRLF becomes CRLF.
fn crlf(text: &str) -> String {
    if !text.contains(['\r', '\n']) {
        return text.to_owned();
    }
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

/// The entries as `application/x-www-form-urlencoded`.
fn urlencoded(entries: &[Entry<'_>]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in entries {
        s.append_pair(&crlf(name), &crlf(text_of(value)));
    }
    s.finish()
}
