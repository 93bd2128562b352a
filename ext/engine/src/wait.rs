//! Event-driven waiting: poll(2) on the platform's exit watches (process
//! exit) and file watch (files appearing or changing), with a timer as the
//! fallback.
//! Each wait is one blocking call that returns EINTR when a signal arrives,
//! so the Ruby bindings can run it without the GVL and handle interrupts.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::sys::{self, FileWatch};

/// Waits until one of `fds` is readable or `until` passes. Returns whether a
/// descriptor became readable; EINTR is returned as an error, not retried.
pub fn poll_readable(fds: &[BorrowedFd<'_>], until: Option<Instant>) -> io::Result<bool> {
    poll_for(fds, PollFlags::POLLIN, until)
}

/// Waits until one of `fds` reports one of `events` (or an error or hang-up)
/// or `until` passes; EINTR is returned as an error.
pub fn poll_for(
    fds: &[BorrowedFd<'_>],
    events: PollFlags,
    until: Option<Instant>,
) -> io::Result<bool> {
    let mut pollfds: Vec<PollFd<'_>> = fds.iter().map(|&fd| PollFd::new(fd, events)).collect();
    let ready = poll(&mut pollfds, timeout(until))?;
    Ok(ready > 0)
}

/// The time left until `until`, rounded up to whole milliseconds so that a
/// wait never ends early and spins; no deadline waits for ever.
fn timeout(until: Option<Instant>) -> PollTimeout {
    match until {
        None => PollTimeout::NONE,
        Some(until) => {
            let left = until.saturating_duration_since(Instant::now());
            let millis = left.as_nanos().div_ceil(1_000_000);
            PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// Sleeps until `until`; EINTR is returned as an error.
pub fn sleep_until(until: Instant) -> io::Result<()> {
    poll_readable(&[], Some(until)).map(drop)
}

/// The earliest of some optional instants.
pub fn earliest(instants: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    instants.into_iter().flatten().min()
}

/// Delays between checks: from 1 ms, doubling, up to a maximum.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(1);

    pub fn new(max: Duration) -> Backoff {
        let max = max.max(Self::FIRST);
        Backoff {
            next: Self::FIRST,
            max,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

/// The things a wait reacts to: files changing in watched directories,
/// watched processes exiting, and messages arriving on watched sockets.
#[derive(Debug, Default)]
pub struct Events {
    files: Option<FileWatch>,
    exits: Vec<OwnedFd>,
    readable: Vec<OwnedFd>,
}

impl Events {
    pub fn new() -> Events {
        Events::default()
    }

    /// Wakes waits when entries of `file`'s directory are created, written,
    /// renamed or deleted. Without a file watch, waits fall back to their
    /// timers.
    pub fn watch_directory_of(&mut self, file: &Path) {
        let dir = match file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if self.files.is_none() {
            self.files = sys::file_watch();
        }
        if let Some(files) = &mut self.files {
            files.watch(dir, file);
        }
    }

    /// Wakes waits when `pid` exits, where the platform can watch for that.
    pub fn watch_exit(&mut self, pid: i32) {
        self.exits.extend(sys::exit_watch(pid));
    }

    /// Wakes waits when `fd` has something to read. Whoever reads it must
    /// drain it, or every later wait returns at once.
    pub fn watch_readable(&mut self, fd: OwnedFd) {
        self.readable.push(fd);
    }

    /// Waits for an event or `until`; returns whether an event ended the
    /// wait. EINTR is returned as an error. A process whose exit was seen is
    /// no longer watched, so that its readable watch does not turn later
    /// waits into a busy loop.
    pub fn wait(&mut self, until: Option<Instant>) -> io::Result<bool> {
        let files = self.files.as_ref().map(|files| files.as_fd());
        let fds: Vec<BorrowedFd<'_>> = files
            .into_iter()
            .chain(self.exits.iter().map(|fd| fd.as_fd()))
            .chain(self.readable.iter().map(|fd| fd.as_fd()))
            .collect();
        let woke = poll_readable(&fds, until)?;
        if woke {
            if let Some(files) = &self.files {
                files.drain();
            }
            self.exits.retain(|fd| !sys::has_exited(fd.as_fd()));
        }
        Ok(woke)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let mut backoff = Backoff::new(Duration::from_millis(5));
        let delays: Vec<u128> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn a_file_event_ends_the_wait_early() {
        let dir = std::env::temp_dir().join(format!("dc-wait-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("daemon.pid");
        let mut events = Events::new();
        events.watch_directory_of(&file);
        let writer = {
            let file = file.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                std::fs::write(file, "1").unwrap();
            })
        };
        let began = Instant::now();
        events.wait(Some(began + Duration::from_secs(10))).unwrap();
        assert!(began.elapsed() < Duration::from_secs(5));
        writer.join().unwrap();
    }

    #[test]
    fn an_exit_ends_the_wait_early() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.05")
            .spawn()
            .unwrap();
        let mut events = Events::new();
        events.watch_exit(child.id() as i32);
        let began = Instant::now();
        events.wait(Some(began + Duration::from_secs(10))).unwrap();
        assert!(began.elapsed() < Duration::from_secs(5));
        child.wait().unwrap();
    }

    #[test]
    fn timeouts_round_up() {
        let soon = Instant::now() + Duration::from_micros(10);
        assert_eq!(timeout(Some(soon)), PollTimeout::from(1u8));
        assert_eq!(timeout(None), PollTimeout::NONE);
        let far = Instant::now() + Duration::from_secs(100 * 24 * 3600);
        assert_eq!(timeout(Some(far)), PollTimeout::MAX);
    }
}
