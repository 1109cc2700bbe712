//! What the bench binaries share: the benchmark message of about 2 KB.
#![allow(dead_code)]

use squall::mail::{Email, QueuedMessage};

/// Message `i`: about 1.8 KB of text, 2.2 KB rendered.
pub fn email(i: usize) -> Result<Email, squall::mail::EmailError> {
    Email::builder()
        .from("bench@example.com")
        .to("sink@example.com")
        .subject(format!("benchmark message {i}"))
        .text("The quick brown fox jumps over the lazy dog. ".repeat(40))
        .build()
}

/// Message `i`, rendered and ready to enqueue.
pub fn message(i: usize) -> Result<QueuedMessage, Box<dyn std::error::Error>> {
    Ok(QueuedMessage::new(&email(i)?.render()?))
}
