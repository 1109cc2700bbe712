//! A response read as an HTML page (parsed by html5ever, through `scraper`): elements
//! selected with CSS, assertions on them as Rails' `assert_select` makes, its forms and
//! its links.
//!
//! ```
//! use axum::{Router, response::Html, routing::get};
//! use squall::testing::{Expect, TestClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new()
//!     .route("/", get(|| async { Html(r#"<ul><li>one</li><li class="x">two</li></ul><a href="/about">About us</a>"#) }))
//!     .route("/about", get(|| async { Html("<h1>About</h1>") }));
//! let client = TestClient::new(app);
//! let page = client.get("/").await;
//! page.assert_select("li", 2)
//!     .assert_select("li.x", "two")
//!     .assert_select("li", Expect::Contains("tw".into()))
//!     .assert_select("table", false);
//! assert_eq!(page.select("li")[1].attr("class"), Some("x"));
//! page.click_link("About us").await.assert_select("h1", "About");
//! # }
//! ```

use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::client::TestClient;
use super::form::Form;
use super::form_dom::{collapse, controls};
use super::request::RequestBuilder;
use super::response::TestResponse;

/// Why a page could not be read as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The CSS selector does not parse.
    #[error("invalid CSS selector {selector:?}: {reason}")]
    Selector {
        /// The selector as given.
        selector: String,
        /// What the parser said.
        reason: String,
    },
    /// Forms and links are read from HTML pages only, as a browser does.
    #[error(
        "{page} is not an HTML page (Content-Type: {content_type}); forms and links are \
         read from text/html or application/xhtml+xml responses, as a browser reads them"
    )]
    NotHtml {
        /// The request that got the page.
        page: String,
        /// The response's `Content-Type` (`none` when it has none).
        content_type: String,
    },
    /// No `<form>` matches the selector, or the page has not exactly one form.
    #[error("{page}: {wanted}, but the page has {forms} <form> elements")]
    NoForm {
        /// The request that got the page.
        page: String,
        /// What was asked: `no <form> matches "#login"`, `expected one <form>`.
        wanted: String,
        /// How many forms the page has.
        forms: usize,
    },
    /// No link (an `<a href>`) has that text, or matches that selector.
    #[error("{page}: no link {link} (the page's links: {links})")]
    NoLink {
        /// The request that got the page.
        page: String,
        /// The link asked for.
        link: String,
        /// The links on the page, by text.
        links: String,
    },
    /// Several links to different places match.
    #[error("{page}: link {link} is ambiguous: {candidates}")]
    AmbiguousLink {
        /// The request that got the page.
        page: String,
        /// The link asked for.
        link: String,
        /// The matching links and where they point.
        candidates: String,
    },
    /// The form's `action` or the link's `href` is not a URL.
    #[error("{page}: {what} {href:?} is not a URL: {source}")]
    BadUrl {
        /// The request that got the page.
        page: String,
        /// `the form's action` or `the link's href`.
        what: &'static str,
        /// The attribute.
        href: String,
        /// What the URL parser said.
        source: url::ParseError,
    },
}

/// An element of a page, from [`TestResponse::select`]: its tag, attributes, text and
/// markup, copied out of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    inner_html: String,
    html: String,
}

impl Element {
    fn new(el: ElementRef<'_>) -> Self {
        Element {
            name: el.value().name().to_owned(),
            attrs: el
                .value()
                .attrs()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            text: el.text().collect(),
            inner_html: el.inner_html(),
            html: el.html(),
        }
    }
    /// The tag name, lower case (`li`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The attributes, in the order of the markup.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    /// The text of the element and its descendants, with runs of white space made one
    /// space and trimmed, as it reads on screen.
    pub fn text(&self) -> String {
        collapse(&self.text)
    }
    /// The text of the element and its descendants, exactly as in the markup.
    pub fn raw_text(&self) -> &str {
        &self.text
    }
    /// The markup inside the element.
    pub fn inner_html(&self) -> &str {
        &self.inner_html
    }
    /// The element's markup, its own tags included.
    pub fn html(&self) -> &str {
        &self.html
    }
}

/// What [`TestResponse::assert_select`] expects of the elements a selector matches, as in
/// Rails: a number is an exact count, `true` at least one, `false` none, and text is the
/// text of at least one of them (white space collapsed on both sides).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expect {
    /// Exactly this many elements.
    Count(usize),
    /// At least one element.
    Present,
    /// No element.
    Absent,
    /// At least one element whose text is this.
    Text(String),
    /// At least one element whose text contains this.
    Contains(String),
}

impl From<usize> for Expect {
    fn from(n: usize) -> Self {
        Expect::Count(n)
    }
}
impl From<bool> for Expect {
    fn from(present: bool) -> Self {
        if present {
            Expect::Present
        } else {
            Expect::Absent
        }
    }
}
impl From<&str> for Expect {
    fn from(text: &str) -> Self {
        Expect::Text(text.to_owned())
    }
}
impl From<String> for Expect {
    fn from(text: String) -> Self {
        Expect::Text(text)
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Count(n) => write!(f, "exactly {n} elements"),
            Expect::Present => write!(f, "at least one element"),
            Expect::Absent => write!(f, "no element"),
            Expect::Text(t) => write!(f, "an element with text {:?}", collapse(t)),
            Expect::Contains(t) => write!(f, "an element whose text contains {:?}", collapse(t)),
        }
    }
}

