//! `assert_json_include` against a real axum app: objects match as subsets at any depth,
//! arrays element by element with the same length, and a failure names the request and
//! the JSON path of the first difference.
#![cfg(feature = "testing")]

use std::sync::Mutex;

use axum::Router;
use axum::routing::get;
use serde_json::json;
use squall::testing::{TestClient, TestResponse};

fn app() -> Router {
    Router::new()
        .route(
            "/order",
            get(|| async {
                axum::Json(json!({
                    "id": 7,
                    "customer": {"name": "anna", "address": {"city": "Oslo", "zip": "0150"}},
                    "items": [
                        {"name": "pen", "qty": 2, "price": 1.5},
                        {"name": "ink", "qty": 1, "price": 4.0}
                    ],
                    "paid": true
                }))
            }),
        )
        .route(
            "/list",
            get(|| async {
                axum::Json(json!([
                    {"id": 1, "name": "a", "tags": ["x"]},
                    {"id": 2, "name": "b", "tags": []}
                ]))
            }),
        )
}

/// The message of the panic that `check` raises on `response`.
fn failure(response: &TestResponse, check: impl FnOnce(&TestResponse)) -> String {
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(response)))
        .expect_err("the assertion must fail");
    panic.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_subset_of_nested_objects_passes_and_chains() {
    let client = TestClient::new(app());
    client
        .get("/order")
        .await
        .assert_json_include(&json!({
            "customer": {"address": {"city": "Oslo"}},
            "items": [{"name": "pen"}, {"qty": 1}]
        }))
        .assert_json_include(&json!({}))
        .assert_status(200);
}

#[tokio::test]
async fn a_top_level_array_is_matched_element_by_element() {
    let client = TestClient::new(app());
    let r = client.get("/list").await;
    r.assert_json_include(&json!([{"id": 1}, {"name": "b", "tags": []}]));
    let msg = failure(&r, |r| {
        r.assert_json_include(&json!([{"id": 1}, {"tags": ["y"]}]));
    });
    assert!(
        msg.contains(r#"assert_json_include failed at $[1].tags[0]: expected "y", got nothing (an array of 0)"#),
        "{msg}"
    );
}

#[tokio::test]
async fn a_missing_key_is_named_by_its_path() {
    let client = TestClient::new(app());
    let r = client.get("/order").await;
    let msg = failure(&r, |r| {
        r.assert_json_include(&json!({"customer": {"address": {"country": "NO"}}}));
    });
    assert!(
        msg.contains(
            r#"assert_json_include failed at $.customer.address.country: expected "NO", got nothing (no such key)"#
        ),
        "{msg}"
    );
    assert!(msg.contains("request: GET http://localhost/order"), "{msg}");
}

#[tokio::test]
async fn a_wrong_value_deep_in_an_array_is_named_by_its_path() {
    let client = TestClient::new(app());
    let r = client.get("/order").await;
    let msg = failure(&r, |r| {
        r.assert_json_include(&json!({"items": [{"name": "pen"}, {"name": "nib"}]}));
    });
    assert!(
        msg.contains(r#"assert_json_include failed at $.items[1].name: expected "nib", got "ink""#),
        "{msg}"
    );
    assert!(msg.contains("request: GET http://localhost/order"), "{msg}");
}

#[tokio::test]
async fn arrays_must_have_the_expected_length() {
    let client = TestClient::new(app());
    let r = client.get("/order").await;
    // The body's array is shorter than the expected one.
    let msg = failure(&r, |r| {
        r.assert_json_include(&json!({"items": [{}, {}, {"name": "cap"}]}));
    });
    assert!(
        msg.contains(
            r#"assert_json_include failed at $.items[2]: expected {"name":"cap"}, got nothing (an array of 2)"#
        ),
        "{msg}"
    );
    // An extra element in the body is a difference too: arrays are not subsets.
    let msg = failure(&r, |r| {
        r.assert_json_include(&json!({"items": [{"name": "pen"}]}));
    });
    assert!(
        msg.contains(
            "assert_json_include failed at $.items[1]: expected nothing (an array of 1), got {"
        ),
        "{msg}"
    );
}

#[tokio::test]
async fn scalars_must_be_equal_and_the_body_must_be_json() {
    let client = TestClient::new(app());
    let r = client.get("/order").await;
    let msg = failure(&r, |r| {
        r.assert_json_include(&json!({"paid": "true"}));
    });
    assert!(
        msg.contains(r#"assert_json_include failed at $.paid: expected "true", got true"#),
        "{msg}"
    );
    let r = client.get("/nowhere").await;
    let msg = failure(&r, |r| {
        r.assert_json_include(&json!({}));
    });
    assert!(
        msg.contains("assert_json_include failed: the body is not JSON"),
        "{msg}"
    );
}

/// Where the last `assert_json_include` panic was raised.
static LOCATION: Mutex<Option<(String, u32)>> = Mutex::new(None);

#[tokio::test]
async fn a_failure_points_at_the_test_line() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        if message.contains("assert_json_include failed at $.id")
            && let Some(l) = info.location()
        {
            *LOCATION.lock().unwrap() = Some((l.file().to_owned(), l.line()));
        }
        previous(info);
    }));
    let client = TestClient::new(app());
    let r = client.get("/order").await;
    let line = line!() + 2;
    let _ = failure(&r, |r| {
        r.assert_json_include(&json!({"id": 8}));
    });
    let got = LOCATION.lock().unwrap().clone();
    assert_eq!(got, Some((file!().to_owned(), line)));
}
