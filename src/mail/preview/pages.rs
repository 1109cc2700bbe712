//! The preview's pages as HTML strings: the list of every source's mail, and one message
//! with its tabs. Every value from a message or a source is escaped here.

use std::fmt::Write;

use super::html::{age, escape, page, segment};
use super::view::View;
use super::{MailState, PreviewError, StoredMail};

/// The tabs of a message page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tab {
    Html,
    Text,
    Headers,
    Raw,
    Attachments,
}

impl Tab {
    const ALL: [Tab; 5] = [
        Tab::Html,
        Tab::Text,
        Tab::Headers,
        Tab::Raw,
        Tab::Attachments,
    ];

    /// The tab a path's last segment names.
    pub(super) fn from_segment(segment: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.segment() == segment)
    }

    fn segment(self) -> &'static str {
        match self {
            Tab::Html => "html",
            Tab::Text => "text",
            Tab::Headers => "headers",
            Tab::Raw => "raw",
            Tab::Attachments => "attachments",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Html => "HTML",
            Tab::Text => "Text",
            Tab::Headers => "Headers",
            Tab::Raw => "Raw source",
            Tab::Attachments => "Attachments",
        }
    }
}

/// The message's URL below the mount point: `<base>/<source>/<id>`.
pub(super) fn message_url(base: &str, source: &str, id: &str) -> String {
    format!("{base}/{}/{}", segment(source), segment(id))
}

fn state_cell(state: MailState, now_ms: u64) -> String {
    let mut cell = format!(
        "<span class=\"state state-{}\">{}</span>",
        state.label().replace(' ', "-"),
        state.label()
    );
    if let MailState::Deferred { due_unix_ms } = state
        && due_unix_ms > 0
    {
        let _ = write!(cell, " due {}", age(due_unix_ms, now_ms));
    }
    cell
}

/// The list: one table per source, newest first.
pub(super) fn index(
    base: &str,
    sections: &[(String, Result<Vec<StoredMail>, PreviewError>)],
    now_ms: u64,
) -> String {
    let mut body = String::from("<h1>Mail</h1>");
    if sections.is_empty() {
        body.push_str("<p class=\"empty\">No sources are configured.</p>");
    }
    for (name, listed) in sections {
        let _ = write!(body, "<h2>{}</h2>", escape(name));
        let mails = match listed {
            Ok(mails) if mails.is_empty() => {
                body.push_str("<p class=\"empty\">No messages.</p>");
                continue;
            }
            Ok(mails) => mails,
            Err(e) => {
                let _ = write!(body, "<p class=\"error\">{}</p>", escape(&e.to_string()));
                continue;
            }
        };
        body.push_str(
            "<table class=\"messages\"><thead><tr><th>Subject</th><th>To</th><th>Age</th>\
             <th>State</th></tr></thead><tbody>",
        );
        for mail in mails {
            let view = View::parse(&mail.bytes);
            let subject = view
                .as_ref()
                .map(|v| v.subject.as_str())
                .filter(|s| !s.is_empty())
                .unwrap_or("(no subject)");
            let to = match view.as_ref().map(|v| v.to.as_str()) {
                Some(to) if !to.is_empty() => to.to_owned(),
                _ => mail.recipients.join(", "),
            };
            let error = mail
                .error
                .as_deref()
                .map(|e| format!("<br><span class=\"error\">{}</span>", escape(e)))
                .unwrap_or_default();
            let _ = write!(
                body,
                "<tr><td><a href=\"{href}\">{subject}</a>{error}</td><td>{to}</td>\
                 <td>{age}</td><td>{state}</td></tr>",
                href = escape(&message_url(base, name, &mail.id)),
                subject = escape(subject),
                to = escape(&to),
                age = mail
                    .created_unix_ms
                    .map(|t| age(t, now_ms))
                    .unwrap_or_else(|| "—".into()),
                state = state_cell(mail.state, now_ms),
            );
        }
        body.push_str("</tbody></table>");
    }
    page(base, "Mail", &body)
}

