//! The daemon's log file: whether it is one of our own standard channels,
//! whether it shows activity, and what it gained since a start began.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Size and mtime: a change in either is activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    is_file: bool,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = fs::metadata(path).ok()?;
        Some(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            is_file: meta.is_file(),
        })
    }
}

/// What the log file looked like when a start began, and what it looks like
/// on each check since.
#[derive(Debug)]
pub struct LogWatch {
    path: PathBuf,
    original: Option<Stamp>,
    current: Option<Stamp>,
}

impl LogWatch {
    pub fn snapshot(path: impl Into<PathBuf>) -> LogWatch {
        let path = path.into();
        let original = Stamp::of(&path);
        LogWatch {
            path,
            original,
            current: original,
        }
    }

    /// Stats the file again: a changed size or mtime, a file that appeared,
    /// or one that can no longer be stat'ed counts as activity.
    pub fn has_changed(&mut self) -> bool {
        let now = Stamp::of(&self.path);
        let changed = match (self.current, now) {
            (Some(before), Some(after)) => {
                before.len != after.len || before.modified != after.modified
            }
            (None, None) => false,
            _ => true,
        };
        self.current = now;
        changed
    }

    /// What the log gained since the snapshot, stripped, its last part only
    /// (see `messages::tail_of`). `None` when the log
    /// is not a regular file; a log that did not exist counts as empty then.
    pub fn gained(&self) -> Option<String> {
        if self.original.is_some_and(|stamp| !stamp.is_file) {
            return None;
        }
        let file = match crate::open_for_reading(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(String::new()),
            Err(_) => return None,
        };
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return None;
        }
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let from = self.original.map_or(0, |stamp| stamp.len);
        // A log truncated since the snapshot was rewritten: report all of it.
        let from = if len < from { 0 } else { from };
        crate::messages::tail_of(&file, from, len).ok()
    }
}

/// Whether `path` names this process's own stdout or stderr, literally or
/// through symlinks: the daemon then writes to our channels and there is
/// nothing to capture or to read back.
pub fn is_own_std_channel(path: &Path) -> bool {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        if names_std_channel(&current) {
            return true;
        }
        match fs::read_link(&current) {
            Ok(target) => {
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                }
            }
            Err(_) => return false,
        }
    }
    false
}

fn names_std_channel(path: &Path) -> bool {
    let Some(text) = path.to_str() else {
        return false;
    };
    if matches!(
        text,
        "/dev/stdout" | "/dev/stderr" | "/dev/fd/1" | "/dev/fd/2"
    ) {
        return true;
    }
    let Some(rest) = text.strip_prefix("/proc/") else {
        return false;
    };
    let Some((process, fd)) = rest.split_once("/fd/") else {
        return false;
    };
    let own_process = process == "self"
        || process == "thread-self"
        || process
            .parse::<u32>()
            .is_ok_and(|pid| pid == std::process::id());
    own_process && matches!(fd, "1" | "2")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ScratchDir;
    use std::io::Write;

    #[test]
    fn std_channels_are_recognised() {
        assert!(is_own_std_channel(Path::new("/dev/stderr")));
        assert!(is_own_std_channel(Path::new("/proc/self/fd/1")));
        assert!(is_own_std_channel(Path::new(&format!(
            "/proc/{}/fd/2",
            std::process::id()
        ))));
        assert!(!is_own_std_channel(Path::new("/proc/1/fd/2")));
        assert!(!is_own_std_channel(Path::new("/tmp/daemon.log")));
        let dir = ScratchDir::new("log");
        let link = dir.join("log");
        std::os::unix::fs::symlink("/dev/stderr", &link).unwrap();
        assert!(is_own_std_channel(&link));
    }

    #[test]
    fn reports_what_the_log_gained() {
        let dir = ScratchDir::new("log");
        let path = dir.join("daemon.log");
        fs::write(&path, "old line\n").unwrap();
        let mut watch = LogWatch::snapshot(&path);
        assert!(!watch.has_changed());
        assert_eq!(watch.gained().as_deref(), Some(""));
        let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
        writeln!(file, "  new line  ").unwrap();
        assert!(watch.has_changed());
        assert!(!watch.has_changed());
        assert_eq!(watch.gained().as_deref(), Some("new line"));
    }

    #[test]
    fn a_log_that_appears_is_activity_and_counts_from_the_start() {
        let dir = ScratchDir::new("log");
        let path = dir.join("daemon.log");
        let mut watch = LogWatch::snapshot(&path);
        assert!(!watch.has_changed());
        assert_eq!(watch.gained().as_deref(), Some(""));
        fs::write(&path, "hello\n").unwrap();
        assert!(watch.has_changed());
        assert_eq!(watch.gained().as_deref(), Some("hello"));
        fs::remove_file(&path).unwrap();
        assert!(watch.has_changed(), "a vanished log is activity too");
    }

    #[test]
    fn non_regular_logs_are_not_read() {
        let watch = LogWatch::snapshot("/dev/null");
        assert_eq!(watch.gained(), None);
    }
}
