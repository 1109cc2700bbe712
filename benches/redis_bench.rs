//! Redis queue figures for `benches/compare.sh redis`.
//!
//! `redis_bench size`            prints the stored record size of the 2 KB benchmark message.
//! `redis_bench enqueue URL N`   single-client enqueue (one script run per message): msgs/s.
//! `redis_bench batch URL N B`   batch enqueue, B messages a script run: msgs/s.
//! `redis_bench raw URL N SIZE`  raw `XADD key * f <SIZE bytes>` through the redis crate,
//!                               one at a time on one connection: msgs/s.
//! `redis_bench fill URL N`      enqueues N messages (500 a batch), for drains.
#![allow(missing_docs)]

mod support;

use std::time::Instant;

use squall::mail::{Queue, QueuedMessage, RedisQueue};
use support::message;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, usage: &str) -> Result<T, String> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("usage: {usage}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let usage = "redis_bench size | enqueue URL N | batch URL N B | raw URL N SIZE | fill URL N";
    match args.first().map(String::as_str) {
        Some("size") => println!("{}", message(0)?.to_record()?.len()),
        Some("enqueue") => {
            let url: String = arg(&args, 1, usage)?;
            let n: usize = arg(&args, 2, usage)?;
            let queue = RedisQueue::from_url(&url)?;
            let messages: Vec<QueuedMessage> = (0..n).map(message).collect::<Result<_, _>>()?;
            rt.block_on(async {
                queue.enqueue(&messages[0]).await?; // connect
                let start = Instant::now();
                for m in &messages {
                    queue.enqueue(m).await?;
                }
                println!("{:.1}", n as f64 / start.elapsed().as_secs_f64());
                Ok::<_, squall::mail::QueueError>(())
            })?;
        }
        Some("batch") | Some("fill") => {
            let url: String = arg(&args, 1, usage)?;
            let n: usize = arg(&args, 2, usage)?;
            let b: usize = if args[0] == "fill" {
                500
            } else {
                arg(&args, 3, usage)?
            };
            let queue = RedisQueue::from_url(&url)?;
            let messages: Vec<QueuedMessage> = (0..n).map(message).collect::<Result<_, _>>()?;
            rt.block_on(async {
                queue.enqueue_batch(&messages[..1]).await?; // connect
                let start = Instant::now();
                for chunk in messages[1..].chunks(b.max(1)) {
                    queue.enqueue_batch(chunk).await?;
                }
                if args[0] == "batch" {
                    println!("{:.1}", (n - 1) as f64 / start.elapsed().as_secs_f64());
                }
                Ok::<_, squall::mail::QueueError>(())
            })?;
        }
        Some("raw") => {
            let url: String = arg(&args, 1, usage)?;
            let n: usize = arg(&args, 2, usage)?;
            let size: usize = arg(&args, 3, usage)?;
            let value = vec![b'x'; size];
            let client = redis::Client::open(url.split('?').next().unwrap_or(&url))?;
            rt.block_on(async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                let start = Instant::now();
                for _ in 0..n {
                    redis::cmd("XADD")
                        .arg("rawbench")
                        .arg("*")
                        .arg("f")
                        .arg(&value)
                        .query_async::<()>(&mut conn)
                        .await?;
                }
                println!("{:.1}", n as f64 / start.elapsed().as_secs_f64());
                Ok::<_, redis::RedisError>(())
            })?;
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
