//! What the node counts for Prometheus: requests, session lifecycle, login
//! failures, hook invocations, the sweeper. One process-wide registry (a
//! leaf: it imports nothing of the crate), fed where each thing happens once
//! (the audit log, the throttle, the sandbox, the HTTP layer) and rendered
//! in the OpenMetrics text format on `--metrics-addr`.
//!
//! Labels are bounded by construction: route templates (never raw paths),
//! the methods HTTP defines, event names, hook file names, outcome names.
//! Never a user, a session or anything secret.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// See [`method_label`].
    pub method: &'static str,
    /// The route's template (`/parse/classes/{class}`), `unmatched` for a
    /// path no route serves.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// See [`method_label`].
    pub method: &'static str,
    pub route: String,
}

/// A request method as a label: the methods HTTP defines, and `other` for
/// the rest. A client may send any token as a method; each would otherwise
/// add series (a histogram's worth of them) that the process keeps forever.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// What a hook was invoked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    Function,
    AfterSave,
    BeforeLogin,
    AfterLogin,
    AfterSessionEnd,
}

impl Entry {
    const ALL: [Entry; 5] = [
        Entry::Function,
        Entry::AfterSave,
        Entry::BeforeLogin,
        Entry::AfterLogin,
        Entry::AfterSessionEnd,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Entry::Function => "function",
            Entry::AfterSave => "after_save",
            Entry::BeforeLogin => "before_login",
            Entry::AfterLogin => "after_login",
            Entry::AfterSessionEnd => "after_session_end",
        }
    }
}

/// How a hook invocation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It returned a result.
    Ok,
    /// It returned its own error (a Parse error the client sees).
    Error,
    /// It trapped, or its result was unusable.
    Trap,
    /// It ran out of time.
    Timeout,
    /// It tried to grow past its memory limit.
    OutOfMemory,
    /// No sandbox slot became free within its time budget.
    Busy,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Trap,
        Outcome::Timeout,
        Outcome::OutOfMemory,
        Outcome::Busy,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Trap => "trap",
            Outcome::Timeout => "timeout",
            Outcome::OutOfMemory => "out_of_memory",
            Outcome::Busy => "busy",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookLabels {
    pub hook: String,
    pub entry: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookOutcomeLabels {
    pub hook: String,
    pub entry: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SlotLabels {
    /// `function` or `trigger` (one pool each).
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SweepLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CutLabels {
    /// `idle` or `send_timeout`.
    pub reason: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the node.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Histograms<RouteLabels>,
    pub sessions_created: Counter,
    pub sessions_ended: Family<ReasonLabels, Counter>,
    /// Set from the database at each scrape (every node's sessions, when
    /// nodes share a database).
    pub sessions_live: Gauge,
    pub login_failures: Counter,
    pub login_throttled: Counter,
    pub hook_invocations: Family<HookOutcomeLabels, Counter>,
    pub hook_duration: Histograms<HookLabels>,
    pub hook_slots_in_use: Family<SlotLabels, Gauge>,
    pub hook_slots: Family<SlotLabels, Gauge>,
    pub sweeps: Family<SweepLabels, Counter>,
    pub connections_cut: Family<CutLabels, Counter>,
}

/// Buckets from 100 µs to about 6 s: a cached read takes well under a
/// millisecond, a login hundreds, a hook at most its time budget.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.5, 13))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("cloudcode"),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            sessions_created: Counter::default(),
            sessions_ended: Family::default(),
            sessions_live: Gauge::default(),
            login_failures: Counter::default(),
            login_throttled: Counter::default(),
            hook_invocations: Family::default(),
            hook_duration: Family::new_with_constructor(latency_histogram),
            hook_slots_in_use: Family::default(),
            hook_slots: Family::default(),
            sweeps: Family::default(),
            connections_cut: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            m.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response, by method and route",
            m.request_duration.clone(),
        );
        r.register(
            "sessions_created",
            "Sessions started (signup, login)",
            m.sessions_created.clone(),
        );
        r.register(
            "sessions_ended",
            "Sessions ended, by reason (the audit trail's event)",
            m.sessions_ended.clone(),
        );
        r.register(
            "sessions_live",
            "Sessions alive in the database at the scrape (all nodes' when they share it)",
            m.sessions_live.clone(),
        );
        r.register(
            "login_failures",
            "Failed password checks (login and step-up)",
            m.login_failures.clone(),
        );
        r.register(
            "login_throttled",
            "Password checks refused by the login throttle",
            m.login_throttled.clone(),
        );
        r.register(
            "hook_invocations",
            "Hook invocations, by hook, entry point and outcome",
            m.hook_invocations.clone(),
        );
        r.register(
            "hook_duration_seconds",
            "Hook invocation time, the wait for a slot included",
            m.hook_duration.clone(),
        );
        r.register(
            "hook_slots_in_use",
            "Sandbox slots running a hook now",
            m.hook_slots_in_use.clone(),
        );
        r.register(
            "hook_slots",
            "Sandbox slots there are",
            m.hook_slots.clone(),
        );
        r.register(
            "sweeps",
            "Runs of the expired-session sweeper, by result",
            m.sweeps.clone(),
        );
        r.register(
            "connections_cut",
            "Connections cut off: idle past the header timeout, or a response the client took none of within the send timeout",
            m.connections_cut.clone(),
        );
        m
    }

    /// Counts one answered request.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let method = method_label(method);
        let route = route.to_string();
        self.request_duration
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// `hook`'s series, resolved once (when it loads): counting an
    /// invocation then looks up no labels. Every outcome's counter exists
    /// from then on, at zero until it happens.
    pub fn hook_series(&self, hook: &str) -> HookSeries {
        let entry = |entry: Entry| EntrySeries {
            duration: self
                .hook_duration
                .get_or_create(&HookLabels {
                    hook: hook.to_string(),
                    entry: entry.as_str(),
                })
                .clone(),
            outcomes: Outcome::ALL.map(|outcome| {
                self.hook_invocations
                    .get_or_create(&HookOutcomeLabels {
                        hook: hook.to_string(),
                        entry: entry.as_str(),
                        outcome: outcome.as_str(),
                    })
                    .clone()
            }),
        };
        HookSeries {
            by_entry: Entry::ALL.map(entry),
        }
    }

    /// The gauge of sandbox slots of `kind` in use.
    pub fn slots_in_use(&self, kind: &'static str) -> Gauge {
        self.hook_slots_in_use
            .get_or_create(&SlotLabels { kind })
            .clone()
    }
}

/// One hook's invocation counters and duration histogram, by entry point.
#[derive(Clone)]
pub struct HookSeries {
    by_entry: [EntrySeries; 5],
}

#[derive(Clone)]
struct EntrySeries {
    duration: Histogram,
    outcomes: [Counter; 6],
}

impl HookSeries {
    /// Counts one invocation.
    pub fn record(&self, entry: Entry, outcome: Outcome, took: Duration) {
        let series = &self.by_entry[entry as usize];
        series.duration.observe(took.as_secs_f64());
        series.outcomes[outcome as usize].inc();
    }
}

/// The metrics in the OpenMetrics text format ([`CONTENT_TYPE`]).
pub fn render() -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &get().registry)
        .expect("writing to a String cannot fail");
    text
}
