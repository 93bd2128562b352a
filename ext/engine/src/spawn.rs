//! Running commands the way Ruby's `Process.spawn(String)` does: directly
//! when the string has no shell syntax (so the PID is the program's own),
//! through `/bin/sh -c` otherwise; with stdin from /dev/null, output captured
//! to a private temporary file, other descriptors closed, and optionally
//! detached into a new session.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use nix::libc;

use crate::{check, process, sys, wait};

/// Where a command's standard output and error go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// To a temporary file, read back when the command has exited.
    Capture,
    /// To our own stdout/stderr (the log file is one of them).
    Inherit,
    /// Appended to a file: the log file of a program that writes none.
    Append(&'a Path),
    /// Like Ruby's `system`: every standard channel, stdin included, inherited.
    System,
}

/// A command as Unix sees it: bytes, UTF-8 or not.
#[derive(Clone, Debug)]
pub struct CommandSpec<'a> {
    pub command: &'a OsStr,
    /// Environment additions (values are bytes too); `None` unsets the
    /// variable.
    pub env: &'a [(String, Option<OsString>)],
    /// Descriptors the command inherits at the same numbers.
    pub keep_fds: &'a [RawFd],
    pub output: Output<'a>,
    /// Run in a new session, detached: the spawned process exits at once and
    /// its child runs the command.
    pub daemonize: bool,
    /// Have the shell, where one is needed, replace itself with a single
    /// simple command, so that the command's PID is the program's own.
    pub exec_in_shell: bool,
    /// The working directory of the command; `None`: ours.
    pub chdir: Option<&'a Path>,
}

/// A spawned command, not reaped yet.
#[derive(Debug)]
pub struct Spawned {
    pid: i32,
    output: Option<File>,
    exit_fd: Option<OwnedFd>,
    /// Daemonized commands: where the detaching process wrote the PID of the
    /// child that runs the command.
    daemon_pid_pipe: Option<File>,
}

const SHELL_METACHARACTERS: &[u8] = b"*?{}[]<>()~&|\\$;'`\"\n#";

/// Words that make Ruby hand a command to the shell even without
/// metacharacters: shell keywords and special built-ins.
const SHELL_WORDS: &[&str] = &[
    "!", ".", ":", "break", "case", "continue", "do", "done", "elif", "else", "esac", "eval",
    "exec", "exit", "export", "fi", "for", "if", "in", "readonly", "return", "set", "shift",
    "then", "times", "trap", "unset", "until", "while",
];

/// Ruby's rule for `Process.spawn(String)`: metacharacters, a leading
/// variable assignment or a shell word send the command to `/bin/sh -c`.
pub fn needs_shell(command: impl AsRef<OsStr>) -> bool {
    let command = command.as_ref().as_bytes();
    if command.iter().any(|b| SHELL_METACHARACTERS.contains(b)) {
        return true;
    }
    match words(command).next() {
        None => true,
        Some(first) => {
            let assignment = first
                .split(|&b| b == b'/')
                .next()
                .is_some_and(|head| head.contains(&b'='));
            assignment || SHELL_WORDS.iter().any(|word| word.as_bytes() == first)
        }
    }
}

/// The words of a command without shell syntax, split at ASCII whitespace.
fn words(command: &[u8]) -> impl Iterator<Item = &[u8]> {
    command
        .split(u8::is_ascii_whitespace)
        .filter(|word| !word.is_empty())
}

