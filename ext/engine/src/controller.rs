//! The start, stop and connect flows. Every step a caller may observe or
//! replace (the original gem's private methods, which test suites stub) goes
//! through [`StubPoints`]; the Ruby bindings implement it by method dispatch
//! on the controller, so a stub changes the flow exactly as it would in
//! Ruby. What the flows need from their host besides (locks, blocking waits,
//! debug lines, the deadline) is [`Host`]. Errors from either arrive
//! classified as a [`StepError`], so the flows never ask the host what an
//! error means.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::lock_file::LockKind;
use crate::log_file::LogWatch;
use crate::messages::{Details, Exit, Report, Waited};
use crate::pid_file::PidFile;
use crate::ping_schedule::{PingCost, PingSchedule};
use crate::process::{self, Liveness};
use crate::wait::{earliest, Backoff, Events};

/// The PID-file wait checks at least this often, whatever events say.
pub const PID_FILE_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The longest pause between two checks while waiting for a process to exit
/// (exit watches usually wake the wait much sooner).
const EXIT_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// How long a process may take to disappear after SIGKILL. Only a process
/// stuck in the kernel (uninterruptible I/O) takes longer, or a zombie whose
/// parent does not reap it where the process table cannot be read; neither
/// is worth waiting for without end.
pub const KILL_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct Settings {
    pub identifier: String,
    pub pid_file: PidFile,
    pub log_file: PathBuf,
    /// `None`: no limit.
    pub start_timeout: Option<Duration>,
    pub start_abort_timeout: Option<Duration>,
    pub stop_timeout: Option<Duration>,
    pub log_file_activity_timeout: Option<Duration>,
    pub ping_interval: Duration,
    pub ping_cost: PingCost,
    /// A Unix-socket ping's socket: its appearance wakes the ping wait.
    pub ping_socket: Option<PathBuf>,
    /// With the "SIG" prefix, e.g. "SIGTERM".
    pub stop_signal: String,
    pub has_stop_command: bool,
    pub dont_stop_if_pid_file_invalid: bool,
    /// The program neither daemonizes nor writes a PID file: the PID of the
    /// process running the start command goes into the PID file.
    pub make_pid_file: bool,
    /// The ping as reports name it: "tcp:127.0.0.1:6379", "notify", the
    /// command.
    pub ping_description: String,
}

/// What running a command (start or stop command) came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandOutcome {
    Succeeded {
        pid: Option<i32>,
        output: Option<String>,
    },
    Failed {
        pid: Option<i32>,
        output: Option<String>,
        exit: Option<Exit>,
    },
    /// Still running at the deadline; not reaped.
    TimedOut { pid: i32, output: Option<String> },
}

/// For debug lines: "succeeded (PID 12)", "failed: exited with status 1
/// (PID 12)", "still running at the deadline (PID 12)".
impl fmt::Display for CommandOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandOutcome::Succeeded { .. } => f.write_str("succeeded")?,
            CommandOutcome::Failed {
                exit: Some(exit), ..
            } => write!(f, "failed: {exit}")?,
            CommandOutcome::Failed { exit: None, .. } => f.write_str("failed")?,
            CommandOutcome::TimedOut { .. } => f.write_str("still running at the deadline")?,
        }
        match self.pid() {
            Some(pid) => write!(f, " (PID {pid})"),
            None => Ok(()),
        }
    }
}

impl CommandOutcome {
    pub fn pid(&self) -> Option<i32> {
        match *self {
            CommandOutcome::Succeeded { pid, .. } | CommandOutcome::Failed { pid, .. } => pid,
            CommandOutcome::TimedOut { pid, .. } => Some(pid),
        }
    }