/// One message on one tab.
pub(super) fn message(
    base: &str,
    source: &str,
    mail: &StoredMail,
    view: Option<&View>,
    tab: Tab,
    now_ms: u64,
) -> String {
    let url = message_url(base, source, &mail.id);
    let subject = view
        .map(|v| v.subject.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("(no subject)");
    let mut body = format!("<h1 id=\"subject\">{}</h1>", escape(subject));
    body.push_str("<table class=\"meta\">");
    let mut row = |name: &str, value: &str| {
        if !value.is_empty() {
            let _ = write!(body, "<tr><td>{name}</td><td>{}</td></tr>", escape(value));
        }
    };
    if let Some(v) = view {
        row("From", &v.from);
        row("To", &v.to);
        row("Cc", &v.cc);
        row("Date", &v.date);
    }
    row("Envelope", &mail.recipients.join(", "));
    row("Source", &format!("{source} · {}", mail.id));
    if let Some(created) = mail.created_unix_ms {
        row("Age", &age(created, now_ms));
    }
    if let Some(error) = &mail.error {
        row("Error", error);
    }
    let _ = write!(
        body,
        "<tr><td>State</td><td>{}</td></tr></table>",
        state_cell(mail.state, now_ms)
    );

    body.push_str("<nav class=\"tabs\">");
    for t in Tab::ALL {
        let count = match (t, view) {
            (Tab::Attachments, Some(v)) => format!(" ({})", v.attachments.len()),
            _ => String::new(),
        };
        let current = if t == tab {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            body,
            "<a href=\"{}/{}\"{current}>{}{count}</a>",
            escape(&url),
            t.segment(),
            t.label()
        );
    }
    body.push_str("</nav><section id=\"tab\">");
    let Some(view) = view.filter(|_| tab != Tab::Raw) else {
        if tab != Tab::Raw {
            body.push_str("<p class=\"error\">These bytes do not parse as a message; the raw source is below.</p>");
        }
        raw(&mut body, &url, mail);
        body.push_str("</section>");
        return page(base, &escape(subject), &body);
    };
    match tab {
        Tab::Html => match &view.html {
            Some(_) => {
                let _ = write!(
                    body,
                    "<iframe id=\"html-part\" sandbox src=\"{}/body.html\" title=\"HTML part\"></iframe>",
                    escape(&url)
                );
            }
            None => body.push_str("<p class=\"empty\">This message has no HTML part.</p>"),
        },
        Tab::Text => match &view.text {
            Some(text) => {
                let _ = write!(body, "<pre id=\"text-part\">{}</pre>", escape(text));
            }
            None => body.push_str("<p class=\"empty\">This message has no text part.</p>"),
        },
        Tab::Headers => {
            body.push_str("<table class=\"headers\"><tbody>");
            for (name, value) in &view.headers {
                let _ = write!(
                    body,
                    "<tr><th>{}</th><td>{}</td></tr>",
                    escape(name),
                    escape(value)
                );
            }
            body.push_str("</tbody></table>");
        }
        Tab::Attachments if view.attachments.is_empty() => {
            body.push_str("<p class=\"empty\">No attachments.</p>");
        }
        Tab::Attachments => {
            body.push_str(
                "<table class=\"attachments\"><thead><tr><th>Name</th><th>Type</th>\
                 <th>Size</th></tr></thead><tbody>",
            );
            for (i, part) in view.attachments.iter().enumerate() {
                let _ = write!(
                    body,
                    "<tr><td><a href=\"{}/attachments/{}\" download>{}</a></td><td>{}</td>\
                     <td>{} bytes</td></tr>",
                    escape(&url),
                    i + 1,
                    escape(&part.name),
                    escape(&part.content_type),
                    part.bytes.len()
                );
            }
            body.push_str("</tbody></table>");
        }
        Tab::Raw => raw(&mut body, &url, mail),
    }
    body.push_str("</section>");
    page(base, &escape(subject), &body)
}

/// The most of a message's source the raw tab shows; the download has it all.
const RAW_SHOWN: usize = 1 << 20;

/// The raw tab: a download link and the source itself (its first MiB).
fn raw(body: &mut String, url: &str, mail: &StoredMail) {
    let shown = &mail.bytes[..mail.bytes.len().min(RAW_SHOWN)];
    let _ = write!(
        body,
        "<p><a href=\"{}/source.eml\" download>Download source.eml</a> ({} bytes)</p>\
         <pre id=\"raw-source\">{}</pre>",
        escape(url),
        mail.bytes.len(),
        escape(&String::from_utf8_lossy(shown))
    );
    if shown.len() < mail.bytes.len() {
        let _ = write!(
            body,
            "<p class=\"empty\">The first {} bytes are shown; the download holds all {}.</p>",
            shown.len(),
            mail.bytes.len()
        );
    }
}

/// A page that says what went wrong (not found, a source that failed).
pub(super) fn problem(base: &str, title: &str, detail: &str) -> String {
    page(
        base,
        &escape(title),
        &format!(
            "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"{}/\">All mail</a></p>",
            escape(title),
            escape(detail),
            escape(base)
        ),
    )
}
