//! Turning component bytes into ready-to-instantiate hooks: compile (or load
//! the cached compilation), check the contract version, read the manifest.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, InstancePre, Lift, Linker, LinkerInstance,
    Lower, ResourceType,
};
use wasmtime::{Engine, Store};

use super::grants::{Capabilities, Capability};
use super::host::{self, v0_1, v0_2};

/// The contract this host implements, in every version it links: 0.1.0
/// (frozen, `runtime/wit/hooks-0.1.0`) and the SDK's (`sdk/wit`).
pub const CONTRACT_PACKAGE: &str = "cloudcode:hooks";
pub const CONTRACT_VERSIONS: [&str; 2] = ["0.1.0", "0.2.0"];

/// A contract version a component speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    V0_1,
    V0_2,
}

impl Contract {
    /// The newest, the SDK's.
    pub const LATEST: Contract = Contract::V0_2;

    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => CONTRACT_VERSIONS[0],
            Contract::V0_2 => CONTRACT_VERSIONS[1],
        }
    }

    fn from_version(version: &str) -> Option<Self> {
        match version {
            "0.1.0" => Some(Contract::V0_1),
            "0.2.0" => Some(Contract::V0_2),
            _ => None,
        }
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{CONTRACT_PACKAGE}@{}", self.version())
    }
}

/// A component ready to instantiate: the contract version it speaks and
/// where its exports are. The bindings' own `instantiate` type-checks all
/// six exports on every call; an invocation here checks only the one it
/// calls (the whole contract was checked at load).
pub struct Pre {
    contract: Contract,
    instance_pre: InstancePre<host::HookState>,
    exports: Exports,
}

/// Where a hook's exports are, found once at load.
pub struct Exports {
    pub manifest: ComponentExportIndex,
    pub call_function: ComponentExportIndex,
    pub after_save: ComponentExportIndex,
    /// Contract 0.2.0's lifecycle triggers (`None` for a 0.1.0 hook).
    pub before_login: Option<ComponentExportIndex>,
    pub after_login: Option<ComponentExportIndex>,
    pub after_session_end: Option<ComponentExportIndex>,
}

impl Pre {
    pub fn contract(&self) -> Contract {
        self.contract
    }

    pub fn exports(&self) -> &Exports {
        &self.exports
    }

    /// Instantiates the component afresh in `store` and calls `export`
    /// with `params`.
    pub async fn call<Params, Results>(
        &self,
        store: &mut Store<host::HookState>,
        export: &ComponentExportIndex,
        params: Params,
    ) -> wasmtime::Result<Results>
    where
        Params: ComponentNamedList + Lower + Send + Sync,
        Results: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let instance = self.instance_pre.instantiate_async(&mut *store).await?;
        let func = instance.get_typed_func::<Params, Results>(&mut *store, export)?;
        func.call_async(&mut *store, params).await
    }
}

/// A hook component to load: a display name (file path or `builtin:…`) and its bytes.
#[derive(Clone)]
pub struct HookSource {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl HookSource {
    /// The component's SHA-256, in hex: what names it in the compile cache
    /// and in listings.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }

    /// Every `*.wasm` file of a directory, in name order.
    pub fn from_dir(dir: &std::path::Path) -> Result<Vec<Self>, LoadError> {
        let io = |e: std::io::Error| LoadError::Io {
            file: dir.display().to_string(),
            reason: e.to_string(),
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "wasm"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).map_err(|e| LoadError::Io {
                    file: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                Ok(HookSource {
                    name: path.display().to_string(),
                    bytes,
                })
            })
            .collect()
    }
}

/// Why a hook could not be loaded; each names the offending file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("hook {file}: cannot read it: {reason}")]
    Io { file: String, reason: String },
    #[error("hook {file}: not a valid WebAssembly component: {reason}")]
    Compile { file: String, reason: String },
    #[error("hook {file}: incompatible with this server: {reason}")]
    Contract { file: String, reason: String },
    #[error("hook {file}: bad manifest: {reason}")]
    Manifest { file: String, reason: String },
    #[error("cloud function {name:?} is defined twice: by {first} and by {second}")]
    DuplicateFunction {
        name: String,
        first: String,
        second: String,
    },
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    #[error(transparent)]
    Config(#[from] super::grants::ConfigError),
}

/// What a hook serves and asks for, whichever contract version told it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub functions: Vec<String>,
    /// The classes it runs after saves of.
    pub after_save: Vec<String>,
    pub before_login: bool,
    pub after_login: bool,
    pub after_session_end: bool,
    /// The capabilities it asks for (0.1.0 components ask for all: that
    /// contract gave them all).
    pub capabilities: Capabilities,
}