    pub fn output(&self) -> Option<&str> {
        match self {
            CommandOutcome::Succeeded { output, .. }
            | CommandOutcome::Failed { output, .. }
            | CommandOutcome::TimedOut { output, .. } => output.as_deref(),
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure<E> {
    #[error("Daemon '{0}' is already started")]
    AlreadyStarted(String),
    #[error("{0}")]
    Start(Report),
    #[error("{0}")]
    StartTimeout(Report),
    #[error("{0}")]
    Stop(Report),
    #[error("Daemon '{0}' did not exit in time (force killed)")]
    StopTimeout(String),
    /// The connect block gave nothing even after the daemon was started;
    /// with the "not answering" error it raised, if any.
    #[error("Cannot connect to the daemon")]
    Connect(Option<E>),
    /// An error raised by a step (a Ruby exception, in the bindings).
    #[error("a step of the flow failed")]
    Seam(E),
}

/// An error raised by a stub point, a host service or the connect block,
/// as the flows tell them apart: the host classifies its own errors (a Ruby
/// exception, in the bindings) when it hands them over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepError<E> {
    /// Time is up (Ruby's `Timeout::Error`): a start ends as a timeout.
    Timeout(E),
    /// A signal found no such process (ESRCH).
    NoSuchProcess(E),
    /// Another failed system call (Ruby's `SystemCallError`).
    SystemCall(E),
    /// The daemon is not answering yet (one of `ALLOWED_CONNECT_EXCEPTIONS`,
    /// raised by the connect block).
    NotAnswering(E),
    /// Anything else: it propagates as it is.
    Other(E),
}

impl<E> StepError<E> {
    pub fn into_inner(self) -> E {
        match self {
            StepError::Timeout(e)
            | StepError::NoSuchProcess(e)
            | StepError::SystemCall(e)
            | StepError::NotAnswering(e)
            | StepError::Other(e) => e,
        }
    }
}

/// The services the flows need from their host. Nothing a caller can stub:
/// the bindings implement them natively.
pub trait Host {
    type Error;
    /// A held lock on the lock file, released when dropped.
    type Lock;

    fn lock(&self, kind: LockKind) -> Result<Self::Lock, Self::Error>;
    fn io_error(&self, error: io::Error) -> Self::Error;
    /// The deadline that stub points running callbacks or commands must
    /// respect.
    fn set_deadline(&self, deadline: Option<Instant>);
    fn debug(&self, message: impl FnOnce() -> String);
    /// Runs a blocking step until it completes, handling interrupts (EINTR)
    /// between calls.
    fn blocking<T>(&self, step: impl FnMut() -> io::Result<T>)
        -> Result<T, StepError<Self::Error>>;
    /// A descriptor that becomes readable when a ping may now succeed (a
    /// readiness notification), to wake the ping wait early.
    fn readiness_fd(&self) -> Option<OwnedFd> {
        None
    }
    /// What the last failed ping answered ("connection refused", "exited
    /// with status 1"), if known.
    fn last_ping_result(&self) -> Option<String> {
        None
    }
    /// Whether `pid`, named by the PID file after a successful ping, runs.
    fn process_runs(&self, pid: i32) -> bool {
        process::is_running(pid)
    }
}

/// The steps of the flows that the contract lets callers observe or replace,
/// in the order and number it prescribes.
pub trait StubPoints: Host {
    fn daemon_is_running(&self) -> Result<bool, StepError<Self::Error>>;
    fn before_start(&self) -> Result<(), StepError<Self::Error>>;
    fn spawn_daemon(&self) -> Result<CommandOutcome, StepError<Self::Error>>;
    fn daemon_spawned(&self) -> Result<(), StepError<Self::Error>>;
    fn pid_file_available(&self) -> Result<bool, StepError<Self::Error>>;
    fn run_ping_command(&self) -> Result<bool, StepError<Self::Error>>;
    fn start_timed_out(&self, pid: Option<i32>) -> Result<(), StepError<Self::Error>>;
    fn daemonization_timed_out(&self, pid: i32) -> Result<(), StepError<Self::Error>>;
    fn run_stop_command(&self) -> Result<CommandOutcome, StepError<Self::Error>>;
    /// Sends `signal` (a name with the "SIG" prefix) to `pid`.
    fn kill(&self, signal: &str, pid: i32) -> Result<(), StepError<Self::Error>>;
}

trait IntoFailure<T, E> {
    fn seam(self) -> Result<T, Failure<E>>;
}

impl<T, E> IntoFailure<T, E> for Result<T, StepError<E>> {
    fn seam(self) -> Result<T, Failure<E>> {
        self.map_err(|e| Failure::Seam(e.into_inner()))
    }
}

/// Sets the host's deadline for the duration of a flow.
struct DeadlineScope<'a, S: Host>(&'a S);

impl<'a, S: Host> DeadlineScope<'a, S> {
    fn enter(seams: &'a S, deadline: Option<Instant>) -> Self {
        seams.set_deadline(deadline);
        DeadlineScope(seams)
    }
}

impl<S: Host> Drop for DeadlineScope<'_, S> {
    fn drop(&mut self) {
        self.0.set_deadline(None);
    }
}

