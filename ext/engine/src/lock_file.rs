//! flock(2) locks on a named file, compatible with the original gem and with
//! flock(1): the file is created if missing and opened close-on-exec, and the
//! lock belongs to that open file description, so threads and processes
//! exclude each other alike.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::libc;

use crate::check;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

impl LockKind {
    fn flock_operation(self) -> libc::c_int {
        match self {
            LockKind::Shared => libc::LOCK_SH,
            LockKind::Exclusive => libc::LOCK_EX,
        }
    }
}

#[derive(Clone, Debug)]
pub struct LockFile {
    path: PathBuf,
}

/// A held lock. Dropping it closes the descriptor, which releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

/// An opened lock file whose lock is not held yet.
#[derive(Debug)]
pub struct PendingLock {
    file: File,
    kind: LockKind,
}

impl LockFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LockFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file and takes the lock if nobody holds a conflicting one.
    /// `Ok(Err(pending))` means the lock is busy: the caller may block on
    /// `pending` (typically with the GVL released) or give up.
    pub fn try_lock(&self, kind: LockKind) -> io::Result<Result<LockGuard, PendingLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o666)
            .custom_flags(libc::O_CLOEXEC)
            .open(&self.path)?;
        match flock(&file, kind.flock_operation() | libc::LOCK_NB) {
            Ok(()) => Ok(Ok(LockGuard { _file: file })),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
                Ok(Err(PendingLock { file, kind }))
            }
            Err(e) => Err(e),
        }
    }

    /// Blocks until the lock is held, retrying interrupted waits. For callers
    /// that need not react to interrupts (tests, plain Rust users).
    pub fn lock(&self, kind: LockKind) -> io::Result<LockGuard> {
        let mut pending = match self.try_lock(kind)? {
            Ok(guard) => return Ok(guard),
            Err(pending) => pending,
        };
        loop {
            match pending.wait() {
                Ok(()) => return Ok(pending.into_guard()),
                Err(e) if crate::is_interrupted(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl PendingLock {
    /// One blocking flock(2) call. Returns EINTR when a signal interrupts it,
    /// so that the caller can handle interrupts and call again.
    pub fn wait(&mut self) -> io::Result<()> {
        flock(&self.file, self.kind.flock_operation())
    }

    /// The guard for a lock that [`PendingLock::wait`] acquired.
    pub fn into_guard(self) -> LockGuard {
        LockGuard { _file: self.file }
    }
}

/// flock(2) without EINTR retries: std's `File::lock` may retry internally,
/// which would keep a Ruby thread from ever seeing its interrupt.
fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    check(unsafe { libc::flock(file.as_raw_fd(), operation) }).map(drop)
}
