//! Folds a rendered message's header fields to RFC 5322's line limits: at most 78
//! octets per line where whitespace allows it, and never more than 998.
//!
//! lettre writes an address list (150 `To` recipients) or a subject with one very long
//! word on a single line, and real servers refuse lines over 998 octets. Folding inserts
//! CRLF before a space, which a reader removes again when it unfolds, so the value does
//! not change. A `Subject` word too long for one line becomes RFC 2047 encoded-words
//! (written by `email-encoding`, lettre's encoder), which decode back to the same text.

use email_encoding::headers::rfc2047;
use email_encoding::headers::writer::EmailWriter;

/// The line length to fold at when whitespace allows it (RFC 5322 §2.1.1).
const SOFT_LIMIT: usize = 78;
/// The line length no line may exceed (RFC 5322 §2.1.1).
pub(crate) const HARD_LIMIT: usize = 998;

/// A header line that cannot be folded under [`HARD_LIMIT`]: one word is too long.
#[derive(Debug)]
pub(crate) struct Unfoldable {
    /// The header field's name.
    pub(crate) field: String,
    /// The longest line folding could make, in octets.
    pub(crate) length: usize,
}

/// Folds every header field of `message` (the top-level header block only) that has a
/// line over 78 octets. Fields whose lines all fit are left byte for byte as they are.
pub(crate) fn fold_headers(message: Vec<u8>) -> Result<Vec<u8>, Unfoldable> {
    let Some(end) = find(&message, b"\r\n\r\n") else {
        return Ok(message);
    };
    let header_block = &message[..end + 2];
    if header_block
        .split(|&b| b == b'\n')
        .all(|line| line.len() <= SOFT_LIMIT + 1)
    {
        return Ok(message);
    }
    let mut out = Vec::with_capacity(message.len() + message.len() / 32);
    for field in fields(header_block) {
        if field
            .split(|&b| b == b'\n')
            .all(|line| line.len() <= SOFT_LIMIT + 1)
        {
            out.extend_from_slice(field);
        } else {
            fold_field(field, &mut out)?;
        }
    }
    out.extend_from_slice(&message[end + 2..]);
    Ok(out)
}

/// Splits a header block (ending in CRLF) into fields, each with its continuation lines
/// and its final CRLF.
fn fields(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = block;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = 0;
        loop {
            match find(&rest[end..], b"\r\n") {
                Some(at) => {
                    end += at + 2;
                    if !matches!(rest.get(end), Some(b' ' | b'\t')) {
                        break;
                    }
                }
                None => {
                    end = rest.len();
                    break;
                }
            }
        }
        let (field, tail) = rest.split_at(end);
        rest = tail;
        Some(field)
    })
}

/// Unfolds one field and folds it again greedily at its whitespace.
fn fold_field(field: &[u8], out: &mut Vec<u8>) -> Result<(), Unfoldable> {
    let text = String::from_utf8_lossy(field);
    let unfolded = text.trim_end_matches("\r\n").replace("\r\n", "");
    let (name, value) = unfolded.split_once(':').unwrap_or((&unfolded, ""));
    let is_subject = name.eq_ignore_ascii_case("subject");

    // The field as (whitespace before, word) units; the name and colon are the first word.
    let mut units: Vec<(String, String)> = vec![(String::new(), format!("{name}:"))];
    for (index, (space, word)) in words(value).into_iter().enumerate() {
        if is_subject && space.len() + word.len() > SOFT_LIMIT - 1 {
            // The first word starts after the name; a later one on a folded line.
            let column = if index == 0 { name.len() + 1 } else { 0 } + space.len();
            units.extend(encoded_words(space, word, column));
        } else {
            units.push((space.to_owned(), word.to_owned()));
        }
    }

    let mut longest = 0;
    let mut line_len = 0;
    for (index, (space, word)) in units.iter().enumerate() {
        let fits = line_len + space.len() + word.len() <= SOFT_LIMIT;
        // The first word stays beside the name: some readers keep the space of a fold
        // made right after the colon as part of the value.
        if index > 1 && !fits && !space.is_empty() {
            out.extend_from_slice(b"\r\n");
            longest = longest.max(line_len);
            line_len = 0;
        }
        out.extend_from_slice(space.as_bytes());
        out.extend_from_slice(word.as_bytes());
        line_len += space.len() + word.len();
    }
    out.extend_from_slice(b"\r\n");
    longest = longest.max(line_len);
    if longest > HARD_LIMIT {
        return Err(Unfoldable {
            field: name.to_owned(),
            length: longest,
        });
    }
    Ok(())
}

