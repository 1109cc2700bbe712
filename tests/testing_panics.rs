//! Panics of the test client point at the test: the line of a request that failed, and
//! where in a JSON body an assertion found the first difference.
#![cfg(feature = "testing")]

use axum::Router;
use axum::routing::get;
use serde_json::json;
use squall::testing::TestClient;

/// A base URL where nothing listens (a port that was free a moment ago).
fn refused() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/")
}

/// The message of a panic caught from a task.
async fn panic_message(task: tokio::task::JoinHandle<()>) -> String {
    let panic = task.await.expect_err("the task must panic").into_panic();
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_refused_request_names_the_line_that_awaited_it() {
    let client = TestClient::http(&refused());
    let line = line!() + 2;
    let task = tokio::spawn(async move {
        client.get("/").await.assert_status(200);
    });
    let msg = panic_message(task).await;
    let here = format!("{}:{line}:", file!());
    assert!(msg.contains(&here), "the message names {here}: {msg}");
    assert!(
        msg.contains("GET") && msg.contains("connecting failed"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_request_built_over_several_lines_names_the_await() {
    let client = TestClient::http(&refused());
    let line = line!() + 6;
    let task = tokio::spawn(async move {
        client
            .post("/form")
            .form(&[("a", "1")])
            .header("x-test", "1")
            .await;
    });
    let msg = panic_message(task).await;
    let here = format!("{}:{line}:", file!());
    assert!(msg.contains(&here), "the message names {here}: {msg}");
    assert!(msg.contains("POST"), "{msg}");
}

fn json_app() -> Router {
    Router::new().route(
        "/user",
        get(|| async {
            axum::Json(json!({
                "user": {"name": "anna", "roles": ["reader", "writer", "admin"], "age": 40},
                "tags": [],
                "odd key": {"x": 1}
            }))
        }),
    )
}

/// The panic message of an `assert_json` that fails.
async fn assert_json_message(expected: serde_json::Value) -> String {
    let client = TestClient::new(json_app());
    let r = client.get("/user").await;
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        r.assert_json(&expected);
    }))
    .expect_err("assert_json must fail");
    panic.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[tokio::test]
async fn assert_json_locates_the_first_difference() {
    let msg = assert_json_message(json!({
        "user": {"name": "anna", "roles": ["reader", "writer", "owner"], "age": 40},
        "tags": [],
        "odd key": {"x": 1}
    }))
    .await;
    assert!(
        msg.contains(r#"assert_json failed at $.user.roles[2]: expected "owner", got "admin""#),
        "{msg}"
    );
    assert!(msg.contains("request: GET http://localhost/user"), "{msg}");

    // A key that is missing, one that is extra, a different length, a key to quote.
    let msg = assert_json_message(json!({
        "user": {"name": "anna", "roles": ["reader", "writer", "admin"], "age": 40, "email": "a@x"},
        "tags": [],
        "odd key": {"x": 1}
    }))
    .await;
    assert!(
        msg.contains(r#"at $.user.email: expected "a@x", got nothing (no such key)"#),
        "{msg}"
    );
    let msg = assert_json_message(json!({
        "user": {"name": "anna", "roles": ["reader", "writer", "admin"]},
        "tags": [],
        "odd key": {"x": 1}
    }))
    .await;
    assert!(
        msg.contains("at $.user.age: expected nothing (no such key), got 40"),
        "{msg}"
    );
    let msg = assert_json_message(json!({
        "user": {"name": "anna", "roles": ["reader"], "age": 40},
        "tags": [],
        "odd key": {"x": 1}
    }))
    .await;
    assert!(
        msg.contains(r#"at $.user.roles[1]: expected nothing (an array of 1), got "writer""#),
        "{msg}"
    );
    let msg = assert_json_message(json!({
        "user": {"name": "anna", "roles": ["reader", "writer", "admin"], "age": 40},
        "tags": [],
        "odd key": {"x": 2}
    }))
    .await;
    assert!(
        msg.contains(r#"at $["odd key"].x: expected 2, got 1"#),
        "{msg}"
    );
    let msg = assert_json_message(json!([1, 2])).await;
    assert!(msg.contains("at $: expected [1,2], got {"), "{msg}");
}
