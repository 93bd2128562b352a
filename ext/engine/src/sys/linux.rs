//! Linux: pidfds for process exits, inotify for file changes, `/proc` for a
//! process's state and start time, `close_range`, `O_TMPFILE`, `pipe2`,
//! `SOCK_CLOEXEC` (shared with the BSDs) and `getrandom`. Each falls back
//! to the portable version where the running kernel lacks it.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::stat::Mode;

pub use super::cloexec::{cloexec_pipe, stream_socket};
use super::{fallback, ProcessInfo};

/// The fields of `/proc/<pid>/stat` that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProcStat {
    state: u8,
    /// The kernel's PF_* flags.
    flags: u64,
    /// Clock ticks after boot at which the process started.
    start_ticks: u64,
}

impl ProcStat {
    /// Parses `pid (comm) S ppid ...`; comm may hold spaces and parentheses,
    /// so the fields are counted from the last ')'.
    fn parse(text: &[u8]) -> Option<ProcStat> {
        let after_comm = &text[text.iter().rposition(|&b| b == b')')? + 1..];
        let mut fields = after_comm
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let number = |field: &[u8]| std::str::from_utf8(field).ok()?.parse().ok();
        // state, flags and starttime are fields 3, 9 and 22 of the line.
        let state = *fields.next()?.first()?;
        let flags = number(fields.nth(5)?)?;
        let start_ticks = number(fields.nth(12)?)?;
        Some(ProcStat {
            state,
            flags,
            start_ticks,
        })
    }

    /// A kernel thread (PF_KTHREAD): never a daemon, and deaf to signals.
    fn is_kernel_thread(&self) -> bool {
        const PF_KTHREAD: u64 = 0x0020_0000;
        self.flags & PF_KTHREAD != 0
    }

    fn is_zombie(&self) -> bool {
        self.state == b'Z' || self.state == b'X'
    }

    /// Wall-clock start time, if the boot time and tick rate are known.
    fn start_time(&self) -> Option<SystemTime> {
        let (boot, ticks_per_second) = *clock()?;
        let since_boot = Duration::from_secs_f64(self.start_ticks as f64 / ticks_per_second as f64);
        Some(boot + since_boot)
    }
}

fn clock() -> Option<&'static (SystemTime, u64)> {
    static CLOCK: OnceLock<Option<(SystemTime, u64)>> = OnceLock::new();
    CLOCK
        .get_or_init(|| {
            let stat = fs::read_to_string("/proc/stat").ok()?;
            let btime: u64 = stat
                .lines()
                .find_map(|line| line.strip_prefix("btime "))?
                .trim()
                .parse()
                .ok()?;
            let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
            (ticks > 0).then(|| (UNIX_EPOCH + Duration::from_secs(btime), ticks as u64))
        })
        .as_ref()
}

/// From `/proc/<pid>/stat`. Any failure to read it (no `/proc` mounted,
/// `hidepid`, the process gone) is an error: the caller then asks signal 0,
/// which alone can say "gone" for sure.
pub fn probe(pid: i32) -> io::Result<Option<ProcessInfo>> {
    let text = fs::read(format!("/proc/{pid}/stat"))?;
    let stat = ProcStat::parse(&text).ok_or(io::ErrorKind::InvalidData)?;
    Ok(Some(ProcessInfo {
        exited: stat.is_zombie() && !has_other_threads(pid),
        kernel_thread: stat.is_kernel_thread(),
        started: stat.start_time(),
    }))
}

/// Whether threads besides the main one remain. `/proc/<pid>/stat` shows
/// the main thread only: a process whose main thread has exited reads as a
/// zombie while its other threads still run (and hold its sockets).
fn has_other_threads(pid: i32) -> bool {
    fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| tasks.count() > 1)
}

/// A pidfd (Linux 5.3+), which nix does not wrap.
pub fn exit_watch(pid: i32) -> Option<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// An inotify instance watching directories for entries created, written,
/// renamed or deleted.
#[derive(Debug)]
pub struct FileWatch {
    inotify: Option<Inotify>,
}

impl FileWatch {
    pub fn new() -> Option<FileWatch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        Some(FileWatch {
            inotify: Some(inotify),
        })
    }

    /// The directory's entries cover the file itself.
    pub fn watch(&mut self, dir: &Path, _file: &Path) {
        let mask = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_DELETE;
        if let Some(inotify) = &self.inotify {
            let _ = inotify.add_watch(dir, mask);
        }
    }

    /// Reads the queued events, which only say that something changed.
    pub fn drain(&self) {
        if let Some(inotify) = &self.inotify {
            while inotify.read_events().is_ok_and(|events| !events.is_empty()) {}
        }
    }
}

impl AsFd for FileWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify
            .as_ref()
            .expect("an inotify instance until dropped")
            .as_fd()
    }
}

impl Drop for FileWatch {
    /// Closing an inotify instance waits for a grace period in the kernel
    /// (milliseconds on these machines), so a short-lived thread closes it
    /// off the caller's path; where no thread can start, it closes here.
    fn drop(&mut self) {
        if let Some(inotify) = self.inotify.take() {
            let _ = std::thread::Builder::new()
                .name("dc-inotify-close".to_owned())
                .spawn(move || drop(inotify));
        }
    }
}

/// close_range(2) with CLOSE_RANGE_CLOEXEC (Linux 5.11+), else the loop.
/// Runs between fork and exec: only async-signal-safe calls.
pub fn mark_cloexec_above_stdio(limit: RawFd) {
    let marked = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if marked != 0 {
        fallback::mark_cloexec_above_stdio(limit);
    }
}

/// An `O_TMPFILE` file, which never has a name; filesystems without it get
/// the portable create-and-unlink.
pub fn private_file(dir: &Path) -> io::Result<File> {
    let flags = OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC;
    match nix::fcntl::open(dir, flags, Mode::from_bits_truncate(0o600)) {
        Ok(fd) => Ok(File::from(fd)),
        Err(_) => fallback::private_file(dir),
    }
}

/// getrandom(2), which nix does not wrap.
pub fn random_bytes(bytes: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < bytes.len() {
        let rest = &mut bytes[filled..];
        let got = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(got) {
            Ok(got) => filled += got,
            Err(_) => {
                let error = io::Error::last_os_error();
                if !crate::is_interrupted(&error) {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_awkward_names() {
        let line = b"42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let stat = ProcStat::parse(line).unwrap();
        assert_eq!(stat.state, b'S');
        assert_eq!(stat.start_ticks, 987654);
        assert!(!stat.is_kernel_thread());
        let kthreadd = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 24 0 0";
        assert!(ProcStat::parse(kthreadd).unwrap().is_kernel_thread());
        assert!(ProcStat::parse(b"garbage").is_none());
    }
}
