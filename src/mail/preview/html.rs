//! The small HTML toolkit of the preview pages: escaping, path segments, ages, and the
//! frame every page is drawn in. Every text that comes from a message or a source goes
//! through [`escape`] before it reaches a page.

use std::fmt::Write;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Escapes text for HTML content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What stays as it is in a path segment: letters, digits and `-._~`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one URL path segment.
pub(super) fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// How long ago `unix_ms` was, in a short form (`12 s`, `5 min`, `3 h`, `2 d`); `in 5 min`
/// for a time to come.
pub(super) fn age(unix_ms: u64, now_ms: u64) -> String {
    let (secs, future) = if now_ms >= unix_ms {
        ((now_ms - unix_ms) / 1000, false)
    } else {
        ((unix_ms - now_ms) / 1000, true)
    };
    let short = match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86_400),
    };
    if future { format!("in {short}") } else { short }
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#f6f6f4}
header{background:#2d3e50;color:#fff;padding:.6em 1em}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:1em}
h1{font-size:1.3em;margin:.2em 0 .6em}
h2{font-size:1.05em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e3e3e0;vertical-align:top}
th{background:#eceae6;font-weight:600}
.state{font-size:.85em;padding:.1em .5em;border-radius:.8em;background:#e3e3e0}
.state-failed{background:#f4c7c3}.state-deferred{background:#fbe3b0}.state-preview{background:#cfe3f7}
.meta td:first-child{width:7em;color:#666}
nav.tabs{margin:1em 0 0;border-bottom:2px solid #2d3e50}
nav.tabs a{display:inline-block;padding:.4em .9em;text-decoration:none;color:#2d3e50}
nav.tabs a[aria-current]{background:#2d3e50;color:#fff;border-radius:.3em .3em 0 0}
iframe{width:100%;height:70vh;border:1px solid #ccc;background:#fff}
pre{background:#fff;border:1px solid #ddd;padding:.8em;white-space:pre-wrap;word-break:break-word}
.error{color:#a31515}
.empty{color:#777}
";

/// A whole page: `title` (already escaped) and `body` (HTML) in the preview's frame, whose
/// header links to the list at `base`.
pub(super) fn page(base: &str, title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · mail preview</title><style>{STYLE}</style></head>\
         <body><header><a href=\"{base}/\">Mail preview</a></header><main>{body}</main></body></html>\n",
        base = escape(base),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn segments_and_ages() {
        assert_eq!(segment("1700-1-ab"), "1700-1-ab");
        assert_eq!(segment("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(age(1_000, 13_000), "12 s");
        assert_eq!(age(0, 5 * 60_000), "5 min");
        assert_eq!(age(0, 3 * 3_600_000), "3 h");
        assert_eq!(age(0, 2 * 86_400_000), "2 d");
        assert_eq!(age(10 * 60_000, 0), "in 10 min");
    }
}
