//! What the kernel says about a process: whether it still runs (a zombie does
//! not), when it started, and a pidfd to wait for its exit.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// A process that started this long after its PID file was last written
/// cannot have written it: the PID has been reused.
pub const PID_REUSE_SLACK: Duration = Duration::from_secs(5);

/// The fields of `/proc/<pid>/stat` that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    pub state: u8,
    /// The kernel's PF_* flags.
    pub flags: u64,
    /// Clock ticks after boot at which the process started.
    pub start_ticks: u64,
}

impl ProcStat {
    pub fn read(pid: i32) -> io::Result<ProcStat> {
        let text = fs::read(format!("/proc/{pid}/stat"))?;
        Self::parse(&text).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
    }

    /// Parses `pid (comm) S ppid ...`; comm may hold spaces and parentheses,
    /// so the fields are counted from the last ')'.
    pub fn parse(text: &[u8]) -> Option<ProcStat> {
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
    pub fn is_kernel_thread(&self) -> bool {
        const PF_KTHREAD: u64 = 0x0020_0000;
        self.flags & PF_KTHREAD != 0
    }

    pub fn is_zombie(&self) -> bool {
        self.state == b'Z' || self.state == b'X'
    }

    /// Wall-clock start time, if the boot time and tick rate are known.
    pub fn start_time(&self) -> Option<SystemTime> {
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

/// A PID as the kernel accepts it: positive and within `pid_t`. PID 0 and
/// negative numbers would address process groups, never a daemon.
pub fn valid_pid(number: u64) -> Option<i32> {
    i32::try_from(number).ok().filter(|&pid| pid > 0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// The process exists and has not exited.
    Running,
    /// No such process, or it has exited and waits to be reaped.
    Gone,
    /// The process runs but cannot be the PID file's writer: it started
    /// after `written`, or it is a kernel thread.
    Reused,
}

/// Whether `pid` still runs, and (given the PID file's mtime) whether it can
/// be the process that wrote that file.
pub fn liveness(pid: i32, written: Option<SystemTime>) -> Liveness {
    match ProcStat::read(pid) {
        Ok(stat) if stat.is_zombie() && !has_other_threads(pid) => Liveness::Gone,
        Ok(stat) if stat.is_kernel_thread() => Liveness::Reused,
        Ok(stat) => match (stat.start_time(), written) {
            (Some(started), Some(written)) if started > written + PID_REUSE_SLACK => {
                Liveness::Reused
            }
            _ => Liveness::Running,
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Liveness::Gone,
        // No usable /proc: fall back to signal 0.
        Err(_) => match kill(Pid::from_raw(pid), None) {
            Ok(()) | Err(Errno::EPERM) => Liveness::Running,
            Err(_) => Liveness::Gone,
        },
    }
}

/// Whether threads besides the main one remain. `/proc/<pid>/stat` shows
/// the main thread only: a process whose main thread has exited reads as a
/// zombie while its other threads still run (and hold its sockets).
fn has_other_threads(pid: i32) -> bool {
    fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| tasks.count() > 1)
}

pub fn is_running(pid: i32) -> bool {
    liveness(pid, None) == Liveness::Running
}

/// A pidfd for `pid` (Linux 5.3+): readable once the process has exited,
/// whether or not it is our child. `None` where unsupported or already gone.
pub fn pidfd(pid: i32) -> Option<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether the process behind `pidfd` has exited (a zombie has), or its
/// state cannot be told: the caller then looks closer.
pub fn has_exited(pidfd: BorrowedFd<'_>) -> bool {
    let mut pollfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    unsafe { libc::poll(&mut pollfd, 1, 0) != 0 }
}

/// Reaps our child `pid` if it has exited, without blocking. `Ok(None)`:
/// still running. ECHILD (reaped elsewhere) counts as exited with no status.
pub fn try_reap(pid: i32) -> io::Result<Option<Option<i32>>> {
    let mut status = 0;
    loop {
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        match ret {
            0 => return Ok(None),
            -1 => match Errno::last() {
                Errno::EINTR => continue,
                Errno::ECHILD => return Ok(Some(None)),
                e => return Err(e.into()),
            },
            _ => return Ok(Some(Some(status))),
        }
    }
}

/// Whether our child `pid` has exited, leaving it unreaped (WNOWAIT) so that
/// the caller can still collect its status. ECHILD counts as exited.
pub fn child_has_exited(pid: i32) -> io::Result<bool> {
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let ret = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if ret == -1 {
        return match Errno::last() {
            Errno::ECHILD => Ok(true),
            e => Err(e.into()),
        };
    }
    Ok(unsafe { info.si_pid() } != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

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

    #[test]
    fn valid_pids_exclude_groups_and_overflow() {
        assert_eq!(valid_pid(0), None);
        assert_eq!(valid_pid(1), Some(1));
        assert_eq!(valid_pid(u64::from(u32::MAX)), None);
    }

    #[test]
    fn a_zombie_is_not_running() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        while !child_has_exited(pid).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(liveness(pid, None), Liveness::Gone);
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn our_own_process_runs_and_predates_a_fresh_file() {
        let me = std::process::id() as i32;
        assert_eq!(liveness(me, Some(SystemTime::now())), Liveness::Running);
    }

    #[test]
    fn a_process_younger_than_the_file_is_a_reused_pid() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(60);
        assert_eq!(
            liveness(child.id() as i32, Some(long_ago)),
            Liveness::Reused
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
