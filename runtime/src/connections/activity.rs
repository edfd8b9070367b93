//! How long a connection may sit without doing its part, whatever the
//! protocol:
//!
//! - **Idle:** with no request being handled or answered, a client must
//!   start its next request within the idle timeout (`--header-timeout`).
//!   HTTP/1 had this from hyper's header timer; HTTP/2 had nothing, so a
//!   connection that once made a request (or whose peer vanished) stayed
//!   open for ever, holding one of `--max-connections`. The connection is
//!   first closed gracefully (HTTP/2's GOAWAY), then cut off after as long
//!   again.
//! - **Send stall:** while a response is owed, the client must take some of
//!   its bytes within the send timeout (`--send-timeout`). A client that
//!   stops reading otherwise held its connection and the response's memory
//!   for ever: 60 such connections to a 10 MB query held 650 MB. Every
//!   response here is whole when its handler returns; a streamed one
//!   (server-sent events, a live query) would have to stop counting as owed
//!   while it waits for its next event.
//!
//! The requests' side ([`Tracked`], [`Sending`]) counts what the
//! connection owes; the stream's side ([`Watched`]) sees the bytes move and
//! keeps the timer. The rules are checked whenever the connection's task
//! waits on the socket, which it always does when it has nothing else to
//! do, and its timer wakes it at the next deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::http::{Request, Response};
use axum_server::ConnectionShutdown;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::Ticket;

/// The two limits on a connection's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a connection with nothing to do stays open.
    pub idle: Duration,
    /// How long a response may wait for the client to take any byte of it.
    pub send: Duration,
}

/// One connection's share of the server, and what it is doing.
pub struct Activity {
    timeouts: Timeouts,
    state: Mutex<State>,
    /// Held while anything of the connection lives (stream, service or a
    /// response body): requests still running count against the caps.
    _ticket: Ticket,
}

struct State {
    /// Requests whose handler is running.
    handling: usize,
    /// Responses handed to hyper whose bodies it has not finished with.
    sending: usize,
    /// Since when nothing has been handled or owed.
    idle_since: Instant,
    /// The last byte written, or the last response begun if later.
    progress_at: Instant,
    /// When the connection was asked to close gracefully for idleness.
    asked_to_close_at: Option<Instant>,
    /// The connection's own handle, which its first request carries.
    shutdown: Option<ConnectionShutdown>,
}

/// What the stream should do now.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Wait, for ever or until the instant given.
    Wait(Option<Instant>),
    /// Fail the connection's I/O: hyper then drops the connection.
    Cut(Cut),
}

/// Why a connection is cut off.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cut {
    /// No request within the idle timeout, or no close when asked.
    Idle,
    /// The client took no byte of a response within the send timeout.
    SendTimeout,
}

impl Cut {
    /// The metrics label.
    fn label(self) -> &'static str {
        match self {
            Cut::Idle => "idle",
            Cut::SendTimeout => "send_timeout",
        }
    }
}

impl Activity {
    pub fn new(timeouts: Timeouts, ticket: Ticket) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            timeouts,
            state: Mutex::new(State {
                handling: 0,
                sending: 0,
                idle_since: now,
                progress_at: now,
                asked_to_close_at: None,
                shutdown: None,
            }),
            _ticket: ticket,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request_started(&self, shutdown: Option<&ConnectionShutdown>) {
        let mut state = self.lock();
        state.handling += 1;
        if state.shutdown.is_none() {
            state.shutdown = shutdown.cloned();
        }
    }

    fn response_started(&self) {
        let mut state = self.lock();
        state.handling -= 1;
        state.sending += 1;
        state.progress_at = Instant::now();
    }

    fn request_dropped(&self) {
        let mut state = self.lock();
        state.handling -= 1;
        state.became_idle_if_so();
    }

    fn response_finished(&self) {
        let mut state = self.lock();
        state.sending -= 1;
        state.became_idle_if_so();
    }

    fn wrote(&self) {
        self.lock().progress_at = Instant::now();
    }