fn deadline_after(limit: Option<Duration>) -> Option<Instant> {
    limit.map(|limit| Instant::now() + limit)
}

fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|deadline| Instant::now() >= deadline)
}

/// Helpers shared by the start and stop flows.
struct Flow<'a, S: StubPoints> {
    settings: &'a Settings,
    seams: &'a S,
}

impl<S: StubPoints> Flow<'_, S> {
    /// Sends a signal where the process may already be gone: failed system
    /// calls are ignored, anything else (a stub's error) propagates.
    fn kill_if_present(&self, signal: &str, pid: i32) -> Result<(), Failure<S::Error>> {
        // 0 and negative PIDs address process groups, ours included.
        if pid <= 0 {
            return Ok(());
        }
        self.seams
            .debug(|| format!("Sending {signal} to process {pid}"));
        match self.seams.kill(signal, pid) {
            Err(StepError::NoSuchProcess(_) | StepError::SystemCall(_)) => Ok(()),
            other => other.seam(),
        }
    }

    /// Waits until `gone` says so, or `until` passes (then `Ok(false)`),
    /// waking early when `pid` exits.
    fn wait_until_gone(
        &self,
        pid: Option<i32>,
        until: Option<Instant>,
        mut gone: impl FnMut() -> Result<bool, StepError<S::Error>>,
    ) -> Result<bool, Failure<S::Error>> {
        let mut events = Events::new();
        if let Some(pid) = pid {
            events.watch_exit(pid);
        }
        let mut backoff = Backoff::new(EXIT_CHECK_INTERVAL);
        loop {
            if gone().seam()? {
                return Ok(true);
            }
            if passed(until) {
                return Ok(false);
            }
            let wake = earliest([Some(Instant::now() + backoff.next_delay()), until]);
            self.seams.blocking(|| events.wait(wake)).seam()?;
        }
    }

    /// Ends a command we spawned that overran its deadline: SIGTERM, up to
    /// `start_abort_timeout` to exit, then SIGKILL and up to [`KILL_WAIT`];
    /// reaps it, and deletes the PID file if the command wrote its own PID
    /// there (a daemon that forked in time wrote another one: it stays).
    fn abort_direct_child(&self, pid: i32) -> Result<Vec<&'static str>, Failure<S::Error>> {
        if pid <= 0 {
            return Ok(Vec::new());
        }
        let signals = self.terminate(pid, || Ok(!process::is_running(pid)))?;
        let _ = process::try_reap(pid);
        let pid_file = &self.settings.pid_file;
        if pid_file.read_pid().ok().flatten() == Some(pid) {
            self.seams
                .debug(|| format!("Deleting the PID file of process {pid}"));
            pid_file.delete();
        }
        Ok(signals)
    }

    /// SIGTERM, up to `start_abort_timeout` for `gone`, then SIGKILL and up
    /// to [`KILL_WAIT`]; returns the signals sent.
    fn terminate(
        &self,
        pid: i32,
        mut gone: impl FnMut() -> Result<bool, StepError<S::Error>>,
    ) -> Result<Vec<&'static str>, Failure<S::Error>> {
        self.kill_if_present("SIGTERM", pid)?;
        let grace = deadline_after(self.settings.start_abort_timeout);
        if self.wait_until_gone(Some(pid), grace, &mut gone)? {
            return Ok(vec!["SIGTERM"]);
        }
        self.kill_if_present("SIGKILL", pid)?;
        self.wait_until_gone(Some(pid), deadline_after(Some(KILL_WAIT)), gone)?;
        Ok(vec!["SIGTERM", "SIGKILL"])
    }
}

/// Starts the daemon; the caller holds the exclusive lock.
pub fn start<S: StubPoints>(settings: &Settings, seams: &S) -> Result<(), Failure<S::Error>> {
    if seams.daemon_is_running().seam()? {
        return Err(Failure::AlreadyStarted(settings.identifier.clone()));
    }
    let log = LogWatch::snapshot(&settings.log_file);
    settings.pid_file.delete();
    let started = Instant::now();
    let deadline = deadline_after(settings.start_timeout);
    let _scope = DeadlineScope::enter(seams, deadline);
    Start {
        flow: Flow { settings, seams },
        log,
        started,
        deadline,
        waiting_for: Waiting::StartCommand,
        daemon: None,
        signals_sent: Vec::new(),
    }
    .run()
}