/// The command with `exec` before its program, so that the shell replaces
/// itself with the program and the PID is the program's own. `None` where
/// that would change the command's meaning: an unquoted list, pipeline or
/// subshell operator, a shell word as the program, or no program at all.
/// Leading assignments stay in front (`NAME=value exec program`).
/// The syntax it looks at is ASCII, so the command is read as bytes.
fn exec_form(command: impl AsRef<OsStr>) -> Option<OsString> {
    let command = command.as_ref().as_bytes();
    let mut words = Vec::new();
    let mut word_start = None;
    let mut quote = None;
    let mut escaped = false;
    for (at, &c) in command.iter().enumerate() {
        if word_start.is_none() && !c.is_ascii_whitespace() {
            word_start = Some(at);
        }
        match (quote, c) {
            _ if escaped => escaped = false,
            (Some(b'\''), b'\'') | (Some(b'"'), b'"') => quote = None,
            (Some(b'\''), _) => {}
            (_, b'\\') => escaped = true,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(c),
            (None, b';' | b'&' | b'|' | b'\n' | b'(' | b')') => return None,
            (None, c) if c.is_ascii_whitespace() => {
                words.extend(word_start.take().map(|start| (start, &command[start..at])));
            }
            (None, _) => {}
        }
    }
    words.extend(word_start.map(|start| (start, &command[start..])));
    let &(at, program) = words.iter().find(|(_, word)| !is_assignment(word))?;
    if SHELL_WORDS.iter().any(|word| word.as_bytes() == program) {
        return None;
    }
    Some(OsString::from_vec(
        [&command[..at], b"exec ", &command[at..]].concat(),
    ))
}

/// `NAME=...`, as the shell reads a word before the program.
fn is_assignment(word: &[u8]) -> bool {
    let Some(equals) = word.iter().position(|&b| b == b'=') else {
        return false;
    };
    let name = &word[..equals];
    name.first()
        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_')
        && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `program` can be executed, searching `path` as execvp(3) would.
fn is_executable(program: &OsStr, path: Option<&OsString>, chdir: Option<&Path>) -> bool {
    let runnable = |candidate: &Path| {
        candidate
            .metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_bytes().contains(&b'/') {
        return runnable(&chdir.unwrap_or(Path::new("")).join(program));
    }
    let Some(path) = path else {
        return false;
    };
    env::split_paths(path).any(|dir| runnable(&dir.join(program)))
}

impl CommandSpec<'_> {
    fn build(&self) -> Command {
        let path = match self.env.iter().rev().find(|(name, _)| name == "PATH") {
            Some((_, value)) => value.clone(),
            None => env::var_os("PATH"),
        };
        let words: Vec<&OsStr> = words(self.command.as_bytes())
            .map(OsStr::from_bytes)
            .collect();
        // Where output is captured, a program that cannot run goes through
        // the shell too, which then reports "not found" or "Permission
        // denied" and exits 127 or 126, as an ordinary failed command.
        // Elsewhere nothing would show the shell's complaint: the exec
        // itself fails, and the caller reports its error.
        let direct = !needs_shell(self.command)
            && (self.output != Output::Capture
                || is_executable(words[0], path.as_ref(), self.chdir));
        let mut command = if direct {
            let mut command = Command::new(words[0]);
            command.args(&words[1..]);
            command
        } else {
            let mut command = Command::new("/bin/sh");
            command.arg0("sh").arg("-c");
            let rewritten = match self.exec_in_shell {
                true => exec_form(self.command),
                false => None,
            };
            command.arg(rewritten.as_deref().unwrap_or(self.command));
            command
        };
        if let Some(dir) = self.chdir {
            command.current_dir(dir);
        }
        for (name, value) in self.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
    }
}

/// The highest descriptor number to consider where descriptors are marked
/// close-on-exec one by one.
fn descriptor_limit() -> RawFd {
    let limit = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
    RawFd::try_from(limit)
        .unwrap_or(RawFd::MAX)
        .clamp(256, 65536)
}

/// Why a command did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Something the command needs around it failed: `what` names the
    /// operation and its path.
    #[error("Cannot {what}: {}", crate::messages::describe(.error))]
    Setup { what: String, error: io::Error },
    /// The program itself could not be run.
    #[error("{}", crate::messages::describe(.0))]
    Program(io::Error),
}

