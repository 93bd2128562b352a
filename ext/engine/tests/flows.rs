//! The start, stop and connect flows against a recording fake: the order
//! and number of stub-point calls that the contract prescribes, without
//! Ruby and without daemons (a `sleep` child stands in where a process must
//! really run).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use daemon_controller_engine::controller::{
    self as flows, CommandOutcome, Failure, Host, Settings, StepError, StubPoints,
};
use daemon_controller_engine::lock_file::LockKind;
use daemon_controller_engine::messages::{Exit, Report, Waited};
use daemon_controller_engine::pid_file::PidFile;
use daemon_controller_engine::ping_schedule::PingCost;
use daemon_controller_engine::process::{self, Liveness};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A PID no process can have (above any `pid_max`): signals to it are only
/// recorded, never sent.
const NOBODY: i32 = 2_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
struct FakeError(&'static str);

type Answer<T> = Result<T, StepError<FakeError>>;

/// The answers of one stub point, in order; the last one repeats.
struct Script<T>(RefCell<VecDeque<T>>);

impl<T: Clone> Script<T> {
    fn new(answers: impl IntoIterator<Item = T>) -> Self {
        Script(RefCell::new(answers.into_iter().collect()))
    }

    fn next(&self) -> T {
        let mut answers = self.0.borrow_mut();
        match answers.len() {
            0 => panic!("no answer scripted"),
            1 => answers[0].clone(),
            _ => answers.pop_front().unwrap(),
        }
    }

    fn replace(&self, answers: impl IntoIterator<Item = T>) {
        *self.0.borrow_mut() = answers.into_iter().collect();
    }
}

/// A temporary directory, removed with everything in it when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "dc-flows-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).unwrap();
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a signal does to the fake daemon.
#[derive(Clone, Copy)]
enum OnSignal {
    /// Nothing: the daemon ignores it.
    Ignored,
    /// `daemon_is_running?` answers false from then on.
    Stops,
    /// Really sent: the target is this test's own child.
    Delivered,
}

/// Every call, in order, as "name" or "name argument".
type Calls = Rc<RefCell<Vec<String>>>;

struct Fake {
    calls: Calls,
    /// The lock held right now, if any.
    held: Rc<Cell<Option<LockKind>>>,
    deadline: Cell<Option<Instant>>,
    pid_file: PathBuf,
    running: Script<bool>,
    before_start: Script<Answer<()>>,
    spawn: Script<CommandOutcome>,
    /// The PID the "daemon" writes to the PID file when spawned.
    daemon_pid: Option<i32>,
    pid_file_available: Script<bool>,
    pings: Script<Answer<bool>>,
    stop_command: Script<CommandOutcome>,
    on_term: OnSignal,
    on_kill: OnSignal,
    /// Whether the process the PID file names runs, as the host sees it.
    process_runs: bool,
    /// What the host says the last failed ping answered.
    last_ping: Option<String>,
}

fn ok() -> CommandOutcome {
    CommandOutcome::Succeeded {
        pid: Some(NOBODY),
        output: None,
    }
}

impl Fake {
    fn new(scratch: &Scratch) -> Fake {
        Fake {
            calls: Calls::default(),
            held: Rc::default(),
            deadline: Cell::new(None),
            pid_file: scratch.0.join("daemon.pid"),
            running: Script::new([false]),
            before_start: Script::new([Ok(())]),
            spawn: Script::new([ok()]),
            daemon_pid: Some(NOBODY),
            pid_file_available: Script::new([true]),
            pings: Script::new([Ok(true)]),
            stop_command: Script::new([ok()]),
            on_term: OnSignal::Stops,
            on_kill: OnSignal::Stops,
            process_runs: true,
            last_ping: None,
        }
    }

    fn record(&self, call: impl Into<String>) {
        self.calls.borrow_mut().push(call.into());
    }

    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn count(&self, call: &str) -> usize {
        self.calls.borrow().iter().filter(|c| *c == call).count()
    }
}

/// A held fake lock: recorded when taken and when released.
struct FakeLock {
    calls: Calls,
    held: Rc<Cell<Option<LockKind>>>,
    kind: LockKind,
}

impl Drop for FakeLock {
    fn drop(&mut self) {
        self.calls
            .borrow_mut()
            .push(format!("unlock {:?}", self.kind));
        self.held.set(None);
    }
}

impl Host for Fake {
    type Error = FakeError;
    type Lock = FakeLock;

    fn lock(&self, kind: LockKind) -> Result<FakeLock, FakeError> {
        assert_eq!(self.held.get(), None, "a lock taken while one is held");
        self.record(format!("lock {kind:?}"));
        self.held.set(Some(kind));
        Ok(FakeLock {
            calls: Rc::clone(&self.calls),
            held: Rc::clone(&self.held),
            kind,
        })
    }

    fn io_error(&self, error: io::Error) -> FakeError {
        panic!("unexpected I/O error: {error}")
    }

    fn set_deadline(&self, deadline: Option<Instant>) {
        self.deadline.set(deadline);
    }

    fn debug(&self, _message: impl FnOnce() -> String) {}

    fn blocking<T>(&self, mut step: impl FnMut() -> io::Result<T>) -> Answer<T> {
        step().map_err(|e| panic!("a wait failed: {e}"))
    }

    fn last_ping_result(&self) -> Option<String> {
        self.last_ping.clone()
    }

    fn process_runs(&self, _pid: i32) -> bool {
        self.process_runs
    }
}

impl StubPoints for Fake {
    fn daemon_is_running(&self) -> Answer<bool> {
        self.record("daemon_is_running?");
        Ok(self.running.next())
    }

    fn before_start(&self) -> Answer<()> {
        self.record("before_start");
        self.before_start.next()
    }

    fn spawn_daemon(&self) -> Answer<CommandOutcome> {
        self.record("spawn_daemon");
        if let Some(pid) = self.daemon_pid {
            std::fs::write(&self.pid_file, format!("{pid}\n")).unwrap();
        }
        Ok(self.spawn.next())
    }

    fn daemon_spawned(&self) -> Answer<()> {
        self.record("daemon_spawned");
        Ok(())
    }

    fn pid_file_available(&self) -> Answer<bool> {
        self.record("pid_file_available?");
        Ok(self.pid_file_available.next())
    }

    fn run_ping_command(&self) -> Answer<bool> {
        self.record("run_ping_command");
        self.pings.next()
    }

    fn start_timed_out(&self, pid: Option<i32>) -> Answer<()> {
        self.record(format!("start_timed_out {pid:?}"));
        Ok(())
    }

    fn daemonization_timed_out(&self, pid: i32) -> Answer<()> {
        self.record(format!("daemonization_timed_out {pid}"));
        Ok(())
    }

    fn run_stop_command(&self) -> Answer<CommandOutcome> {
        self.record("run_stop_command");
        Ok(self.stop_command.next())
    }

    fn kill(&self, signal: &str, pid: i32) -> Answer<()> {
        self.record(format!("kill {signal} {pid}"));
        let effect = match signal {
            "SIGKILL" => self.on_kill,
            _ => self.on_term,
        };
        match effect {
            OnSignal::Ignored => {}
            OnSignal::Stops => self.running.replace([false]),
            OnSignal::Delivered => {
                let signal = signal.parse::<Signal>().unwrap();
                kill(Pid::from_raw(pid), signal).unwrap();
                self.running.replace([false]);
            }
        }
        Ok(())
    }
}

fn settings(scratch: &Scratch) -> Settings {
    let limit = Some(Duration::from_secs(2));
    Settings {
        identifier: "fake daemon".to_owned(),
        pid_file: PidFile::new(scratch.0.join("daemon.pid")),
        log_file: scratch.0.join("daemon.log"),
        start_timeout: limit,
        start_abort_timeout: limit,
        stop_timeout: limit,
        log_file_activity_timeout: None,
        ping_interval: Duration::from_millis(5),
        ping_cost: PingCost::Cheap,
        ping_socket: None,
        stop_signal: "SIGTERM".to_owned(),
        has_stop_command: false,
        dont_stop_if_pid_file_invalid: false,
        make_pid_file: false,
        ping_description: "tcp:127.0.0.1:9".to_owned(),
    }
}

/// A real process of this test's own, for the flows that check liveness
/// through /proc; killed and reaped when dropped.
struct Sleeper(Child);

impl Sleeper {
    fn spawn() -> Sleeper {
        Sleeper(Command::new("sleep").arg("30").spawn().unwrap())
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn strings(calls: &[&str]) -> Vec<String> {
    calls.iter().map(|call| call.to_string()).collect()
}

/// The calls every start makes before it waits for the daemon.
const SPAWNED: [&str; 4] = [
    "daemon_is_running?",
    "before_start",
    "spawn_daemon",
    "daemon_spawned",
];

// ---- start -----------------------------------------------------------------

/// The calls of a start whose first ping succeeds: the PID file is there at
/// once, then one ping and the final one.
fn calls_of_a_first_ping_that_succeeds() -> Vec<String> {
    let mut expected = strings(&SPAWNED);
    expected.extend(strings(&[
        "pid_file_available?",
        "run_ping_command",
        "run_ping_command",
    ]));
    expected
}

/// What a timed-out start's report says it waited for.
fn waited(report: &Report) -> &Waited {
    let details = report.details.as_deref().expect("no details");
    details.waited.as_ref().expect("no wait described")
}

#[test]
fn start_with_a_first_ping_that_succeeds() {
    let scratch = Scratch::new();
    let fake = Fake::new(&scratch);
    flows::start(&settings(&scratch), &fake).unwrap();
    assert_eq!(fake.calls(), calls_of_a_first_ping_that_succeeds());
    assert_eq!(fake.deadline.get(), None, "the deadline outlived the flow");
}

#[test]
fn start_with_a_late_pid_file_and_a_late_ping() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.pid_file_available = Script::new([false, true]);
    fake.pings = Script::new([Ok(false), Ok(false), Ok(true)]);
    fake.running = Script::new([false, true]);
    flows::start(&settings(&scratch), &fake).unwrap();
    let mut expected = strings(&SPAWNED);
    expected.extend(strings(&[
        "pid_file_available?",
        "pid_file_available?",
        "run_ping_command",
        "daemon_is_running?",
        "run_ping_command",
        "daemon_is_running?",
        "run_ping_command",
        "run_ping_command",
    ]));
    assert_eq!(fake.calls(), expected);
}

#[test]
fn start_that_times_out_terminates_what_the_pid_file_names() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.pings = Script::new([Ok(false)]);
    fake.running = Script::new([false, true]);
    let mut settings = settings(&scratch);
    settings.start_timeout = Some(Duration::from_millis(60));
    fake.last_ping = Some("no connection".to_owned());
    let failure = flows::start(&settings, &fake).unwrap_err();
    let Failure::StartTimeout(report) = &failure else {
        panic!("{failure:?}");
    };
    assert!(report.timed_out);
    // The message stays as it was; the details are beside it.
    assert_eq!(report.to_string(), "(logs empty; timed out)");
    let details = waited(report);
    assert_eq!(details.what, "the ping tcp:127.0.0.1:9");
    assert!(details.how_long >= Duration::from_millis(60));
    assert_eq!(details.last_ping.as_deref(), Some("no connection"));
    assert_eq!(details.signals_sent, ["SIGTERM"]);

    let calls = fake.calls();
    let mut waited = strings(&SPAWNED);
    waited.push("pid_file_available?".to_owned());
    assert_eq!(calls[..5], waited[..]);
    let tail = strings(&[
        &format!("start_timed_out Some({NOBODY})"),
        &format!("kill SIGTERM {NOBODY}"),
        "daemon_is_running?",
    ]);
    assert_eq!(calls[calls.len() - 3..], tail[..]);
    // In between, ping rounds only: a failed ping, then the running check.
    let rounds = &calls[5..calls.len() - 3];
    let pairs = rounds.chunks_exact(2);
    assert!(
        !rounds.is_empty() && pairs.remainder().is_empty(),
        "{rounds:?}"
    );
    for round in pairs {
        assert_eq!(round, strings(&["run_ping_command", "daemon_is_running?"]));
    }
    assert_eq!(fake.count(&format!("kill SIGKILL {NOBODY}")), 0);
}

#[test]
fn start_that_waits_in_vain_for_the_pid_file_says_so() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.daemon_pid = None;
    fake.pid_file_available = Script::new([false]);
    fake.last_ping = Some("never asked for".to_owned());
    let mut settings = settings(&scratch);
    settings.start_timeout = Some(Duration::from_millis(30));
    let failure = flows::start(&settings, &fake).unwrap_err();
    let Failure::StartTimeout(report) = &failure else {
        panic!("{failure:?}");
    };
    let pid_file = scratch.0.join("daemon.pid");
    let expected = format!("the PID file {}", pid_file.display());
    let details = waited(report);
    assert_eq!(details.what, expected);
    assert_eq!(details.last_ping, None, "no ping was made");
    assert!(details.signals_sent.is_empty(), "nothing to signal");
    assert_eq!(fake.count("run_ping_command"), 0);
}

