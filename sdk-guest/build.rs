//! Build script of `tg-sdk`. For `wasm32-wasip2` only (natively it does
//! nothing):
//!
//! - compiles `compat/` into an object of its own and links it into the
//!   plan, so `fcntl(F_GETFL/F_SETFL)` works on sockets, `poll` does not
//!   report phantom events, a UDP receive does not leak the datagram and UDP
//!   sockets take read timeouts (`compat/fcntl.rs` says why it must be a
//!   separate object rather than code of this crate);
//! - with the `tokio` feature, stops a build without `--cfg tokio_unstable`
//!   with a message that says what to add, before tokio's own, which does not.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasi-sdk release whose wasi-libc `compat/` is written against (its
/// descriptor table, vtable and socket layouts): the one Rust 1.95 ships.
const KNOWN_WASI_SDK: u32 = 30;
/// The first wasi-sdk whose wasi-libc answers `F_GETFL`/`F_SETFL` on sockets
/// itself and reports no phantom `poll` event (wasi-libc PRs #742 and #732);
/// from it on those replacements are not needed. Its UDP receive still leaks
/// each datagram (`compat/recv.rs`), but its sockets are laid out anew, so the
/// object written against wasi-sdk 30's is not linked there either.
const FIXED_WASI_SDK: u32 = 31;
/// How wasi-sdk names its sources in the debug info of the libc it builds;
/// the version follows.
const WASI_SDK_MARK: &[u8] = b"wasisdk://v";
/// The library the replacements are linked from: `lib<this>.a` in `OUT_DIR`.
const COMPAT_LIB: &str = "tg_sdk_compat";
/// The symbols the replacements define: all of wasi-libc's `fcntl.c`, `poll.c`,
/// `recv.c`, `send.c`, `read.c`, `write.c` and `sockopt.c`, so none of the
/// libc's objects is linked beside them.
const COMPAT_SYMBOLS: &[&str] = &[
    "fcntl",
    "poll",
    "__wasilibc_poll_add",
    "__wasilibc_poll_ready",
    "recv",
    "recvfrom",
    "send",
    "sendto",
    "read",
    "write",
    "getsockopt",
    "setsockopt",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=compat");
    println!("cargo:rerun-if-changed=src/wasi_compat/fcntl.rs");
    let wasip2 = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("wasi")
        && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("p2");
    if !wasip2 {
        return;
    }
    if env::var_os("CARGO_FEATURE_TOKIO").is_some() && env::var_os("CARGO_CFG_TOKIO_UNSTABLE").is_none() {
        fail(
            "tokio's networking on wasm32-wasip2 needs `--cfg tokio_unstable`: build the plan with \
             `tg-wasm build`, which sets it, or add to the plan's .cargo/config.toml:\n\n    \
             [target.wasm32-wasip2]\n    rustflags = [\"--cfg\", \"tokio_unstable\"]\n",
        );
    }
    if let Err(reason) = link_compat() {
        fail(&reason);
    }
}

