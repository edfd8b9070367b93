//! Builds the built-in hooks (every crate under `hooks/`: the one list of
//! them) into WebAssembly components so that `cargo run` serves them with no
//! extra step, and writes `builtin_hooks.rs`, which `src/sandbox/builtin.rs`
//! includes to embed them.

#[path = "src/sandbox/guest_build.rs"]
#[allow(dead_code)]
mod guest_build;

use std::path::PathBuf;

fn main() {
    mark_postgres_suites();
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
    let packages = builtin_packages(&workspace.join("hooks"));
    let names: Vec<&str> = packages.iter().map(String::as_str).collect();
    let components = guest_build::build_packages(&workspace, &names, &target_dir)
        .unwrap_or_else(|message| panic!("{message}"));
    let mut sources = String::from("&[\n");
    for (package, component) in packages.iter().zip(components) {
        let dest = out_dir.join(format!("{package}.wasm"));
        std::fs::copy(&component, &dest)
            .unwrap_or_else(|e| panic!("copy {}: {e}", component.display()));
        sources.push_str(&format!(
            "    (\"builtin:{package}\", include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{package}.wasm\"))),\n"
        ));
    }
    sources.push(']');
    std::fs::write(out_dir.join("builtin_hooks.rs"), sources).expect("write builtin_hooks.rs");
}

/// The package names of the crates under `hooks/`, in directory order.
fn builtin_packages(hooks: &std::path::Path) -> Vec<String> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(hooks)
        .unwrap_or_else(|e| panic!("read {}: {e}", hooks.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|dir| guest_build::package_name(dir).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The PostgreSQL suites (`tests/api/on_postgres.rs`,
/// `tests/js_sdk_postgres.rs`) need a PostgreSQL: a server named by
/// `CLOUDCODE_TEST_POSTGRES`, or the server binaries to start one (`PG_BIN`,
/// or Debian's `/usr/lib/postgresql/*/bin`). Without either they compile
/// to one test that says they were skipped (cfg `postgres_tests`).
fn mark_postgres_suites() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo:rerun-if-env-changed=CLOUDCODE_TEST_POSTGRES");
    println!("cargo:rerun-if-env-changed=PG_BIN");
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|versions| {
            versions
                .filter_map(Result::ok)
                .any(|version| version.path().join("bin/initdb").exists())
        })
        .unwrap_or(false);
    let available = std::env::var_os("CLOUDCODE_TEST_POSTGRES").is_some()
        || std::env::var_os("PG_BIN").is_some()
        || debian;
    if available {
        println!("cargo:rustc-cfg=postgres_tests");
    }
}