impl Manifest {
    /// Its triggers as listings name them (`afterSave <Class>`, `beforeLogin`, ...).
    pub fn triggers(&self) -> Vec<String> {
        let mut triggers: Vec<String> = self
            .after_save
            .iter()
            .map(|class| format!("afterSave {class}"))
            .collect();
        for (on, name) in [
            (self.before_login, "beforeLogin"),
            (self.after_login, "afterLogin"),
            (self.after_session_end, "afterSessionEnd"),
        ] {
            if on {
                triggers.push(name.to_string());
            }
        }
        triggers
    }
}

/// The JSON manifest of contract 0.1.0.
#[derive(Deserialize)]
struct ManifestV0_1 {
    #[serde(default)]
    functions: Vec<String>,
    #[serde(default, rename = "afterSave")]
    after_save: Vec<String>,
}

pub fn compile(
    engine: &Engine,
    source: &HookSource,
    cache_dir: Option<&Path>,
) -> Result<Component, LoadError> {
    let cached = cache_dir.map(|dir| dir.join(cache_file_name(engine, source)));
    if let Some(path) = cached.as_deref().filter(|p| p.exists()) {
        // SAFETY: the cache directory is private to this server (inside its
        // data directory) and its files are written only by `serialize`
        // below, for this engine's configuration (part of the file name).
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => return Ok(component),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "ignoring unusable cached hook")
            }
        }
    }
    let component = Component::new(engine, &source.bytes).map_err(|e| LoadError::Compile {
        file: source.name.clone(),
        reason: compile_failure(&source.bytes, format!("{e:#}")),
    })?;
    if let Some(path) = cached
        && let Err(error) = write_cache(&component, &path)
    {
        tracing::warn!(%error, path = %path.display(), "could not cache a compiled hook");
    }
    Ok(component)
}

fn cache_file_name(engine: &Engine, source: &HookSource) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = source.sha256();
    format!("{}-{:016x}.cwasm", &digest[..32], engine_hash.finish())
}

fn write_cache(component: &Component, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let dir = path.parent().ok_or("cache path has no directory")?;
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        std::process::id(),
        crate::token::object_id()
    ));
    std::fs::write(&temp, component.serialize()?)?;
    std::fs::rename(&temp, path)?;
    Ok(())
}

/// The imports of a component that the host does not provide (each call to
/// them fails), by name.
pub fn unlinked_imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| !host::links(name))
        .map(String::from)
        .collect()
}

/// Why bytes that fail to compile do: in the words a hook author needs
/// when it is a core module (built for the wrong target) rather than a
/// component.
pub fn compile_failure(bytes: &[u8], error: String) -> String {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE_VERSION: &[u8] = &[1, 0, 0, 0];
    if bytes.starts_with(MAGIC) && bytes.get(4..8) == Some(CORE_MODULE_VERSION) {
        return "this is a core WebAssembly module, not a component: build the hook with \
                `cargo build --target wasm32-wasip2` (and `crate-type = [\"cdylib\"]`)"
            .to_string();
    }
    error
}