#[test]
fn start_whose_ping_answers_while_the_daemon_is_gone_fails() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.process_runs = false;
    let failure = flows::start(&settings(&scratch), &fake).unwrap_err();
    let Failure::Start(report) = &failure else {
        panic!("{failure:?}");
    };
    assert_eq!(report.pid, Some(NOBODY));
    assert_eq!(
        report.to_string(),
        format!(
            "(logs empty; the ping answered, but process {NOBODY} of the PID file \
             is not running: another program answers tcp:127.0.0.1:9)"
        )
    );
    // The check asks the host, not a stub point: the calls stay the contract's.
    assert_eq!(fake.calls(), calls_of_a_first_ping_that_succeeds());
}

#[test]
fn start_whose_daemon_is_our_child_reports_how_it_ended() {
    let scratch = Scratch::new();
    let mut daemon = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
    let pid = daemon.id() as i32;
    while process::liveness(pid, None) != Liveness::Gone {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut fake = Fake::new(&scratch);
    fake.daemon_pid = Some(pid);
    fake.pings = Script::new([Ok(false)]);
    let failure = flows::start(&settings(&scratch), &fake).unwrap_err();
    let Failure::Start(report) = &failure else {
        panic!("{failure:?}");
    };
    assert_eq!(report.exit, Some(Exit::Status(3)));
    assert_eq!(report.pid, Some(pid));
    assert_eq!(report.to_string(), "(logs empty; exited with status 3)");
    assert!(daemon.wait().is_err(), "the flow reaped it");
}

#[test]
fn start_whose_daemon_exits_before_answering_fails_after_one_final_ping() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.pings = Script::new([Ok(false)]);
    let failure = flows::start(&settings(&scratch), &fake).unwrap_err();
    assert!(matches!(failure, Failure::Start(_)), "{failure:?}");
    let mut expected = strings(&SPAWNED);
    expected.extend(strings(&[
        "pid_file_available?",
        "run_ping_command",
        "daemon_is_running?",
        "run_ping_command",
    ]));
    assert_eq!(fake.calls(), expected);
}

