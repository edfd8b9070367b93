//! A hook's stdout and stderr: kept in memory up to a cap, then dropped.
//! wasmtime-wasi's `MemoryOutputPipe` fails writes past its capacity, and a
//! Rust guest's `println!` panics on a failed write, so a chatty hook used
//! to fail its call; here the excess is discarded and the truncation noted.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// One stream's captured output.
#[derive(Clone)]
pub struct CappedOutput {
    capacity: usize,
    captured: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    /// Bytes written past the capacity, and discarded.
    dropped: usize,
}

impl CappedOutput {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            captured: Arc::default(),
        }
    }

    /// What was kept, and how many bytes past it were dropped.
    pub fn contents(&self) -> (Vec<u8>, usize) {
        let captured = self.lock();
        (captured.bytes.clone(), captured.dropped)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Captured> {
        self.captured.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, data: &[u8]) {
        let mut captured = self.lock();
        let room = self.capacity.saturating_sub(captured.bytes.len());
        let kept = data.len().min(room);
        captured.bytes.extend_from_slice(&data[..kept]);
        captured.dropped += data.len() - kept;
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Always ready, and every write succeeds.
#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(self.capacity.max(4096))
    }
}

impl AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_past_the_capacity_succeed_and_are_counted() {
        let mut out = CappedOutput::new(8);
        out.write(Bytes::from_static(b"hello ")).unwrap();
        out.write(Bytes::from_static(b"world")).unwrap();
        assert!(out.check_write().unwrap() > 0);
        assert_eq!(out.contents(), (b"hello wo".to_vec(), 3));
    }
}

/// A hook's log line or printed output, as kept by a [`LogSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookLog {
    /// The hook's name.
    pub hook: String,
    /// `debug`, `info`, `warn` or `error` for log lines; `stdout` or
    /// `stderr` for what it printed.
    pub level: String,
    pub message: String,
}

/// Collects [`HookLog`]s, in order.
pub type LogSink = std::sync::Arc<std::sync::Mutex<Vec<HookLog>>>;
