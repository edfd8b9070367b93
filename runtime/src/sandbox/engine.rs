//! The one wasmtime `Engine`: component model, epoch interruption driven by
//! a ticker thread (a running guest yields to the executor at every tick),
//! and the pooling allocator for instances and fiber stacks (falling back to
//! on-demand allocation where the pool cannot be reserved).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("hook-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .expect("spawn the epoch ticker thread")
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