struct Start<'a, S: StubPoints> {
    flow: Flow<'a, S>,
    log: LogWatch,
    started: Instant,
    deadline: Option<Instant>,
    waiting_for: Waiting,
    /// The PID the PID file named once it was available, to reap the daemon
    /// if it dies (the running check deletes a stale file).
    daemon: Option<i32>,
    /// Sent to end what was started, when the start timed out.
    signals_sent: Vec<&'static str>,
}

/// What a start is waiting for, for the report of a timeout.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    StartCommand,
    PidFile,
    Ping,
}

/// How a readiness wait ended, when not with a ready daemon.
enum Unready<E> {
    TimedOut,
    Failed(Failure<E>),
}

impl<E> From<Failure<E>> for Unready<E> {
    fn from(failure: Failure<E>) -> Self {
        Unready::Failed(failure)
    }
}

impl<S: StubPoints> Start<'_, S> {
    fn run(mut self) -> Result<(), Failure<S::Error>> {
        let seams = self.flow.seams;
        if let Err(e) = seams.before_start() {
            return self.timed_out_or(e, |start| start.give_up());
        }
        let outcome = match seams.spawn_daemon() {
            Ok(outcome) => outcome,
            Err(e) => return self.timed_out_or(e, |start| start.give_up()),
        };
        seams.debug(|| format!("Start command {outcome}"));
        let output = outcome.output().map(str::to_owned);
        if let Err(e) = seams.daemon_spawned() {
            return self.timed_out_or(e, |start| start.abort(output));
        }
        match outcome {
            CommandOutcome::Failed { pid, output, exit } => {
                Err(Failure::Start(self.report(output, exit, false, pid)))
            }
            CommandOutcome::TimedOut { pid, output } => {
                seams.debug(|| format!("Timeout waiting for daemon to fork, PID {pid}"));
                seams.daemonization_timed_out(pid).seam()?;
                self.signals_sent = self.flow.abort_direct_child(pid)?;
                Err(Failure::StartTimeout(self.report(
                    output,
                    None,
                    true,
                    Some(pid),
                )))
            }
            CommandOutcome::Succeeded { output, pid } => {
                if self.flow.settings.make_pid_file {
                    self.make_pid_file(pid, &output)?;
                }
                match self.wait_until_ready() {
                    Ok(()) => {}
                    Err(Unready::TimedOut) => return self.abort(output),
                    Err(Unready::Failed(failure)) => return Err(failure),
                }
                match seams.run_ping_command() {
                    Ok(true) => self.check_daemon_runs(output),
                    Ok(false) => Err(Failure::Start(self.died_report(output))),
                    Err(e) => self.timed_out_or(e, |start| start.abort(output)),
                }
            }
        }
    }

    /// The daemon died before answering. How it ended is known where it is
    /// our child: a host that is a child subreaper (the command-line tool)
    /// adopts a daemon whose start command has exited, and reaps it here.
    fn died_report(&self, output: Option<String>) -> Report {
        let reaped = self.daemon.and_then(|pid| match process::try_reap(pid) {
            Ok(Some(Some(status))) => Some((pid, Exit::from_wait_status(status))),
            _ => None,
        });
        match reaped {
            Some((pid, exit)) => self.report(output, Some(exit), false, Some(pid)),
            None => self.report(output, None, false, None),
        }
    }

    /// A ping that succeeds while the process the PID file names is gone
    /// answered for another program (one holding the daemon's port, say):
    /// the daemon itself did not start.
    fn check_daemon_runs(&self, output: Option<String>) -> Result<(), Failure<S::Error>> {
        let Ok(Some(pid)) = self.flow.settings.pid_file.read_pid() else {
            return Ok(());
        };
        if self.flow.seams.process_runs(pid) {
            return Ok(());
        }
        let mut report = self.report(output, None, false, Some(pid));
        let note = format!(
            "the ping answered, but process {pid} of the PID file is not running: \
             another program answers {}",
            self.flow.settings.ping_description
        );
        report.details = Some(Box::new(Details {
            note: Some(note),
            waited: None,
        }));
        Err(Failure::Start(report))
    }

    /// Writes the PID file for a program that writes none. Without a PID to
    /// write (a stubbed start, say) the PID-file wait decides as usual.
    fn make_pid_file(
        &self,
        pid: Option<i32>,
        output: &Option<String>,
    ) -> Result<(), Failure<S::Error>> {
        let Some(pid) = pid else {
            return Ok(());
        };
        let pid_file = &self.flow.settings.pid_file;
        self.flow
            .seams
            .debug(|| format!("Writing PID {pid} to {}", pid_file.path().display()));
        let Err(error) = pid_file.write(pid) else {
            return Ok(());
        };
        // Nothing could find the program again: end it, and say why.
        self.flow.kill_if_present("SIGTERM", pid)?;
        let note = format!(
            "cannot write {}: {}",
            pid_file.path().display(),
            crate::messages::describe(&error)
        );
        let output = match output.as_deref().map(crate::messages::strip) {
            Some(printed) if !printed.is_empty() => format!("{printed}\n{note}"),
            _ => note,
        };
        Err(Failure::Start(self.report(
            Some(output),
            None,
            false,
            Some(pid),
        )))
    }

    /// A timeout error from a seam ends the start with `on_timeout`; any
    /// other error propagates.
    fn timed_out_or(
        &mut self,
        error: StepError<S::Error>,
        on_timeout: impl FnOnce(&mut Self) -> Result<(), Failure<S::Error>>,
    ) -> Result<(), Failure<S::Error>> {
        match error {
            StepError::Timeout(_) => on_timeout(self),
            other => Err(Failure::Seam(other.into_inner())),
        }
    }

    /// Time ran out before there was a command to abort.
    fn give_up(&mut self) -> Result<(), Failure<S::Error>> {
        self.flow.seams.start_timed_out(None).seam()?;
        Err(Failure::StartTimeout(self.report(None, None, true, None)))
    }

    /// The start command exited but the daemon did not become ready in time:
    /// terminate whatever the PID file names.
    fn abort(&mut self, output: Option<String>) -> Result<(), Failure<S::Error>> {
        let seams = self.flow.seams;
        let pid = self.flow.settings.pid_file.read_pid().ok().flatten();
        seams.debug(|| {
            let pid = pid.map_or("nil".to_owned(), |pid| pid.to_string());
            format!("Timeout waiting for daemon to be ready, PID {pid}")
        });
        seams.start_timed_out(pid).seam()?;
        if let Some(pid) = pid {
            let not_running = || seams.daemon_is_running().map(|running| !running);
            self.signals_sent = self.flow.terminate(pid, not_running)?;
        }
        Err(Failure::StartTimeout(self.report(output, None, true, pid)))
    }

    fn report(
        &self,
        output: Option<String>,
        exit: Option<Exit>,
        timed_out: bool,
        pid: Option<i32>,
    ) -> Report {
        let mut report = Report {
            output,
            logs: self.log.gained(),
            exit,
            timed_out,
            pid,
            ..Report::default()
        };
        if timed_out {
            let settings = self.flow.settings;
            let waited = Waited {
                what: match self.waiting_for {
                    Waiting::StartCommand => "the start command to exit".to_owned(),
                    Waiting::PidFile => {
                        format!("the PID file {}", settings.pid_file.path().display())
                    }
                    Waiting::Ping => format!("the ping {}", settings.ping_description),
                },
                how_long: self.started.elapsed(),
                last_ping: match self.waiting_for {
                    Waiting::Ping => self.flow.seams.last_ping_result(),
                    _ => None,
                },
                signals_sent: self.signals_sent.clone(),
            };
            report.details = Some(Box::new(Details {
                note: None,
                waited: Some(waited),
            }));
        }
        report
    }

    /// Ends a wait step: the deadline or log inactivity make it a timeout.
    fn check_time(&mut self, activity: &mut Activity) -> Result<(), Unready<S::Error>> {
        if self.log.has_changed() {
            activity.record();
        } else if activity.expired() {
            self.flow.seams.debug(|| "Log file inactivity".to_owned());
            return Err(Unready::TimedOut);
        }
        if passed(self.deadline) {
            return Err(Unready::TimedOut);
        }
        Ok(())
    }

    /// A seam's timeout error makes the wait time out; others propagate.
    fn checked<T>(&self, result: Result<T, StepError<S::Error>>) -> Result<T, Unready<S::Error>> {
        result.map_err(|e| match e {
            StepError::Timeout(_) => Unready::TimedOut,
            other => Unready::Failed(Failure::Seam(other.into_inner())),
        })
    }

    /// Waits for the PID file, then for a successful ping or the daemon's
    /// exit, woken by file and exit events and bounded by timers. Nothing is
    /// watched until the first wait: a daemon that is up at once costs no
    /// watches and no thread.
    fn wait_until_ready(&mut self) -> Result<(), Unready<S::Error>> {
        let seams = self.flow.seams;
        let settings = self.flow.settings;
        let mut activity = Activity::new(settings.log_file_activity_timeout);
        let mut events: Option<Events> = None;
        let watch_files = || {
            let mut events = Events::new();
            events.watch_directory_of(settings.pid_file.path());
            events.watch_directory_of(&settings.log_file);
            events
        };
        self.waiting_for = Waiting::PidFile;
        loop {
            self.check_time(&mut activity)?;
            if self.checked(seams.pid_file_available())? {
                break;
            }
            let next_check = Some(Instant::now() + PID_FILE_CHECK_INTERVAL);
            let wake = earliest([next_check, self.deadline, activity.expiry()]);
            let events = events.get_or_insert_with(watch_files);
            self.checked(seams.blocking(|| events.wait(wake)))?;
        }
        seams.debug(|| "PID file available; pinging".to_owned());
        self.waiting_for = Waiting::Ping;
        self.daemon = settings.pid_file.read_pid().ok().flatten();
        let schedule = PingSchedule::new(
            settings.ping_cost,
            settings.ping_interval,
            self.started,
            Instant::now(),
        );
        // Pings that events brought forward back off, so that a daemon
        // logging each failed ping cannot drive pings ever faster.
        let mut event_backoff = Backoff::new(settings.ping_interval);
        let mut woke_by_event = false;
        let mut watching_daemon = false;
        loop {
            self.check_time(&mut activity)?;
            let began = Instant::now();
            if self.checked(seams.run_ping_command())? {
                return Ok(());
            }
            let ended = Instant::now();
            if !self.checked(seams.daemon_is_running())? {
                seams.debug(|| "Daemon exited before answering pings".to_owned());
                return Ok(());
            }
            let events = events.get_or_insert_with(watch_files);
            if !watching_daemon {
                self.watch_daemon(events);
                watching_daemon = true;
            }
            if woke_by_event {
                let gap = event_backoff.next_delay();
                self.checked(seams.blocking(|| crate::wait::sleep_until(began + gap)))?;
            }
            let next_ping = Some(schedule.next_ping(began, ended));
            let wake = earliest([next_ping, self.deadline, activity.expiry()]);
            woke_by_event = self.checked(seams.blocking(|| events.wait(wake)))?;
        }
    }

    /// Besides file activity (a daemon logging that it is ready, say), the
    /// daemon's exit, its readiness message and its socket appearing wake
    /// the ping wait for an early ping.
    fn watch_daemon(&self, events: &mut Events) {
        let settings = self.flow.settings;
        if let Ok(Some(pid)) = settings.pid_file.read_pid() {
            events.watch_exit(pid);
        }
        if let Some(fd) = self.flow.seams.readiness_fd() {
            events.watch_readable(fd);
        }
        if let Some(socket) = &settings.ping_socket {
            events.watch_directory_of(socket);
        }
    }
}

