//! The text of StartError, StartTimeout and StopError: what the command
//! printed, what the log file gained, and a parenthesised tail.

use std::fmt;

/// How a command ended, as far as the message is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Status(i32),
    Signal(i32),
}

impl Exit {
    /// Decodes a raw wait(2) status.
    pub fn from_wait_status(status: i32) -> Exit {
        if nix::libc::WIFSIGNALED(status) {
            Exit::Signal(nix::libc::WTERMSIG(status))
        } else {
            Exit::Status(nix::libc::WEXITSTATUS(status))
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exit::Status(code) => write!(f, "exited with status {code}"),
            Exit::Signal(number) => match signal_name(number) {
                Some(name) => write!(f, "terminated with signal SIG{name}"),
                None => write!(f, "terminated with signal {number}"),
            },
        }
    }
}

/// The name Ruby's `Signal.list.key(number)` gives on Linux (the first name
/// listed for a number, so 6 is ABRT, not IOT).
pub fn signal_name(number: i32) -> Option<&'static str> {
    const NAMES: [&str; 32] = [
        "EXIT", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV",
        "USR2", "PIPE", "ALRM", "TERM", "", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    let name = *NAMES.get(usize::try_from(number).ok()?)?;
    (!name.is_empty()).then_some(name)
}

/// Everything known about a failed or timed-out command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// What the command printed; `None` when it was not captured.
    pub output: Option<String>,
    /// What the log file gained; `None` when it is not a regular file.
    pub logs: Option<String>,
    pub exit: Option<Exit>,
    pub timed_out: bool,
    pub pid: Option<i32>,
    /// What the daemon said of itself (sd_notify `STATUS=` lines), shown
    /// after the output and logs.
    pub statuses: Vec<String>,
    /// What is known beyond the command's output and exit (boxed: reports
    /// travel in every `Result` of the flows).
    pub details: Option<Box<Details>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    /// Why the start failed when neither the command nor the log says so,
    /// shown in the parenthesised tail.
    pub note: Option<String>,
    /// For a timeout, what is not in the message.
    pub waited: Option<Waited>,
}

/// What a start that timed out was waiting for, how long it waited, what
/// the last ping answered, and the signals sent to end what was started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Waited {
    /// "the ping tcp:127.0.0.1:6379", "the PID file tmp/web.pid", "the
    /// start command to exit".
    pub what: String,
    pub how_long: std::time::Duration,
    pub last_ping: Option<String>,
    pub signals_sent: Vec<&'static str>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present: Vec<&str> = [&self.output, &self.logs]
            .into_iter()
            .filter_map(|part| part.as_deref())
            .map(strip)
            .collect();
        let availability = if present.is_empty() {
            Some("logs not available".to_owned())
        } else if present.iter().all(|part| part.is_empty()) {
            Some("logs empty".to_owned())
        } else {
            None
        };
        let tail: Vec<String> = availability
            .into_iter()
            .chain(self.exit.map(|exit| exit.to_string()))
            .chain(
                self.details
                    .as_ref()
                    .and_then(|details| details.note.clone()),
            )
            .chain(self.timed_out.then(|| "timed out".to_owned()))
            .collect();
        let mut lines: Vec<String> = present
            .into_iter()
            .filter(|part| !part.is_empty())
            .map(str::to_owned)
            .chain(
                self.statuses
                    .iter()
                    .map(|status| format!("status: {status}")),
            )
            .collect();
        if !tail.is_empty() {
            lines.push(format!("({})", tail.join("; ")));
        }
        f.write_str(strip(&lines.join("\n")))
    }
}

/// A system error as Ruby words it ("No such file or directory"), without
/// Rust's "(os error 2)".
pub fn describe(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_owned(),
        None => error.to_string(),
    }
}

/// How much of a failed command's output, and of what its log gained, an
/// error message keeps: the last part, where the reason for a failure is.
pub const KEPT_BYTES: u64 = 64 * 1024;

/// The bytes of `file` from offset `from` to `to`, stripped, as text. Only the
/// last `KEPT_BYTES` are read, after a line saying how much was left out, so
/// neither memory nor the message grows with the file.
pub fn tail_of(file: &std::fs::File, from: u64, to: u64) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let start = to.saturating_sub(KEPT_BYTES).max(from);
    let mut bytes = vec![0; usize::try_from(to.saturating_sub(start)).unwrap_or(0)];
    let mut filled = 0;
    while filled < bytes.len() {
        match file.read_at(&mut bytes[filled..], start + filled as u64) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    // Begin at a character, not inside one that was cut.
    let cut = match start > from {
        true => bytes.iter().take_while(|&&b| b & 0xc0 == 0x80).count(),
        false => 0,
    };
    let text = strip_lossy(&bytes[cut..]);
    let left_out = start - from + cut as u64;
    Ok(match left_out {
        0 => text,
        _ => format!("[{left_out} earlier bytes left out]\n{text}"),
    })
}