#[test]
fn start_with_a_failing_start_command_reports_it_and_waits_for_nothing() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.daemon_pid = None;
    fake.spawn = Script::new([CommandOutcome::Failed {
        pid: Some(12),
        output: Some("bad config".to_owned()),
        exit: Some(Exit::Status(3)),
    }]);
    let failure = flows::start(&settings(&scratch), &fake).unwrap_err();
    let Failure::Start(report) = failure else {
        panic!("{failure:?}")
    };
    assert_eq!(report.exit, Some(Exit::Status(3)));
    assert_eq!(report.output.as_deref(), Some("bad config"));
    assert_eq!(report.pid, Some(12));
    assert_eq!(fake.calls(), strings(&SPAWNED));
}

#[test]
fn start_of_a_running_daemon_is_already_started() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.running = Script::new([true]);
    let failure = flows::start(&settings(&scratch), &fake).unwrap_err();
    assert!(matches!(failure, Failure::AlreadyStarted(ref name) if name == "fake daemon"));
    assert_eq!(fake.calls(), strings(&["daemon_is_running?"]));
}

#[test]
fn start_whose_before_start_times_out_has_nothing_to_abort() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.before_start = Script::new([Err(StepError::Timeout(FakeError("expired")))]);
    let failure = flows::start(&settings(&scratch), &fake).unwrap_err();
    assert!(matches!(failure, Failure::StartTimeout(_)), "{failure:?}");
    assert_eq!(
        fake.calls(),
        strings(&["daemon_is_running?", "before_start", "start_timed_out None"])
    );
}

