//! HTML pages in the test client, against a real axum app: selecting elements and
//! asserting on them (`select`, `assert_select`), reading forms as a browser does (which
//! controls are sent, with what), filling and submitting them (urlencoded, multipart, GET
//! query, submit buttons), and following links. Submissions land on an echo handler that
//! reports exactly what arrived. The main cases run in-process and over a real socket.
#![cfg(feature = "testing")]

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Html;
use axum::routing::{any, get};
use serde_json::{Value, json};
use squall::testing::{Expect, FormError, HtmlError, TestClient, TestResponse};

const PAGE: &str = r#"<!doctype html>
<html><head><title>Forms</title></head><body>
<h1>Forms</h1>
<ul id="items"><li>one</li><li class="b">two
   <b>bold</b></li><li>three</li></ul>
<form id="all" action="/echo?kept=1" method="POST">
  <input type="hidden" name="_xsrf" value="page-token">
  <input name="text" value="hello">
  <input type="password" name="pw">
  <textarea name="note">
line one
line two</textarea>
  <input type="checkbox" name="agree" value="yes" checked>
  <input type="checkbox" name="news">
  <input type="checkbox" name="tag" value="a"><input type="checkbox" name="tag" value="b" checked>
  <input type="radio" name="size" value="s"><input type="radio" name="size" value="m" checked>
  <input type="radio" name="size" value="l">
  <input type="radio" name="plan" value="free" disabled><input type="radio" name="plan" value="pro">
  <select name="color"><option value="r">Red</option><option value="g">Green</option></select>
  <select name="pick"><option value="1">One</option><option value="2" selected>Two</option></select>
  <select name="multi" multiple><option selected>x</option><option>y</option>
    <option selected disabled>z</option></select>
  <input name="off" value="nope" disabled>
  <fieldset disabled><input name="fs_off" value="nope"><legend>L</legend></fieldset>
  <fieldset disabled><legend><input name="in_legend" value="kept"></legend></fieldset>
  <input type="reset" name="reset" value="r">
  <input type="button" name="plain" value="p">
  <input type="submit" name="go" value="Go">
  <button name="alt" value="other" formaction="/echo/alt">Alternative</button>
  <button type="button" name="js">Script</button>
  <input type="image" name="map" alt="Map">
</form>
<input form="all" name="outside" value="owned">
<form id="search" action="/echo?dropped=1"><input name="q" value="a b"><input type="submit" value="Search"></form>
<form id="upload" action="/echo" method="post" enctype="multipart/form-data">
  <input name="title" value="t"><input type="file" name="doc">
</form>
<form id="noaction" method="post"><input name="x" value="1"></form>
<a href="/echo?from=link">Next page</a>
<a href="/echo?from=other">Other</a>
<a class="nav" href="about">About
   us</a>
<a href="/x">Twice</a><a href="/y">Twice</a><a href="/echo?from=link">Next page</a>
</body></html>"#;

/// What `#all` sends with submit button `name` = `value`: in tree order, so before the
/// control outside the form that names it with `form="all"`.
fn with_button(name: &str, value: &str) -> Vec<(String, String)> {
    let mut fields = owned(ALL_FIELDS);
    fields.insert(fields.len() - 1, (name.to_owned(), value.to_owned()));
    fields
}

/// What arrived: method, path and query, content type, body, and any XSRF header.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> axum::Json<Value> {
    let h = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    axum::Json(json!({
        "method": method.as_str(),
        "uri": uri.to_string(),
        "content_type": h(header::CONTENT_TYPE),
        "xsrf_header": h(header::HeaderName::from_static("x-xsrftoken")),
        "body": String::from_utf8_lossy(&body),
    }))
}

