//! Daemon management engine: everything the `daemon_controller` gem does that
//! does not touch Ruby values. The Ruby bindings translate Ruby values into
//! these types and implement [`controller::StubPoints`] by Ruby method
//! dispatch.

pub mod controller;
pub mod http;
pub mod lock_file;
pub mod log_file;
pub mod messages;
pub mod notify;
pub mod pid_file;
pub mod ping;
pub mod ping_schedule;
pub mod process;
pub mod spawn;
pub mod sys;
pub mod wait;

use std::io;

/// Turns the `-1`/errno convention of a raw libc call into an `io::Result`.
pub(crate) fn check(ret: nix::libc::c_int) -> io::Result<nix::libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Opens a file for reading without blocking on a FIFO (a PID or log file
/// that someone replaced with one): regular files are unaffected, a FIFO
/// reads as empty or would-block instead of waiting for a writer.
pub(crate) fn open_for_reading(path: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::File::options()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
}

/// Whether an error is the EINTR that a Ruby unblock function provokes to
/// get a thread out of a blocking call.
pub fn is_interrupted(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::Interrupted
}