impl Expect {
    fn holds(&self, found: &[Element]) -> bool {
        match self {
            Expect::Count(n) => found.len() == *n,
            Expect::Present => !found.is_empty(),
            Expect::Absent => found.is_empty(),
            Expect::Text(t) => {
                let t = collapse(t);
                found.iter().any(|e| e.text() == t)
            }
            Expect::Contains(t) => {
                let t = collapse(t);
                found.iter().any(|e| e.text().contains(&t))
            }
        }
    }
}

fn selector(css: &str) -> Result<Selector, Error> {
    Selector::parse(css).map_err(|e| Error::Selector {
        selector: css.to_owned(),
        reason: e.to_string(),
    })
}

/// The URL relative links resolve against: the page's `<base href>`, or its own URL.
fn base_url(doc: &Html, url: &Url) -> Url {
    Selector::parse("base[href]")
        .ok()
        .and_then(|s| doc.select(&s).next())
        .and_then(|b| url.join(b.value().attr("href")?).ok())
        .unwrap_or_else(|| url.clone())
}

/// A link's text as read on screen, or its `title` or `aria-label` when it has none.
fn link_text(a: ElementRef<'_>) -> String {
    let text = collapse(&a.text().collect::<String>());
    if !text.is_empty() {
        return text;
    }
    let attr = a.value().attr("aria-label").or(a.value().attr("title"));
    attr.map(collapse).unwrap_or_default()
}

impl TestResponse {
    fn page(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
    fn document(&self) -> Html {
        Html::parse_document(&String::from_utf8_lossy(&self.body))
    }
    /// The client that got this page, for its forms and links.
    fn page_client(&self) -> Result<&TestClient, Error> {
        self.client.as_deref().ok_or_else(|| Error::NotHtml {
            page: self.page(),
            content_type: self.header("content-type").unwrap_or("none").to_owned(),
        })
    }

    /// The elements of the body (parsed as HTML) that the CSS selector matches, in
    /// document order.
    pub fn try_select(&self, css: &str) -> Result<Vec<Element>, Error> {
        let selector = selector(css)?;
        Ok(self
            .document()
            .select(&selector)
            .map(Element::new)
            .collect())
    }
    /// The elements that the CSS selector matches (`"ul.nav > li a[href]"`), in document
    /// order.
    ///
    /// # Panics
    /// When the selector does not parse, naming it.
    #[track_caller]
    pub fn select(&self, css: &str) -> Vec<Element> {
        match self.try_select(css) {
            Ok(found) => found,
            Err(e) => self.fail(format_args!("select failed: {e}")),
        }
    }
    /// Asserts what the CSS selector matches, as Rails' `assert_select`: a count
    /// (`assert_select("li", 3)`), at least one (`true`) or none (`false`), or the text of
    /// at least one element (`"Welcome"`, or [`Expect::Contains`]).
    ///
    /// A failure names the selector, the expectation, what was found (the first
    /// elements' text) and the request.
    #[track_caller]
    pub fn assert_select(&self, css: &str, expect: impl Into<Expect>) -> &Self {
        let expect = expect.into();
        let found = match self.try_select(css) {
            Ok(found) => found,
            Err(e) => self.fail(format_args!("assert_select failed: {e}")),
        };
        if !expect.holds(&found) {
            let shown: Vec<String> = found
                .iter()
                .take(5)
                .map(|e| format!("<{}> {:?}", e.name, shorten(&e.text())))
                .collect();
            let more = found.len().saturating_sub(shown.len());
            self.fail(format_args!(
                "assert_select failed: {css:?} expected {expect}, found {} elements{}{}{}",
                found.len(),
                if shown.is_empty() { "" } else { ": " },
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                },
            ));
        }
        self
    }

