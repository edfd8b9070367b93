//! The one wasmtime `Engine`: component model, epoch interruption driven by
//! a ticker thread while guests run (a running guest yields to the executor
//! at every tick), and the pooling allocator for instances and fiber stacks
//! (falling back to on-demand allocation where the pool cannot be reserved).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of hook time budgets, and
/// the longest a computing guest holds an executor thread before it yields.
/// At 10 ms, four spinning guests on two threads delayed other requests by
/// a quarter of a second each; at 1 ms the ticker costs a wake-up a
/// millisecond and nothing measurable.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Instance slots per concurrent invocation for one component: a Rust
/// `wasm32-wasip2` component instantiates a few core modules (the program
/// and shims) with one memory and a few tables.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 8;

pub fn new_engine(concurrency: u32, memory_limit: usize) -> Result<Engine, wasmtime::Error> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(concurrency)
        .total_core_instances(concurrency * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(concurrency * MEMORIES_PER_COMPONENT)
        .total_tables(concurrency * TABLES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(memory_limit)
        // Reset memory by rewriting the pages a call dirtied instead of
        // unmapping them: most of the instantiate+call+drop cost otherwise.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(1 << 16)
        // One fiber stack per concurrent invocation (guests run on fibers).
        .total_stacks(concurrency)
        .pagemap_scan(Enabled::Auto);
    match Engine::new(base_config().allocation_strategy(InstanceAllocationStrategy::Pooling(pool)))
    {
        Ok(engine) => Ok(engine),
        Err(error) => {
            tracing::warn!(%error, "pooling allocator unavailable; hooks use on-demand allocation");
            Engine::new(&base_config())
        }
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// How long the ticker keeps ticking after the last guest finished: a
/// steady trickle of calls does not wake it for each one, and an idle
/// server is not woken a thousand times a second.
const IDLE_BEFORE_SLEEP: Duration = Duration::from_millis(100);

/// Advances the engine's epoch every [`EPOCH_TICK`] while guests may run
/// (someone holds [`Ticking`]), and sleeps once none has for
/// [`IDLE_BEFORE_SLEEP`]. Stops when dropped.
pub struct EpochTicker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// [`Ticking`] guards alive.
    holders: AtomicUsize,
    /// Set by the ticker before it parks; a guard taken meanwhile unparks it.
    asleep: AtomicBool,
    /// Epoch increments so far (tests watch it).
    ticks: AtomicU64,
}

/// Keeps the epoch advancing while held: take one before a store may run
/// guest code, so that its deadline can interrupt it.
pub struct Ticking<'a> {
    ticker: &'a EpochTicker,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let shared = Arc::new(Shared::default());
        let thread = {
            let engine = engine.clone();
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("hook-epoch".into())
                .spawn(move || tick(&engine, &shared))
                .expect("spawn the epoch ticker thread")
        };
        Self {
            shared,
            thread: Some(thread),
        }
    }

    /// Wakes the ticker if it sleeps; the epoch advances until the guard drops.
    pub fn hold(&self) -> Ticking<'_> {
        let shared = &self.shared;
        // Paired with the ticker's store of `asleep` and load of `holders`
        // (all SeqCst): either it sees this guard and stays up, or this
        // sees it asleep and unparks it.
        if shared.holders.fetch_add(1, Ordering::SeqCst) == 0
            && shared.asleep.load(Ordering::SeqCst)
        {
            self.unpark();
        }
        Ticking { ticker: self }
    }

    fn unpark(&self) {
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.ticker.shared.holders.fetch_sub(1, Ordering::SeqCst);
    }
}

fn tick(engine: &Engine, shared: &Shared) {
    let mut idle = Duration::ZERO;
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.holders.load(Ordering::SeqCst) > 0 {
            idle = Duration::ZERO;
        } else if idle < IDLE_BEFORE_SLEEP {
            idle += EPOCH_TICK;
        } else {
            shared.asleep.store(true, Ordering::SeqCst);
            if shared.holders.load(Ordering::SeqCst) == 0 && !shared.stop.load(Ordering::SeqCst) {
                // May return spuriously: the loop looks again.
                std::thread::park();
            }
            shared.asleep.store(false, Ordering::SeqCst);
            idle = Duration::ZERO;
            continue;
        }
        std::thread::sleep(EPOCH_TICK);
        engine.increment_epoch();
        shared.ticks.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.unpark();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn ticks(ticker: &EpochTicker) -> u64 {
        ticker.shared.ticks.load(Ordering::Relaxed)
    }

    /// Polls `condition` for up to ten seconds (a loaded machine is slow).
    fn eventually(condition: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if condition() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn the_ticker_sleeps_when_idle_and_ticks_while_held() {
        let ticker = EpochTicker::start(&Engine::default());
        assert!(eventually(|| ticker.shared.asleep.load(Ordering::SeqCst)));
        let asleep_at = ticks(&ticker);
        std::thread::sleep(10 * EPOCH_TICK);
        assert_eq!(ticks(&ticker), asleep_at, "no ticks while asleep");

        let held = ticker.hold();
        assert!(
            eventually(|| ticks(&ticker) >= asleep_at + 3),
            "woken by a holder"
        );
        std::thread::sleep(2 * IDLE_BEFORE_SLEEP);
        assert!(
            !ticker.shared.asleep.load(Ordering::SeqCst),
            "awake while held"
        );
        drop(held);
        assert!(eventually(|| ticker.shared.asleep.load(Ordering::SeqCst)));
    }

    #[test]
    fn a_sleeping_ticker_stops_when_dropped() {
        let ticker = EpochTicker::start(&Engine::default());
        assert!(eventually(|| ticker.shared.asleep.load(Ordering::SeqCst)));
        drop(ticker); // joins the thread: returns only once it has stopped
    }
}
