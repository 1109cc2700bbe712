//! Where two JSON values first differ, as a JSON path (`$.user.roles[2]`) with both sides,
//! for [`TestResponse::assert_json`](super::TestResponse::assert_json) and
//! [`TestResponse::assert_json_include`](super::TestResponse::assert_json_include).

use std::fmt::Write as _;

use serde_json::Value;

/// The first difference between `expected` and `got`, walking objects key by key (in the
/// order of the expected object, then the keys only `got` has) and arrays index by index.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Difference {
    /// Where, from the root `$`.
    pub(super) path: String,
    /// The expected side, as compact JSON or what is missing.
    pub(super) expected: String,
    /// The side received.
    pub(super) got: String,
}

/// How two values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The values are equal.
    Equal,
    /// `got` includes `expected`: an object may have keys that the expected object does
    /// not name, at any depth; arrays still have the same length, element by element;
    /// scalars are equal.
    Include,
}

/// How much of one side a message shows.
const SHOWN: usize = 200;

/// `None` when the values match under `mode`.
pub(super) fn first_difference(expected: &Value, got: &Value, mode: Mode) -> Option<Difference> {
    let mut path = String::from("$");
    walk(expected, got, mode, &mut path)
}

fn walk(expected: &Value, got: &Value, mode: Mode, path: &mut String) -> Option<Difference> {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (key, e_value) in e {
                let len = path.len();
                push_key(path, key);
                let found = match g.get(key) {
                    Some(g_value) => walk(e_value, g_value, mode, path),
                    None => Some(Difference {
                        path: path.clone(),
                        expected: show(e_value),
                        got: "nothing (no such key)".to_owned(),
                    }),
                };
                if found.is_some() {
                    return found;
                }
                path.truncate(len);
            }
            if mode == Mode::Include {
                return None;
            }
            let (key, g_value) = g.iter().find(|(k, _)| !e.contains_key(*k))?;
            push_key(path, key);
            Some(Difference {
                path: path.clone(),
                expected: "nothing (no such key)".to_owned(),
                got: show(g_value),
            })
        }
        (Value::Array(e), Value::Array(g)) => {
            for (i, (e_value, g_value)) in e.iter().zip(g).enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                if let found @ Some(_) = walk(e_value, g_value, mode, path) {
                    return found;
                }
                path.truncate(len);
            }
            let missing = |n: usize| format!("nothing (an array of {n})");
            let i = e.len().min(g.len());
            let _ = write!(path, "[{i}]");
            match (e.get(i), g.get(i)) {
                (Some(e_value), None) => Some(Difference {
                    path: path.clone(),
                    expected: show(e_value),
                    got: missing(g.len()),
                }),
                (None, Some(g_value)) => Some(Difference {
                    path: path.clone(),
                    expected: missing(e.len()),
                    got: show(g_value),
                }),
                _ => None,
            }
        }
        _ if expected == got => None,
        _ => Some(Difference {
            path: path.clone(),
            expected: show(expected),
            got: show(got),
        }),
    }
}

/// `.key` for a key that reads as a name, else `["key"]`.
fn push_key(path: &mut String, key: &str) {
    let mut chars = key.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::from(key).to_string());
        path.push(']');
    }
}

/// A value as compact JSON, cut after [`SHOWN`] bytes.
fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= SHOWN {
        return text;
    }
    let mut end = SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(expected: Value, got: Value) -> (String, String, String) {
        let d = first_difference(&expected, &got, Mode::Equal).expect("a difference");
        (d.path, d.expected, d.got)
    }

    fn included(expected: Value, got: Value) -> Option<(String, String, String)> {
        first_difference(&expected, &got, Mode::Include).map(|d| (d.path, d.expected, d.got))
    }

    #[test]
    fn equal_values_have_none() {
        let v = json!({"a": [1, {"b": null}], "c": "x"});
        assert_eq!(first_difference(&v, &v.clone(), Mode::Equal), None);
        assert_eq!(first_difference(&v, &v.clone(), Mode::Include), None);
    }

    #[test]
    fn include_allows_extra_keys_at_any_depth_but_not_extra_elements() {
        assert_eq!(
            included(
                json!({"a": {"b": 1}, "l": [{"x": 1}]}),
                json!({"a": {"b": 1, "c": 2}, "l": [{"x": 1, "y": 2}], "z": 3})
            ),
            None
        );
        assert_eq!(included(json!({}), json!({"a": 1})), None);
        assert_eq!(
            included(json!({"a": {"b": 1}}), json!({"a": {"c": 1}})),
            Some(("$.a.b".into(), "1".into(), "nothing (no such key)".into()))
        );
        assert_eq!(
            included(json!([{"x": 1}]), json!([{"x": 1}, {"x": 2}])),
            Some((
                "$[1]".into(),
                "nothing (an array of 1)".into(),
                "{\"x\":2}".into()
            ))
        );
        assert_eq!(
            included(json!([1, 2]), json!([1])),
            Some(("$[1]".into(), "2".into(), "nothing (an array of 1)".into()))
        );
        assert_eq!(
            included(json!({"a": 1}), json!([1])),
            Some(("$".into(), "{\"a\":1}".into(), "[1]".into()))
        );
        assert_eq!(
            included(json!(1), json!(1.0)).map(|d| d.0),
            Some("$".into())
        );
    }

    #[test]
    fn paths_and_sides() {
        assert_eq!(
            at(
                json!({"a": {"b": [1, 2, 3]}}),
                json!({"a": {"b": [1, 2, 4]}})
            ),
            ("$.a.b[2]".into(), "3".into(), "4".into())
        );
        assert_eq!(
            at(json!({"a b": 1}), json!({"a b": 2})),
            ("$[\"a b\"]".into(), "1".into(), "2".into())
        );
        assert_eq!(
            at(json!({"a": 1}), json!({"a": 1, "z": true})),
            ("$.z".into(), "nothing (no such key)".into(), "true".into())
        );
        assert_eq!(
            at(json!([1, 2]), json!([1])),
            ("$[1]".into(), "2".into(), "nothing (an array of 1)".into())
        );
        assert_eq!(
            at(json!({"a": [1]}), json!({"a": {"0": 1}})),
            ("$.a".into(), "[1]".into(), "{\"0\":1}".into())
        );
        assert_eq!(at(json!(1), json!(1.0)).0, "$");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(1000);
        let (_, expected, _) = at(json!(long), json!("y"));
        assert!(
            expected.len() < 300 && expected.ends_with("more bytes)"),
            "{expected}"
        );
    }
}
