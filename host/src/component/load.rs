//! Reading a plan component from disk.

use super::Shape;
use crate::error::InputError;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A plan component's bytes and identity.
#[derive(Clone)]
pub struct PlanComponent {
    /// Where it was read from.
    pub path: PathBuf,
    /// The component itself.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, hex.
    pub sha256: String,
    /// What one instance of it takes from the instance pool.
    pub shape: Shape,
}

impl std::fmt::Debug for PlanComponent {
    /// The bytes are left out: a component is megabytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanComponent")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("bytes", &self.bytes.len())
            .field("shape", &self.shape)
            .finish()
    }
}

impl PlanComponent {
    /// The component in `bytes`, shown as `path`, checked to be one.
    pub fn from_bytes(path: PathBuf, bytes: Vec<u8>) -> Result<PlanComponent, InputError> {
        check_header(&path, &bytes)?;
        let shape = Shape::of(&bytes).map_err(|e| InputError::new(format!("{} {}", path.display(), e.message())))?;
        Ok(PlanComponent { sha256: sha256_hex(&bytes), path, bytes, shape })
    }
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer of a core module (version 1, layer 0).
const CORE_MODULE_HEADER: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
/// Version and layer of a component (version 0x0d, layer 1).
const COMPONENT_HEADER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The largest plan component read. Plans are hundreds of KiB to a few MiB
/// (a release build of rust-libp2p is under 10 MiB); the cap keeps a wrong
/// path (a disk image, say) from being read into memory.
pub const MAX_PLAN_BYTES: u64 = 256 * 1024 * 1024;

/// Reads `path` and checks that it is a WebAssembly component. Only a
/// regular file is read: a FIFO would block and a device never end.
pub fn load(path: &Path) -> Result<PlanComponent, InputError> {
    let cannot_read = |e: std::io::Error| InputError::new(format!("cannot read plan {}: {e}", path.display()));
    let metadata = std::fs::metadata(path).map_err(cannot_read)?;
    if !metadata.is_file() {
        return Err(InputError::new(format!(
            "plan {} is not a regular file; give a plan component (.wasm) or a plan directory",
            path.display()
        )));
    }
    if metadata.len() > MAX_PLAN_BYTES {
        return Err(InputError::new(format!(
            "plan {} is {} bytes, more than a plan component can be ({MAX_PLAN_BYTES} bytes); is it the right file?",
            path.display(),
            metadata.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(cannot_read)?;
    PlanComponent::from_bytes(path.to_path_buf(), bytes)
}

/// Tells a component from a core module or a file that is not wasm.
pub fn check_header(path: &Path, bytes: &[u8]) -> Result<(), InputError> {
    let shown = path.display();
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(InputError::new(format!(
            "{shown} is not a WebAssembly file; give a plan component (.wasm built for wasm32-wasip2) or a plan directory"
        )));
    }
    match <[u8; 4]>::try_from(&bytes[4..8]) {
        Ok(COMPONENT_HEADER) => Ok(()),
        Ok(CORE_MODULE_HEADER) => Err(InputError::new(format!(
            "{shown} is a core wasm module, not a component; build the plan for wasm32-wasip2 (`tg-wasm build <plan dir>`)"
        ))),
        _ => Err(InputError::new(format!(
            "{shown} has an unsupported WebAssembly version or layer; tg-wasm runs WASI 0.2 components (wasm32-wasip2)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        let p = Path::new("x.wasm");
        assert!(check_header(p, b"hello world").unwrap_err().message().contains("not a WebAssembly file"));
        assert!(check_header(p, b"\0asm\x01\0\0\0").unwrap_err().message().contains("core wasm module"));
        assert!(check_header(p, b"\0asm\x0d\0\x01\0").is_ok());
        assert!(check_header(p, b"\0asm\x0e\0\x01\0").unwrap_err().message().contains("unsupported"));
    }
}