/// Compiles `compat/` and links the object into the plan, when the
/// toolchain's wasi-libc is the one it is written against.
fn link_compat() -> Result<(), String> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").map_err(|_| "cargo set no TARGET".to_string())?;
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("cargo set no OUT_DIR")?);
    let libc = sysroot(&rustc)?.join("lib/rustlib").join(&target).join("lib/self-contained/libc.a");
    println!("cargo:rerun-if-changed={}", libc.display());
    match wasi_sdk_version(&libc) {
        Some(KNOWN_WASI_SDK) => {}
        Some(version) if version >= FIXED_WASI_SDK => return Ok(()),
        other => {
            let found = other.map_or("an unknown wasi-sdk".to_string(), |v| format!("wasi-sdk {v}"));
            println!(
                "cargo:warning=tg-sdk: {} is from {found}, not wasi-sdk {KNOWN_WASI_SDK}: fcntl(F_GETFL/F_SETFL) \
                 on sockets and poll are left as that libc has them (tokio cannot accept if fcntl answers \
                 EINVAL, and spins on an idle UDP socket if poll reports phantom events)",
                libc.display()
            );
            return Ok(());
        }
    }
    let object = out_dir.join("tg_sdk_compat.o");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/lib.rs");
    let status = Command::new(&rustc)
        .args(["--crate-name", "tg_sdk_compat", "--crate-type", "lib", "--edition", "2024", "--target", &target])
        // No debug info and no embedded bitcode: the object is linked as is, after LTO.
        .args(["-C", "opt-level=3", "-C", "panic=abort", "-C", "codegen-units=1", "-C", "debuginfo=0"])
        .args(["-C", "embed-bitcode=no"])
        // 128-bit compares of `poll`'s array (`compat/poll_set.rs`); wasmtime enables SIMD by default.
        .args(["-C", "target-feature=+simd128"])
        .arg(format!("--emit=obj={}", object.display()))
        .arg(&source)
        .status()
        .map_err(|e| format!("running {} to compile {}: {e}", rustc.to_string_lossy(), source.display()))?;
    if !status.success() {
        return Err(format!("compiling {} failed ({status})", source.display()));
    }
    let bytes = std::fs::read(&object).map_err(|e| format!("reading {}: {e}", object.display()))?;
    let archive = out_dir.join(format!("lib{COMPAT_LIB}.a"));
    std::fs::write(&archive, gnu_archive("tg_sdk_compat.o", &bytes, COMPAT_SYMBOLS))
        .map_err(|e| format!("writing {}: {e}", archive.display()))?;
    println!("cargo:rustc-link-search=native={}", out_dir.display());
    // Whole: the plan's link loads the object whether or not something asked
    // for its symbols yet, so they are defined before wasi-libc's archive is
    // searched and the libc's objects defining them are never pulled in. Not bundled into this
    // crate's rlib: rustc allows `+whole-archive` only on a library linked at
    // the plan's final link.
    println!("cargo:rustc-link-lib=static:-bundle,+whole-archive={COMPAT_LIB}");
    Ok(())
}

/// A GNU `ar` archive of one member, `name`, holding `object`, with the symbol
/// index naming `symbols` (which `object` defines) that wasm-ld looks symbols
/// up in. Written here rather than by an `ar` tool a machine may not have.
/// Times, owners and modes are fixed, so the same object gives the same bytes.
fn gnu_archive(name: &str, object: &[u8], symbols: &[&str]) -> Vec<u8> {
    /// `!<arch>\n`, then per member a 60-byte header, then its data padded to an even length.
    const MAGIC: &[u8] = b"!<arch>\n";
    const HEADER_LEN: usize = 60;
    let header = |member: &str, size: usize| {
        let header = format!("{member:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", 0, 0, 0, 644);
        debug_assert_eq!(header.len(), HEADER_LEN);
        header.into_bytes()
    };
    // The index ("/"): a big-endian count, the offset of each symbol's member
    // header, then the names, each NUL-terminated.
    let names_len: usize = symbols.iter().map(|s| s.len() + 1).sum();
    let index_len = 4 + 4 * symbols.len() + names_len;
    let member_offset = MAGIC.len() + HEADER_LEN + index_len + index_len % 2;
    let mut archive = MAGIC.to_vec();
    archive.extend(header("/", index_len));
    archive.extend((symbols.len() as u32).to_be_bytes());
    for _ in symbols {
        archive.extend((member_offset as u32).to_be_bytes());
    }
    for symbol in symbols {
        archive.extend(symbol.as_bytes());
        archive.push(0);
    }
    if index_len % 2 == 1 {
        archive.push(b'\n');
    }
    debug_assert_eq!(archive.len(), member_offset);
    // GNU ends a short member name with '/'.
    archive.extend(header(&format!("{name}/"), object.len()));
    archive.extend(object);
    if object.len() % 2 == 1 {
        archive.push(b'\n');
    }
    archive
}

/// The sysroot of `rustc`, where the target's self-contained libc is.
fn sysroot(rustc: &std::ffi::OsStr) -> Result<PathBuf, String> {
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("running {} --print sysroot: {e}", rustc.to_string_lossy()))?;
    if !output.status.success() {
        return Err(format!("{} --print sysroot failed", rustc.to_string_lossy()));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// The wasi-sdk major version the libc at `path` was built by, read from the
/// source paths in its debug info; `None` if it cannot be read or names none.
fn wasi_sdk_version(path: &Path) -> Option<u32> {
    let bytes = std::fs::read(path).ok()?;
    let at = bytes.windows(WASI_SDK_MARK.len()).position(|w| w == WASI_SDK_MARK)? + WASI_SDK_MARK.len();
    let digits: Vec<u8> = bytes[at..].iter().copied().take_while(u8::is_ascii_digit).collect();
    String::from_utf8(digits).ok()?.parse().ok()
}

/// Stops the build with `message`.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
