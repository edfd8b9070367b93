//! Builds the built-in hooks (`hooks/`) into WebAssembly components so that
//! `cargo run` serves them with no extra step; `src/sandbox/builtin.rs`
//! embeds the results.

#[path = "src/sandbox/guest_build.rs"]
#[allow(dead_code)]
mod guest_build;

use std::path::PathBuf;

const BUILTIN_HOOKS: &[&str] = &["logout-from-all-devices", "rotate-on-password-change"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    for watched in [
        "hooks",
        "sdk/src",
        "sdk/wit",
        "sdk/Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    let target_dir = out_dir.ancestors().nth(3).unwrap().join("wasm-hooks");
    match guest_build::build_packages(&workspace, BUILTIN_HOOKS, &target_dir) {
        Ok(components) => {
            for (package, component) in BUILTIN_HOOKS.iter().zip(components) {
                let dest = out_dir.join(format!("{package}.wasm"));
                std::fs::copy(&component, &dest)
                    .unwrap_or_else(|e| panic!("copy {}: {e}", component.display()));
            }
        }
        Err(message) => panic!("{message}"),
    }
}
