//! macOS and the BSDs: kqueue for process exits (`EVFILT_PROC`, `NOTE_EXIT`)
//! and file changes (`EVFILT_VNODE` on open directories and files), and the
//! kernel's process table for a process's state and start time
//! (`proc_pidinfo` on macOS, `sysctl` `KERN_PROC_PID` on FreeBSD). It
//! mirrors the fallback's structure: a kqueue descriptor is readable when an
//! event is pending, so waits poll it just as they poll Linux's pidfds.
//! The portable versions serve the rest: private files everywhere,
//! descriptor hygiene except on FreeBSD (which has `close_range`), and pipes
//! and sockets on Apple's systems (which lack `pipe2` and `SOCK_CLOEXEC`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::event::{EvFlags, EventFilter, FilterFlag, KEvent, Kqueue};
use nix::sys::stat::Mode;

use super::ProcessInfo;

#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub use super::cloexec::{cloexec_pipe, stream_socket};
#[cfg(not(target_os = "freebsd"))]
pub use super::fallback::mark_cloexec_above_stdio;
pub use super::fallback::private_file;
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub use super::fallback::{cloexec_pipe, stream_socket};

/// close_range(2) with CLOSE_RANGE_CLOEXEC (FreeBSD 13.1+), which nix does
/// not wrap; else the loop. Runs between fork and exec: only
/// async-signal-safe calls.
#[cfg(target_os = "freebsd")]
pub fn mark_cloexec_above_stdio(limit: std::os::fd::RawFd) {
    let flags = libc::CLOSE_RANGE_CLOEXEC as libc::c_int;
    if unsafe { libc::close_range(3, libc::c_uint::MAX, flags) } != 0 {
        super::fallback::mark_cloexec_above_stdio(limit);
    }
}

/// A kqueue that reports `pid`'s exit. `None` when the process is already
/// gone (ESRCH) or no kqueue can be had.
pub fn exit_watch(pid: i32) -> Option<OwnedFd> {
    let queue = Kqueue::new().ok()?;
    let exit = KEvent::new(
        usize::try_from(pid).ok()?,
        EventFilter::EVFILT_PROC,
        EvFlags::EV_ADD | EvFlags::EV_ONESHOT,
        FilterFlag::NOTE_EXIT,
        0,
        0,
    );
    queue.kevent(&[exit], &mut [], None).ok()?;
    Some(queue.into())
}

/// A kqueue watching open directories (entries created, renamed, deleted)
/// and files (written, extended, replaced). A file that does not exist yet
/// shows up through its directory; waits keep their timers for the rest.
#[derive(Debug)]
pub struct FileWatch {
    queue: Kqueue,
    /// The watched descriptors: a vnode watch lasts while its descriptor is open.
    watched: Vec<OwnedFd>,
}

impl FileWatch {
    pub fn new() -> Option<FileWatch> {
        Some(FileWatch {
            queue: Kqueue::new().ok()?,
            watched: Vec::new(),
        })
    }

    pub fn watch(&mut self, dir: &Path, file: &Path) {
        for path in [dir, file] {
            let Ok(opened) = nix::fcntl::open(path, watch_flags(), Mode::empty()) else {
                continue;
            };
            let change = KEvent::new(
                opened.as_raw_fd() as usize,
                EventFilter::EVFILT_VNODE,
                EvFlags::EV_ADD | EvFlags::EV_CLEAR,
                FilterFlag::NOTE_WRITE
                    | FilterFlag::NOTE_EXTEND
                    | FilterFlag::NOTE_ATTRIB
                    | FilterFlag::NOTE_DELETE
                    | FilterFlag::NOTE_RENAME,
                0,
                0,
            );
            if self.queue.kevent(&[change], &mut [], None).is_ok() {
                self.watched.push(opened);
            }
        }
    }

    /// Reads the pending events, which only say that something changed.
    pub fn drain(&self) {
        let empty = KEvent::new(
            0,
            EventFilter::EVFILT_VNODE,
            EvFlags::empty(),
            FilterFlag::empty(),
            0,
            0,
        );
        let mut events = [empty; 16];
        let now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        while self
            .queue
            .kevent(&[], &mut events, Some(now))
            .is_ok_and(|n| n > 0)
        {}
    }
}

impl AsFd for FileWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.queue.as_fd()
    }
}

/// Opens for events only: nonblocking (a FIFO must not block the open).
fn watch_flags() -> OFlag {
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    // O_EVTONLY: the watch does not keep the volume from being unmounted.
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    let flags = flags | OFlag::from_bits_retain(libc::O_EVTONLY);
    flags
}

/// From `proc_pidinfo(PROC_PIDTBSDINFO)`, which nix does not wrap. Errors
/// (a zombie has no BSD info, for one) send the caller to signal 0.
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub fn probe(pid: i32) -> io::Result<Option<ProcessInfo>> {
    /// `PROC_FLAG_SYSTEM` of <sys/proc_info.h>.
    const PROC_FLAG_SYSTEM: u32 = 1;
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    let got = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    if got != size {
        return Err(io::Error::last_os_error());
    }
    let started = std::time::Duration::from_secs(info.pbi_start_tvsec)
        + std::time::Duration::from_micros(info.pbi_start_tvusec);
    Ok(Some(ProcessInfo {
        exited: info.pbi_status == libc::SZOMB,
        kernel_thread: info.pbi_flags & PROC_FLAG_SYSTEM != 0,
        started: Some(std::time::UNIX_EPOCH + started),
    }))
}

/// From `sysctl` `KERN_PROC_PID`, which nix does not wrap. Errors send the
/// caller to signal 0.
#[cfg(target_os = "freebsd")]
pub fn probe(pid: i32) -> io::Result<Option<ProcessInfo>> {
    let name = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, pid];
    let mut info: libc::kinfo_proc = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::kinfo_proc>();
    let ret = unsafe {
        libc::sysctl(
            name.as_ptr(),
            name.len() as libc::c_uint,
            (&mut info as *mut libc::kinfo_proc).cast(),
            &mut len,
            std::ptr::null(),
            0,
        )
    };
    nix::errno::Errno::result(ret)?;
    if len != std::mem::size_of::<libc::kinfo_proc>() {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let started = std::time::Duration::from_secs(info.ki_start.tv_sec as u64)
        + std::time::Duration::from_micros(info.ki_start.tv_usec as u64);
    Ok(Some(ProcessInfo {
        exited: info.ki_stat == libc::SZOMB,
        kernel_thread: info.ki_flag & libc::c_long::from(libc::P_SYSTEM | libc::P_KPROC) != 0,
        started: Some(std::time::UNIX_EPOCH + started),
    }))
}

/// The other BSDs' process tables differ in layout: signal 0 answers.
#[cfg(not(any(target_os = "macos", target_os = "ios", target_os = "freebsd")))]
pub fn probe(pid: i32) -> io::Result<Option<ProcessInfo>> {
    Ok(super::fallback::signal_zero(pid))
}

/// getentropy(2), which nix does not wrap: at most 256 bytes a call.
pub fn random_bytes(bytes: &mut [u8]) -> io::Result<()> {
    for chunk in bytes.chunks_mut(256) {
        let ret = unsafe { libc::getentropy(chunk.as_mut_ptr().cast(), chunk.len()) };
        nix::errno::Errno::result(ret)?;
    }
    Ok(())
}