impl SpawnError {
    fn setup(what: impl Into<String>) -> impl FnOnce(io::Error) -> SpawnError {
        move |error| SpawnError::Setup {
            what: what.into(),
            error,
        }
    }
}

/// The directories a command's captured output may go to, in the order
/// Ruby's `Dir.tmpdir` tries them.
fn temp_dir_candidates() -> Vec<(String, std::path::PathBuf)> {
    let from_env = ["TMPDIR", "TMP", "TEMP"].into_iter().filter_map(|name| {
        let dir = env::var_os(name).filter(|dir| !dir.is_empty())?;
        Some((name.to_owned(), dir.into()))
    });
    let fixed = [("/tmp", "/tmp"), ("the working directory", ".")]
        .map(|(name, dir)| (name.to_owned(), dir.into()));
    from_env.chain(fixed).collect()
}

/// A directory Ruby's `Dir.tmpdir` would accept: one we may write to, and
/// not one anybody may write to without the sticky bit.
fn is_usable_temp_dir(dir: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(dir) else {
        return false;
    };
    let mode = meta.permissions().mode();
    let open_to_all = mode & 0o002 != 0 && mode & 0o1000 == 0;
    meta.is_dir()
        && !open_to_all
        && nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// A private file for the command's output, in the first temporary
/// directory that takes one: a missing or full TMPDIR falls back to the next
/// candidate, as Ruby does.
fn output_file() -> Result<File, SpawnError> {
    let mut last_failure = None;
    for (name, dir) in temp_dir_candidates() {
        if !is_usable_temp_dir(&dir) {
            continue;
        }
        match sys::private_file(&dir) {
            Ok(file) => return Ok(file),
            Err(error) => last_failure = Some((name, dir, error)),
        }
    }
    let (what, error) = match last_failure {
        Some((name, dir, error)) => (
            format!(
                "create a file for the command's output in {} ({name})",
                dir.display()
            ),
            error,
        ),
        None => (
            "find a temporary directory for the command's output (TMPDIR, TMP, TEMP, /tmp, .)"
                .to_owned(),
            io::Error::from(io::ErrorKind::NotFound),
        ),
    };
    Err(SpawnError::Setup { what, error })
}

pub fn spawn(spec: &CommandSpec<'_>) -> Result<Spawned, SpawnError> {
    let mut command = spec.build();
    let duplicate = SpawnError::setup("duplicate the output descriptor");
    let output = match spec.output {
        Output::Capture => {
            let file = output_file()?;
            let (stdout, stderr) = file
                .try_clone()
                .and_then(|stdout| Ok((stdout, file.try_clone()?)))
                .map_err(duplicate)?;
            command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
            Some(file)
        }
        Output::Inherit => {
            command.stdin(Stdio::null());
            None
        }
        Output::Append(path) => {
            let file = File::options()
                .append(true)
                .create(true)
                .open(path)
                .map_err(SpawnError::setup(format!(
                    "open the log file {}",
                    path.display()
                )))?;
            command
                .stdin(Stdio::null())
                .stdout(file.try_clone().map_err(duplicate)?)
                .stderr(file);
            None
        }
        Output::System => None,
    };
    // Daemonizing happens in `pre_exec`, which `Output::System` skips.
    let daemonize = spec.daemonize && spec.output != Output::System;
    let (daemon_pid_pipe, daemon_pid_writer) = match daemonize {
        true => pipe()
            .map(|(reader, writer)| (Some(reader), Some(writer)))
            .map_err(SpawnError::setup("create a pipe"))?,
        false => (None, None),
    };
    if spec.output != Output::System {
        let keep: Vec<RawFd> = spec.keep_fds.iter().copied().filter(|&fd| fd > 2).collect();
        let limit = descriptor_limit();
        let mark_cloexec = sys::cloexec_marker();
        let writer_fd = daemon_pid_writer.as_ref().map(|writer| writer.as_raw_fd());
        // Runs in the forked child: only async-signal-safe calls. Every
        // descriptor above 2 is marked close-on-exec, then the ones to keep
        // are cleared (marking rather than closing keeps std's own
        // exec-error pipe working).
        unsafe {
            command.pre_exec(move || {
                mark_cloexec(limit);
                for &fd in &keep {
                    libc::fcntl(fd, libc::F_SETFD, 0);
                }
                if let Some(writer_fd) = writer_fd {
                    libc::setsid();
                    match libc::fork() {
                        -1 => return Err(io::Error::last_os_error()),
                        0 => {}
                        daemon_pid => {
                            let bytes = daemon_pid.to_ne_bytes();
                            libc::write(writer_fd, bytes.as_ptr().cast(), bytes.len());
                            libc::_exit(0)
                        }
                    }
                }
                Ok(())
            });
        }
    }
    let child = command.spawn();
    // Ours closes now; the other copies went with the detaching process and
    // with the exec, so reading the pipe cannot block.
    drop(daemon_pid_writer);
    let pid = child.map_err(SpawnError::Program)?.id() as i32;
    Ok(Spawned {
        pid,
        output,
        exit_fd: sys::exit_watch(pid),
        daemon_pid_pipe,
    })
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> io::Result<(File, File)> {
    let (reader, writer) = sys::cloexec_pipe()?;
    Ok((File::from(reader), File::from(writer)))
}

impl Spawned {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits until the command exits (`Ok(true)`) or `deadline` passes
    /// (`Ok(false)`), leaving it unreaped. One blocking step: EINTR is
    /// returned as an error for the caller to handle and call again.
    pub fn wait_exit(&self, deadline: Option<Instant>) -> io::Result<bool> {
        if let Some(exit_fd) = &self.exit_fd {
            return wait::poll_readable(&[exit_fd.as_fd()], deadline);
        }
        let mut backoff = wait::Backoff::new(std::time::Duration::from_millis(20));
        loop {
            if process::child_has_exited(self.pid) {
                return Ok(true);
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                return Ok(false);
            }
            let next = now + backoff.next_delay();
            wait::sleep_until(wait::earliest([Some(next), deadline]).unwrap_or(next))?;
        }
    }

    /// For a daemonized command: the PID of the process that runs it (the
    /// one that detached has exited by the time `spawn` returns).
    pub fn daemon_pid(&self) -> Option<i32> {
        let mut bytes = [0; 4];
        let mut pipe = self.daemon_pid_pipe.as_ref()?;
        pipe.read_exact(&mut bytes).ok()?;
        Some(i32::from_ne_bytes(bytes))
    }

    /// What the command printed so far, stripped, its last part only (see
    /// `messages::tail_of`); `None` when not captured.
    pub fn output(&self) -> Option<String> {
        let file = self.output.as_ref()?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        Some(crate::messages::tail_of(file, 0, len).unwrap_or_default())
    }

    /// Reaps the exited command: its raw wait status, or `None` when someone
    /// else reaped it first.
    pub fn reap(&self) -> io::Result<Option<i32>> {
        loop {
            if let Some(status) = process::try_reap(self.pid)? {
                return Ok(status);
            }
            // Exit observed but not yet reapable: wait for it.
            let mut status = 0;
            match check(unsafe { libc::waitpid(self.pid, &mut status, 0) }) {
                Ok(_) => return Ok(Some(status)),
                Err(e) if crate::is_interrupted(&e) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn run(spec: &CommandSpec<'_>) -> (Option<String>, Option<i32>) {
        let spawned = spawn(spec).unwrap();
        assert!(spawned.wait_exit(None).unwrap());
        let status = spawned.reap().unwrap();
        (spawned.output(), status)
    }

    fn capture(command: &str) -> CommandSpec<'_> {
        CommandSpec {
            command: OsStr::new(command),
            env: &[],
            keep_fds: &[],
            output: Output::Capture,
            daemonize: false,
            exec_in_shell: false,
            chdir: None,
        }
    }

    #[test]
    fn shell_detection_follows_ruby() {
        assert!(!needs_shell("sleep 10"));
        assert!(!needs_shell("./spec/run echo_server.rb -l spec/x.log"));
        assert!(needs_shell("(echo hello; false)"));
        assert!(needs_shell("exit 1"));
        assert!(needs_shell("FOO=1 env"));
        assert!(needs_shell("echo $HOME"));
        assert!(needs_shell(""));
        assert!(!needs_shell("./a=b"));
    }

    #[test]
    fn captures_output_and_exit_status() {
        let (output, status) = run(&capture("(echo hello world; exit 3)"));
        assert_eq!(output.as_deref(), Some("hello world"));
        assert_eq!(libc::WEXITSTATUS(status.unwrap()), 3);
    }

    #[test]
    fn direct_commands_keep_their_pid() {
        let spawned = spawn(&capture("sleep 5")).unwrap();
        let ps = Command::new("ps")
            .args(["-o", "comm=", "-p", &spawned.pid().to_string()])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), "sleep");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(spawned.pid()),
            nix::sys::signal::SIGKILL,
        )
        .unwrap();
        assert!(spawned.wait_exit(None).unwrap());
        spawned.reap().unwrap();
    }

    #[test]
    fn a_missing_program_is_a_failed_command_that_says_so() {
        let (output, status) = run(&capture("no-such-program-here --flag"));
        assert!(output.unwrap().contains("not found"));
        assert_eq!(libc::WEXITSTATUS(status.unwrap()), 127);
    }

    #[test]
    fn environment_additions_and_removals() {
        std::env::set_var("DC_ENGINE_REMOVED", "present");
        let env = [
            ("DC_ENGINE_ADDED".to_owned(), Some("yes".into())),
            ("DC_ENGINE_REMOVED".to_owned(), None),
        ];
        let spec = CommandSpec {
            env: &env,
            ..capture("echo \"$DC_ENGINE_ADDED-${DC_ENGINE_REMOVED:-gone}\"")
        };
        assert_eq!(run(&spec).0.as_deref(), Some("yes-gone"));
    }

    #[test]
    fn other_descriptors_are_closed_unless_kept() {
        let (reader, writer) = nix::unistd::pipe().unwrap();
        let kept = writer.as_raw_fd();
        let script = format!("ls /dev/fd; [ -e /dev/fd/{kept} ] && echo kept");
        let spec = CommandSpec {
            keep_fds: &[kept],
            ..capture(&script)
        };
        let output = run(&spec).0.unwrap();
        assert!(output.ends_with("kept"), "{output}");
        let no_keep = run(&capture(&script)).0.unwrap();
        assert!(!no_keep.ends_with("kept"), "{no_keep}");
        drop(reader);
    }

    #[test]
    fn deadlines_end_the_wait_without_reaping() {
        let spawned = spawn(&capture("sleep 5")).unwrap();
        let exited = spawned
            .wait_exit(Some(Instant::now() + std::time::Duration::from_millis(50)))
            .unwrap();
        assert!(!exited);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(spawned.pid()),
            nix::sys::signal::SIGKILL,
        )
        .unwrap();
        assert!(spawned.wait_exit(None).unwrap());
        let status = spawned.reap().unwrap().unwrap();
        assert_eq!(libc::WTERMSIG(status), libc::SIGKILL);
    }

    #[test]
    fn daemonized_commands_report_the_detached_pid() {
        let dir = crate::test_support::ScratchDir::new("spawn");
        let marker = dir.join("daemon.pid");
        // Through the shell, which execs the program it is asked to run.
        let command = format!("sh -c 'echo $$ > {}; exec sleep 5'", marker.display());
        let spec = CommandSpec {
            daemonize: true,
            exec_in_shell: true,
            chdir: None,
            ..capture(&command)
        };
        let spawned = spawn(&spec).unwrap();
        let daemon_pid = spawned.daemon_pid().unwrap();
        assert_ne!(daemon_pid, spawned.pid());
        assert!(spawned.wait_exit(None).unwrap());
        assert_eq!(spawned.reap().unwrap(), Some(0));
        let written = (0..500).find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            std::fs::read_to_string(&marker)
                .ok()
                .filter(|s| s.ends_with('\n'))
        });
        assert_eq!(written.unwrap().trim(), daemon_pid.to_string());
        unsafe { libc::kill(daemon_pid, libc::SIGKILL) };
        let undetached = spawn(&capture("true")).unwrap();
        assert_eq!(undetached.daemon_pid(), None);
        undetached.wait_exit(None).unwrap();
        undetached.reap().unwrap();
    }

    #[test]
    fn commands_and_environment_values_are_bytes() {
        let command = OsStr::from_bytes(b"printf '%s|%s' caf\xe9 \"$DC_ENGINE_BYTES\"");
        let env = [(
            "DC_ENGINE_BYTES".to_owned(),
            Some(OsStr::from_bytes(b"\xff\xfe").into()),
        )];
        let spec = CommandSpec {
            command,
            env: &env,
            ..capture("")
        };
        let spawned = spawn(&spec).unwrap();
        spawned.wait_exit(None).unwrap();
        spawned.reap().unwrap();
        assert_eq!(
            spawned.output().as_deref(),
            Some("caf\u{fffd}|\u{fffd}\u{fffd}")
        );
        let direct = OsStr::from_bytes(b"echo \xe9t\xe9");
        assert!(!needs_shell(direct));
        assert_eq!(
            exec_form(direct).as_deref(),
            Some(OsStr::from_bytes(b"exec echo \xe9t\xe9"))
        );
    }

    #[test]
    fn only_single_programs_are_execed_by_the_shell() {
        for (command, rewritten) in [
            ("nginx -g 'daemon off;'", "exec nginx -g 'daemon off;'"),
            ("prog \"$HOME;\"/x", "exec prog \"$HOME;\"/x"),
            ("a > log", "exec a > log"),
            ("echo a\\;b", "exec echo a\\;b"),
            ("FOO=1 BAR='x y' prog", "FOO=1 BAR='x y' exec prog"),
            ("  prog", "  exec prog"),
        ] {
            assert_eq!(
                exec_form(command).as_deref(),
                Some(OsStr::new(rewritten)),
                "{command}"
            );
        }
        for compound in [
            "a; b",
            "a && b",
            "a | b",
            "(a)",
            "FOO=1",
            "exec a",
            "FOO=1 if",
            "a 'b' ; c",
            // Conservative: the parenthesis of a substitution counts too.
            "prog $(cat args)",
        ] {
            assert_eq!(exec_form(compound), None, "{compound}");
        }
    }

    #[test]
    fn appended_output_goes_to_the_file() {
        let dir = crate::test_support::ScratchDir::new("spawn");
        let path = dir.join("daemon.log");
        std::fs::write(&path, "before\n").unwrap();
        let spec = CommandSpec {
            output: Output::Append(&path),
            ..capture("sh -c 'echo out; echo err >&2'")
        };
        let spawned = spawn(&spec).unwrap();
        assert!(spawned.wait_exit(None).unwrap());
        spawned.reap().unwrap();
        assert_eq!(spawned.output(), None);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "before\nout\nerr\n"
        );
    }

    #[test]
    fn daemonized_commands_detach_at_once() {
        let spec = CommandSpec {
            daemonize: true,
            ..capture("sleep 0.3")
        };
        let began = Instant::now();
        let (_, status) = run(&spec);
        assert_eq!(status, Some(0));
        assert!(began.elapsed() < std::time::Duration::from_millis(250));
    }
}
