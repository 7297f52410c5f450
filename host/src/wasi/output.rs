//! Captured stdout and stderr of one instance.
//!
//! Each stream is a buffer shared between the instance's store and the run, so
//! output survives the instance (even one cancelled by a deadlock or a
//! timeout). Every complete line is folded into the trace as a hash, so two runs
//! that print differently have different digests without the trace having to
//! hold the text. With `-v` each line also goes to the host's `tracing` output.

use netsim::{NodeId, SimHandle};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

/// Most bytes kept per stream and instance. Past it output is dropped (and the
/// log says so) rather than failing the plan's writes or exhausting the host.
pub const MAX_CAPTURED_BYTES: usize = 16 << 20;

/// Which standard stream a [`CapturedOutput`] captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamName {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl StreamName {
    /// `"stdout"` or `"stderr"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
        }
    }
}

struct Buffer {
    bytes: Vec<u8>,
    line_start: usize,
    truncated: bool,
}

/// One captured stream of one instance; clones share the buffer.
#[derive(Clone)]
pub struct CapturedOutput {
    node: NodeId,
    stream: StreamName,
    sim: SimHandle,
    buffer: Arc<Mutex<Buffer>>,
}

/// FNV-1a, 64 bits: a fixed, documented hash for output lines in the trace.
fn line_hash(line: &[u8]) -> u64 {
    line.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl CapturedOutput {
    /// An empty capture of `stream` for instance `node`.
    pub fn new(node: NodeId, stream: StreamName, sim: SimHandle) -> CapturedOutput {
        let buffer = Buffer { bytes: Vec::new(), line_start: 0, truncated: false };
        CapturedOutput { node, stream, sim, buffer: Arc::new(Mutex::new(buffer)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, data: &[u8]) {
        let mut buf = self.lock();
        let room = MAX_CAPTURED_BYTES.saturating_sub(buf.bytes.len());
        if data.len() > room {
            buf.truncated = true;
        }
        buf.bytes.extend_from_slice(&data[..data.len().min(room)]);
        while let Some(pos) = buf.bytes[buf.line_start..].iter().position(|b| *b == b'\n') {
            let end = buf.line_start + pos;
            self.emit_line(&buf.bytes[buf.line_start..end]);
            buf.line_start = end + 1;
        }
    }

    fn emit_line(&self, line: &[u8]) {
        let hash = line_hash(line);
        self.sim.lock().record(self.node, self.stream.as_str(), format_args!("len={} fnv={hash:016x}", line.len()));
        let span = tracing::debug_span!("instance", seq = self.node.0);
        span.in_scope(|| tracing::debug!(stream = self.stream.as_str(), "{}", String::from_utf8_lossy(line)));
    }

    /// Traces a final line that did not end in a newline; call once the instance has ended.
    pub fn finish(&self) {
        let mut buf = self.lock();
        if buf.line_start < buf.bytes.len() {
            let start = buf.line_start;
            self.emit_line(&buf.bytes[start..]);
            buf.line_start = buf.bytes.len();
        }
    }

    /// Everything captured so far, with a note at the end if output was dropped.
    pub fn contents(&self) -> Vec<u8> {
        let buf = self.lock();
        let mut out = buf.bytes.clone();
        if buf.truncated {
            out.extend_from_slice(
                format!("\n[tg-wasm: output beyond {MAX_CAPTURED_BYTES} bytes was dropped]\n").as_bytes(),
            );
        }
        out
    }
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: capture never blocks a plan.
        Ok(1 << 20)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