/// Checks that the component speaks our contract, and prepares it. Imports
/// of other packages the host does not provide (say, a socket API) become
/// traps: the hook loads, and only the call that uses them fails.
pub fn prepare(
    engine: &Engine,
    linker: &wasmtime::component::Linker<host::HookState>,
    source: &HookSource,
    component: &Component,
) -> Result<Pre, LoadError> {
    let contract_error = |reason: String| LoadError::Contract {
        file: source.name.clone(),
        reason,
    };
    let contract = contract_of(engine, component).map_err(contract_error)?;
    let mut linker = linker.clone();
    // Not `Linker::define_unknown_imports_as_traps`: it matches names
    // exactly, so it would also replace every WASI interface that the
    // component imports at another patch version than wasmtime-wasi links
    // (0.2.6 against 0.2.12), and printing or reading the clock would trap
    // (bytecodealliance/wasmtime#10663).
    stub_imports_as_traps(engine, &mut linker, component, |name| !host::links(name))
        .map_err(|e| contract_error(format!("{e:#}")))?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| contract_error(format!("{e:#}")))?;
    // The bindings check every export's type against the contract.
    match contract {
        Contract::V0_1 => v0_1::CloudCodePre::new(pre.clone()).map(drop),
        Contract::V0_2 => v0_2::CloudCodePre::new(pre.clone()).map(drop),
    }
    .map_err(|e| contract_error(format!("{e:#}")))?;
    let exports = exports_of(component, contract).map_err(contract_error)?;
    Ok(Pre {
        contract,
        instance_pre: pre,
        exports,
    })
}

/// Where the contract's exports are in `component` (whose types the
/// bindings have checked).
fn exports_of(component: &Component, contract: Contract) -> Result<Exports, String> {
    let interface = format!("{CONTRACT_PACKAGE}/hooks@{}", contract.version());
    let hooks = component
        .get_export_index(None, &interface)
        .ok_or_else(|| format!("no export {interface}"))?;
    let require = |name: &str| {
        component
            .get_export_index(Some(&hooks), name)
            .ok_or_else(|| format!("no export {interface}#{name}"))
    };
    let lifecycle = |name: &str| match contract {
        Contract::V0_1 => Ok(None),
        Contract::V0_2 => require(name).map(Some),
    };
    Ok(Exports {
        manifest: require("manifest")?,
        call_function: require("call-function")?,
        after_save: require("after-save")?,
        before_login: lifecycle("before-login")?,
        after_login: lifecycle("after-login")?,
        after_session_end: lifecycle("after-session-end")?,
    })
}

/// The contract version a component speaks: the version of the `hooks`
/// interface it exports, which every import of our package must share.
fn contract_of(engine: &Engine, component: &Component) -> Result<Contract, String> {
    let ours = format!("{CONTRACT_PACKAGE}/");
    let supported = CONTRACT_VERSIONS
        .map(|version| format!("{CONTRACT_PACKAGE}@{version}"))
        .join(" and ");
    let ty = component.component_type();
    let exported = ty.exports(engine).find_map(|(name, _)| {
        let rest = name.strip_prefix(&ours)?;
        let version = rest.strip_prefix("hooks@")?;
        Some((name, version))
    });
    let Some((export, version)) = exported else {
        let found: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
        return Err(if found.is_empty() {
            "it exports nothing, so not cloudcode:hooks/hooks: is `register_hooks!(YourHooks);` \
             missing from the crate?"
                .to_string()
        } else {
            format!(
                "it does not export cloudcode:hooks/hooks (exports: {}); was it built against \
                 another version of the contract? This server implements {supported}",
                found.join(", ")
            )
        });
    };
    let contract = Contract::from_version(version)
        .ok_or_else(|| format!("it exports {export}, but this server implements {supported}"))?;
    let suffix = format!("@{version}");
    for (name, _) in ty.imports(engine) {
        if name.starts_with(&ours) && !name.ends_with(&suffix) {
            return Err(format!(
                "it imports {name} but exports {export}: one component speaks one version of \
                 the contract"
            ));
        }
    }
    Ok(contract)
}