#[test]
fn start_whose_before_start_raises_propagates_the_error() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.before_start = Script::new([Err(StepError::Other(FakeError("boom")))]);
    let failure = flows::start(&settings(&scratch), &fake).unwrap_err();
    assert!(
        matches!(failure, Failure::Seam(FakeError("boom"))),
        "{failure:?}"
    );
    assert_eq!(
        fake.calls(),
        strings(&["daemon_is_running?", "before_start"])
    );
}

#[test]
fn start_command_still_running_at_the_deadline_is_terminated() {
    let scratch = Scratch::new();
    let command = Sleeper::spawn();
    let mut fake = Fake::new(&scratch);
    fake.daemon_pid = None;
    fake.on_term = OnSignal::Delivered;
    fake.spawn = Script::new([CommandOutcome::TimedOut {
        pid: command.pid(),
        output: None,
    }]);
    let failure = flows::start(&settings(&scratch), &fake).unwrap_err();
    let Failure::StartTimeout(report) = &failure else {
        panic!("{failure:?}");
    };
    let details = waited(report);
    assert_eq!(details.what, "the start command to exit");
    assert_eq!(details.signals_sent, ["SIGTERM"]);
    let pid = command.pid();
    let mut expected = strings(&SPAWNED);
    expected.extend([
        format!("daemonization_timed_out {pid}"),
        format!("kill SIGTERM {pid}"),
    ]);
    assert_eq!(fake.calls(), expected);
}

