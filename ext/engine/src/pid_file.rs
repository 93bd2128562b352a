//! The daemon's PID file: its content, its availability, and whether the PID
//! it names still belongs to a running daemon.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::process::{self, Liveness};

#[derive(Clone, Debug)]
pub struct PidFile {
    path: PathBuf,
}

/// What a PID file held when it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PidFileContent {
    /// The stripped content, when it is all ASCII digits.
    pub digits: Option<String>,
    pub modified: Option<SystemTime>,
}

impl PidFileContent {
    /// The PID, when the digits form one the kernel accepts.
    pub fn pid(&self) -> Option<i32> {
        process::valid_pid(self.digits.as_deref()?.parse().ok()?)
    }
}

/// Ruby's `String#strip` followed by `/\A\d+\z/`.
pub fn parse_digits(content: &[u8]) -> Option<&str> {
    let is_blank = |b: &u8| b.is_ascii_whitespace() || *b == 0 || *b == 0x0b;
    let start = content.iter().position(|b| !is_blank(b))?;
    let end = content.iter().rposition(|b| !is_blank(b))? + 1;
    let digits = &content[start..end];
    digits
        .iter()
        .all(u8::is_ascii_digit)
        .then(|| std::str::from_utf8(digits).ok())
        .flatten()
}

impl PidFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PidFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file. A missing file is `Ok(None)`; other errors are errors.
    pub fn read(&self) -> io::Result<Option<PidFileContent>> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let modified = file.metadata()?.modified().ok();
        let mut content = Vec::with_capacity(32);
        file.read_to_end(&mut content)?;
        Ok(Some(PidFileContent {
            digits: parse_digits(&content).map(str::to_owned),
            modified,
        }))
    }

    /// The valid PID the file names, if any.
    pub fn read_pid(&self) -> io::Result<Option<i32>> {
        Ok(self.read()?.and_then(|content| content.pid()))
    }

    /// Exists and is not empty.
    pub fn is_available(&self) -> bool {
        fs::metadata(&self.path).is_ok_and(|m| m.len() != 0)
    }

    /// Deletes the file; a file that cannot be deleted is left alone, as the
    /// original gem does.
    pub fn delete(&self) {
        let _ = fs::remove_file(&self.path);
    }

    /// The PID of the daemon that wrote this file, if that daemon still runs.
    /// A file naming no valid PID gives `Ok(None)` and is left alone; a file
    /// naming a process that is gone, or a PID reused by a younger process,
    /// is stale and deleted.
    pub fn running_pid(&self) -> io::Result<Option<i32>> {
        let Some(content) = self.read()? else {
            return Ok(None);
        };
        if content.digits.is_none() {
            return Ok(None);
        }
        match content.pid() {
            Some(pid) if process::liveness(pid, content.modified) == Liveness::Running => {
                Ok(Some(pid))
            }
            _ => {
                self.delete();
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dc-pid-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join("daemon.pid")
    }

    #[test]
    fn digits_are_stripped_like_ruby() {
        assert_eq!(parse_digits(b" 1234\n"), Some("1234"));
        assert_eq!(parse_digits(b"12 34"), None);
        assert_eq!(parse_digits(b"-5"), None);
        assert_eq!(parse_digits(b""), None);
        assert_eq!(parse_digits(b"\n\n"), None);
        assert_eq!(parse_digits(b"abc"), None);
    }

    #[test]
    fn missing_garbage_and_valid_files() {
        let pid_file = PidFile::new(temp_path("read"));
        pid_file.delete();
        assert_eq!(pid_file.read().unwrap(), None);
        assert!(!pid_file.is_available());
        fs::write(pid_file.path(), "").unwrap();
        assert!(!pid_file.is_available());
        assert_eq!(pid_file.read_pid().unwrap(), None);
        fs::write(pid_file.path(), "99999999999999999999\n").unwrap();
        assert_eq!(pid_file.read_pid().unwrap(), None);
        assert_eq!(pid_file.running_pid().unwrap(), None);
        assert!(!pid_file.path().exists(), "an impossible PID is stale");
        fs::write(pid_file.path(), format!("{}\n", std::process::id())).unwrap();
        assert!(pid_file.is_available());
        assert_eq!(
            pid_file.running_pid().unwrap(),
            Some(std::process::id() as i32)
        );
    }

    #[test]
    fn a_reused_pid_makes_the_file_stale() {
        let pid_file = PidFile::new(temp_path("reuse"));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        fs::write(pid_file.path(), child.id().to_string()).unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(pid_file.path())
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        assert_eq!(pid_file.running_pid().unwrap(), None);
        assert!(!pid_file.path().exists());
        assert!(process::is_running(child.id() as i32), "never signalled");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_directory_is_an_error() {
        let dir = temp_path("dir").parent().unwrap().join("as-dir");
        fs::create_dir_all(&dir).unwrap();
        assert!(PidFile::new(&dir).read().is_err());
    }
}
