//! The operating system's side of the engine, in one place: waiting for a
//! process to exit and for files to change, what the kernel says about a
//! process, descriptor hygiene at spawn, private files for captured output,
//! close-on-exec pipes and sockets, and random bytes.
//!
//! `linux.rs` and `bsd.rs` (macOS and the BSDs) use their kernels' own
//! facilities; `fallback.rs` holds the portable POSIX versions. The fallback
//! serves systems of no known family, and every system when
//! `DAEMON_CONTROLLER_PLATFORM=fallback` is set, so that the portable path
//! runs (and is tested) on Linux too. In that mode nothing reads `/proc`.

use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

mod fallback;

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "openbsd",
    target_os = "netbsd"
))]
mod cloexec;

/// The kernel family's own file: `linux.rs`, `bsd.rs` (macOS and the BSDs),
/// or, on other systems, `native.rs`, which offers the portable versions.
#[cfg_attr(any(target_os = "linux", target_os = "android"), path = "linux.rs")]
#[cfg_attr(
    any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "openbsd",
        target_os = "netbsd"
    ),
    path = "bsd.rs"
)]
mod native;

/// Watches files for changes; readable (through `AsFd`) when one changed.
pub use native::FileWatch;

/// The variable that selects the portable implementation at run time.
pub const PLATFORM_VARIABLE: &str = "DAEMON_CONTROLLER_PLATFORM";

/// Whether the portable implementation was asked for. Read once: every
/// controller of a process uses the same one.
pub fn is_fallback() -> bool {
    static FALLBACK: OnceLock<bool> = OnceLock::new();
    *FALLBACK.get_or_init(|| std::env::var_os(PLATFORM_VARIABLE).is_some_and(|v| v == "fallback"))
}

/// What the kernel says about a process that exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// It has exited and waits to be reaped (a zombie).
    pub exited: bool,
    /// A kernel thread or system process: never a daemon.
    pub kernel_thread: bool,
    /// When it started, where the system tells.
    pub started: Option<SystemTime>,
    /// When it started, as a number that stays the same for the life of
    /// the process and does not move when the wall clock is stepped (clock
    /// ticks after boot on Linux), where the system tells. Two processes of
    /// one boot with the same PID have different tokens.
    pub start_token: Option<u64>,
}

impl ProcessInfo {
    /// A process known to exist and nothing more.
    pub const EXISTS: ProcessInfo = ProcessInfo {
        exited: false,
        kernel_thread: false,
        started: None,
        start_token: None,
    };
}

/// What is known about `pid`: `None` only on positive evidence that no such
/// process exists. Where the system's process table cannot be read, the
/// answer comes from `waitid` (our own children) and signal 0, and a
/// process that cannot be told apart from a live one counts as live.
pub fn probe(pid: i32) -> Option<ProcessInfo> {
    let known = match is_fallback() {
        true => None,
        false => native::probe(pid).ok(),
    };
    known.unwrap_or_else(|| fallback::signal_zero(pid))
}

/// What tells this boot of the system from others, where the system says
/// (the kernel's boot id on Linux). Start tokens of one boot only compare.
pub fn boot_id() -> Option<&'static str> {
    match is_fallback() {
        true => None,
        false => native::boot_id(),
    }
}

/// The real and effective user IDs of `pid`, where the process table says.
pub fn process_uids(pid: i32) -> Option<[u32; 2]> {
    match is_fallback() {
        true => None,
        false => native::process_uids(pid),
    }
}

/// The kernel's word for what `pid` is doing, as "D (disk sleep)", where
/// the process table says.
pub fn process_state(pid: i32) -> Option<String> {
    match is_fallback() {
        true => None,
        false => native::process_state(pid),
    }
}

/// A descriptor that becomes readable when `pid` exits, whether or not it
/// is our child: a pidfd on Linux, a kqueue on the BSDs. `None` where the
/// system has none, or the process is already gone.
pub fn exit_watch(pid: i32) -> Option<OwnedFd> {
    match is_fallback() {
        true => None,
        false => native::exit_watch(pid),
    }
}

/// Whether the process behind an [`exit_watch`] descriptor has exited, or
/// its state cannot be told (the caller then looks closer).
pub fn has_exited(watch: BorrowedFd<'_>) -> bool {
    !matches!(
        crate::wait::poll_readable(&[watch], Some(Instant::now())),
        Ok(false)
    )
}