// ---- stop ------------------------------------------------------------------

#[test]
fn stop_sends_term_then_kill_to_a_daemon_that_outlives_the_timeout() {
    let scratch = Scratch::new();
    let daemon = Sleeper::spawn();
    let pid = daemon.pid();
    std::fs::write(scratch.0.join("daemon.pid"), format!("{pid}\n")).unwrap();
    let mut fake = Fake::new(&scratch);
    fake.running = Script::new([true]);
    fake.on_term = OnSignal::Ignored;
    fake.on_kill = OnSignal::Delivered;
    let mut settings = settings(&scratch);
    settings.stop_timeout = Some(Duration::from_millis(50));
    let failure = flows::stop(&settings, &fake).unwrap_err();
    assert!(matches!(failure, Failure::StopTimeout(ref name) if name == "fake daemon"));

    let calls = fake.calls();
    assert_eq!(calls.first(), Some(&format!("kill SIGTERM {pid}")));
    let killed = calls
        .iter()
        .position(|call| *call == format!("kill SIGKILL {pid}"))
        .expect("no SIGKILL");
    assert!(calls[1..killed]
        .iter()
        .all(|call| call == "daemon_is_running?"));
    assert!(killed > 1, "SIGKILL before any check: {calls:?}");
    // Then checks until the killed process is gone (it may take a moment).
    let after = &calls[killed + 1..];
    assert!(!after.is_empty() && after.iter().all(|call| call == "daemon_is_running?"));
    assert_eq!(fake.count(&format!("kill SIGTERM {pid}")), 1);
}

#[test]
fn stop_with_a_stop_command_runs_it_and_signals_nothing() {
    let scratch = Scratch::new();
    std::fs::write(scratch.0.join("daemon.pid"), format!("{NOBODY}\n")).unwrap();
    let fake = Fake::new(&scratch);
    let mut settings = settings(&scratch);
    settings.has_stop_command = true;
    flows::stop(&settings, &fake).unwrap();
    assert_eq!(
        fake.calls(),
        strings(&["run_stop_command", "daemon_is_running?"])
    );
}

#[test]
fn stop_with_a_failing_stop_command_is_a_stop_error() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.stop_command = Script::new([CommandOutcome::Failed {
        pid: Some(7),
        output: Some("refusing".to_owned()),
        exit: Some(Exit::Status(1)),
    }]);
    let mut settings = settings(&scratch);
    settings.has_stop_command = true;
    let failure = flows::stop(&settings, &fake).unwrap_err();
    assert!(
        matches!(failure, Failure::Stop(ref report) if report.output.as_deref() == Some("refusing"))
    );
    assert_eq!(fake.calls(), strings(&["run_stop_command"]));
}

