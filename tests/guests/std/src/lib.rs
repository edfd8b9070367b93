//! Uses what Rust's standard library takes from WASI: standard output and
//! error, the monotonic and wall clocks, a sleep, and the random seed of a
//! `HashMap`. All of it must work inside the sandbox. `chatty` prints more
//! than the host keeps, which must not fail the call.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, Value, json, register_hooks};

pub struct Std;

impl Hooks for Std {
    fn manifest() -> Manifest {
        Manifest::new().function("std").function("chatty")
    }

    fn call_function(_: &Caller, name: &str, _: Value) -> Result<Value, HookError> {
        if name == "chatty" {
            // Far more than the host keeps of a hook's output.
            for line in 0..2000 {
                println!("chatty line {line:04} ..............................................");
            }
            return Ok(json!("said a lot"));
        }
        println!("printed by a hook");
        eprintln!("complained by a hook");
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let slept = started.elapsed();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| HookError::script_failed(e.to_string()))?;
        let map: HashMap<&str, u32> = HashMap::from([("one", 1), ("two", 2)]);
        Ok(json!({
            "sleptMs": slept.as_millis() as u64,
            "unixSeconds": now.as_secs(),
            "entries": map.len(),
        }))
    }
}

register_hooks!(Std);
