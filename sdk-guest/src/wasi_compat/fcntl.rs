//! What `fcntl` does, decided from the command and what the descriptor's
//! wasi-libc vtable offers: the rules of the replacement `fcntl` that
//! `build.rs` compiles into every `wasm32-wasip2` plan.
//!
//! Owns: the decision (answer at once, fail with an errno, or call which
//! vtable entry) and the flags a socket reports. Does not own: reaching into
//! wasi-libc's descriptor table, reading the variadic argument or setting
//! `errno` — that is the unsafe shim in `compat/fcntl.rs`, which includes this
//! file as a module so the rules it runs are the ones tested here natively.
//!
//! The shim is built as a separate `#![no_std]` object, so this file may use
//! `core` only.

/// `fcntl` commands and flags as wasi-libc defines them (`fcntl.h`,
/// `__header_fcntl.h`, `errno.h`); they differ from Linux's numbers, so they
/// are spelled out rather than taken from the host's `libc`.
pub mod wasi {
    /// Get the descriptor flags (`FD_CLOEXEC`).
    pub const F_GETFD: i32 = 1;
    /// Set the descriptor flags.
    pub const F_SETFD: i32 = 2;
    /// Get the file status flags (access mode, `O_NONBLOCK`, `O_APPEND`).
    pub const F_GETFL: i32 = 3;
    /// Set the file status flags.
    pub const F_SETFL: i32 = 4;
    /// Close-on-exec: WASI has no exec, so wasi-libc reports it always set.
    pub const FD_CLOEXEC: i32 = 1;
    /// Non-blocking I/O.
    pub const O_NONBLOCK: i32 = 0x0004;
    /// Opened for reading.
    pub const O_RDONLY: i32 = 0x0400_0000;
    /// Opened for writing.
    pub const O_WRONLY: i32 = 0x1000_0000;
    /// Opened for reading and writing: what a socket is.
    pub const O_RDWR: i32 = O_RDONLY | O_WRONLY;
    /// Invalid argument.
    pub const EINVAL: i32 = 28;
}

/// The `fcntl`-related entries of a descriptor's vtable that are present
/// (non-NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offers {
    /// `fcntl_getfl`: files and stdio have it; wasi-sdk 30's sockets do not.
    pub getfl: bool,
    /// `fcntl_setfl`: files have it; wasi-sdk 30's sockets do not.
    pub setfl: bool,
    /// `set_blocking`, what `ioctl(FIONBIO)` calls: files and sockets have it.
    pub set_blocking: bool,
}

/// What one `fcntl` call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Return this value; `errno` untouched.
    Return(i32),
    /// Return -1 with this `errno`.
    Fail(i32),
    /// Return what the descriptor's own `fcntl_getfl` returns.
    GetFl,
    /// Read the flags argument and pass it to the descriptor's own `fcntl_setfl`.
    SetFl,
    /// A socket without `fcntl_getfl`: answer [`socket_flags`] of its blocking flag.
    SocketGetFl,
    /// A socket without `fcntl_setfl`: read the flags argument and call
    /// `set_blocking(`[`blocking_for`]`(flags))`, returning what it returns.
    SocketSetFl,
}

/// The step for command `cmd` on a descriptor offering `offers`.
///
/// Everything wasi-sdk 30's own `fcntl` answers it answers the same way; the
/// one change is that a descriptor which can be made (non-)blocking through
/// `set_blocking` but has no `fcntl_getfl`/`fcntl_setfl` — a TCP or UDP
/// socket — gets `F_GETFL`/`F_SETFL` as on Linux instead of `EINVAL`.
pub fn step(cmd: i32, offers: Offers) -> Step {
    match cmd {
        // wasi-libc acts as if close-on-exec were always set, and ignores setting it.
        wasi::F_GETFD => Step::Return(wasi::FD_CLOEXEC),
        wasi::F_SETFD => Step::Return(0),
        wasi::F_GETFL if offers.getfl => Step::GetFl,
        wasi::F_GETFL if offers.set_blocking => Step::SocketGetFl,
        wasi::F_SETFL if offers.setfl => Step::SetFl,
        wasi::F_SETFL if offers.set_blocking => Step::SocketSetFl,
        _ => Step::Fail(wasi::EINVAL),
    }
}

/// `F_GETFL` of a socket, as Linux answers it: read-write, plus `O_NONBLOCK`
/// when it does not block.
pub fn socket_flags(blocking: bool) -> i32 {
    if blocking { wasi::O_RDWR } else { wasi::O_RDWR | wasi::O_NONBLOCK }
}

/// Whether `F_SETFL` with `flags` leaves a socket blocking. Linux ignores the
/// access mode and every flag a socket has no use for, so callers that set
/// `F_GETFL | O_NONBLOCK` (socket2, mio) work unchanged.
pub fn blocking_for(flags: i32) -> bool {
    flags & wasi::O_NONBLOCK == 0
}

#[cfg(test)]
mod tests {
    use super::wasi::*;
    use super::*;

    const FILE: Offers = Offers { getfl: true, setfl: true, set_blocking: true };
    const STDIO: Offers = Offers { getfl: true, setfl: false, set_blocking: false };
    const SOCKET: Offers = Offers { getfl: false, setfl: false, set_blocking: true };
    const NOTHING: Offers = Offers { getfl: false, setfl: false, set_blocking: false };

    #[test]
    fn sockets_get_and_set_their_flags() {
        assert_eq!(step(F_GETFL, SOCKET), Step::SocketGetFl);
        assert_eq!(step(F_SETFL, SOCKET), Step::SocketSetFl);
    }

    #[test]
    fn files_and_stdio_keep_their_own_answers() {
        assert_eq!(step(F_GETFL, FILE), Step::GetFl);
        assert_eq!(step(F_SETFL, FILE), Step::SetFl);
        assert_eq!(step(F_GETFL, STDIO), Step::GetFl);
        // stdio cannot set flags: EINVAL, as before.
        assert_eq!(step(F_SETFL, STDIO), Step::Fail(EINVAL));
    }

    #[test]
    fn descriptor_flags_and_unknown_commands_are_unchanged() {
        for offers in [FILE, STDIO, SOCKET, NOTHING] {
            assert_eq!(step(F_GETFD, offers), Step::Return(FD_CLOEXEC));
            assert_eq!(step(F_SETFD, offers), Step::Return(0));
            assert_eq!(step(0, offers), Step::Fail(EINVAL));
            assert_eq!(step(12345, offers), Step::Fail(EINVAL));
        }
        assert_eq!(step(F_GETFL, NOTHING), Step::Fail(EINVAL));
        assert_eq!(step(F_SETFL, NOTHING), Step::Fail(EINVAL));
    }

    #[test]
    fn socket_flags_are_linuxs() {
        assert_eq!(socket_flags(true), O_RDWR);
        assert_eq!(socket_flags(false), O_RDWR | O_NONBLOCK);
        assert_eq!(socket_flags(false) & O_NONBLOCK, O_NONBLOCK);
    }

    #[test]
    fn setting_flags_only_looks_at_nonblock() {
        assert!(!blocking_for(O_NONBLOCK));
        // socket2's set_nonblocking: F_SETFL(F_GETFL | O_NONBLOCK), then back.
        assert!(!blocking_for(socket_flags(true) | O_NONBLOCK));
        assert!(blocking_for(socket_flags(false) & !O_NONBLOCK));
        assert!(blocking_for(0));
    }
}