/// A file watch, where the system has one; waits use their timers otherwise.
pub fn file_watch() -> Option<FileWatch> {
    match is_fallback() {
        true => None,
        false => FileWatch::new(),
    }
}

/// The function that marks descriptors from 3 up to a limit close-on-exec.
/// Chosen before the fork, because it runs between fork and exec, where only
/// async-signal-safe calls are allowed.
pub fn cloexec_marker() -> fn(RawFd) {
    match is_fallback() {
        true => fallback::mark_cloexec_above_stdio,
        false => native::mark_cloexec_above_stdio,
    }
}

/// A readable and writable file in `dir` that no other process can open by
/// name, and that disappears when closed; close-on-exec.
pub fn private_file(dir: &Path) -> io::Result<File> {
    match is_fallback() {
        true => fallback::private_file(dir),
        false => native::private_file(dir),
    }
}

/// A pipe, close-on-exec at both ends: (read end, write end).
pub fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    match is_fallback() {
        true => fallback::cloexec_pipe(),
        false => native::cloexec_pipe(),
    }
}

/// A nonblocking, close-on-exec stream socket of `domain` (an `AF_*`).
pub fn stream_socket(domain: i32) -> io::Result<OwnedFd> {
    match is_fallback() {
        true => fallback::stream_socket(domain),
        false => native::stream_socket(domain),
    }
}

/// Fills `bytes` from the system's random source.
pub fn random_bytes(bytes: &mut [u8]) -> io::Result<()> {
    match is_fallback() {
        true => fallback::random_bytes(bytes),
        false => native::random_bytes(bytes),
    }
}

/// 64 bits from the system's random source as 16 hex digits: a name part
/// that no other process can predict.
pub fn random_hex() -> io::Result<String> {
    let mut bytes = [0u8; 8];
    random_bytes(&mut bytes)?;
    Ok(format!("{:016x}", u64::from_ne_bytes(bytes)))
}

/// Whether our child `pid` has exited, leaving it unreaped (so that whoever
/// waits for it still gets its status). `None`: not our child (or already
/// reaped), so this says nothing.
pub fn child_has_exited(pid: i32) -> Option<bool> {
    loop {
        match exited_unreaped(pid) {
            Ok(exited) => return Some(exited),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// waitid(P_PID, pid, WEXITED | WNOHANG | WNOWAIT): whether a child exited.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn exited_unreaped(pid: i32) -> nix::Result<bool> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    let status = waitid(Id::Pid(nix::unistd::Pid::from_raw(pid)), flags)?;
    Ok(status != WaitStatus::StillAlive)
}

/// The same where nix does not wrap waitid.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn exited_unreaped(pid: i32) -> nix::Result<bool> {
    use nix::libc;
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    let ret = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
    nix::errno::Errno::result(ret)?;
    Ok(unsafe { info.si_pid() } != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;

    #[test]
    fn a_zombie_child_has_exited_and_stays_reapable() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        while child_has_exited(pid) != Some(true) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(
            fallback::signal_zero(pid).map(|info| info.exited),
            Some(true)
        );
        assert!(child.wait().unwrap().success());
        assert_eq!(child_has_exited(pid), None);
    }

    #[test]
    fn the_portable_probe_tells_a_live_child_from_a_reaped_one() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let pid = child.id() as i32;
        assert_eq!(fallback::signal_zero(pid), Some(ProcessInfo::EXISTS));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(fallback::signal_zero(pid), None);
    }

    #[test]
    fn the_portable_probe_takes_a_live_stranger_for_live() {
        // PID 1 is never our child: only signal 0 speaks for it.
        assert_eq!(fallback::signal_zero(1), Some(ProcessInfo::EXISTS));
    }

    #[test]
    fn both_private_files_are_nameless_and_usable() {
        let dir = std::env::temp_dir();
        for mut file in
            [native::private_file(&dir), fallback::private_file(&dir)].map(Result::unwrap)
        {
            file.write_all(b"captured").unwrap();
            file.rewind().unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            assert_eq!(text, "captured");
            assert_eq!(file.metadata().unwrap().nlink(), 0);
        }
    }

    #[test]
    fn both_random_sources_give_different_bytes() {
        let mut draws = [[0u8; 16]; 2];
        native::random_bytes(&mut draws[0]).unwrap();
        fallback::random_bytes(&mut draws[1]).unwrap();
        assert_ne!(draws[0], draws[1]);
    }
}