    /// The first `<form>` the CSS selector matches (`"#login"`, `"form[action='/search']"`),
    /// read as a browser reads it (see [`Form`]), for filling in and submitting with the
    /// client that got this page.
    pub fn try_form(&self, css: &str) -> Result<Form, Error> {
        let selector = selector(css)?;
        let doc = self.document();
        let form = doc.select(&selector).find(|e| e.value().name() == "form");
        self.read_form(&doc, form, format!("no <form> matches {css:?}"), css)
    }
    /// [`try_form`](Self::try_form), panicking with the error.
    #[track_caller]
    pub fn form(&self, css: &str) -> Form {
        match self.try_form(css) {
            Ok(form) => form,
            Err(e) => self.fail(format_args!("form failed: {e}")),
        }
    }
    /// The page's one `<form>`; an error when it has none or several.
    pub fn try_only_form(&self) -> Result<Form, Error> {
        let doc = self.document();
        let forms = selector("form")?;
        let mut all = doc.select(&forms);
        let form = match (all.next(), all.next()) {
            (Some(form), None) => Some(form),
            _ => None,
        };
        self.read_form(&doc, form, "expected exactly one <form>".to_owned(), "form")
    }
    /// [`try_only_form`](Self::try_only_form), panicking with the error.
    #[track_caller]
    pub fn only_form(&self) -> Form {
        match self.try_only_form() {
            Ok(form) => form,
            Err(e) => self.fail(format_args!("only_form failed: {e}")),
        }
    }
    fn read_form(
        &self,
        doc: &Html,
        form: Option<ElementRef<'_>>,
        wanted: String,
        css: &str,
    ) -> Result<Form, Error> {
        let client = self.page_client()?;
        let Some(form) = form else {
            let forms = selector("form").map_or(0, |s| doc.select(&s).count());
            return Err(Error::NoForm {
                page: self.page(),
                wanted,
                forms,
            });
        };
        let base = base_url(doc, &self.url);
        let action = match form.value().attr("action").filter(|a| !a.is_empty()) {
            None => (*self.url).clone(),
            Some(a) => base.join(a).map_err(|source| Error::BadUrl {
                page: self.page(),
                what: "the form's action",
                href: a.to_owned(),
                source,
            })?,
        };
        Ok(Form::new(
            client.clone(),
            format!("form {css:?} on {}", self.page()),
            base,
            action,
            form.value().attr("method"),
            form.value().attr("enctype"),
            controls(doc, form),
        ))
    }

    /// A GET request to the link (`<a href>`) whose text is `text` (white space
    /// collapsed; a link with no text by its `aria-label` or `title`), or else the one
    /// whose text contains it. Links to the same place may repeat; links to different
    /// places are an error. Await it, or set more first (`.follow_redirects()`).
    pub fn try_click_link(&self, text: &str) -> Result<RequestBuilder<'_>, Error> {
        let want = collapse(text);
        let doc = self.document();
        let links = self.links(&doc)?;
        let mut found: Vec<&(String, String)> = links.iter().filter(|(t, _)| *t == want).collect();
        if found.is_empty() {
            found = links.iter().filter(|(t, _)| t.contains(&want)).collect();
        }
        self.follow(&doc, &format!("{want:?}"), &found, &links)
    }
    /// [`try_click_link`](Self::try_click_link), panicking with the error (which lists the
    /// page's links).
    #[track_caller]
    pub fn click_link(&self, text: &str) -> RequestBuilder<'_> {
        match self.try_click_link(text) {
            Ok(request) => request,
            Err(e) => self.fail(format_args!("click_link failed: {e}")),
        }
    }
    /// A GET request to the first link (`<a href>`) that the CSS selector matches
    /// (`"nav a.login"`).
    pub fn try_click(&self, css: &str) -> Result<RequestBuilder<'_>, Error> {
        let selector = selector(css)?;
        let doc = self.document();
        let links = self.links(&doc)?;
        let found: Vec<(String, String)> = doc
            .select(&selector)
            .filter(|a| a.value().name() == "a")
            .filter_map(|a| Some((link_text(a), a.value().attr("href")?.to_owned())))
            .take(1)
            .collect();
        let found: Vec<&(String, String)> = found.iter().collect();
        self.follow(&doc, &format!("matching {css:?}"), &found, &links)
    }
    /// [`try_click`](Self::try_click), panicking with the error.
    #[track_caller]
    pub fn click(&self, css: &str) -> RequestBuilder<'_> {
        match self.try_click(css) {
            Ok(request) => request,
            Err(e) => self.fail(format_args!("click failed: {e}")),
        }
    }
    /// The page's links: text and `href`.
    fn links(&self, doc: &Html) -> Result<Vec<(String, String)>, Error> {
        let links = selector("a[href]")?;
        Ok(doc
            .select(&links)
            .filter_map(|a| Some((link_text(a), a.value().attr("href")?.to_owned())))
            .collect())
    }
    /// The request that follows the one link in `found`.
    fn follow(
        &self,
        doc: &Html,
        link: &str,
        found: &[&(String, String)],
        links: &[(String, String)],
    ) -> Result<RequestBuilder<'_>, Error> {
        let client = self.page_client()?;
        let base = base_url(doc, &self.url);
        let resolve = |href: &str| {
            base.join(href).map_err(|source| Error::BadUrl {
                page: self.page(),
                what: "the link's href",
                href: href.to_owned(),
                source,
            })
        };
        let Some((_, href)) = found.first() else {
            let links: Vec<String> = links.iter().map(|(t, h)| format!("{t:?} -> {h}")).collect();
            return Err(Error::NoLink {
                page: self.page(),
                link: link.to_owned(),
                links: if links.is_empty() {
                    "none".to_owned()
                } else {
                    links.join(", ")
                },
            });
        };
        let target = resolve(href)?;
        if found
            .iter()
            .any(|(_, h)| base.join(h).ok().as_ref() != Some(&target))
        {
            let candidates: Vec<String> =
                found.iter().map(|(t, h)| format!("{t:?} -> {h}")).collect();
            return Err(Error::AmbiguousLink {
                page: self.page(),
                link: link.to_owned(),
                candidates: candidates.join(", "),
            });
        }
        Ok(client.get(target.as_str()))
    }
}

/// Text cut to a length that fits a message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