fn app() -> Router {
    Router::new()
        .route(
            "/forms",
            get(|| async {
                (
                    [(header::SET_COOKIE, "_xsrf=cookie-token; Path=/")],
                    Html(PAGE),
                )
            }),
        )
        .route("/plain", get(|| async { "<form id=f><input name=a></form>" }))
        .route(
            "/based/page",
            get(|| async {
                Html(r#"<base href="/docs/"><a href="intro">Intro</a><form id=f action="send"></form>"#)
            }),
        )
        .route("/echo", any(echo))
        .route("/echo/alt", any(echo))
        .route("/docs/intro", get(|| async { Html("<h1>Intro</h1>") }))
}

fn pairs(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What `#all` sends untouched, without a submit button: in tree order, with no disabled
/// control, no unchecked box, no disabled option, no reset or plain button.
const ALL_FIELDS: &[(&str, &str)] = &[
    ("_xsrf", "page-token"),
    ("text", "hello"),
    ("pw", ""),
    ("note", "line one\r\nline two"),
    ("agree", "yes"),
    ("tag", "b"),
    ("size", "m"),
    ("color", "r"),
    ("pick", "2"),
    ("multi", "x"),
    ("in_legend", "kept"),
    ("outside", "owned"),
];

thread_local! {
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic; gives the message and the file:line the panic names.
fn panic_of(f: impl FnOnce()) -> (String, String) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            PANIC_AT.with(|p| *p.borrow_mut() = at);
            default(info);
        }));
    });
    let panic = catch_unwind(AssertUnwindSafe(f)).expect_err("it must panic");
    let msg = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    (
        msg,
        PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default(),
    )
}

async fn body_pairs(r: TestResponse) -> (Value, Vec<(String, String)>) {
    let v: Value = r.assert_status(200).json();
    let pairs = pairs(v["body"].as_str().unwrap_or(""));
    (v, pairs)
}

#[tokio::test]
async fn select_reads_elements() {
    let client = TestClient::new(app());
    let page = client.get("/forms").await;
    let li = page.select("#items li");
    assert_eq!(li.len(), 3);
    assert_eq!(li[1].name(), "li");
    assert_eq!(li[1].attr("class"), Some("b"));
    assert_eq!(li[1].text(), "two bold");
    assert_eq!(li[1].raw_text(), "two\n   bold");
    assert_eq!(li[1].inner_html(), "two\n   <b>bold</b>");
    assert_eq!(li[1].html(), "<li class=\"b\">two\n   <b>bold</b></li>");
    assert!(page.select("table").is_empty());

    let err = page.try_select("li[").unwrap_err();
    assert!(matches!(&err, HtmlError::Selector { selector, .. } if selector == "li["));
    let (msg, at) = panic_of(|| {
        page.select("li[");
    });
    assert!(msg.contains("invalid CSS selector \"li[\""), "{msg}");
    assert!(msg.contains("request: GET http://localhost/forms"), "{msg}");
    assert!(at.starts_with(file!()), "the panic names the test: {at}");
}

