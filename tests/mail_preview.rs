//! The mail preview service as an app mounts it, driven by squall's own test client: the
//! memory outbox, a spool on real files, a real redis-server, registered previews, the
//! escaping of everything a message brings, and no write methods.
#![cfg(all(feature = "mail-preview", feature = "testing"))]

use std::collections::BTreeMap;
use std::path::Path;

use squall::mail::{
    Email, EmailError, MailPreview, Mailer, MemoryMailer, Previews, Queue, Spool, SpoolSource,
};
use squall::testing::TestClient;

const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];

fn rich(subject: &str) -> Email {
    Email::builder()
        .from("Site <site@example.com>")
        .to("Reader <reader@example.com>")
        .bcc("archive@example.com")
        .subject(subject)
        .text("Hello in plain text.")
        .html("<h1 id=\"greeting\">Hello in HTML</h1><script>document.title='ran'</script>")
        .attach("pixel.png", "image/png", PNG.to_vec())
        .attach(
            "notes – ü.txt",
            "text/plain",
            "the notes".as_bytes().to_vec(),
        )
        .build()
        .unwrap()
}

fn plain(to: &str, subject: &str) -> Email {
    Email::builder()
        .from("site@example.com")
        .to(to)
        .subject(subject)
        .text(format!("body of {subject}"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn memory_outbox_list_message_tabs_and_downloads() {
    let outbox = MemoryMailer::new();
    outbox
        .send(&plain("first@example.com", "First"))
        .await
        .unwrap();
    outbox.send(&rich("Your receipt")).await.unwrap();
    let client = TestClient::new(MailPreview::new().source("outbox", outbox.clone()));

    let list = client.get("/").await;
    list.assert_status(200)
        .assert_contains("<a href=\"/outbox/2\">Your receipt</a>")
        .assert_contains("<a href=\"/outbox/1\">First</a>")
        .assert_contains("Reader &lt;reader@example.com&gt;")
        .assert_contains(">sent</span>");
    let text = list.text();
    assert!(
        text.find("Your receipt") < text.find("First"),
        "the newest is listed first"
    );

    // The HTML tab: a sandboxed iframe whose document is the HTML part alone.
    let page = client.get("/outbox/2").await;
    page.assert_status(200)
        .assert_contains("<iframe id=\"html-part\" sandbox src=\"/outbox/2/body.html\"")
        .assert_contains("archive@example.com") // the envelope keeps the Bcc
        .assert_not_contains("<script");
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let body = client.get("/outbox/2/body.html").await;
    body.assert_status(200)
        .assert_header("content-security-policy", "sandbox")
        .assert_contains("<h1 id=\"greeting\">Hello in HTML</h1>");
    assert!(
        body.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );

    client
        .get("/outbox/2/text")
        .await
        .assert_status(200)
        .assert_contains("<pre id=\"text-part\">Hello in plain text.");
    client
        .get("/outbox/2/headers")
        .await
        .assert_contains("<th>Message-ID</th>")
        .assert_contains("Your receipt");
    let raw = client.get("/outbox/2/raw").await;
    raw.assert_contains("multipart/mixed")
        .assert_contains("&lt;h1 id=&quot;greeting&quot;&gt;");
    let eml = client.get("/outbox/2/source.eml").await;
    eml.assert_status(200)
        .assert_header("content-type", "message/rfc822");
    // The rendered message (its MIME boundaries are new on every rendering).
    let message_id = &outbox.messages()[1].message_id;
    assert!(eml.text().starts_with("From: Site <site@example.com>\r\n"));
    assert!(
        eml.text()
            .contains(&format!("Message-ID: {message_id}\r\n"))
    );
    assert!(eml.text().contains("Hello in plain text."));

    let attachments = client.get("/outbox/2/attachments").await;
    attachments
        .assert_contains("Attachments (2)")
        .assert_contains("<a href=\"/outbox/2/attachments/1\" download>pixel.png</a>")
        .assert_contains("notes – ü.txt")
        .assert_contains("image/png");
    let png = client.get("/outbox/2/attachments/1").await;
    png.assert_status(200)
        .assert_header("content-type", "image/png")
        .assert_header(
            "content-disposition",
            "attachment; filename=\"pixel.png\"; filename*=UTF-8''pixel.png",
        );
    assert_eq!(&png.bytes()[..], PNG);
    let notes = client.get("/outbox/2/attachments/2").await;
    notes
        .assert_header("content-type", "text/plain; charset=utf-8")
        .assert_header(
            "content-disposition",
            "attachment; filename=\"notes _ _.txt\"; filename*=UTF-8''notes%20%E2%80%93%20%C3%BC.txt",
        );
    assert_eq!(notes.text(), "the notes");

    // A text-only message opens on its text tab and says it has no HTML.
    client
        .get("/outbox/1")
        .await
        .assert_contains("<pre id=\"text-part\">body of First")
        .assert_not_contains("<iframe");
    client
        .get("/outbox/1/html")
        .await
        .assert_contains("This message has no HTML part.");
    client.get("/outbox/1/body.html").await.assert_status(404);
}

#[tokio::test]
async fn subjects_addresses_and_errors_are_escaped() {
    let outbox = MemoryMailer::new();
    let nasty = Email::builder()
        .from("\"<b>Mallory</b>\" <mallory@example.com>")
        .to("victim@example.com")
        .subject("<script>alert('subject')</script> & co")
        .text("</pre><script>alert('text')</script>")
        .build()
        .unwrap();
    outbox.send(&nasty).await.unwrap();
    let client = TestClient::new(MailPreview::new().source("outbox", outbox).previews(
        Previews::new().add("broken", || -> Result<Email, EmailError> {
            Email::builder()
                .from("<img src=x onerror=alert(1)>")
                .build()
        }),
    ));
    for path in [
        "/",
        "/outbox/1",
        "/outbox/1/text",
        "/outbox/1/headers",
        "/outbox/1/raw",
    ] {
        let page = client.get(path).await;
        page.assert_status(200).assert_not_contains("<script");
        assert!(!page.text().contains("<b>Mallory"), "{path}");
    }
    client
        .get("/")
        .await
        .assert_contains("&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt; &amp; co");
    client
        .get("/outbox/1/text")
        .await
        .assert_contains("&lt;/pre&gt;&lt;script&gt;alert(&#39;text&#39;)");
    // A preview that fails is listed with its error, and its page says why, escaped.
    let list = client.get("/").await;
    list.assert_not_contains("<img");
    assert!(list.text().contains("preview &quot;broken&quot; failed"));
    let broken = client.get("/previews/broken").await;
    broken.assert_status(500).assert_not_contains("<img");
    assert!(broken.text().contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[tokio::test]
async fn unknown_things_are_404_and_writes_are_405() {
    let outbox = MemoryMailer::new();
    outbox.send(&rich("Only one")).await.unwrap();
    let client = TestClient::new(MailPreview::new().source("outbox", outbox.clone()));
    for path in [
        "/nosuchsource/1",
        "/outbox/2",
        "/outbox/0",
        "/outbox/abc",
        "/outbox/1/nosuchtab",
        "/outbox/1/attachments/3",
        "/outbox/1/attachments/0",
        "/outbox",
        "/outbox/1/text/extra",
    ] {
        let reply = client.get(path).await;
        reply.assert_status(404);
        assert!(
            reply
                .header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
    }
    client
        .get("/outbox/2")
        .await
        .assert_contains("outbox has no message 2");
    for reply in [
        client.post("/outbox/1").form(&[("delete", "1")]).await,
        client.delete("/outbox/1").await,
        client.put("/").await,
        client.patch("/outbox/1").await,
    ] {
        reply
            .assert_status(405)
            .assert_header("allow", "GET, HEAD")
            .assert_contains("read-only");
    }
    assert_eq!(outbox.messages().len(), 1, "nothing was removed");
    client.head("/outbox/1").await.assert_status(200);
}

/// Every file under `dir`, with its bytes: the spool before and after browsing.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walk(dir) {
        let rel = entry.strip_prefix(dir).unwrap().display().to_string();
        let bytes = if entry.is_file() {
            std::fs::read(&entry).unwrap()
        } else {
            Vec::new()
        };
        out.insert(rel, bytes);
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[tokio::test]
async fn a_spool_is_listed_in_every_place_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    // Each message is sent alone and, but for the last, claimed at once: the claim takes
    // that one. Each is created a millisecond after the one before, so the newest-first
    // order is certain.
    let mut claims = Vec::new();
    for (i, subject) in ["to fail", "to defer", "in flight", "queued"]
        .iter()
        .enumerate()
    {
        spool
            .send(&plain(&format!("user{i}@example.com"), subject))
            .await
            .unwrap();
        let sent = squall_now_ms();
        while squall_now_ms() == sent {
            std::hint::spin_loop();
        }
        if i < 3 {
            let mut batch = spool.claim(10).await.unwrap().claims;
            assert_eq!(batch.len(), 1);
            claims.push(batch.remove(0));
        }
    }
    let mut claims = claims.into_iter();
    let to_fail = claims.next().unwrap();
    let mut failed = to_fail.message.clone();
    failed.attempts = 1;
    spool
        .fail(
            to_fail,
            failed,
            "550 5.1.1 <user0@example.com>: no such user",
        )
        .await
        .unwrap();
    let to_defer = claims.next().unwrap();
    let mut deferred = to_defer.message.clone();
    deferred.attempts = 1;
    deferred.last_error = Some("451 4.3.0 greylisted".into());
    deferred.next_attempt_unix_ms = squall_now_ms() + 10 * 60_000;
    spool.defer(to_defer, deferred).await.unwrap();
    let _in_flight = claims.next().unwrap(); // held: its file stays in cur/<drainer>/

    let before = snapshot(dir.path());
    let client = TestClient::new(
        MailPreview::new()
            .mounted_at("/__mail")
            .source("spool", SpoolSource::new(dir.path())),
    );
    let list = client.get("/__mail/").await;
    list.assert_status(200);
    let text = list.text();
    let row = |subject: &str| -> String {
        let start = text
            .find(&format!(">{subject}</a>"))
            .unwrap_or_else(|| panic!("{subject} listed\n{text}"));
        let end = start + text[start..].find("</tr>").unwrap();
        text[start..end].to_owned()
    };
    assert!(
        row("queued").contains(">queued</span>"),
        "{}",
        row("queued")
    );
    assert!(row("in flight").contains(">in flight</span>"));
    assert!(
        row("to defer").contains(">deferred</span> due in 9 min")
            || row("to defer").contains(">deferred</span> due in 10 min"),
        "{}",
        row("to defer")
    );
    assert!(row("to defer").contains("451 4.3.0 greylisted"));
    assert!(row("to fail").contains(">failed</span>"));
    assert!(row("to fail").contains("no such user"));
    assert!(row("queued").contains("user3@example.com"));
    assert!(
        text.find(">queued</a>") < text.find(">to fail</a>"),
        "newest first"
    );

    // Each one opens by its queue id, links included.
    let href = |subject: &str| -> String {
        let row_start = text.find(&format!(">{subject}</a>")).unwrap();
        let a = text[..row_start].rfind("<a href=\"").unwrap() + "<a href=\"".len();
        let end = a + text[a..].find('"').unwrap();
        text[a..end].to_owned()
    };
    for subject in ["queued", "in flight", "to defer", "to fail"] {
        let url = href(subject);
        assert!(url.starts_with("/__mail/spool/"), "{url}");
        client
            .get(&format!("{url}/text"))
            .await
            .assert_status(200)
            .assert_contains(&format!("body of {subject}"));
    }
    client
        .get(&href("to fail"))
        .await
        .assert_contains("550 5.1.1 &lt;user0@example.com&gt;: no such user");
    client
        .get("/__mail/spool/1700000000000-1-000000000000")
        .await
        .assert_status(404);

    assert_eq!(snapshot(dir.path()), before, "browsing changed the spool");
    let status = spool.status().await.unwrap();
    assert_eq!(
        (
            status.queued,
            status.in_flight,
            status.deferred,
            status.failed
        ),
        (1, 1, 1, 1)
    );

    // A spool that is not there yet lists nothing, and is not made.
    let missing = dir.path().join("not-yet");
    let client = TestClient::new(MailPreview::new().source("spool", SpoolSource::new(&missing)));
    client.get("/").await.assert_contains("No messages.");
    assert!(!missing.exists());
}

fn squall_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn previews_are_built_from_fixtures_on_every_request_and_never_sent() {
    struct User {
        name: &'static str,
        email: &'static str,
    }
    fn welcome(user: &User) -> Result<Email, EmailError> {
        Email::builder()
            .from("site@example.com")
            .to(user.email)
            .subject(format!("Welcome, {}", user.name))
            .text(format!("Hi {}", user.name))
            .html(format!("<p>Hi <b>{}</b></p>", user.name))
            .build()
    }
    let fixture = User {
        name: "Ada",
        email: "ada@example.com",
    };
    let builds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = builds.clone();
    let outbox = MemoryMailer::new();
    let previews = Previews::new()
        .add("welcome", move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            welcome(&fixture)
        })
        .add("reset", || plain("bob@example.com", "Reset your password"));
    let client = TestClient::new(
        MailPreview::new()
            .mounted_at("/__mail/")
            .source("outbox", outbox.clone())
            .previews(previews),
    );
    let list = client.get("/__mail").await;
    list.assert_contains("<a href=\"/__mail/previews/welcome\">Welcome, Ada</a>")
        .assert_contains("<a href=\"/__mail/previews/reset\">Reset your password</a>")
        .assert_contains(">preview</span>");
    client
        .get("/__mail/previews/welcome")
        .await
        .assert_contains("ada@example.com")
        .assert_contains("src=\"/__mail/previews/welcome/body.html\"");
    client
        .get("/__mail/previews/welcome/body.html")
        .await
        .assert_contains("<p>Hi <b>Ada</b></p>");
    assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 3);
    client
        .get("/__mail/previews/goodbye")
        .await
        .assert_status(404);
    assert!(outbox.messages().is_empty(), "a preview is never sent");
}

#[tokio::test]
async fn mounted_in_an_axum_router_with_nest_service() {
    let outbox = MemoryMailer::new();
    outbox.send(&rich("Nested")).await.unwrap();
    let preview = MailPreview::new()
        .mounted_at("/__mail")
        .source("outbox", outbox);
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home" }))
        .nest_service("/__mail", preview);
    let client = TestClient::new(app);
    client.get("/").await.assert_contains("home");
    let list = client.get("/__mail").await;
    list.assert_status(200)
        .assert_contains("<a href=\"/__mail/outbox/1\">Nested</a>");
    client
        .get("/__mail/outbox/1/attachments/1")
        .await
        .assert_header("content-type", "image/png");
    client.delete("/__mail/outbox/1").await.assert_status(405);
}

#[cfg(feature = "redis")]
#[path = "support/redis.rs"]
mod redis_support;

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_queue_is_listed_read_only() {
    use squall::mail::RedisQueue;

    let redis = redis_support::RedisServer::start();
    let url = redis.url("app", "");
    let queue = RedisQueue::from_url(&url).unwrap();
    for (i, subject) in ["r-fail", "r-defer", "r-flight", "r-queued"]
        .iter()
        .enumerate()
    {
        queue
            .send(&plain(&format!("user{i}@example.com"), subject))
            .await
            .unwrap();
    }
    let mut claims = queue.claim(3).await.unwrap().claims.into_iter();
    let to_fail = claims.next().unwrap();
    assert!(to_fail.message.bytes.windows(6).any(|w| w == b"r-fail"));
    let failed = to_fail.message.clone();
    queue
        .fail(to_fail, failed, "550 5.7.1 <spam>")
        .await
        .unwrap();
    let to_defer = claims.next().unwrap();
    let mut deferred = to_defer.message.clone();
    deferred.last_error = Some("421 try later".into());
    deferred.next_attempt_unix_ms = squall_now_ms() + 3 * 3_600_000 + 60_000;
    queue.defer(to_defer, deferred).await.unwrap();
    let _in_flight = claims.next().unwrap();

    let counts = |q: RedisQueue| async move {
        let s = q.status().await.unwrap();
        (s.queued, s.in_flight, s.deferred, s.failed)
    };
    let before = counts(queue.clone()).await;
    assert_eq!(before, (1, 1, 1, 1));
    let pending_before = redis.cli(&["XPENDING", "{app}:stream", "squall-drainers"]);

    let client =
        TestClient::new(MailPreview::new().source("redis", RedisQueue::from_url(&url).unwrap()));
    let list = client.get("/").await;
    list.assert_status(200);
    let text = list.text();
    let row = |subject: &str| -> String {
        let start = text
            .find(&format!(">{subject}</a>"))
            .unwrap_or_else(|| panic!("{subject} listed\n{text}"));
        let end = start + text[start..].find("</tr>").unwrap();
        text[start..end].to_owned()
    };
    assert!(
        row("r-queued").contains(">queued</span>"),
        "{}",
        row("r-queued")
    );
    assert!(
        row("r-flight").contains(">in flight</span>"),
        "{}",
        row("r-flight")
    );
    assert!(
        row("r-defer").contains(">deferred</span> due in 3 h"),
        "{}",
        row("r-defer")
    );
    assert!(row("r-defer").contains("421 try later"));
    assert!(row("r-fail").contains(">failed</span>"));
    assert!(row("r-fail").contains("550 5.7.1 &lt;spam&gt;"));

    let start = text.find(">r-flight</a>").unwrap();
    let a = text[..start].rfind("href=\"").unwrap() + 6;
    let href = &text[a..a + text[a..].find('"').unwrap()];
    client
        .get(&format!("{href}/text"))
        .await
        .assert_status(200)
        .assert_contains("body of r-flight");
    client.get("/redis/no-such-id").await.assert_status(404);

    assert_eq!(
        counts(queue.clone()).await,
        before,
        "browsing changed the queue"
    );
    assert_eq!(
        redis.cli(&["XPENDING", "{app}:stream", "squall-drainers"]),
        pending_before,
        "browsing claimed nothing"
    );
}

#[tokio::test]
async fn a_large_message_shows_its_first_mib_and_downloads_whole() {
    let outbox = MemoryMailer::new();
    let big = Email::builder()
        .from("site@example.com")
        .to("a@example.com")
        .subject("Big")
        .text("see the attachment")
        .attach("big.bin", "application/octet-stream", vec![7u8; 1_500_000])
        .build()
        .unwrap();
    outbox.send(&big).await.unwrap();
    let client = TestClient::new(MailPreview::new().source("outbox", outbox));
    let eml = client.get("/outbox/1/source.eml").await;
    assert!(eml.bytes().len() > 2_000_000, "base64 of 1.5 MB");
    client.get("/outbox/1/raw").await.assert_contains(&format!(
        "The first 1048576 bytes are shown; the download holds all {}.",
        eml.bytes().len()
    ));
    let file = client.get("/outbox/1/attachments/1").await;
    file.assert_header("content-type", "application/octet-stream");
    assert_eq!(file.bytes().len(), 1_500_000);
    assert!(file.bytes().iter().all(|b| *b == 7));
}
