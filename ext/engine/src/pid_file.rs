//! The daemon's PID file: its content, its availability, and whether the PID
//! it names still belongs to a running daemon.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::identity::Identity;
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
    /// The identity record kept on the file, if any.
    pub record: Option<Identity>,
    /// The user who owns the file.
    pub owner: Option<u32>,
}

/// Why a PID file that names a valid PID is not acted upon: no signal is
/// sent to that process, and it is not reported as the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// PID 1, the controller itself or its process group: the file is
    /// invalid.
    Forbidden { pid: i32, what: &'static str },
    /// The file belongs to another user (not root), and the process does
    /// not: anyone who can write the file's directory could have planted it.
    Untrusted { path: PathBuf, pid: i32, owner: u32 },
}

impl Refusal {
    pub fn pid(&self) -> i32 {
        match *self {
            Refusal::Forbidden { pid, .. } | Refusal::Untrusted { pid, .. } => pid,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Forbidden { pid, what } => write!(
                f,
                "The PID file names {what} (PID {pid}): invalid, nothing is signalled"
            ),
            Refusal::Untrusted { path, pid, owner } => write!(
                f,
                "The PID file {} belongs to user {owner}, but process {pid} does not: \
                 not trusted, nothing is signalled",
                path.display()
            ),
        }
    }
}

/// What the PID file says about the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// The daemon runs, with this PID.
    Running(i32),
    /// No file, no valid PID, or a stale file (deleted).
    NotRunning,
    /// A PID that is not acted upon (the file is left alone).
    Refused(Refusal),
}

impl Found {
    pub fn pid(&self) -> Option<i32> {
        match *self {
            Found::Running(pid) => Some(pid),
            _ => None,
        }
    }
}

impl PidFileContent {
    /// The PID, when the digits form one the kernel accepts.
    pub fn pid(&self) -> Option<i32> {
        parse_pid(self.digits.as_deref()?)
    }

    /// The PID named, and whether it is the daemon that wrote the file.
    pub fn liveness(&self) -> Option<(i32, Liveness)> {
        let pid = self.pid()?;
        Some((
            pid,
            process::liveness(pid, self.modified, self.record.as_ref()),
        ))
    }
}

fn parse_pid(digits: &str) -> Option<i32> {
    process::valid_pid(digits.parse().ok()?)
}

/// The most a PID file is read: a PID with some whitespace around it fits
/// many times over. Longer content is garbage, and is never read whole, so
/// that a huge file or an endless one (a link to /dev/zero) costs one small
/// read.
pub const PID_FILE_READ_LIMIT: usize = 128;