#[tokio::test]
async fn assert_select_as_rails_does() {
    let client = TestClient::new(app());
    let page = client.get("/forms").await;
    page.assert_select("#items li", 3)
        .assert_select("li", true)
        .assert_select("table", false)
        .assert_select("li", "two bold")
        .assert_select("li", "  two   bold ")
        .assert_select("li", Expect::Contains("hre".into()))
        .assert_select("h1", Expect::Text("Forms".into()));

    let line = line!() + 2;
    let (msg, at) = panic_of(|| {
        page.assert_select("#items li", 2);
    });
    assert_eq!(at, format!("{}:{line}", file!()));
    assert!(
        msg.contains(r##"assert_select failed: "#items li" expected exactly 2 elements, found 3 elements: <li> "one", <li> "two bold", <li> "three""##),
        "{msg}"
    );
    assert!(msg.contains("request: GET http://localhost/forms"), "{msg}");
    let (msg, _) = panic_of(|| {
        page.assert_select("li", "four");
    });
    assert!(
        msg.contains(r#"expected an element with text "four", found 3 elements"#),
        "{msg}"
    );
    let (msg, _) = panic_of(|| {
        page.assert_select("li", false);
    });
    assert!(msg.contains("expected no element, found 3"), "{msg}");
    let (msg, _) = panic_of(|| {
        page.assert_select("table", true);
    });
    assert!(
        msg.contains(r#""table" expected at least one element, found 0 elements"#),
        "{msg}"
    );
    let (msg, _) = panic_of(|| {
        page.assert_select("li", Expect::Contains("zz".into()));
    });
    assert!(
        msg.contains(r#"an element whose text contains "zz""#),
        "{msg}"
    );
}

#[tokio::test]
async fn a_form_is_read_as_a_browser_reads_it() {
    let client = TestClient::new(app());
    let page = client.get("/forms").await;
    let form = page.form("#all");
    assert_eq!(form.action().as_str(), "http://localhost/echo?kept=1");
    assert_eq!(form.method(), Method::POST);
    assert_eq!(form.enctype(), "application/x-www-form-urlencoded");
    // Line breaks as in the page; they go on the wire as CRLF.
    let mut fields = owned(ALL_FIELDS);
    fields[3].1 = "line one\nline two".into();
    assert_eq!(form.fields(), fields);
    assert_eq!(form.value("_xsrf").as_deref(), Some("page-token"));

    // Sent as it is: the page's _xsrf field, not the cookie's value, and no header added.
    let (v, sent) = body_pairs(form.submit().await).await;
    assert_eq!(v["method"], "POST");
    assert_eq!(v["uri"], "/echo?kept=1");
    assert_eq!(v["content_type"], "application/x-www-form-urlencoded");
    assert_eq!(v["xsrf_header"], Value::Null);
    assert_eq!(sent, owned(ALL_FIELDS));
    assert_eq!(client.cookie("_xsrf").as_deref(), Some("cookie-token"));

    // No action: the page's own URL.
    let form = page.form("#noaction");
    assert_eq!(form.action().as_str(), "http://localhost/forms");
    // The only form, when there is one; the error counts them when there are several.
    let err = page.try_only_form().unwrap_err();
    assert!(matches!(err, HtmlError::NoForm { forms: 4, .. }), "{err}");
    let err = page.try_form("#missing").unwrap_err();
    assert!(
        err.to_string()
            .contains(r##"no <form> matches "#missing", but the page has 4 <form> elements"##),
        "{err}"
    );
}

#[tokio::test]
async fn filling_in_a_form() {
    let client = TestClient::new(app());
    let page = client.get("/forms").await;
    let form = page
        .form("#all")
        .set("text", "typed")
        .set("_xsrf", "tampered")
        .set("note", "a\nb")
        .uncheck("agree")
        .check("news")
        .check_value("tag", "a")
        .uncheck_value("tag", "b")
        .check_value("size", "l")
        .check_value("plan", "pro")
        .select("color", "Green")
        .set("pick", "1")
        .select("multi", "y");
    let expected = owned(&[
        ("_xsrf", "tampered"),
        ("text", "typed"),
        ("pw", ""),
        ("note", "a\r\nb"),
        ("news", "on"),
        ("tag", "a"),
        ("size", "l"),
        ("plan", "pro"),
        ("color", "g"),
        ("pick", "1"),
        ("multi", "x"),
        ("multi", "y"),
        ("in_legend", "kept"),
        ("outside", "owned"),
    ]);
    let (_, sent) = body_pairs(form.submit().await).await;
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn submit_buttons_are_sent_only_when_used() {
    let client = TestClient::new(app());
    let page = client.get("/forms").await;
    let form = page.form("#all");
    let (v, sent) = body_pairs(form.submit_with("Go").await).await;
    assert_eq!(v["uri"], "/echo?kept=1");
    assert_eq!(sent, with_button("go", "Go"));
    // By name too; its formaction applies.
    let (v, sent) = body_pairs(form.submit_with("alt").await).await;
    assert_eq!(v["uri"], "/echo/alt");
    assert_eq!(sent, with_button("alt", "other"));
    let (_, sent) = body_pairs(form.submit_with("Alternative").await).await;
    assert_eq!(sent, with_button("alt", "other"));
    // An image button sends where it was clicked.
    let (_, sent) = body_pairs(form.submit_with("map").await).await;
    let mut expected = with_button("map.x", "0");
    expected.insert(expected.len() - 1, ("map.y".into(), "0".into()));
    assert_eq!(sent, expected);

    let err = form.try_submit_with("Script").unwrap_err();
    assert!(matches!(err, FormError::NoButton { .. }));
    assert!(
        err.to_string().contains(r#"has no submit button "Script" (its buttons: "Go" (name "go"), "Alternative" (name "alt"), "Map" (name "map"))"#),
        "{err}"
    );
}

#[tokio::test]
async fn filling_errors_name_the_form_and_the_field() {
    let client = TestClient::new(app());
    let page = client.get("/forms").await;
    let mut form = page.form("#all");
    let err = form.try_set("email", "x").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(&err, FormError::NoField { field, .. } if field == "email"));
    assert!(
        msg.starts_with(r##"form "#all" on GET http://localhost/forms has no field "email" (its fields: "_xsrf", "text", "pw", "note""##),
        "{msg}"
    );
    assert!(matches!(
        form.try_set("off", "x"),
        Err(FormError::Disabled { .. })
    ));
    assert!(matches!(
        form.try_set("fs_off", "x"),
        Err(FormError::Disabled { .. })
    ));
    assert!(matches!(
        form.try_check("plan", Some("free"), true),
        Err(FormError::Disabled { .. })
    ));
    let err = form.try_set("agree", "x").unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"field "agree" is a checkbox; use check or uncheck"#),
        "{err}"
    );
    let err = form.try_check("tag", None, true).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"2 boxes are named "tag" (values: "a", "b")"#),
        "{err}"
    );
    let err = form.try_check("size", Some("m"), false).unwrap_err();
    assert!(matches!(err, FormError::WrongKind { .. }), "{err}");
    let err = form.try_select("color", "Blue").unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"field "color" has no option "Blue" (there are: "r" (Red), "g" (Green))"#),
        "{err}"
    );
    assert!(matches!(
        form.try_select("multi", "z"),
        Err(FormError::Disabled { .. })
    ));
    assert!(matches!(
        form.try_attach("text", "a", "b", ""),
        Err(FormError::WrongKind { .. })
    ));

    // The panicking forms point at the test's line.
    let line = line!() + 2;
    let (msg, at) = panic_of(|| {
        let _ = page.form("#all").set("email", "x");
    });
    assert_eq!(at, format!("{}:{line}", file!()));
    assert!(msg.contains(r#"has no field "email""#), "{msg}");
    let line = line!() + 2;
    let (_, at) = panic_of(|| {
        let _ = page.form("#all").check("tag");
    });
    assert_eq!(at, format!("{}:{line}", file!()));
    let line = line!() + 2;
    let (msg, at) = panic_of(|| {
        let _ = page.form("#nope");
    });
    assert_eq!(at, format!("{}:{line}", file!()));
    assert!(msg.contains("form failed"), "{msg}");
}

#[tokio::test]
async fn a_get_form_goes_as_the_query() {
    let client = TestClient::new(app());
    let page = client.get("/forms").await;
    let form = page.form("#search").set("q", "x y&z");
    assert_eq!(form.method(), Method::GET);
    let v: Value = form.submit_with("Search").await.json();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["uri"], "/echo?q=x+y%26z");
    assert_eq!(v["body"], "");
}

#[tokio::test]
async fn a_multipart_form_sends_its_files() {
    let client = TestClient::new(app());
    let page = client.get("/forms").await;
    let form = page.form("#upload");
    assert_eq!(form.enctype(), "multipart/form-data");
    let v: Value = form.submit().await.json();
    let body = v["body"].as_str().unwrap();
    assert!(
        v["content_type"]
            .as_str()
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    // No file chosen: an empty part with an empty file name, as a browser sends it.
    assert!(
        body.contains(
            "name=\"doc\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n"
        ),
        "{body}"
    );
    let v: Value = form
        .attach("doc", "notes.txt", "text/plain", &b"file body"[..])
        .submit()
        .await
        .json();
    let body = v["body"].as_str().unwrap();
    assert!(body.contains("name=\"title\"\r\n\r\nt\r\n"), "{body}");
    assert!(body.contains("filename=\"notes.txt\""), "{body}");
    assert!(body.contains("\r\n\r\nfile body\r\n"), "{body}");
}

#[tokio::test]
async fn links_are_followed_by_text_or_selector() {
    let client = TestClient::new(app());
    let page = client.get("/forms").await;
    let v: Value = page.click_link("Next page").await.json();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["uri"], "/echo?from=link");
    // Text is compared with white space collapsed; else a link that contains it.
    let r = page.click_link("About us").await;
    assert_eq!(r.url().as_str(), "http://localhost/about");
    let v: Value = page.click_link("Othe").await.json();
    assert_eq!(v["uri"], "/echo?from=other");
    let r = page.click("a.nav").await;
    assert_eq!(r.url().as_str(), "http://localhost/about");

    let err = page.try_click_link("Twice").unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"link "Twice" is ambiguous: "Twice" -> /x, "Twice" -> /y"#),
        "{err}"
    );
    let err = page.try_click_link("Log in").unwrap_err();
    assert!(
        err.to_string().contains(r#"no link "Log in" (the page's links: "Next page" -> /echo?from=link, "Other" -> /echo?from=other"#),
        "{err}"
    );
    let line = line!() + 2;
    let (_, at) = panic_of(|| {
        let _ = page.click_link("Log in");
    });
    assert_eq!(at, format!("{}:{line}", file!()));

    // A <base href> moves where relative links and actions go.
    let page = client.get("/based/page").await;
    page.click_link("Intro").await.assert_select("h1", "Intro");
    assert_eq!(
        page.only_form().action().as_str(),
        "http://localhost/docs/send"
    );
}

#[tokio::test]
async fn forms_and_links_come_from_html_pages_only() {
    let client = TestClient::new(app());
    let r = client.get("/plain").await;
    r.assert_select("input[name=a]", 1); // selectors read any body
    let err = r.try_form("#f").unwrap_err();
    assert!(matches!(err, HtmlError::NotHtml { .. }));
    assert!(
        err.to_string().contains("GET http://localhost/plain is not an HTML page (Content-Type: text/plain; charset=utf-8)"),
        "{err}"
    );
    assert!(matches!(
        r.try_click_link("x"),
        Err(HtmlError::NotHtml { .. })
    ));
}

#[tokio::test]
async fn over_a_real_socket() {
    let client = TestClient::serve(app());
    let page = client.get("/forms").await;
    page.assert_select("#items li", 3);
    let (v, sent) = body_pairs(page.form("#all").submit_with("Go").await).await;
    assert_eq!(v["uri"], "/echo?kept=1");
    assert_eq!(sent, with_button("go", "Go"));
    let v: Value = page.form("#search").submit().await.json();
    assert_eq!(v["uri"], "/echo?q=a+b");
    let v: Value = page.click_link("Next page").await.json();
    assert_eq!(v["uri"], "/echo?from=link");
}

#[tokio::test]
async fn assert_select_chains_with_the_other_assertions() {
    let client = TestClient::new(app());
    client
        .get("/forms")
        .await
        .assert_status(200)
        .assert_select("title", "Forms")
        .assert_contains("<h1>");
}