/// Defines each import of `component` that `stub` selects as functions
/// that trap, naming the import.
pub fn stub_imports_as_traps<T: 'static>(
    engine: &Engine,
    linker: &mut Linker<T>,
    component: &Component,
    stub: impl Fn(&str) -> bool,
) -> wasmtime::Result<()> {
    let ty = component.component_type();
    for (name, import) in ty.imports(engine).filter(|(name, _)| stub(name)) {
        stub_as_traps(&mut linker.root(), name, name, import.ty, engine)?;
    }
    Ok(())
}

/// Defines `item` (a function, or an instance of them) as functions that
/// fail when called, and its resources as empty host resources.
fn stub_as_traps<T: 'static>(
    linker: &mut LinkerInstance<'_, T>,
    name: &str,
    path: &str,
    item: ComponentItem,
    engine: &Engine,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentFunc(_) => {
            let path = path.to_string();
            linker.func_new(name, move |_, _, _, _| {
                Err(wasmtime::Error::msg(format!(
                    "the host does not provide the import {path}"
                )))
            })
        }
        ComponentItem::ComponentInstance(instance) => {
            let mut inner = linker.instance(name)?;
            instance.exports(engine).try_for_each(|(export, item)| {
                stub_as_traps(
                    &mut inner,
                    export,
                    &format!("{path}#{export}"),
                    item.ty,
                    engine,
                )
            })
        }
        ComponentItem::Resource(_) => {
            linker.resource(name, ResourceType::host::<()>(), |_, _| Ok(()))
        }
        // Types need no definition; a module or component import cannot be
        // stubbed, and instantiation reports it.
        _ => Ok(()),
    }
}

/// A 0.1.0 manifest (JSON), checked. Such hooks ask for every capability.
pub fn manifest_v0_1(file: &Arc<str>, json: &str) -> Result<Manifest, LoadError> {
    let parsed: ManifestV0_1 = serde_json::from_str(json).map_err(|e| LoadError::Manifest {
        file: file.to_string(),
        reason: e.to_string(),
    })?;
    checked(
        file,
        Manifest {
            functions: parsed.functions,
            after_save: parsed.after_save,
            capabilities: Capabilities::all(),
            ..Manifest::default()
        },
    )
}

/// A 0.2.0 manifest (a WIT record), checked.
pub fn manifest_v0_2(file: &Arc<str>, record: v0_2::HookManifest) -> Result<Manifest, LoadError> {
    let mut manifest = Manifest {
        functions: record.functions,
        capabilities: record
            .capabilities
            .into_iter()
            .map(|c| match c {
                v0_2::Capability::SessionsRead => Capability::SessionsRead,
                v0_2::Capability::SessionsRevoke => Capability::SessionsRevoke,
                v0_2::Capability::SessionsRotate => Capability::SessionsRotate,
                v0_2::Capability::Log => Capability::Log,
            })
            .collect(),
        ..Manifest::default()
    };
    for trigger in record.triggers {
        match trigger {
            v0_2::Trigger::AfterSave(class) => manifest.after_save.push(class),
            v0_2::Trigger::BeforeLogin => manifest.before_login = true,
            v0_2::Trigger::AfterLogin => manifest.after_login = true,
            v0_2::Trigger::AfterSessionEnd => manifest.after_session_end = true,
        }
    }
    checked(file, manifest)
}

fn checked(file: &Arc<str>, manifest: Manifest) -> Result<Manifest, LoadError> {
    let invalid = |reason: String| LoadError::Manifest {
        file: file.to_string(),
        reason,
    };
    for name in &manifest.functions {
        if name.is_empty()
            || name.len() > 128
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(invalid(format!("invalid function name {name:?}")));
        }
    }
    for class in &manifest.after_save {
        if class == "_Session" {
            return Err(invalid(
                "afterSave is not allowed on _Session (as in Parse)".into(),
            ));
        }
        if class != "_User" && !crate::naming::is_valid_key(class) {
            return Err(invalid(format!("invalid class name {class:?}")));
        }
    }
    Ok(manifest)
}
