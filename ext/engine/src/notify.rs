//! The listening end of the sd_notify protocol: a daemon started with
//! `NOTIFY_SOCKET` naming this socket reports `READY=1` when it can serve,
//! which is a better readiness signal than a PID file or a ping, and
//! `STATUS=...` lines that explain what it is doing meanwhile.
//!
//! Messages are datagrams of newline-separated `KEY=VALUE` assignments
//! (see sd_notify(3)). The socket lives at a filesystem path rather than in
//! the abstract namespace so that ordinary file permissions guard it.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The largest message accepted, as systemd does (its NOTIFY_BUFFER_MAX):
/// longer datagrams are dropped whole rather than read cut off.
const MAX_MESSAGE: usize = 4096;
/// How many directory names to try when one is taken, which only a name
/// planted in advance by someone else makes happen.
const DIRECTORY_ATTEMPTS: u32 = 8;
/// The longest socket path that every platform binds: `sun_path` holds 104
/// bytes on macOS and the BSDs (108 on Linux), the final NUL included.
const MAX_SOCKET_PATH: usize = 103;
/// Where the socket goes when the temporary directory's path is too long.
const SHORT_BASE: &str = "/tmp";

/// Distinguishes sockets bound by one process at the same instant.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A bound notification socket and what its datagrams said so far.
///
/// The socket file sits in a directory of its own under the temporary
/// directory, or under `/tmp` where that would make the path too long for
/// a socket address (a long TMPDIR, as macOS gives). The directory is created with mode 0700, so nobody can
/// interfere while the socket is set up, and then opened to mode 0711 with
/// the socket at 0666: a daemon that switches to another user (started by
/// root, say) needs search permission on the directory and write permission
/// on the socket to send to it. Other users cannot list the directory, and
/// the socket's name carries 64 random bits, so only a process that was
/// told the path (through `NOTIFY_SOCKET`) can reach it.
#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
    dir: PathBuf,
    path: PathBuf,
    ready: bool,
    errno: Option<i32>,
    statuses: Vec<String>,
}

