//! Arbitrary bytes as `Set-Cookie` headers and as URLs never make the jar or the client
//! panic.
#![cfg(feature = "testing")]

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use proptest::prelude::*;
use squall::testing::{CookieJar, TestClient};

/// Bytes that look like cookies more often than pure noise would.
fn cookieish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "[a-zA-Z_=;,. \t\"\\-:/]{0,40}(; (Expires|Max-Age|Domain|Path|Secure|HttpOnly|SameSite)(=[ -~]{0,30})?){0,6}"
            .prop_map(String::into_bytes),
    ]
}

fn urlish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..100),
        "(https?|ftp|data|file)?(:|://)?[a-zA-Z0-9.\\[\\]:@%/?#&=-]{0,40}"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn jar_never_panics(header in cookieish(), url in urlish(), other in urlish()) {
        let mut jar = CookieJar::new();
        let url = String::from_utf8_lossy(&url).into_owned();
        let header = String::from_utf8_lossy(&header).into_owned();
        let _ = jar.store(&url, &header);
        let _ = jar.store("https://www.example.co.uk/a/b", &header);
        let _ = jar.header_for(&url);
        let _ = jar.header_for(&String::from_utf8_lossy(&other));
        let _ = jar.get("https://www.example.co.uk/a/b", "x");
        // Whatever was stored serialises into a Cookie header that is a valid header value.
        if let Some(h) = jar.header_for("https://www.example.co.uk/a/b/c") {
            prop_assert!(HeaderValue::from_str(&h).is_ok(), "{h:?}");
        }
        prop_assert!(jar.list().iter().all(|c| !c.name().is_empty() && c.path().starts_with('/')));
    }

    #[test]
    fn cookie_dates_never_panic(s in "\\PC{0,60}") {
        let mut jar = CookieJar::new();
        let _ = jar.store("http://example.com/", &format!("a=1; Expires={s}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The same bytes through the client: the app sends them as Set-Cookie, the client
    /// requests them as a URL.
    #[test]
    fn client_never_panics(header in cookieish(), url in urlish()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let value = HeaderValue::from_bytes(&header).ok();
            let app = Router::new().fallback(get(move || {
                let value = value.clone();
                async move {
                    match value {
                        Some(v) => ([(header::SET_COOKIE, v)], "ok").into_response(),
                        None => "ok".into_response(),
                    }
                }
            }));
            let client = TestClient::new(app);
            let _ = client.get("/").send().await;
            let target = String::from_utf8_lossy(&url).into_owned();
            let _ = client.get(&target).follow_redirects().send().await;
            let _ = client.post(&target).form(&[("a", "b")]).send().await;
            let _ = client.get("/").send().await;
        });
    }
}
