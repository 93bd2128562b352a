//! The portable versions, plain POSIX: no exit or file watches (waits poll
//! on their timers), no process table (liveness from `waitid` and signal 0,
//! no start time, no kernel-thread check), a close-on-exec loop over every
//! descriptor, a private file created by name and unlinked at once, and
//! close-on-exec set on pipes and sockets right after they are made.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::libc;
use nix::sys::signal::kill;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use nix::unistd::Pid;

use super::ProcessInfo;

/// How many names to try for a private file before giving up.
const NAME_ATTEMPTS: u32 = 100;

/// Liveness without a process table. Our own child: `waitid` tells whether
/// it exited. Anyone else: signal 0, where EPERM means someone else's live
/// process and only ESRCH means gone. A zombie that is not our child cannot
/// be told from a live process here, and counts as live.
pub fn signal_zero(pid: i32) -> Option<ProcessInfo> {
    if let Some(exited) = super::child_has_exited(pid) {
        return Some(ProcessInfo {
            exited,
            ..ProcessInfo::EXISTS
        });
    }
    match kill(Pid::from_raw(pid), None) {
        Err(Errno::ESRCH) => None,
        _ => Some(ProcessInfo::EXISTS),
    }
}

/// Marks every descriptor from 3 below `limit` close-on-exec, one call
/// each. Runs between fork and exec: only async-signal-safe calls.
pub fn mark_cloexec_above_stdio(limit: RawFd) {
    for fd in 3..limit {
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// A file created under a fresh random name with `O_EXCL` and unlinked at
/// once: no other process can have opened it by name meanwhile but one of
/// the owner's, who could read the temporary directory anyway.
pub fn private_file(dir: &Path) -> io::Result<File> {
    let mut attempt = 0;
    loop {
        let name = dir.join(format!(
            "daemon-output-{}-{}",
            std::process::id(),
            super::random_hex()?
        ));
        // std opens with O_CLOEXEC and, with create_new, O_EXCL; mode 0600.
        let opened = std::os::unix::fs::OpenOptionsExt::mode(
            File::options().read(true).write(true).create_new(true),
            0o600,
        )
        .open(&name);
        match opened {
            Ok(file) => {
                let _ = std::fs::remove_file(&name);
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < NAME_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sets close-on-exec on a descriptor just made: another thread that forks
/// and execs in between would leak it, which only `*_CLOEXEC` flags at
/// creation prevent, where the system has them.
fn set_cloexec(fd: &impl AsFd) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(())
}

pub fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (reader, writer) = nix::unistd::pipe()?;
    set_cloexec(&reader)?;
    set_cloexec(&writer)?;
    Ok((reader, writer))
}

pub fn stream_socket(domain: i32) -> io::Result<OwnedFd> {
    let family = AddressFamily::from_i32(domain).ok_or(Errno::EAFNOSUPPORT)?;
    let socket = socket(family, SockType::Stream, SockFlag::empty(), None)?;
    set_cloexec(&socket)?;
    let flags = OFlag::from_bits_retain(fcntl(&socket, FcntlArg::F_GETFL)?);
    fcntl(&socket, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(socket)
}

/// Random bytes from `/dev/urandom`.
pub fn random_bytes(bytes: &mut [u8]) -> io::Result<()> {
    File::open("/dev/urandom")?.read_exact(bytes)
}
