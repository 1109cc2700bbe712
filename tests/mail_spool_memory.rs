//! How much heap the spool takes for a big message, counted by dhat's allocator (bytes,
//! not time): a drainer that claims one and defers it holds it once, not once more for
//! its encoded record. One test in this binary: dhat counts for the whole process.
#![cfg(feature = "mail")]

use bytes::Bytes;
use squall::mail::{Queue, QueuedMessage, RenderedEmail, Spool, SpoolConfig};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn claiming_and_deferring_a_big_message_holds_it_once() {
    const SIZE: usize = 16 << 20;
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(SpoolConfig::new(dir.path()).durable(false)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let message = QueuedMessage::new(&RenderedEmail {
        from: "site@example.com".into(),
        recipients: vec!["peter@example.com".into()],
        message_id: "<big@example.com>".into(),
        bytes: Bytes::from(vec![b'x'; SIZE]),
    });
    rt.block_on(spool.enqueue(&message)).unwrap();
    drop(message);

    let _profiler = dhat::Profiler::builder().testing().build();
    let start = dhat::HeapStats::get().curr_bytes;
    let claim = rt
        .block_on(spool.claim(1))
        .unwrap()
        .claims
        .pop()
        .expect("the message is claimed");
    let mut later = claim.message.clone();
    later.attempts += 1;
    later.last_error = Some("451 4.3.0 try again later".into());
    rt.block_on(spool.defer(claim, later)).unwrap();
    let peak = dhat::HeapStats::get().max_bytes - start;
    assert!(
        peak < SIZE * 3 / 2,
        "claiming and deferring a {SIZE}-byte message took {peak} bytes of heap at the peak"
    );
    assert_eq!(rt.block_on(spool.status()).unwrap().deferred, 1);
}
