//! The hooks shipped with the server, built from `hooks/` by `build.rs`.

use super::HookSource;

pub fn sources() -> Vec<HookSource> {
    vec![
        HookSource {
            name: "builtin:logout-from-all-devices".into(),
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/logout-from-all-devices.wasm"))
                .to_vec(),
        },
        HookSource {
            name: "builtin:rotate-on-password-change".into(),
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/rotate-on-password-change.wasm"))
                .to_vec(),
        },
    ]
}
