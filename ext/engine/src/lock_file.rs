//! flock(2) locks on a named file, compatible with the original gem and with
//! flock(1): the file is created if missing and opened close-on-exec, and the
//! lock belongs to that open file description, so threads and processes
//! exclude each other alike.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

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

/// Ruby's `File.absolute_path`: relative to the working directory, with `.`
/// and `..` resolved lexically (symlinks are left alone).
pub fn absolute_path(path: &Path) -> PathBuf {
    let joined = std::env::current_dir().unwrap_or_default().join(path);
    let mut result = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                result.pop();
            }
            Component::CurDir => {}
            other => result.push(other),
        }
    }
    result
}

/// flock(2) without EINTR retries: std's `File::lock` may retry internally,
/// which would keep a Ruby thread from ever seeing its interrupt.
fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    check(unsafe { libc::flock(file.as_raw_fd(), operation) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_lock(name: &str) -> LockFile {
        let dir = std::env::temp_dir().join(format!("dc-lock-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        LockFile::new(dir.join("daemon.pid.lock"))
    }

    #[test]
    fn shared_locks_coexist_and_exclude_exclusive_ones() {
        let lock = temp_lock("shared");
        let first = lock.try_lock(LockKind::Shared).unwrap().unwrap();
        let second = lock.try_lock(LockKind::Shared).unwrap().unwrap();
        assert!(lock.try_lock(LockKind::Exclusive).unwrap().is_err());
        drop((first, second));
        assert!(lock.try_lock(LockKind::Exclusive).unwrap().is_ok());
    }

    #[test]
    fn an_exclusive_lock_excludes_everyone_until_dropped() {
        let lock = temp_lock("exclusive");
        let held = lock.lock(LockKind::Exclusive).unwrap();
        assert!(lock.try_lock(LockKind::Shared).unwrap().is_err());
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || lock.lock(LockKind::Exclusive).map(drop))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished());
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn the_descriptor_is_close_on_exec() {
        let lock = temp_lock("cloexec");
        let guard = lock.lock(LockKind::Exclusive).unwrap();
        let flags = unsafe { libc::fcntl(guard._file.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let lock = LockFile::new("/nonexistent-dir-for-dc/x.lock");
        let error = lock.try_lock(LockKind::Exclusive).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn absolute_paths_resolve_dots_lexically() {
        assert_eq!(
            absolute_path(Path::new("/a/b/../c/./d.lock")),
            PathBuf::from("/a/c/d.lock")
        );
        assert!(absolute_path(Path::new("x.lock")).is_absolute());
    }
}
