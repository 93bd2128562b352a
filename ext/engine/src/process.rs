//! What the kernel says about a process: whether it still runs (a zombie does
//! not), and whether it can be the one that wrote a PID file.

use std::io;
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::libc;

use crate::sys;

/// A process that started this long after its PID file was last written
/// cannot have written it: the PID has been reused.
pub const PID_REUSE_SLACK: Duration = Duration::from_secs(5);

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
/// be the process that wrote that file. Without the system's process table
/// (no start time, no kernel-thread flag) a live process counts as running.
pub fn liveness(pid: i32, written: Option<SystemTime>) -> Liveness {
    match sys::probe(pid) {
        None => Liveness::Gone,
        Some(info) if info.exited => Liveness::Gone,
        Some(info) if info.kernel_thread => Liveness::Reused,
        Some(info) => match (info.started, written) {
            (Some(started), Some(written)) if started > written + PID_REUSE_SLACK => {
                Liveness::Reused
            }
            _ => Liveness::Running,
        },
    }
}

pub fn is_running(pid: i32) -> bool {
    liveness(pid, None) == Liveness::Running
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
pub fn child_has_exited(pid: i32) -> bool {
    sys::child_has_exited(pid).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

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
        while !child_has_exited(pid) {
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