    /// The rules, at `now`; `blocked_since` is when the stream's last
    /// write started waiting for the socket, if it still does. An idle
    /// connection with a handle is asked to close here, once.
    fn verdict(&self, now: Instant, blocked_since: Option<Instant>) -> Verdict {
        let mut state = self.lock();
        if state.sending > 0 || blocked_since.is_some() {
            // From the later of the last byte taken and the wait's start: a
            // write that blocks after a long quiet spell gets its full time.
            let waiting_since =
                blocked_since.map_or(state.progress_at, |blocked| blocked.max(state.progress_at));
            let deadline = waiting_since + self.timeouts.send;
            return if now >= deadline {
                Verdict::Cut(Cut::SendTimeout)
            } else {
                Verdict::Wait(Some(deadline))
            };
        }
        if state.handling > 0 {
            return Verdict::Wait(None);
        }
        if let Some(asked) = state.asked_to_close_at {
            let deadline = asked + self.timeouts.idle;
            return if now >= deadline {
                Verdict::Cut(Cut::Idle)
            } else {
                Verdict::Wait(Some(deadline))
            };
        }
        let deadline = state.idle_since + self.timeouts.idle;
        if now < deadline {
            return Verdict::Wait(Some(deadline));
        }
        match &state.shutdown {
            Some(shutdown) => {
                shutdown.graceful_shutdown();
                state.asked_to_close_at = Some(now);
                Verdict::Wait(Some(now + self.timeouts.idle))
            }
            None => Verdict::Cut(Cut::Idle),
        }
    }
}

impl State {
    fn became_idle_if_so(&mut self) {
        if self.handling == 0 && self.sending == 0 {
            self.idle_since = Instant::now();
        }
    }
}

/// A connection's stream, failing its I/O when [`Activity`]'s rules say so.
pub struct Watched<S> {
    stream: S,
    activity: Arc<Activity>,
    /// Armed at the earliest deadline the rules gave; when it fires early
    /// (the deadline moved on), the rules give the next one.
    timer: Option<Pin<Box<Sleep>>>,
    /// When the last write started waiting for the socket, if it still does.
    blocked_since: Option<Instant>,
}

impl<S> Watched<S> {
    pub fn new(stream: S, activity: Arc<Activity>) -> Self {
        Self {
            stream,
            activity,
            timer: None,
            blocked_since: None,
        }
    }

    /// Called when the socket would block: applies the rules and arms the
    /// timer that wakes this task at their next deadline.
    fn watch(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        loop {
            let deadline = match self.activity.verdict(Instant::now(), self.blocked_since) {
                Verdict::Cut(cut) => {
                    let reason = cut.label();
                    tracing::debug!(reason, "connection cut off");
                    crate::metrics::get()
                        .connections_cut
                        .get_or_create(&crate::metrics::CutLabels { reason })
                        .inc();
                    return Err(io::Error::new(io::ErrorKind::TimedOut, reason));
                }
                Verdict::Wait(None) => return Ok(()),
                Verdict::Wait(Some(deadline)) => deadline,
            };
            let timer = match &mut self.timer {
                // Re-arming on every request would touch the timer wheel
                // each time: a later deadline waits for this one to fire.
                Some(timer) if deadline >= timer.deadline() && !timer.is_elapsed() => timer,
                Some(timer) => {
                    timer.as_mut().reset(deadline);
                    timer
                }
                None => self
                    .timer
                    .insert(Box::pin(tokio::time::sleep_until(deadline))),
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            // Fired: the rules say what now, and when to look again.
        }
    }

    fn after_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
        progressed: impl FnOnce(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => {
                self.blocked_since.get_or_insert_with(Instant::now);
                self.watch(cx)?;
                Poll::Pending
            }
            Poll::Ready(result) => {
                self.blocked_since = None;
                if let Ok(value) = &result
                    && progressed(value)
                {
                    self.activity.wrote();
                }
                Poll::Ready(result)
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Pending => {
                this.watch(cx)?;
                Poll::Pending
            }
            ready => ready,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after_write(cx, result, |written| *written > 0)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after_write(cx, result, |written| *written > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.stream).poll_flush(cx);
        this.after_write(cx, result, |()| false)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.after_write(cx, result, |()| false)
    }
}

/// A connection's service, counting the requests it handles and the
/// responses it owes into [`Activity`].
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, B, ReqBody> tower::Service<Request<ReqBody>> for Tracked<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<B>>,
{
    type Response = Response<Sending<B>>;
    type Error = S::Error;
    type Future = Handling<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.activity
            .request_started(request.extensions().get::<ConnectionShutdown>());
        Handling {
            inner: self.inner.call(request),
            activity: Some(self.activity.clone()),
        }
    }
}

pin_project! {
    /// A request being handled; its response, once ready, is owed.
    pub struct Handling<F> {
        #[pin]
        inner: F,
        activity: Option<Arc<Activity>>,
    }

    impl<F> PinnedDrop for Handling<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before it answered: the connection went away.
            if let Some(activity) = this.project().activity.take() {
                activity.request_dropped();
            }
        }
    }
}