/// Splits a value into (leading whitespace, word) pairs. Trailing whitespace, if any,
/// stays with an empty last word.
fn words(value: &str) -> Vec<(&str, &str)> {
    let mut units = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let word_start = rest
            .find(|c: char| c != ' ' && c != '\t')
            .unwrap_or(rest.len());
        let word_end = rest[word_start..]
            .find([' ', '\t'])
            .map_or(rest.len(), |at| word_start + at);
        units.push((&rest[..word_start], &rest[word_start..word_end]));
        rest = &rest[word_end..];
    }
    units
}

/// A subject word too long for one line, as RFC 2047 encoded-words, each its own unit:
/// a reader joins adjacent encoded-words without the space between them.
fn encoded_words(space: &str, word: &str, column: usize) -> Vec<(String, String)> {
    let mut encoded = String::new();
    {
        let mut writer = EmailWriter::new(&mut encoded, column, 0, false);
        // Writing to a String cannot fail.
        let _ = rfc2047::encode(word, &mut writer);
    }
    encoded
        .split("\r\n")
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .enumerate()
        .map(|(index, part)| {
            let before = if index == 0 { space } else { " " };
            (before.to_owned(), part.to_owned())
        })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(message: &[u8]) -> Vec<String> {
        let text = String::from_utf8(message.to_vec()).unwrap();
        let head = text.split("\r\n\r\n").next().unwrap().to_owned();
        head.split("\r\n").map(str::to_owned).collect()
    }

    #[test]
    fn short_headers_are_left_as_they_are() {
        let message = b"From: a@example.com\r\nSubject: hi  there\r\n\r\nbody\r\n".to_vec();
        assert_eq!(fold_headers(message.clone()).unwrap(), message);
    }

    #[test]
    fn address_lists_fold_after_commas_and_unfold_to_the_same_value() {
        let to: Vec<String> = (0..150).map(|i| format!("user{i}@example.com")).collect();
        let value = to.join(", ");
        let message = format!(
            "To: {value}\r\nX-A: b\r\n\r\nbody with a very long line {}\r\n",
            "z".repeat(100)
        );
        let folded = fold_headers(message.into_bytes()).unwrap();
        let head = lines(&folded);
        assert!(head.iter().all(|line| line.len() <= SOFT_LIMIT), "{head:?}");
        assert!(head.len() > 40);
        assert_eq!(head.last().unwrap(), "X-A: b");
        let text = String::from_utf8(folded).unwrap();
        let (header, body) = text.split_once("\r\n\r\n").unwrap();
        let unfolded = header.replace("\r\n ", " ");
        assert_eq!(unfolded.lines().next().unwrap(), format!("To: {value}"));
        assert!(body.contains(&"z".repeat(100)), "the body is not touched");
    }

    #[test]
    fn a_long_subject_word_becomes_encoded_words() {
        let message = format!("Subject: Re: {}\r\n\r\nx", "x".repeat(3000)).into_bytes();
        let folded = fold_headers(message).unwrap();
        let head = lines(&folded);
        assert!(head.iter().all(|line| line.len() <= SOFT_LIMIT), "{head:?}");
        assert_eq!(head[0], "Subject: Re:");
        assert!(head[1].starts_with(" =?utf-8?b?"), "{}", head[1]);

        let message = format!("Subject: {}\r\n\r\nx", "x".repeat(3000)).into_bytes();
        let head = lines(&fold_headers(message).unwrap());
        assert!(head[0].starts_with("Subject: =?utf-8?b?"), "{}", head[0]);
        assert!(head.iter().all(|line| line.len() <= SOFT_LIMIT), "{head:?}");
    }

    #[test]
    fn a_word_over_998_octets_outside_the_subject_is_an_error() {
        let message = format!("X-Token: a {}\r\n\r\nx", "y".repeat(1200)).into_bytes();
        let err = fold_headers(message).unwrap_err();
        assert_eq!(err.field, "X-Token");
        assert_eq!(err.length, 1201);
    }
}