/// The log-activity clock.
struct Activity {
    last: Instant,
    timeout: Option<Duration>,
}

impl Activity {
    fn new(timeout: Option<Duration>) -> Activity {
        Activity {
            last: Instant::now(),
            timeout,
        }
    }

    fn record(&mut self) {
        self.last = Instant::now();
    }

    fn expiry(&self) -> Option<Instant> {
        self.timeout.map(|timeout| self.last + timeout)
    }

    fn expired(&self) -> bool {
        passed(self.expiry())
    }
}

/// Stops the daemon; the caller holds the exclusive lock.
pub fn stop<S: StubPoints>(settings: &Settings, seams: &S) -> Result<(), Failure<S::Error>> {
    let deadline = deadline_after(settings.stop_timeout);
    let _scope = DeadlineScope::enter(seams, deadline);
    let flow = Flow { settings, seams };
    let content = settings
        .pid_file
        .read()
        .map_err(|e| Failure::Seam(seams.io_error(e)))?;
    let named = content.as_ref().and_then(|content| content.pid());
    // The process to wait for: the one that wrote the file, if it still runs
    // (a reused PID belongs to someone else and is never signalled).
    let target = named.filter(|&pid| {
        let written = content.as_ref().and_then(|content| content.modified);
        process::liveness(pid, written) == Liveness::Running
    });
    if settings.has_stop_command {
        if !(settings.dont_stop_if_pid_file_invalid && named.is_none()) {
            seams.debug(|| "Running the stop command".to_owned());
            match seams.run_stop_command().seam()? {
                CommandOutcome::Succeeded { .. } => {}
                CommandOutcome::Failed { output, exit, pid } => {
                    return Err(Failure::Stop(Report {
                        output,
                        exit,
                        pid,
                        ..Report::default()
                    }));
                }
                CommandOutcome::TimedOut { pid, output } => {
                    flow.abort_direct_child(pid)?;
                    return Err(Failure::Stop(Report {
                        output,
                        timed_out: true,
                        pid: Some(pid),
                        ..Report::default()
                    }));
                }
            }
        }
    } else if let Some(pid) = target {
        seams.debug(|| format!("Sending {} to process {pid}", settings.stop_signal));
        match seams.kill(&settings.stop_signal, pid) {
            Err(StepError::NoSuchProcess(_)) => {}
            other => other.seam()?,
        }
    }
    let gone = || {
        let running = seams.daemon_is_running()?;
        Ok(!running && target.is_none_or(|pid| !process::is_running(pid)))
    };
    if flow.wait_until_gone(target, deadline, gone)? {
        return Ok(());
    }
    let victim = target.or_else(|| settings.pid_file.read_pid().ok().flatten());
    if let Some(pid) = victim {
        seams.debug(|| format!("Daemon did not exit in time; sending SIGKILL to process {pid}"));
        match seams.kill("SIGKILL", pid) {
            Err(StepError::NoSuchProcess(_)) => {}
            other => other.seam()?,
        }
    }
    if flow.wait_until_gone(victim, deadline_after(Some(KILL_WAIT)), gone)? {
        return Err(Failure::StopTimeout(settings.identifier.clone()));
    }
    Err(Failure::Stop(Report {
        output: Some(survivor_message(victim)),
        timed_out: true,
        pid: victim,
        ..Report::default()
    }))
}

