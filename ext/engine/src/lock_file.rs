//! flock(2) locks on a named file, compatible with the original gem and with
//! flock(1): the file is created if missing and opened close-on-exec, and the
//! lock belongs to that open file description, so threads and processes
//! exclude each other alike.
//!
//! Opening the file costs more than the lock itself, so one unlocked
//! descriptor is kept for the next lock. A descriptor is only ever used by one
//! lock at a time (a busy spare means a fresh open), never in a child process
//! forked after it was opened (the child would share the parent's lock), and
//! never once the path leads to another file (deleted, or renamed away and
//! replaced).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};

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
    spare: Arc<Mutex<Option<Descriptor>>>,
}

/// An open lock file, and the fork generation of the process that opened it.
#[derive(Debug)]
struct Descriptor {
    file: File,
    generation: u64,
}

/// A held lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    descriptor: Option<Descriptor>,
    spare: Arc<Mutex<Option<Descriptor>>>,
}

/// An opened lock file whose lock is not held yet.
#[derive(Debug)]
pub struct PendingLock {
    guard: LockGuard,
    kind: LockKind,
}

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Changes in every child process after fork(2).
fn fork_generation() -> u64 {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(count_fork_in_child));
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}

impl LockFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        fork_generation();
        LockFile {
            path: path.into(),
            spare: Arc::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file and takes the lock if nobody holds a conflicting one.
    /// `Ok(Err(pending))` means the lock is busy: the caller may block on
    /// `pending` (typically with the GVL released) or give up.
    pub fn try_lock(&self, kind: LockKind) -> io::Result<Result<LockGuard, PendingLock>> {
        let guard = LockGuard {
            descriptor: Some(self.descriptor()?),
            spare: Arc::clone(&self.spare),
        };
        match flock(guard.file(), kind.flock_operation() | libc::LOCK_NB) {
            Ok(()) => Ok(Ok(guard)),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
                Ok(Err(PendingLock { guard, kind }))
            }
            Err(e) => Err(e),
        }
    }

    /// The spare descriptor if it is free and still usable, else a new one.
    fn descriptor(&self) -> io::Result<Descriptor> {
        let generation = fork_generation();
        let spare = self.spare.try_lock().ok().and_then(|mut slot| slot.take());
        if let Some(spare) = spare {
            if spare.generation == generation && self.still_names(&spare.file) {
                return Ok(spare);
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o666)
            .custom_flags(libc::O_CLOEXEC)
            .open(&self.path)?;
        Ok(Descriptor { file, generation })
    }

    /// Whether the path still leads to `file`: a lock file deleted, or
    /// renamed away and replaced, is locked by others at its new inode.
    fn still_names(&self, file: &File) -> bool {
        let identity = |meta: std::fs::Metadata| (meta.dev(), meta.ino());
        match (file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(open), Ok(named)) => identity(open) == identity(named),
            _ => false,
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
        flock(self.guard.file(), self.kind.flock_operation())
    }

    /// The guard for a lock that [`PendingLock::wait`] acquired.
    pub fn into_guard(self) -> LockGuard {
        self.guard
    }
}

impl LockGuard {
    fn file(&self) -> &File {
        &self
            .descriptor
            .as_ref()
            .expect("a guard holds its descriptor until dropped")
            .file
    }
}

impl Drop for LockGuard {
    /// Unlocks, then keeps the descriptor as the spare if there is none
    /// (closing it otherwise). A descriptor that fails to unlock is closed,
    /// which releases the lock too.
    fn drop(&mut self) {
        let Some(descriptor) = self.descriptor.take() else {
            return;
        };
        if flock(&descriptor.file, libc::LOCK_UN).is_err() {
            return;
        }
        if let Ok(mut slot) = self.spare.try_lock() {
            if slot.is_none() && descriptor.generation == fork_generation() {
                *slot = Some(descriptor);
            }
        }
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
    use crate::test_support::ScratchDir;

    /// A lock file in a scratch directory of its own.
    fn temp_lock() -> (ScratchDir, LockFile) {
        let dir = ScratchDir::new("lock");
        let lock = LockFile::new(dir.join("daemon.pid.lock"));
        (dir, lock)
    }

    #[test]
    fn shared_locks_coexist_and_exclude_exclusive_ones() {
        let (_dir, lock) = temp_lock();
        let first = lock.try_lock(LockKind::Shared).unwrap().unwrap();
        let second = lock.try_lock(LockKind::Shared).unwrap().unwrap();
        assert!(lock.try_lock(LockKind::Exclusive).unwrap().is_err());
        drop((first, second));
        assert!(lock.try_lock(LockKind::Exclusive).unwrap().is_ok());
    }

    #[test]
    fn an_exclusive_lock_excludes_everyone_until_dropped() {
        let (_dir, lock) = temp_lock();
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
        let (_dir, lock) = temp_lock();
        let guard = lock.lock(LockKind::Exclusive).unwrap();
        let flags = unsafe { libc::fcntl(guard.file().as_raw_fd(), libc::F_GETFD) };
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn the_descriptor_is_kept_for_the_next_lock() {
        let (_dir, lock) = temp_lock();
        let fd = lock.lock(LockKind::Shared).unwrap().file().as_raw_fd();
        let again = lock.lock(LockKind::Exclusive).unwrap();
        assert_eq!(again.file().as_raw_fd(), fd);
        // While the spare is in use, another lock opens its own descriptor.
        let other = lock.try_lock(LockKind::Shared).unwrap().unwrap_err();
        assert_ne!(other.guard.file().as_raw_fd(), fd);
    }

    #[test]
    fn a_deleted_lock_file_is_created_again_and_locked() {
        let (_dir, lock) = temp_lock();
        drop(lock.lock(LockKind::Shared).unwrap());
        std::fs::remove_file(lock.path()).unwrap();
        let _held = lock.lock(LockKind::Exclusive).unwrap();
        let by_path = File::open(lock.path()).unwrap();
        let error = flock(&by_path, libc::LOCK_SH | libc::LOCK_NB).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EWOULDBLOCK));
    }

    #[test]
    fn a_lock_file_renamed_away_and_replaced_is_locked_at_its_new_inode() {
        let (_dir, lock) = temp_lock();
        drop(lock.lock(LockKind::Shared).unwrap());
        let old = lock.path().with_extension("old");
        std::fs::rename(lock.path(), &old).unwrap();
        File::create(lock.path()).unwrap();
        let _held = lock.lock(LockKind::Exclusive).unwrap();
        let by_path = File::open(lock.path()).unwrap();
        let error = flock(&by_path, libc::LOCK_SH | libc::LOCK_NB).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EWOULDBLOCK));
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