/// The file's digits: `None` when it holds anything else, is longer than
/// [`PID_FILE_READ_LIMIT`], or is a FIFO with nothing to read.
fn read_digits(file: &mut File) -> io::Result<Option<String>> {
    let mut buffer = [0u8; PID_FILE_READ_LIMIT + 1];
    let mut length = 0;
    while length < buffer.len() {
        match file.read(&mut buffer[length..]) {
            Ok(0) => break,
            Ok(read) => length += read,
            Err(e) if crate::is_interrupted(&e) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    if length > PID_FILE_READ_LIMIT {
        return Ok(None);
    }
    Ok(parse_digits(&buffer[..length]).map(str::to_owned))
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
        let metadata = file.metadata()?;
        let record = Identity::read_from(&file);
        Ok(Some(PidFileContent {
            digits: read_digits(&mut file)?,
            modified: metadata.modified().ok(),
            record,
            owner: Some(metadata.uid()),
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
        self.write_staged(pid, sys::random_hex)
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

    /// The PID that a signal may be sent to: the one the file names, when
    /// it is valid and not refused.
    pub fn trusted_pid(&self) -> Option<i32> {
        let content = self.read().ok()??;
        content.pid().filter(|_| self.refusal(&content).is_none())
    }

    /// Why the PID that `content` names must not be acted upon, if it must
    /// not. A file owned by root or by the controller's user is trusted.
    pub fn refusal(&self, content: &PidFileContent) -> Option<Refusal> {
        let pid = content.pid()?;
        if let Some(what) = process::forbidden_target(pid) {
            return Some(Refusal::Forbidden { pid, what });
        }
        let owner = content.owner?;
        if owner == 0 || owner == nix::unistd::geteuid().as_raw() {
            return None;
        }
        match sys::process_uids(pid) {
            Some(uids) if uids.contains(&owner) => None,
            // Gone: a stale file, not a stranger's process.
            None if sys::probe(pid).is_none() => None,
            // Where the owners cannot be read, the process is not trusted.
            _ => Some(Refusal::Untrusted {
                path: self.path.clone(),
                pid,
                owner,
            }),
        }
    }

    /// Whether the daemon that wrote this file still runs. A file naming no
    /// valid PID, or a refused one, is left alone; a file naming a process
    /// that is gone, or a PID reused by another process, is stale and
    /// deleted.
    pub fn running_pid(&self) -> io::Result<Found> {
        let Some(content) = self.read()? else {
            return Ok(Found::NotRunning);
        };
        if content.digits.is_none() {
            return Ok(Found::NotRunning);
        }
        if let Some(refusal) = self.refusal(&content) {
            return Ok(Found::Refused(refusal));
        }
        match content.pid() {
            Some(pid) if self.is_confirmed(pid, content.modified) => Ok(Found::Running(pid)),
            Some(pid) if self.confirm(&content) => Ok(Found::Running(pid)),
            _ => {
                self.delete();
                Ok(Found::NotRunning)
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

    /// Whether the PID named runs and can have written the file; remembered
    /// if so, and its identity recorded on the file. The exit watch is
    /// opened first, so that it names the process checked.
    fn confirm(&self, content: &PidFileContent) -> bool {
        let Some(pid) = content.pid() else {
            return false;
        };
        let exit_watch = sys::exit_watch(pid);
        if content.liveness() != Some((pid, Liveness::Running)) {
            return false;
        }
        self.record(pid, content);
        if let (Some(exit_watch), Ok(mut slot)) = (exit_watch, self.confirmed.try_lock()) {
            *slot = Some(Confirmed {
                pid,
                modified: content.modified,
                exit_watch,
            });
        }
        true
    }

    /// Records the identity of the daemon the file names, if it runs, is
    /// not refused, and the file has no record for it yet: called once a
    /// start succeeded.
    pub fn record_identity(&self) {
        let Ok(Some(content)) = self.read() else {
            return;
        };
        if let Some((pid, Liveness::Running)) = content.liveness() {
            if self.refusal(&content).is_none() {
                self.record(pid, &content);
            }
        }
    }

    /// Keeps `pid`'s identity on the file, unless a record for it is there.
    /// Where the record cannot be kept (no user extended attributes, a file
    /// that is not ours to change, no process table), the file goes without.
    fn record(&self, pid: i32, content: &PidFileContent) {
        if content
            .record
            .as_ref()
            .is_some_and(|record| record.applies_to(pid))
        {
            return;
        }
        if let (Some(identity), Ok(Some(file))) = (Identity::of(pid), self.open()) {
            let _ = identity.write_to(&file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ScratchDir, Sleeper};
    use std::time::Duration;

    /// A PID file in a scratch directory of its own.
    fn scratch_pid_file() -> (ScratchDir, PidFile) {
        let dir = ScratchDir::new("pid");
        let pid_file = PidFile::new(dir.join("daemon.pid"));
        (dir, pid_file)
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
        let (_dir, pid_file) = scratch_pid_file();
        assert_eq!(pid_file.read().unwrap(), None);
        assert!(!pid_file.is_available());
        fs::write(pid_file.path(), "").unwrap();
        assert!(!pid_file.is_available());
        assert_eq!(pid_file.read_pid().unwrap(), None);
        fs::write(pid_file.path(), "99999999999999999999\n").unwrap();
        assert_eq!(pid_file.read_pid().unwrap(), None);
        assert_eq!(pid_file.running_pid().unwrap().pid(), None);
        assert!(!pid_file.path().exists(), "an impossible PID is stale");
        let daemon = Sleeper::spawn();
        fs::write(pid_file.path(), format!("{}\n", daemon.pid())).unwrap();
        assert!(pid_file.is_available());
        assert_eq!(
            pid_file.running_pid().unwrap(),
            Found::Running(daemon.pid())
        );
    }

    #[test]
    fn init_ourselves_and_our_group_are_refused_and_left_alone() {
        let (_dir, pid_file) = scratch_pid_file();
        let me = std::process::id() as i32;
        for pid in [1, me, nix::unistd::getpgrp().as_raw()] {
            fs::write(pid_file.path(), format!("{pid}\n")).unwrap();
            let found = pid_file.running_pid().unwrap();
            assert!(matches!(found, Found::Refused(Refusal::Forbidden { .. })));
            assert_eq!(pid_file.trusted_pid(), None);
            assert!(pid_file.path().exists());
        }
        let refusal = Refusal::Forbidden {
            pid: 1,
            what: "PID 1, the init process",
        };
        assert_eq!(
            refusal.to_string(),
            "The PID file names PID 1, the init process (PID 1): invalid, nothing is signalled"
        );
    }

    #[test]
    fn a_file_of_another_user_naming_a_process_of_none_of_theirs_is_untrusted() {
        let (_dir, pid_file) = scratch_pid_file();
        let daemon = Sleeper::spawn();
        fs::write(pid_file.path(), format!("{}\n", daemon.pid())).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let content = |owner| PidFileContent {
            owner: Some(owner),
            ..pid_file.read().unwrap().unwrap()
        };
        // Only the owner is changed, so that this runs as any user.
        let stranger = if me == 65534 { 65533 } else { 65534 };
        assert_eq!(pid_file.refusal(&content(me)), None);
        assert_eq!(pid_file.refusal(&content(0)), None);
        let untrusted = pid_file.refusal(&content(stranger)).unwrap();
        assert_eq!(untrusted.pid(), daemon.pid());
        assert!(untrusted
            .to_string()
            .contains(&format!("belongs to user {stranger}")));
        // A process that is gone leaves a stale file, whoever owns it.
        let gone = PidFileContent {
            digits: Some("2000000000".to_owned()),
            ..content(stranger)
        };
        assert_eq!(pid_file.refusal(&gone), None);
    }

    #[test]
    fn written_files_name_the_pid_on_a_line_of_their_own() {
        let (_dir, pid_file) = scratch_pid_file();
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
        let (scratch, pid_file) = scratch_pid_file();
        let dir = scratch.path().to_owned();
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
    }

    #[test]
    fn staging_names_differ_and_a_failed_rename_leaves_no_staging_file() {
        assert_ne!(sys::random_hex().unwrap(), sys::random_hex().unwrap());
        let scratch = ScratchDir::new("pid");
        // A directory at the PID file's path makes the rename fail.
        let pid_file = PidFile::new(scratch.join("occupied"));
        fs::create_dir_all(pid_file.path().join("inside")).unwrap();
        assert!(pid_file.write(1).is_err());
        assert_eq!(staging_leftovers(&pid_file), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_reused_pid_makes_the_file_stale() {
        let (_dir, pid_file) = scratch_pid_file();
        let child = Sleeper::spawn();
        fs::write(pid_file.path(), child.pid().to_string()).unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(60);
        set_modified(pid_file.path(), long_ago);
        assert_eq!(pid_file.running_pid().unwrap().pid(), None);
        assert!(!pid_file.path().exists());
        assert!(process::is_running(child.pid()), "never signalled");
    }

    #[test]
    fn a_recorded_daemon_runs_whatever_the_mtime_says() {
        let (_dir, pid_file) = scratch_pid_file();
        let daemon = Sleeper::spawn();
        fs::write(pid_file.path(), format!("{}\n", daemon.pid())).unwrap();
        pid_file.record_identity();
        let record = pid_file.read().unwrap().unwrap().record;
        assert_eq!(record, Identity::of(daemon.pid()));
        let year = Duration::from_secs(365 * 24 * 3600);
        for age in [Duration::from_secs(60), year] {
            set_modified(pid_file.path(), SystemTime::now() - age);
            // A new handle: nothing remembered from an earlier check.
            let fresh = PidFile::new(pid_file.path());
            assert_eq!(fresh.running_pid().unwrap().pid(), Some(daemon.pid()));
        }
    }

    #[test]
    fn a_record_of_another_process_makes_the_pid_reused() {
        let (_dir, pid_file) = scratch_pid_file();
        let stranger = Sleeper::spawn();
        fs::write(pid_file.path(), format!("{}\n", stranger.pid())).unwrap();
        let mut earlier = Identity::of(stranger.pid()).unwrap();
        earlier.start_token -= 1;
        earlier
            .write_to(&File::open(pid_file.path()).unwrap())
            .unwrap();
        // The mtime alone would take the stranger for the daemon.
        assert_eq!(pid_file.running_pid().unwrap().pid(), None);
        assert!(!pid_file.path().exists(), "stale, and deleted");
        assert!(process::is_running(stranger.pid()), "never signalled");
    }

    #[test]
    fn a_first_confirmation_records_the_identity() {
        let (_dir, pid_file) = scratch_pid_file();
        let daemon = Sleeper::spawn();
        fs::write(pid_file.path(), daemon.pid().to_string()).unwrap();
        assert_eq!(pid_file.running_pid().unwrap().pid(), Some(daemon.pid()));
        let record = pid_file.read().unwrap().unwrap().record;
        assert_eq!(record, Identity::of(daemon.pid()));
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
        let (_dir, pid_file) = scratch_pid_file();
        let (first, mut second) = (Sleeper::spawn(), Sleeper::spawn());
        fs::write(pid_file.path(), first.pid().to_string()).unwrap();
        assert_eq!(pid_file.running_pid().unwrap().pid(), Some(first.pid()));
        assert_eq!(pid_file.running_pid().unwrap().pid(), Some(first.pid()));

        // Same PID in a new file (no identity record) with an mtime that
        // makes it a reused PID: stale.
        fs::remove_file(pid_file.path()).unwrap();
        fs::write(pid_file.path(), first.pid().to_string()).unwrap();
        set_modified(pid_file.path(), SystemTime::now() - Duration::from_secs(60));
        assert_eq!(pid_file.running_pid().unwrap().pid(), None);

        fs::write(pid_file.path(), second.pid().to_string()).unwrap();
        assert_eq!(pid_file.running_pid().unwrap().pid(), Some(second.pid()));
        // Exited but not reaped: a zombie is not running.
        second.0.kill().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pid_file.running_pid().unwrap().pid(), None);
        assert!(!pid_file.path().exists());
    }

    #[test]
    fn content_up_to_the_limit_is_read_and_longer_content_is_garbage() {
        let (_dir, pid_file) = scratch_pid_file();
        let padded = format!("{}4321\n", " ".repeat(PID_FILE_READ_LIMIT - 5));
        fs::write(pid_file.path(), &padded).unwrap();
        assert_eq!(pid_file.read_pid().unwrap(), Some(4321));
        fs::write(pid_file.path(), format!(" {padded}")).unwrap();
        assert_eq!(pid_file.digits().unwrap(), None);
        assert_eq!(pid_file.running_pid().unwrap().pid(), None);
        assert!(pid_file.path().exists(), "garbage is left alone");
    }

    #[test]
    fn huge_and_endless_files_cost_one_small_read() {
        let (dir, pid_file) = scratch_pid_file();
        File::create(pid_file.path())
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let mut huge = File::open(pid_file.path()).unwrap();
        assert_eq!(read_digits(&mut huge).unwrap(), None);
        let read = io::Seek::stream_position(&mut huge).unwrap();
        assert_eq!(read, PID_FILE_READ_LIMIT as u64 + 1);
        // An endless file: without the limit, reading it never ends.
        let endless = PidFile::new(dir.join("endless.pid"));
        std::os::unix::fs::symlink("/dev/zero", endless.path()).unwrap();
        for file in [&pid_file, &endless] {
            assert_eq!(file.digits().unwrap(), None);
            assert_eq!(file.running_pid().unwrap().pid(), None);
        }
    }

    #[test]
    fn a_directory_is_an_error() {
        let dir = ScratchDir::new("pid");
        assert!(PidFile::new(dir.path()).read().is_err());
    }
}