impl<F, B, E> Future for Handling<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Sending<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let activity = this.activity.take().expect("polled after completion");
        activity.response_started();
        let owed = Owed(activity);
        Poll::Ready(result.map(|response| response.map(|body| Sending { body, _owed: owed })))
    }
}

/// Ends one owed response when hyper is done with its body.
struct Owed(Arc<Activity>);

impl Drop for Owed {
    fn drop(&mut self) {
        self.0.response_finished();
    }
}

pin_project! {
    /// A response body the connection owes until hyper drops it.
    pub struct Sending<B> {
        #[pin]
        body: B,
        _owed: Owed,
    }
}

impl<B: Body> Body for Sending<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::Admission;

    const TIMEOUTS: Timeouts = Timeouts {
        idle: Duration::from_secs(10),
        send: Duration::from_secs(30),
    };

    fn activity() -> Arc<Activity> {
        let admission = Admission::new(1, 1, vec![], TIMEOUTS);
        let ticket = admission.admit([192, 0, 2, 1].into()).unwrap();
        Activity::new(TIMEOUTS, ticket)
    }

    fn cut_for(verdict: Verdict) -> Option<Cut> {
        match verdict {
            Verdict::Cut(cut) => Some(cut),
            Verdict::Wait(_) => None,
        }
    }

    #[test]
    fn a_connection_that_sends_nothing_is_cut_after_the_idle_timeout() {
        let start = Instant::now();
        let activity = activity();
        let Verdict::Wait(Some(deadline)) = activity.verdict(start, None) else {
            panic!("an idle connection has a deadline");
        };
        assert!(deadline >= start + TIMEOUTS.idle);
        assert_eq!(cut_for(activity.verdict(deadline, None)), Some(Cut::Idle));
    }

    #[test]
    fn a_request_being_handled_has_no_deadline_and_an_owed_response_the_send_timeout() {
        let activity = activity();
        activity.request_started(None);
        let later = Instant::now() + Duration::from_secs(3600);
        assert_eq!(activity.verdict(later, None), Verdict::Wait(None));

        activity.response_started();
        let started = Instant::now();
        assert_eq!(cut_for(activity.verdict(started, None)), None);
        assert_eq!(
            cut_for(activity.verdict(started + TIMEOUTS.send, None)),
            Some(Cut::SendTimeout)
        );
        // Every byte written starts the wait again.
        activity.wrote();
        let wrote = Instant::now();
        assert_eq!(
            cut_for(activity.verdict(wrote + TIMEOUTS.send / 2, None)),
            None
        );

        // Answered in full: idle again, from then on.
        activity.response_finished();
        let idle = Instant::now();
        assert_eq!(
            activity.verdict(idle, None),
            Verdict::Wait(Some(activity.lock().idle_since + TIMEOUTS.idle))
        );
        assert!(activity.lock().idle_since >= wrote);
    }

    #[test]
    fn bytes_the_socket_will_not_take_count_even_when_no_response_is_owed() {
        let activity = activity();
        // Quiet for a long while, then a write blocks: its time starts now.
        let blocked = Instant::now() + Duration::from_secs(3600);
        let Verdict::Wait(Some(deadline)) = activity.verdict(blocked, Some(blocked)) else {
            panic!("a blocked write has a deadline");
        };
        assert_eq!(deadline, blocked + TIMEOUTS.send);
        assert_eq!(
            cut_for(activity.verdict(deadline, Some(blocked))),
            Some(Cut::SendTimeout)
        );
    }

    #[test]
    fn a_request_dropped_unanswered_leaves_the_connection_idle() {
        let activity = activity();
        activity.request_started(None);
        activity.request_dropped();
        let now = Instant::now();
        assert!(matches!(
            activity.verdict(now, None),
            Verdict::Wait(Some(_))
        ));
        assert_eq!(
            cut_for(activity.verdict(now + TIMEOUTS.idle, None)),
            Some(Cut::Idle)
        );
    }
}
