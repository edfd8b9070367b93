//! The hooks shipped with the server: every crate under `hooks/`, built by
//! `build.rs`, which also writes the list included here.

use super::HookSource;

/// (name, component) of each built-in hook.
const BUILTIN: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/builtin_hooks.rs"));

pub fn sources() -> Vec<HookSource> {
    BUILTIN
        .iter()
        .map(|(name, bytes)| HookSource {
            name: (*name).into(),
            bytes: bytes.to_vec(),
        })
        .collect()
}
