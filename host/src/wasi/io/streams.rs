//! `wasi:io/streams` and `wasi:io/error`: wasmtime-wasi-io's, except where a
//! stream makes or loses a pollable.
//!
//! Every read, write and splice is wasmtime-wasi-io's implementation over the
//! stream's own `InputStream`/`OutputStream`. `subscribe` differs: a stream
//! the host registered readiness for ([`Pollables::register_stream`], as the
//! TCP streams do) makes a pollable that [`super::poll`] checks in place. A
//! dropped stream forgets its readiness.

use super::IoView;
use super::bindings::{error, streams};
use wasmtime::component::Resource;
use wasmtime_wasi_io::bindings::wasi::io::{error as wasi_error, streams as wasi_streams};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, Error, StreamError, StreamResult};

#[cfg(doc)]
use super::Pollables;

impl error::Host for IoView<'_> {}

impl error::HostError for IoView<'_> {
    fn to_debug_string(&mut self, err: Resource<Error>) -> wasmtime::Result<String> {
        wasi_error::HostError::to_debug_string(self.table, err)
    }

    fn drop(&mut self, err: Resource<Error>) -> wasmtime::Result<()> {
        wasi_error::HostError::drop(self.table, err)
    }
}

impl streams::Host for IoView<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        match err {
            StreamError::Closed => Ok(streams::StreamError::Closed),
            StreamError::LastOperationFailed(e) => Ok(streams::StreamError::LastOperationFailed(self.table.push(e)?)),
            StreamError::Trap(e) => Err(e),
        }
    }
}

impl IoView<'_> {
    /// A pollable of stream `rep`: checked in place if the host registered
    /// the stream's readiness, else wasmtime-wasi-io's.
    fn subscribe_stream<T>(&mut self, stream: Resource<T>) -> wasmtime::Result<Resource<DynPollable>>
    where
        T: wasmtime_wasi_io::poll::Pollable,
    {
        let readiness = self.pollables.stream(stream.rep()).cloned();
        let pollable = wasmtime_wasi_io::poll::subscribe(self.table, stream)?;
        if let Some(readiness) = readiness {
            let edge = readiness.edge();
            self.pollables.register(pollable.rep(), super::Source::Shared(readiness), edge);
        }
        Ok(pollable)
    }
}

impl streams::HostInputStream for IoView<'_> {
    async fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        self.pollables.forget_stream(stream.rep());
        wasi_streams::HostInputStream::drop(self.table, stream).await
    }

    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        wasi_streams::HostInputStream::read(self.table, stream, len)
    }

    async fn blocking_read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        wasi_streams::HostInputStream::blocking_read(self.table, stream, len).await
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        wasi_streams::HostInputStream::skip(self.table, stream, len)
    }

    async fn blocking_skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        wasi_streams::HostInputStream::blocking_skip(self.table, stream, len).await
    }

    fn subscribe(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_stream(stream)
    }
}

impl streams::HostOutputStream for IoView<'_> {
    async fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        self.pollables.forget_stream(stream.rep());
        wasi_streams::HostOutputStream::drop(self.table, stream).await
    }

    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        wasi_streams::HostOutputStream::check_write(self.table, stream)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        wasi_streams::HostOutputStream::write(self.table, stream, bytes)
    }

    async fn blocking_write_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        wasi_streams::HostOutputStream::blocking_write_and_flush(self.table, stream, bytes).await
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        wasi_streams::HostOutputStream::flush(self.table, stream)
    }

    async fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        wasi_streams::HostOutputStream::blocking_flush(self.table, stream).await
    }

    fn subscribe(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_stream(stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        wasi_streams::HostOutputStream::write_zeroes(self.table, stream, len)
    }

    async fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        wasi_streams::HostOutputStream::blocking_write_zeroes_and_flush(self.table, stream, len).await
    }

    fn splice(
        &mut self,
        dest: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        wasi_streams::HostOutputStream::splice(self.table, dest, src, len)
    }

    async fn blocking_splice(
        &mut self,
        dest: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        wasi_streams::HostOutputStream::blocking_splice(self.table, dest, src, len).await
    }
}
