//! Compiled components, cached on disk.
//!
//! The cache key is SHA-256 over the component's bytes and the engine's
//! compatibility hash, so a changed plan or a changed engine setting compiles
//! afresh. A cache that cannot be read or written costs a compile, never a run.

use super::load::{PlanComponent, sha256_hex};
use crate::error::{Error, InputError};
use std::hash::Hasher;
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The cache directory: `$TG_WASM_CACHE_DIR`, else `$XDG_CACHE_HOME/tg-wasm`, else `~/.cache/tg-wasm`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TG_WASM_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("tg-wasm"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("tg-wasm"))
}

/// Feeds `Hash` output into bytes so it can be mixed into the SHA-256 key.
struct ByteHasher(Vec<u8>);

impl Hasher for ByteHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

fn cache_key(engine: &Engine, component: &PlanComponent) -> String {
    let mut h = ByteHasher(component.sha256.as_bytes().to_vec());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    h.0.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    sha256_hex(&h.0)
}

/// Compiles `component` for `engine`, using and filling the on-disk cache.
pub fn compile(engine: &Engine, component: &PlanComponent) -> Result<Component, Error> {
    let path = cache_dir().map(|d| d.join(format!("{}.cwasm", cache_key(engine, component))));
    let mut unreadable = None;
    if let Some(path) = &path
        && path.exists()
    {
        // SAFETY: the file was written by `Engine::precompile_component` into our own
        // cache directory under a key that includes the engine's compatibility hash.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(c) => return Ok(c),
            // Either the file is damaged or the plan does not fit this run's
            // limits: compiling afresh tells which.
            Err(e) => unreadable = Some(e),
        }
    }
    let compiled = engine.precompile_component(&component.bytes).map_err(|e| {
        InputError::new(format!("{} is not a valid component: {}", component.path.display(), crate::text::one_line(&e)))
    })?;
    // SAFETY: `compiled` was produced just above by this engine. Loading it
    // fails only where the plan does not fit the engine's limits, which the
    // user sets.
    let loaded = unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| {
        InputError::new(format!(
            "{} does not fit this run's limits: {}; raise --memory-limit if the plan needs more memory",
            component.path.display(),
            crate::text::one_line(&e)
        ))
    })?;
    if let Some(path) = &path {
        if let Some(e) = unreadable {
            tracing::warn!("replacing the unreadable cached component {}: {e}", path.display());
        }
        // The directory is made on first use: a fresh machine has none.
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(anyhow::Error::from)
            .and_then(|()| crate::files::write_atomic(path, &compiled));
        if let Err(e) = written {
            tracing::warn!("could not cache the compiled plan at {}: {e:#}", path.display());
        }
    }
    Ok(loaded)
}
