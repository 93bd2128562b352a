//! Pipes and sockets that are close-on-exec from birth (`pipe2(2)` with
//! `O_CLOEXEC`, `SOCK_CLOEXEC`): no other thread's fork and exec can slip in
//! before the flag is set. Linux and the BSDs have them; Apple's systems do
//! not, and use the fallback's.

use std::io;
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

pub fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

pub fn stream_socket(domain: i32) -> io::Result<OwnedFd> {
    let family = AddressFamily::from_i32(domain).ok_or(nix::errno::Errno::EAFNOSUPPORT)?;
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    Ok(socket(family, SockType::Stream, flags, None)?)
}