fn strip_lossy(bytes: &[u8]) -> String {
    strip(&String::from_utf8_lossy(bytes)).to_owned()
}

/// Ruby's `String#strip`: ASCII whitespace and NUL.
pub fn strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0' || c == '\x0b')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(
        output: Option<&str>,
        logs: Option<&str>,
        exit: Option<Exit>,
        timed_out: bool,
    ) -> String {
        Report {
            output: output.map(str::to_owned),
            logs: logs.map(str::to_owned),
            exit,
            timed_out,
            ..Report::default()
        }
        .to_string()
    }

    #[test]
    fn parts_are_stripped_and_whitespace_only_parts_count_as_empty() {
        let status5 = Some(Exit::Status(5));
        assert_eq!(
            report(Some("stubbed output\n\n"), Some("  \n"), status5, false),
            "stubbed output\n(exited with status 5)"
        );
        assert_eq!(
            report(Some("\n"), Some("\t"), status5, false),
            "(logs empty; exited with status 5)"
        );
    }

    #[test]
    fn formats_match_the_contract() {
        let status1 = Some(Exit::Status(1));
        assert_eq!(
            report(Some("hello world"), Some(""), status1, false),
            "hello world\n(exited with status 1)"
        );
        assert_eq!(
            report(Some(""), Some(""), status1, false),
            "(logs empty; exited with status 1)"
        );
        assert_eq!(report(None, None, None, false), "(logs not available)");
        assert_eq!(
            report(None, Some(""), None, true),
            "(logs empty; timed out)"
        );
        assert_eq!(
            report(None, None, None, true),
            "(logs not available; timed out)"
        );
        assert_eq!(
            report(Some("output"), Some("logs"), None, true),
            "output\nlogs\n(timed out)"
        );
        assert_eq!(
            report(Some("output"), Some("logs"), None, false),
            "output\nlogs"
        );
        assert_eq!(
            report(Some(""), Some("logs"), status1, false),
            "logs\n(exited with status 1)"
        );
        assert_eq!(
            report(Some("out"), None, status1, false),
            "out\n(exited with status 1)"
        );
    }

    #[test]
    fn signals_are_named_like_ruby() {
        assert_eq!(
            Exit::Signal(24).to_string(),
            "terminated with signal SIGXCPU"
        );
        assert_eq!(
            Exit::Signal(6).to_string(),
            "terminated with signal SIGABRT"
        );
        assert_eq!(Exit::Signal(16).to_string(), "terminated with signal 16");
        assert_eq!(Exit::Signal(40).to_string(), "terminated with signal 40");
    }

    #[test]
    fn only_the_last_part_of_a_long_file_is_kept() {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("dc-tail-{}", std::process::id()));
        let mut file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file.write_all(b"head\n").unwrap();
        assert_eq!(tail_of(&file, 0, 5).unwrap(), "head");
        let filler = "\u{e9}".repeat(KEPT_BYTES as usize);
        file.write_all(filler.as_bytes()).unwrap();
        file.write_all(b"\nthe reason\n").unwrap();
        let len = file.metadata().unwrap().len();
        let tail = tail_of(&file, 5, len).unwrap();
        assert!(tail.len() <= KEPT_BYTES as usize + 64, "{}", tail.len());
        assert!(tail.ends_with("\u{e9}\nthe reason"));
        let first_line = tail.lines().next().unwrap();
        let kept = tail.len() - first_line.len() - 1;
        assert_eq!(
            first_line,
            format!("[{} earlier bytes left out]", len - 5 - kept as u64 - 1)
        );
        assert!(!tail.contains('\u{fffd}'), "no character is cut in two");
    }

    #[test]
    fn wait_statuses_decode() {
        assert_eq!(Exit::from_wait_status(1 << 8), Exit::Status(1));
        assert_eq!(Exit::from_wait_status(9), Exit::Signal(9));
    }

    #[test]
    fn notify_statuses_follow_the_output_and_logs() {
        let report = Report {
            logs: Some("listening\n".to_owned()),
            statuses: vec!["loading data".to_owned(), "disk full".to_owned()],
            timed_out: true,
            ..Report::default()
        };
        assert_eq!(
            report.to_string(),
            "listening\nstatus: loading data\nstatus: disk full\n(timed out)"
        );
    }
}