impl NotifySocket {
    /// Binds a nonblocking, close-on-exec datagram socket at a fresh path.
    pub fn bind() -> io::Result<NotifySocket> {
        // A name that other users cannot guess.
        let name = format!("notify-{}", crate::sys::random_hex()?);
        let dir = create_private_directory(&name)?;
        let path = dir.join(name);
        match open(&dir, &path) {
            Ok(socket) => Ok(NotifySocket {
                socket,
                dir,
                path,
                ready: false,
                errno: None,
                statuses: Vec::new(),
            }),
            Err(e) => {
                let _ = fs::remove_file(&path);
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    /// The socket's path: the value to give the daemon as `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every datagram already queued, without blocking, and records
    /// what they say. Wait for the socket to become readable (through
    /// [`AsFd`]) before calling it to react to messages as they arrive.
    pub fn receive(&mut self) -> io::Result<()> {
        // One byte more than the limit tells an oversized datagram, which
        // the kernel truncates to the buffer, from one that fits exactly.
        let mut buffer = [0u8; MAX_MESSAGE + 1];
        loop {
            match self.socket.recv(&mut buffer) {
                Ok(len) if len > MAX_MESSAGE => {}
                Ok(len) => self.record(&buffer[..len]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if crate::is_interrupted(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Applies the assignments of one datagram; unknown ones and malformed
    /// values are ignored, as systemd ignores them.
    fn record(&mut self, message: &[u8]) {
        let message = String::from_utf8_lossy(message);
        for assignment in message.split('\n') {
            let Some((key, value)) = assignment.split_once('=') else {
                continue;
            };
            match key {
                "READY" if value == "1" => self.ready = true,
                "STATUS" => self.statuses.push(value.to_owned()),
                "ERRNO" => {
                    if let Ok(errno) = value.parse::<i32>() {
                        self.errno = Some(errno);
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether the daemon sent `READY=1`.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The last `ERRNO=` the daemon sent: why it is failing.
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// Every `STATUS=` the daemon sent, oldest first.
    pub fn statuses(&self) -> &[String] {
        &self.statuses
    }
}

impl AsFd for NotifySocket {
    /// Readable when a datagram is waiting.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Creates `<base>/dc-notify-<pid>-<counter>-<time>` with mode 0700, the
/// base chosen so that the socket `name` inside fits a socket address. The
/// directory must be new: one that already exists may belong to someone
/// else, so its name is skipped.
fn create_private_directory(name: &str) -> io::Result<PathBuf> {
    let preferred = std::env::temp_dir();
    let pid = std::process::id();
    let mut attempt = 0;
    loop {
        let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir_name = format!("dc-notify-{pid}-{counter}-{time:x}");
        let dir = base_for(&preferred, &dir_name, name).join(dir_name);
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < DIRECTORY_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `preferred` when `<preferred>/<dir_name>/<name>` fits a socket address on
/// every platform, [`SHORT_BASE`] otherwise.
fn base_for<'a>(preferred: &'a Path, dir_name: &str, name: &str) -> &'a Path {
    let len = preferred.join(dir_name).join(name).as_os_str().len();
    match len <= MAX_SOCKET_PATH {
        true => preferred,
        false => Path::new(SHORT_BASE),
    }
}

/// Binds the socket and opens it and its directory to the daemon.
fn open(dir: &Path, path: &Path) -> io::Result<UnixDatagram> {
    // std makes the socket close-on-exec, so daemons spawned later do not
    // inherit it.
    let socket = UnixDatagram::bind(path)?;
    socket.set_nonblocking(true)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o666))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o711))?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    fn send(socket: &NotifySocket, message: &[u8]) {
        UnixDatagram::unbound()
            .unwrap()
            .send_to(message, socket.path())
            .unwrap();
    }

    #[test]
    fn a_datagram_reports_status_and_readiness() {
        let mut socket = NotifySocket::bind().unwrap();
        send(&socket, b"STATUS=loading\nREADY=1");
        socket.receive().unwrap();
        assert!(socket.is_ready());
        assert_eq!(socket.statuses(), ["loading"]);
    }

    #[test]
    fn several_datagrams_are_drained_in_order() {
        let mut socket = NotifySocket::bind().unwrap();
        send(&socket, b"STATUS=starting\n");
        send(
            &socket,
            b"STATUS=loading\nMAINPID=4242\nX_CUSTOM=1\nnonsense",
        );
        send(&socket, b"STATUS=caf\xe9\nERRNO=98");
        send(&socket, b"ERRNO=many\nREADY=0");
        socket.receive().unwrap();
        assert!(!socket.is_ready());
        assert_eq!(socket.statuses(), ["starting", "loading", "caf\u{fffd}"]);
        assert_eq!(socket.errno(), Some(98));
        send(&socket, b"READY=1");
        socket.receive().unwrap();
        assert!(socket.is_ready());
    }

    #[test]
    fn oversized_datagrams_are_dropped_whole() {
        let mut socket = NotifySocket::bind().unwrap();
        let mut message = b"READY=1\nSTATUS=".to_vec();
        message.resize(MAX_MESSAGE + 1, b'x');
        send(&socket, &message);
        message.truncate(MAX_MESSAGE);
        send(&socket, &message);
        socket.receive().unwrap();
        assert!(socket.is_ready());
        assert_eq!(socket.statuses().len(), 1);
    }

    #[test]
    fn receiving_nothing_does_not_block() {
        let mut socket = NotifySocket::bind().unwrap();
        socket.receive().unwrap();
        assert!(!socket.is_ready());
        assert!(socket.statuses().is_empty());
        assert_eq!(socket.errno(), None);
    }

    #[test]
    fn a_child_process_notifies_through_the_environment() {
        let python = Command::new("python3")
            .args(["-c", "import socket"])
            .status();
        if !python.is_ok_and(|status| status.success()) {
            eprintln!("skipped: python3 is needed to send datagrams from a child");
            return;
        }
        let mut socket = NotifySocket::bind().unwrap();
        let script = "import os, socket\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             s.sendto(b'STATUS=warming up', os.environ['NOTIFY_SOCKET'])\n\
             s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .env("NOTIFY_SOCKET", socket.path())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.is_ready() {
            let readable = crate::wait::poll_readable(&[socket.as_fd()], Some(deadline)).unwrap();
            assert!(readable, "no READY=1 from the child");
            socket.receive().unwrap();
        }
        assert!(child.wait().unwrap().success());
        assert_eq!(socket.statuses(), ["warming up"]);
    }

    #[test]
    fn dropping_removes_the_socket_and_its_directory() {
        let socket = NotifySocket::bind().unwrap();
        let path = socket.path().to_owned();
        let dir = path.parent().unwrap().to_owned();
        assert!(path.exists());
        drop(socket);
        assert!(!path.exists());
        assert!(!dir.exists());
    }

    #[test]
    fn sockets_get_their_own_paths_and_directories() {
        let first = NotifySocket::bind().unwrap();
        let second = NotifySocket::bind().unwrap();
        assert_ne!(first.path(), second.path());
        assert_ne!(first.path().parent(), second.path().parent());
        assert!(first.path().starts_with(std::env::temp_dir()));
    }

    #[test]
    fn a_long_temporary_directory_gives_way_to_a_short_one() {
        let dir_name = "dc-notify-4194304-18446744073709551615-187b1c9f3a6d2e40";
        let name = "notify-0123456789abcdef";
        let short = Path::new("/var/folders/x/T");
        assert_eq!(base_for(short, dir_name, name), short);
        let long = PathBuf::from(format!("/var/folders/{}/T", "x".repeat(40)));
        assert_eq!(base_for(&long, dir_name, name), Path::new(SHORT_BASE));
        let path = Path::new(SHORT_BASE).join(dir_name).join(name);
        assert!(path.as_os_str().len() <= MAX_SOCKET_PATH);
    }

    #[test]
    fn the_daemon_may_run_as_another_user() {
        let socket = NotifySocket::bind().unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(socket.path()), 0o666);
        assert_eq!(mode(socket.path().parent().unwrap()), 0o711);
    }
}
