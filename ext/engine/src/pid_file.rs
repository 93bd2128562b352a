//! The daemon's PID file: its content, its availability, and whether the PID
//! it names still belongs to a running daemon.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::process::{self, Liveness};
use crate::sys;

#[derive(Clone, Debug)]
pub struct PidFile {
    path: PathBuf,
    /// The last PID found running, with an exit watch on it. While the file
    /// still names it, unmodified, and the watch shows no exit, it still
    /// runs: one poll instead of asking the process table.
    confirmed: Arc<Mutex<Option<Confirmed>>>,
}

#[derive(Debug)]
struct Confirmed {
    pid: i32,
    modified: Option<SystemTime>,
    exit_watch: OwnedFd,
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
        parse_pid(self.digits.as_deref()?)
    }
}

fn parse_pid(digits: &str) -> Option<i32> {
    process::valid_pid(digits.parse().ok()?)
}

/// A PID file is a few bytes: one read(2) into a small buffer gets all of a
/// regular file that is shorter than the buffer; longer content is read on.
/// The file's digits; a FIFO with nothing to read holds no valid PID.
fn read_digits(file: &mut File) -> io::Result<Option<String>> {
    let mut buffer = [0u8; 64];
    let length = loop {
        match file.read(&mut buffer) {
            Err(e) if crate::is_interrupted(&e) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            result => break result?,
        }
    };
    if length < buffer.len() {
        return Ok(parse_digits(&buffer[..length]).map(str::to_owned));
    }
    let mut content = buffer.to_vec();
    match file.read_to_end(&mut content) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        result => result.map(|_| parse_digits(&content).map(str::to_owned)),
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
        PidFile {
            path: path.into(),
            confirmed: Arc::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file. A missing file is `Ok(None)`; other errors are errors.
    pub fn read(&self) -> io::Result<Option<PidFileContent>> {
        let Some(mut file) = self.open()? else {
            return Ok(None);
        };
        let modified = file.metadata()?.modified().ok();
        Ok(Some(PidFileContent {
            digits: read_digits(&mut file)?,
            modified,
        }))
    }

    /// The file's stripped content when it is all digits; `Ok(None)` when it
    /// is missing or holds anything else.
    pub fn digits(&self) -> io::Result<Option<String>> {
        match self.open()? {
            Some(mut file) => read_digits(&mut file),
            None => Ok(None),
        }
    }

    /// The valid PID the file names, if any.
    pub fn read_pid(&self) -> io::Result<Option<i32>> {
        Ok(self.digits()?.and_then(|digits| parse_pid(&digits)))
    }

    fn open(&self) -> io::Result<Option<File>> {
        match crate::open_for_reading(&self.path) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Exists and is not empty.
    pub fn is_available(&self) -> bool {
        fs::metadata(&self.path).is_ok_and(|m| m.len() != 0)
    }

    /// Writes `pid` as a daemon would: "<pid>\n", complete or not at all
    /// (written to a staging file beside it, then renamed into place), so a
    /// reader never sees it half-written.
    pub fn write(&self, pid: i32) -> io::Result<()> {
        self.write_staged(pid, unpredictable_name)
    }

    /// `write` with the staging names drawn from `next_name`.
    fn write_staged(
        &self,
        pid: i32,
        mut next_name: impl FnMut() -> io::Result<String>,
    ) -> io::Result<()> {
        let (staging, mut file) = self.create_staging(&mut next_name)?;
        let written = file
            .write_all(format!("{pid}\n").as_bytes())
            .and_then(|()| fs::rename(&staging, &self.path));
        if written.is_err() {
            let _ = fs::remove_file(&staging);
        }
        written
    }

    /// A new staging file in the PID file's own directory (so the rename
    /// stays on one file system). Whoever can write that directory could
    /// plant a symlink at a name they can guess: the name is unpredictable,
    /// and the file is created exclusively without following a symlink, so
    /// a planted name is skipped rather than written through.
    fn create_staging(
        &self,
        next_name: &mut impl FnMut() -> io::Result<String>,
    ) -> io::Result<(PathBuf, File)> {
        const ATTEMPTS: usize = 16;
        let file_name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            let staging = self
                .path
                .with_file_name(format!(".{file_name}.{}.new", next_name()?));
            let created = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                .open(&staging);
            match created {
                Ok(file) => return Ok((staging, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
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
            Some(pid) if self.is_confirmed(pid, content.modified) => Ok(Some(pid)),
            Some(pid) if self.confirm(pid, content.modified) => Ok(Some(pid)),
            _ => {
                self.delete();
                Ok(None)
            }
        }
    }

    fn is_confirmed(&self, pid: i32, modified: Option<SystemTime>) -> bool {
        let Ok(slot) = self.confirmed.try_lock() else {
            return false;
        };
        slot.as_ref().is_some_and(|confirmed| {
            confirmed.pid == pid
                && confirmed.modified == modified
                && !sys::has_exited(confirmed.exit_watch.as_fd())
        })
    }

    /// Whether `pid` runs and can have written the file; remembered if so.
    /// The exit watch is opened first, so that it names the process checked.
    fn confirm(&self, pid: i32, modified: Option<SystemTime>) -> bool {
        let exit_watch = sys::exit_watch(pid);
        if process::liveness(pid, modified) != Liveness::Running {
            return false;
        }
        if let (Some(exit_watch), Ok(mut slot)) = (exit_watch, self.confirmed.try_lock()) {
            *slot = Some(Confirmed {
                pid,
                modified,
                exit_watch,
            });
        }
        true
    }
}

/// 64 bits from the system's random source: a name no other process can
/// predict.
fn unpredictable_name() -> io::Result<String> {
    let mut random = [0u8; 8];
    sys::random_bytes(&mut random)?;
    Ok(format!("{:016x}", u64::from_ne_bytes(random)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
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
    fn written_files_name_the_pid_on_a_line_of_their_own() {
        let pid_file = PidFile::new(temp_path("write"));
        pid_file.write(4242).unwrap();
        assert_eq!(fs::read_to_string(pid_file.path()).unwrap(), "4242\n");
        pid_file.write(7).unwrap();
        assert_eq!(pid_file.read_pid().unwrap(), Some(7));
        pid_file.delete();
        let unwritable = PidFile::new("/nonexistent-dir/daemon.pid");
        assert_eq!(
            unwritable.write(1).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    fn staging_leftovers(pid_file: &PidFile) -> Vec<PathBuf> {
        let dir = pid_file.path().parent().unwrap();
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().ends_with(".new"))
            .collect()
    }

    #[test]
    fn a_symlink_planted_at_a_staging_name_is_skipped_not_followed() {
        let pid_file = PidFile::new(temp_path("planted"));
        let dir = pid_file.path().parent().unwrap().to_owned();
        let target = dir.join("precious");
        fs::write(&target, "keep me").unwrap();
        let planted = dir.join(".daemon.pid.guessed.new");
        let _ = fs::remove_file(&planted);
        std::os::unix::fs::symlink(&target, &planted).unwrap();
        let mut names = ["guessed", "fresh"].into_iter().map(str::to_owned);
        pid_file
            .write_staged(4242, || Ok(names.next().unwrap()))
            .unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(pid_file.read_pid().unwrap(), Some(4242));
        fs::remove_file(&planted).unwrap();
        assert_eq!(staging_leftovers(&pid_file), Vec::<PathBuf>::new());
        // Every name taken: an error, and still nothing written through.
        std::os::unix::fs::symlink(&target, &planted).unwrap();
        let error = pid_file
            .write_staged(7, || Ok("guessed".to_owned()))
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep me");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn staging_names_differ_and_a_failed_rename_leaves_no_staging_file() {
        assert_ne!(unpredictable_name().unwrap(), unpredictable_name().unwrap());
        let dir = temp_path("rename").parent().unwrap().to_owned();
        // A directory at the PID file's path makes the rename fail.
        let pid_file = PidFile::new(dir.join("occupied"));
        fs::create_dir_all(pid_file.path().join("inside")).unwrap();
        assert!(pid_file.write(1).is_err());
        assert_eq!(staging_leftovers(&pid_file), Vec::<PathBuf>::new());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reused_pid_makes_the_file_stale() {
        let pid_file = PidFile::new(temp_path("reuse"));
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        fs::write(pid_file.path(), child.id().to_string()).unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(60);
        set_modified(pid_file.path(), long_ago);
        assert_eq!(pid_file.running_pid().unwrap(), None);
        assert!(!pid_file.path().exists());
        assert!(process::is_running(child.id() as i32), "never signalled");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn set_modified(path: &Path, time: SystemTime) {
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    #[test]
    fn a_confirmed_pid_is_rechecked_when_the_file_changes_or_the_process_exits() {
        let pid_file = PidFile::new(temp_path("confirmed"));
        let spawn_sleeper = || Command::new("sleep").arg("30").spawn().unwrap();
        let (mut first, mut second) = (spawn_sleeper(), spawn_sleeper());
        fs::write(pid_file.path(), first.id().to_string()).unwrap();
        assert_eq!(pid_file.running_pid().unwrap(), Some(first.id() as i32));
        assert_eq!(pid_file.running_pid().unwrap(), Some(first.id() as i32));

        // Same PID, but an mtime that makes it a reused PID: stale.
        set_modified(pid_file.path(), SystemTime::now() - Duration::from_secs(60));
        assert_eq!(pid_file.running_pid().unwrap(), None);

        fs::write(pid_file.path(), second.id().to_string()).unwrap();
        assert_eq!(pid_file.running_pid().unwrap(), Some(second.id() as i32));
        // Exited but not reaped: a zombie is not running.
        second.kill().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pid_file.running_pid().unwrap(), None);
        assert!(!pid_file.path().exists());
        for child in [&mut first, &mut second] {
            let _ = child.kill();
            child.wait().unwrap();
        }
    }

    #[test]
    fn content_longer_than_one_read_is_read_whole() {
        let pid_file = PidFile::new(temp_path("long"));
        let padded = format!("{}{}\n", " ".repeat(100), 4321);
        fs::write(pid_file.path(), &padded).unwrap();
        assert_eq!(pid_file.read_pid().unwrap(), Some(4321));
        fs::write(pid_file.path(), format!("{}x", "1".repeat(80))).unwrap();
        assert_eq!(pid_file.digits().unwrap(), None);
    }

    #[test]
    fn a_directory_is_an_error() {
        let dir = temp_path("dir").parent().unwrap().join("as-dir");
        fs::create_dir_all(&dir).unwrap();
        assert!(PidFile::new(&dir).read().is_err());
    }
}
