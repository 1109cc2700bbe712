//! Spool figures for `benches/compare.sh mail`.
//!
//! `spool_bench enqueue DIR`  prints `durable_us bare_us nondurable_us`: the p50 of a
//! durable enqueue, of a bare create+write+fsync+rename+dir-fsync of the same bytes, and of
//! a non-durable enqueue.
//! `spool_bench fill DIR N`   enqueues N messages of about 2 KB (no fsync), for drains.
//! `spool_bench fill-big DIR MB` enqueues one message with an attachment of MB megabytes
//! (base64 makes the message about 4/3 as large) and prints the message's size in bytes.
//! `spool_bench concurrent DIR N WRITERS`  prints the msgs/s of N durable enqueues made by
//! WRITERS concurrent enqueuers (tasks) on one spool.
#![allow(missing_docs)]

mod support;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use squall::mail::{Email, Mailer, Queue, QueuedMessage, Spool, SpoolConfig};
use support::message;

fn p50(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

fn bare_write(dir: &Path, dir_handle: &File, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join("tmp").join(name);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, dir.join("new").join(name))?;
    dir_handle.sync_all()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("enqueue") => {
            let root = Path::new(args.get(1).ok_or("enqueue DIR")?);
            let n = 1000;
            let durable = Spool::open(root.join("durable"))?;
            let nondurable = Spool::open(SpoolConfig::new(root.join("nondurable")).durable(false))?;
            let bare = root.join("bare");
            for sub in ["tmp", "new"] {
                std::fs::create_dir_all(bare.join(sub))?;
            }
            let bare_new = File::open(bare.join("new"))?;
            let messages: Vec<QueuedMessage> = (0..n).map(message).collect::<Result<_, _>>()?;
            let (mut d, mut b, mut nd) = (Vec::new(), Vec::new(), Vec::new());
            // Non-durable first, before the fsyncs load the journal; then durable and bare
            // interleaved, so that both see the same disk at the same moment.
            for m in &messages {
                let t = Instant::now();
                rt.block_on(nondurable.enqueue(m))?;
                nd.push(t.elapsed());
            }
            for m in &messages {
                let t = Instant::now();
                rt.block_on(durable.enqueue(m))?;
                d.push(t.elapsed());
                // The very record the spool wrote, so that both write the same bytes.
                let bytes = std::fs::read(root.join("durable").join("new").join(&m.id))?;
                let t = Instant::now();
                bare_write(&bare, &bare_new, &m.id, &bytes)?;
                b.push(t.elapsed());
            }
            println!("{:.1} {:.1} {:.1}", p50(d), p50(b), p50(nd));
        }
        Some("fill") => {
            let dir = args.get(1).ok_or("fill DIR N")?;
            let n: usize = args.get(2).ok_or("fill DIR N")?.parse()?;
            let spool = Spool::open(SpoolConfig::new(dir).durable(false))?;
            let template = message(0)?;
            for _ in 0..n {
                let mut m = QueuedMessage::new(&template.to_rendered());
                m.bytes = template.bytes.clone();
                rt.block_on(spool.enqueue(&m))?;
            }
            let _ = rt.block_on(spool.send_messages(&[]))?;
        }
        Some("fill-big") => {
            let dir = args.get(1).ok_or("fill-big DIR MB")?;
            let mb: usize = args.get(2).ok_or("fill-big DIR MB")?.parse()?;
            let spool = Spool::open(SpoolConfig::new(dir).durable(false))?;
            // Random bytes do not compress, as an attachment of real data would not.
            let mut attachment = vec![0; mb << 20];
            getrandom::fill(&mut attachment)?;
            let email = Email::builder()
                .from("bench@example.com")
                .to("sink@example.com")
                .subject("a big attachment")
                .text("The attachment is noise.")
                .attach("big.bin", "application/octet-stream", attachment)
                .build()?;
            let message = QueuedMessage::new(&email.render()?);
            rt.block_on(spool.enqueue(&message))?;
            println!("{}", message.bytes.len());
        }
        Some("concurrent") => {
            let usage = "concurrent DIR N WRITERS";
            let dir = args.get(1).ok_or(usage)?;
            let n: usize = args.get(2).ok_or(usage)?.parse()?;
            let writers: usize = args.get(3).ok_or(usage)?.parse()?;
            let spool = Spool::open(dir)?;
            let template = message(0)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let started = Instant::now();
            runtime.block_on(async {
                let tasks: Vec<_> = (0..writers)
                    .map(|w| {
                        let (spool, template) = (spool.clone(), template.clone());
                        let mine = n / writers + usize::from(w < n % writers);
                        tokio::spawn(async move {
                            for _ in 0..mine {
                                let mut m = QueuedMessage::new(&template.to_rendered());
                                m.bytes = template.bytes.clone();
                                spool.enqueue(&m).await?;
                            }
                            Ok::<_, squall::mail::QueueError>(())
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await??;
                }
                Ok::<_, Box<dyn std::error::Error>>(())
            })?;
            println!("{:.1}", n as f64 / started.elapsed().as_secs_f64());
        }
        _ => {
            return Err(
                "usage: spool_bench enqueue DIR | fill DIR N | fill-big DIR MB | concurrent DIR N WRITERS"
                    .into(),
            );
        }
    }
    Ok(())
}