#[test]
fn stop_with_an_invalid_pid_file_signals_nothing() {
    let scratch = Scratch::new();
    std::fs::write(scratch.0.join("daemon.pid"), "not a pid\n").unwrap();
    let fake = Fake::new(&scratch);
    flows::stop(&settings(&scratch), &fake).unwrap();
    assert_eq!(fake.calls(), strings(&["daemon_is_running?"]));

    // With dont_stop_if_pid_file_invalid, the stop command is skipped too.
    let fake = Fake::new(&scratch);
    let mut settings = settings(&scratch);
    settings.has_stop_command = true;
    settings.dont_stop_if_pid_file_invalid = true;
    flows::stop(&settings, &fake).unwrap();
    assert_eq!(fake.calls(), strings(&["daemon_is_running?"]));
}

// ---- connect ---------------------------------------------------------------

/// Runs `connect` with the block's answers in order; the start records
/// itself and the lock it runs under.
fn connect(
    fake: &Fake,
    answers: Vec<Answer<Option<&'static str>>>,
) -> Result<&'static str, Failure<FakeError>> {
    let answers = Script::new(answers);
    let attempt = || {
        fake.record("block");
        answers.next()
    };
    let start = || {
        fake.record(format!("start under {:?}", fake.held.get()));
        Ok(())
    };
    flows::connect(fake, attempt, start)
}

#[test]
fn connect_returns_what_the_block_gives_at_once() {
    let scratch = Scratch::new();
    let fake = Fake::new(&scratch);
    assert_eq!(connect(&fake, vec![Ok(Some("socket"))]), Ok("socket"));
    assert_eq!(
        fake.calls(),
        strings(&["lock Shared", "block", "unlock Shared"])
    );
}

#[test]
fn connect_starts_the_daemon_under_the_held_lock_after_an_allowed_exception() {
    let scratch = Scratch::new();
    let fake = Fake::new(&scratch);
    let refused = Err(StepError::NotAnswering(FakeError("refused")));
    assert_eq!(
        connect(&fake, vec![refused, Ok(Some("socket"))]),
        Ok("socket")
    );
    assert_eq!(
        fake.calls(),
        strings(&[
            "lock Shared",
            "block",
            "unlock Shared",
            "lock Exclusive",
            "daemon_is_running?",
            "start under Some(Exclusive)",
            "block",
            "unlock Exclusive",
        ])
    );
}

#[test]
fn connect_does_not_start_a_running_daemon() {
    let scratch = Scratch::new();
    let mut fake = Fake::new(&scratch);
    fake.running = Script::new([true]);
    assert_eq!(
        connect(&fake, vec![Ok(None), Ok(Some("socket"))]),
        Ok("socket")
    );
    assert_eq!(fake.count("start under Some(Exclusive)"), 0);
    assert_eq!(fake.count("block"), 2);
}

#[test]
fn connect_propagates_other_exceptions_at_once() {
    let scratch = Scratch::new();
    let fake = Fake::new(&scratch);
    let other = Err(StepError::Other(FakeError("bug")));
    assert_eq!(
        connect(&fake, vec![other]),
        Err(Failure::Seam(FakeError("bug")))
    );
    assert_eq!(
        fake.calls(),
        strings(&["lock Shared", "block", "unlock Shared"])
    );
}

#[test]
fn connect_fails_when_the_second_attempt_gives_nothing_either() {
    let scratch = Scratch::new();
    let fake = Fake::new(&scratch);
    assert_eq!(
        connect(&fake, vec![Ok(None), Ok(None)]),
        Err(Failure::Connect(None))
    );
    let fake = Fake::new(&scratch);
    let refused = Err(StepError::NotAnswering(FakeError("refused")));
    assert_eq!(
        connect(&fake, vec![Ok(None), refused]),
        Err(Failure::Connect(Some(FakeError("refused"))))
    );
    assert_eq!(fake.count("start under Some(Exclusive)"), 1);
}
