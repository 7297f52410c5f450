//! `backpressure`: a writer faster than its reader, both tasks of one
//! runtime. The writer sends `megabytes` with vectored writes, as hyper
//! does, over a connection whose reader starts only after `delay`; a full
//! send buffer must make the writer wait for room without stopping the
//! runtime, so the reader starts exactly on time and gets every byte.

use std::io::IoSlice;
use std::net::Ipv4Addr;
use std::time::Duration;

use tg_sdk::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::{exactly, latency_param, runtime, shape};

/// The port the instance listens on.
const PORT: u16 = 7700;
/// The size of each write: many of them fill any send buffer.
const CHUNK: usize = 64 << 10;

pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("backpressure", backpressure)
            .describe(
                "one task writes `megabytes` to a connection with vectored writes while the task that reads it \
                 sleeps for `delay`: the writer waits for room without stopping the runtime, so the reader wakes \
                 exactly on time and receives every byte",
            )
            .instances(1..=1)
            .param(latency_param())
            .param(Param::int("megabytes", 4).describe("bytes to write, in MiB"))
            .param(Param::duration("delay", "1s").describe("how long the reader waits before reading")),
    )
}

fn backpressure(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let total = usize::try_from(env.try_count_param::<i64>("megabytes")?)? << 20;
    let delay: Duration = env.duration_param("delay");
    shape(env, latency)?;
    let here = env.network().data_address();
    runtime()?.block_on(async move {
        let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
        let (connected, accepted) = tokio::join!(TcpStream::connect((here, PORT)), listener.accept());
        let (mut writer, (mut reader, _)) = (connected?, accepted?);
        let write = tokio::spawn(async move {
            let chunk = vec![0x5a; CHUNK];
            let mut sent = 0;
            while sent < total {
                let len = CHUNK.min(total - sent);
                sent += writer.write_vectored(&[IoSlice::new(&chunk[..len])]).await?;
            }
            writer.shutdown().await?;
            Ok::<_, std::io::Error>(sent)
        });

        let start = Instant::now();
        tokio::time::sleep(delay).await;
        exactly("the reader's sleep beside a blocked writer", start.elapsed(), delay)?;
        let mut buf = vec![0; CHUNK];
        let mut received = 0;
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            ensure!(buf[..n].iter().all(|&b| b == 0x5a), "the reader received bytes that were not written");
            received += n;
        }
        let sent = write.await??;
        ensure!(sent == total && received == total, "wrote {sent} and read {received} bytes of {total}");
        env.r().point("bytes-received", received as f64);
        Ok(())
    })
}