/// Why `stop` gives up on a process that SIGKILL did not remove.
fn survivor_message(pid: Option<i32>) -> String {
    let waited = KILL_WAIT.as_secs();
    match pid {
        Some(pid) => format!(
            "Process {pid} still exists {waited} seconds after SIGKILL: stuck in the kernel, \
             or exited and not reaped by its parent"
        ),
        None => format!("The daemon still runs {waited} seconds after SIGKILL"),
    }
}

/// `connect`: calls `attempt` (the caller's block) under the shared lock;
/// when it gives nothing or the daemon is not answering yet, takes the
/// exclusive lock, starts the daemon with `start` (the start flow, for the
/// lock already held) unless it is running, and calls `attempt` again.
pub fn connect<S: StubPoints, T>(
    seams: &S,
    mut attempt: impl FnMut() -> Result<Option<T>, StepError<S::Error>>,
    start: impl FnOnce() -> Result<(), Failure<S::Error>>,
) -> Result<T, Failure<S::Error>> {
    {
        let _lock = seams.lock(LockKind::Shared).map_err(Failure::Seam)?;
        match attempt() {
            Ok(Some(connection)) => return Ok(connection),
            Ok(None) | Err(StepError::NotAnswering(_)) => {}
            Err(other) => return Err(Failure::Seam(other.into_inner())),
        }
    }
    let _lock = seams.lock(LockKind::Exclusive).map_err(Failure::Seam)?;
    if !seams.daemon_is_running().seam()? {
        start()?;
    }
    match attempt() {
        Ok(Some(connection)) => Ok(connection),
        Ok(None) => Err(Failure::Connect(None)),
        Err(StepError::NotAnswering(e)) => Err(Failure::Connect(Some(e))),
        Err(other) => Err(Failure::Seam(other.into_inner())),
    }
}
