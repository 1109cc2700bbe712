//! The text part made from the HTML part (html2text): links kept as `text (url)`, no tags.

use std::sync::{Arc, Mutex};

use html2text::render::TextDecorator;

/// Paragraphs are not wrapped (mail clients wrap text to their window; a wrapped link
/// would break its text from its URL): a paragraph is one line up to this width, the
/// longest line SMTP carries.
const WIDTH: usize = 998;

/// Plain text with each link written `text (url)`; the URLs it saw are kept so that a link
/// whose text is its own URL is written once.
#[derive(Clone, Debug, Default)]
struct LinkDecorator {
    open: Vec<String>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TextDecorator for LinkDecorator {
    type Annotation = ();

    fn decorate_link_start(&mut self, url: &str) -> (String, Self::Annotation) {
        self.open.push(url.to_owned());
        (String::new(), ())
    }

    fn decorate_link_end(&mut self) -> String {
        match self.open.pop() {
            // Anchors within the message and `javascript:` mean nothing in a text part.
            Some(url)
                if !url.is_empty() && !url.starts_with('#') && !url.starts_with("javascript:") =>
            {
                let shown = url.strip_prefix("mailto:").unwrap_or(&url).to_owned();
                if let Ok(mut seen) = self.seen.lock() {
                    seen.push(shown.clone());
                }
                format!(" ({shown})")
            }
            _ => String::new(),
        }
    }

    fn decorate_em_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_em_end(&self) -> String {
        String::new()
    }

    fn decorate_strong_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_strong_end(&self) -> String {
        String::new()
    }

    fn decorate_strikeout_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_strikeout_end(&self) -> String {
        String::new()
    }

    fn decorate_code_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_code_end(&self) -> String {
        String::new()
    }

    fn decorate_preformat_first(&self) -> Self::Annotation {}

    fn decorate_preformat_cont(&self) -> Self::Annotation {}

    fn decorate_image(&mut self, _src: &str, title: &str) -> (String, Self::Annotation) {
        (title.to_owned(), ())
    }

    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }

    fn quote_prefix(&self) -> String {
        "> ".to_owned()
    }

    fn unordered_item_prefix(&self) -> String {
        "* ".to_owned()
    }

    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }

    fn make_subblock_decorator(&self) -> Self {
        LinkDecorator {
            open: Vec::new(),
            seen: Arc::clone(&self.seen),
        }
    }
}

/// The text for `html`: paragraphs and lists as text, each link as `text (url)` (or the
/// URL alone when it is its own text), one line per paragraph.
pub(super) fn html_to_text(html: &str) -> Result<String, html2text::Error> {
    let decorator = LinkDecorator::default();
    let seen = Arc::clone(&decorator.seen);
    let mut text = html2text::config::with_decorator(decorator)
        .link_footnotes(false)
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), WIDTH)?;
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    for url in seen {
        let doubled = format!("{url} ({url})");
        if text.contains(&doubled) {
            text = text.replace(&doubled, &url);
        }
    }
    // Trailing spaces on each line and blank lines at the end say nothing.
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn links_are_text_then_url_and_tags_are_gone() {
        let text = html_to_text(
            r#"<html><head><style>p { color: red }</style></head><body>
            <h1>Welcome</h1><p>Hi <b>Ann</b>, <a href="https://example.com/start">start here</a>.</p>
            <p><a href="https://example.com/x">https://example.com/x</a></p></body></html>"#,
        )
        .unwrap();
        assert!(text.contains("Welcome"), "{text}");
        assert!(
            text.contains("Hi Ann, start here (https://example.com/start)."),
            "{text}"
        );
        assert!(text.contains("https://example.com/x\n"), "{text}");
        assert!(!text.contains("https://example.com/x (https"), "{text}");
        assert!(!text.contains('<') && !text.contains("color"), "{text}");
    }
}
