//! `DaemonController`: a thin handle around the engine's flows. The seams of
//! the flows are reached by Ruby method dispatch on the controller, and each
//! seam's native implementation is a private method here.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use daemon_controller_engine::controller::{
    self as flows, CommandOutcome, Failure, Host, StepError, StubPoints,
};
use daemon_controller_engine::http;
use daemon_controller_engine::lock_file::{LockGuard, LockKind};
use daemon_controller_engine::log_file::is_own_std_channel;
use daemon_controller_engine::messages::{self, Exit, Report};
use daemon_controller_engine::notify::NotifySocket;
use daemon_controller_engine::pid_file::Found;
use daemon_controller_engine::ping::{self, PackedAddress};
use daemon_controller_engine::spawn::{self, CommandSpec, Output, SpawnError, Spawned};
use magnus::gc::Marker;
use magnus::prelude::*;
use magnus::typed_data::{DataTypeFunctions, Obj};
use magnus::value::{Lazy, Opaque};
use magnus::{
    method, Error, ExceptionClass, Integer, RArray, RClass, RModule, RString, Ruby, Value,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::errors::{self, rescue_panics, DAEMON_CONTROLLER, TIMEOUT_ERROR};
use crate::lock_file::acquire;
use crate::nogvl;
use crate::options::{self, Config, PingCommand, StartCommand};
use crate::results::{self, ERROR_RESULT, OK_RESULT, TIMEOUT_RESULT};

static ESRCH: Lazy<ExceptionClass> = Lazy::new(|ruby| {
    ruby.class_object()
        .const_get::<_, RModule>("Errno")
        .unwrap()
        .const_get("ESRCH")
        .unwrap()
});

/// How long an HTTP ping may take to get a status line. Short, because an
/// interrupt (Ctrl-C, Thread#raise) waits for the ping to end.
const HTTP_PING_TIMEOUT: Duration = Duration::from_secs(1);

static PROCESS: Lazy<RModule> = Lazy::new(|ruby| ruby.class_object().const_get("Process").unwrap());

#[derive(Default, magnus::TypedData)]
#[magnus(class = "DaemonController", mark, free_immediately)]
pub struct RbController {
    config: OnceLock<Config>,
    operation: Mutex<Operation>,
}

/// The state of the start or stop in progress, which the native stub points
/// read. Set and cleared as a whole by an [`OperationScope`].
#[derive(Default)]
struct Operation {
    /// The deadline that stub points running callbacks and commands
    /// respect; the flow sets it once it has computed it.
    deadline: Option<Instant>,
    /// Set while `spawn_daemon` runs the start command, which
    /// `make_pid_file` and `[:notify]` treat apart from stop and restart
    /// commands.
    spawning_daemon: bool,
    /// With `ping_command: [:notify]`, the socket of the start in progress.
    notify: Option<NotifySocket>,
    /// What the last failed ping answered, for the report of a timeout.
    last_ping: Option<String>,
}

/// Makes a fresh [`Operation`] the controller's for as long as it lives, and
/// puts back the one it replaced (none, unless a hook started a flow within
/// a flow) when dropped.
struct OperationScope<'a> {
    controller: &'a RbController,
    replaced: Option<Operation>,
}

impl OperationScope<'_> {
    /// Ends the operation, handing back its notification socket.
    fn finish(self) -> Option<NotifySocket> {
        self.controller.operation().notify.take()
    }
}

impl Drop for OperationScope<'_> {
    fn drop(&mut self) {
        *self.controller.operation() = self.replaced.take().unwrap_or_default();
    }
}

impl DataTypeFunctions for RbController {
    fn mark(&self, marker: &Marker) {
        if let Some(config) = self.config.get() {
            config.mark(marker);
        }
    }
}

type Controller = Obj<RbController>;

impl RbController {
    fn operation(&self) -> MutexGuard<'_, Operation> {
        self.operation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts an operation (a start or a stop), with the notification
    /// socket of a start that has one.
    fn begin(&self, notify: Option<NotifySocket>) -> OperationScope<'_> {
        let fresh = Operation {
            notify,
            ..Operation::default()
        };
        let replaced = std::mem::replace(&mut *self.operation(), fresh);
        OperationScope {
            controller: self,
            replaced: Some(replaced),
        }
    }

    fn config(&self, ruby: &Ruby) -> Result<&Config, Error> {
        self.config.get().ok_or_else(|| {
            Error::new(
                ruby.exception_runtime_error(),
                "DaemonController not initialized",
            )
        })
    }

    fn deadline(&self) -> Option<Instant> {
        self.operation().deadline
    }

    fn debug(&self, ruby: &Ruby, message: impl FnOnce() -> String) {
        if let Some(logger) = self.config.get().and_then(|config| config.logger) {
            let _: Result<Value, Error> = ruby.get_inner(logger).funcall("debug", (message(),));
        }
    }

    fn lock(&self, ruby: &Ruby, kind: LockKind) -> Result<LockGuard, Error> {
        acquire(ruby, &self.config(ruby)?.lock_file, kind)
    }

    /// Calls a Ruby callable; while a deadline is set, under
    /// `Timeout.timeout` for the time left, as the original gem does.
    fn call_before_deadline(&self, ruby: &Ruby, callable: Opaque<Value>) -> Result<Value, Error> {
        let Some(deadline) = self.deadline() else {
            return ruby.get_inner(callable).funcall("call", ());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout_error = ruby.get_inner(&TIMEOUT_ERROR);
        if left.is_zero() {
            return Err(Error::new(timeout_error, "execution expired"));
        }
        let block = ruby.proc_from_fn(move |ruby, _args, _block| {
            ruby.get_inner(callable).funcall::<_, _, Value>("call", ())
        });
        let timeout: RModule = ruby.class_object().const_get("Timeout")?;
        timeout.funcall_with_block("timeout", (left.as_secs_f64(),), block)
    }

    /// Waits for a command we spawned to exit, up to `deadline`. If the wait
    /// is interrupted (Ctrl-C, Thread#raise), the command is terminated and
    /// handed to `Process.detach`, so no zombie is left behind.
    fn wait_for(
        &self,
        ruby: &Ruby,
        spawned: &Spawned,
        deadline: Option<Instant>,
    ) -> Result<bool, Error> {
        match nogvl::blocking(ruby, || spawned.wait_exit(deadline)) {
            Ok(exited) => exited.map_err(|e| errors::io_error(ruby, e, None)),
            Err(interrupt) => {
                let _ = kill(Pid::from_raw(spawned.pid()), Signal::SIGTERM);
                let _: Result<Value, Error> =
                    ruby.get_inner(&PROCESS).funcall("detach", (spawned.pid(),));
                Err(interrupt)
            }
        }
    }

    fn keep_fds(&self, ruby: &Ruby) -> Result<Vec<RawFd>, Error> {
        let config = self.config(ruby)?;
        config
            .keep_ios
            .iter()
            .map(|io| ruby.get_inner(*io).funcall("fileno", ()))
            .collect()
    }
}

/// The engine's view of a controller: stub points dispatched as Ruby
/// methods, host services done natively.
struct RubySeams<'a> {
    ruby: &'a Ruby,
    controller: Controller,
    config: &'a Config,
}

/// What a Ruby exception means to the flows.
fn classify(ruby: &Ruby, error: Error) -> StepError<Error> {
    if error.is_kind_of(ruby.get_inner(&TIMEOUT_ERROR)) {
        StepError::Timeout(error)
    } else if error.is_kind_of(ruby.get_inner(&ESRCH)) {
        StepError::NoSuchProcess(error)
    } else if error.is_kind_of(ruby.exception_system_call_error()) {
        StepError::SystemCall(error)
    } else {
        StepError::Other(error)
    }
}

impl RubySeams<'_> {
    fn call<A: magnus::ArgList>(&self, seam: &str, args: A) -> Result<Value, StepError<Error>> {
        self.controller
            .funcall(seam, args)
            .map_err(|e| classify(self.ruby, e))
    }

    fn command_outcome(&self, result: Value) -> Result<CommandOutcome, StepError<Error>> {
        results::outcome(self.ruby, result).map_err(|e| classify(self.ruby, e))
    }
}

impl Host for RubySeams<'_> {
    type Error = Error;
    type Lock = LockGuard;

    fn lock(&self, kind: LockKind) -> Result<LockGuard, Error> {
        self.controller.lock(self.ruby, kind)
    }

    fn io_error(&self, error: std::io::Error) -> Error {
        errors::io_error(self.ruby, error, Some(self.config.settings.pid_file.path()))
    }

    fn set_deadline(&self, deadline: Option<Instant>) {
        self.controller.operation().deadline = deadline;
    }

    fn debug(&self, message: impl FnOnce() -> String) {
        self.controller.debug(self.ruby, message);
    }

    fn blocking<T>(&self, step: impl FnMut() -> std::io::Result<T>) -> Result<T, StepError<Error>> {
        nogvl::blocking(self.ruby, step)
            .and_then(|done| done.map_err(|e| errors::io_error(self.ruby, e, None)))
            .map_err(|e| classify(self.ruby, e))
    }

    fn readiness_fd(&self) -> Option<OwnedFd> {
        let operation = self.controller.operation();
        operation.notify.as_ref()?.as_fd().try_clone_to_owned().ok()
    }

    fn last_ping_result(&self) -> Option<String> {
        self.controller.operation().last_ping.clone()
    }
}

impl StubPoints for RubySeams<'_> {
    fn daemon_is_running(&self) -> Result<bool, StepError<Error>> {
        Ok(self.call("daemon_is_running?", ())?.to_bool())
    }

    fn before_start(&self) -> Result<(), StepError<Error>> {
        self.call("before_start", ()).map(drop)
    }

    fn spawn_daemon(&self) -> Result<CommandOutcome, StepError<Error>> {
        self.command_outcome(self.call("spawn_daemon", ())?)
    }

    fn daemon_spawned(&self) -> Result<(), StepError<Error>> {
        self.call("daemon_spawned", ()).map(drop)
    }

    fn pid_file_available(&self) -> Result<bool, StepError<Error>> {
        Ok(self.call("pid_file_available?", ())?.to_bool())
    }

    fn run_ping_command(&self) -> Result<bool, StepError<Error>> {
        Ok(self.call("run_ping_command", ())?.to_bool())
    }

    fn start_timed_out(&self, pid: Option<i32>) -> Result<(), StepError<Error>> {
        self.call("start_timed_out", (pid,)).map(drop)
    }

    fn daemonization_timed_out(&self, pid: i32) -> Result<(), StepError<Error>> {
        self.call("daemonization_timed_out", (pid,)).map(drop)
    }

    fn run_stop_command(&self) -> Result<CommandOutcome, StepError<Error>> {
        let command = self.config.stop_command.clone().unwrap_or_default();
        let command = options::ruby_string(self.ruby, &command);
        self.command_outcome(self.call("run_command", (command,))?)
    }

    fn kill(&self, signal: &str, pid: i32) -> Result<(), StepError<Error>> {
        self.ruby
            .get_inner(&PROCESS)
            .funcall::<_, _, Value>("kill", (signal, pid))
            .map(drop)
            .map_err(|e| classify(self.ruby, e))
    }
}

fn seams<'a>(ruby: &'a Ruby, controller: Controller, config: &'a Config) -> RubySeams<'a> {
    RubySeams {
        ruby,
        controller,
        config,
    }
}

// Public methods.

fn initialize(ruby: &Ruby, controller: Controller, args: &[Value]) -> Result<(), Error> {
    rescue_panics(ruby, || {
        let config = options::parse(ruby, args)?;
        controller.config.set(config).map_err(|_| {
            Error::new(
                ruby.exception_runtime_error(),
                "DaemonController already initialized",
            )
        })?;
        let given = args
            .first()
            .copied()
            .unwrap_or_else(|| ruby.hash_new().as_value());
        controller.funcall::<_, _, Value>("record_options", (given,))?;
        Ok(())
    })
}

fn start(ruby: &Ruby, controller: Controller) -> Result<bool, Error> {
    rescue_panics(ruby, || {
        let config = controller.config(ruby)?;
        let _lock = controller.lock(ruby, LockKind::Exclusive)?;
        start_daemon(ruby, controller, config)?;
        Ok(true)
    })
}

/// The start flow, with the caller holding the exclusive lock. With
/// `[:notify]` a fresh notification socket lives as long as the start, and
/// what the daemon said of itself joins the error report.
fn start_daemon(ruby: &Ruby, controller: Controller, config: &Config) -> Result<(), Error> {
    let notify = match config.ping_command {
        PingCommand::Notify => {
            Some(NotifySocket::bind().map_err(|e| errors::io_error(ruby, e, None))?)
        }
        _ => None,
    };
    let operation = controller.begin(notify);
    let result = flows::start(&config.settings, &seams(ruby, controller, config));
    let socket = operation.finish();
    result.map_err(|mut failure| {
        if let (Failure::Start(report) | Failure::StartTimeout(report), Some(socket)) =
            (&mut failure, socket)
        {
            report.statuses = socket.statuses().to_vec();
            if let Some(errno) = socket.errno() {
                let reason = nix::errno::Errno::from_raw(errno).desc();
                report.statuses.push(format!("errno {errno}, {reason}"));
            }
        }
        errors::failure(ruby, failure)
    })
}

fn stop(ruby: &Ruby, controller: Controller) -> Result<(), Error> {
    rescue_panics(ruby, || {
        let config = controller.config(ruby)?;
        let _lock = controller.lock(ruby, LockKind::Exclusive)?;
        let _operation = controller.begin(None);
        flows::stop(&config.settings, &seams(ruby, controller, config))
            .map_err(|f| errors::failure(ruby, f))
    })
}

fn restart(ruby: &Ruby, controller: Controller) -> Result<Value, Error> {
    rescue_panics(ruby, || {
        let config = controller.config(ruby)?;
        let Some(command) = &config.restart_command else {
            let _: Value = controller.funcall("stop", ())?;
            return controller.funcall("start", ());
        };
        let result: Value =
            controller.funcall("run_command", (options::ruby_string(ruby, command),))?;
        let report = match results::outcome(ruby, result)? {
            CommandOutcome::Succeeded { .. } => return Ok(result),
            CommandOutcome::Failed { output, exit, pid } => Report {
                output,
                exit,
                pid,
                ..Default::default()
            },
            CommandOutcome::TimedOut { output, pid } => Report {
                output,
                timed_out: true,
                pid: Some(pid),
                ..Default::default()
            },
        };
        Err(errors::failure(ruby, Failure::Start(report)))
    })
}

/// Whether `error` is one of `ALLOWED_CONNECT_EXCEPTIONS`, read afresh.
fn is_allowed_connect_exception(ruby: &Ruby, error: &Error) -> Result<bool, Error> {
    let allowed: RArray = ruby
        .get_inner(&DAEMON_CONTROLLER)
        .const_get("ALLOWED_CONNECT_EXCEPTIONS")?;
    for class in allowed.into_iter() {
        if let Some(class) = RModule::from_value(class) {
            if error.is_kind_of(class) {
                return Ok(true);
            }
        } else if let Some(class) = RClass::from_value(class) {
            if error.is_kind_of(class) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn connect(ruby: &Ruby, controller: Controller) -> Result<Value, Error> {
    rescue_panics(ruby, || {
        let block = ruby.block_proc()?;
        let config = controller.config(ruby)?;
        let attempt = || match block.call::<_, Value>(()) {
            Ok(value) if value.is_nil() => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(e) => match is_allowed_connect_exception(ruby, &e) {
                Ok(true) => Err(StepError::NotAnswering(e)),
                Ok(false) => Err(StepError::Other(e)),
                Err(lookup) => Err(StepError::Other(lookup)),
            },
        };
        let start = || start_daemon(ruby, controller, config).map_err(Failure::Seam);
        flows::connect(&seams(ruby, controller, config), attempt, start)
            .map_err(|f| errors::failure(ruby, f))
    })
}

fn pid(ruby: &Ruby, controller: Controller) -> Result<Option<Integer>, Error> {
    rescue_panics(ruby, || {
        let config = controller.config(ruby)?;
        let _lock = controller.lock(ruby, LockKind::Shared)?;
        let pid_file = &config.settings.pid_file;
        let digits = errors::opening_files(ruby, || pid_file.digits())
            .map_err(|e| errors::io_error(ruby, e, Some(pid_file.path())))?;
        let Some(digits) = digits else {
            return Ok(None);
        };
        match digits.parse::<u64>() {
            Ok(number) => Ok(Some(ruby.integer_from_u64(number))),
            Err(_) => ruby.str_new(&digits).funcall("to_i", ()).map(Some),
        }
    })
}

fn is_running(ruby: &Ruby, controller: Controller) -> Result<Value, Error> {
    rescue_panics(ruby, || {
        let _lock = controller.lock(ruby, LockKind::Shared)?;
        controller.funcall("daemon_is_running?", ())
    })
}

// Seams: private methods doing the real work unless a caller replaces them.

/// As the original gem answers: nil when the PID file is missing or holds
/// no digits, else whether the PID it names runs.
fn daemon_is_running(ruby: &Ruby, controller: Controller) -> Result<Option<bool>, Error> {
    rescue_panics(ruby, || {
        let pid_file = &controller.config(ruby)?.settings.pid_file;
        let failed = |e| errors::io_error(ruby, e, Some(pid_file.path()));
        if errors::opening_files(ruby, || pid_file.digits())
            .map_err(failed)?
            .is_none()
        {
            return Ok(None);
        }
        let found = errors::opening_files(ruby, || pid_file.running_pid()).map_err(failed)?;
        if let Found::Refused(refusal) = &found {
            controller.debug(ruby, || refusal.to_string());
        }
        Ok(Some(matches!(found, Found::Running(_))))
    })
}

fn pid_file_available(ruby: &Ruby, controller: Controller) -> Result<bool, Error> {
    rescue_panics(ruby, || {
        Ok(controller.config(ruby)?.settings.pid_file.is_available())
    })
}

fn before_start(ruby: &Ruby, controller: Controller) -> Result<Value, Error> {
    rescue_panics(ruby, || match controller.config(ruby)?.before_start {
        Some(callable) => controller.call_before_deadline(ruby, callable),
        None => Ok(ruby.qnil().as_value()),
    })
}

fn spawn_daemon(ruby: &Ruby, controller: Controller) -> Result<Value, Error> {
    rescue_panics(ruby, || {
        let command = match &controller.config(ruby)?.start_command {
            StartCommand::Text(text) => options::ruby_string(ruby, text).as_value(),
            StartCommand::Callable(callable) => controller.call_before_deadline(ruby, *callable)?,
        };
        controller.operation().spawning_daemon = true;
        let result = controller.funcall("run_command", (command,));
        controller.operation().spawning_daemon = false;
        result
    })
}

fn run_command(ruby: &Ruby, controller: Controller, command: Value) -> Result<Value, Error> {
    rescue_panics(ruby, || {
        let config = controller.config(ruby)?;
        let command = RString::from_value(command)
            .map(options::bytes_of)
            .ok_or_else(|| Error::new(ruby.exception_type_error(), "command must be a String"))?;
        let keep_fds = controller.keep_fds(ruby)?;
        let log_file = &config.settings.log_file;
        // A program we make the PID file for runs in the foreground and
        // writes no log of its own: its output is its log.
        let spawning_daemon = controller.operation().spawning_daemon;
        let makes_pid_file = config.settings.make_pid_file && spawning_daemon;
        let output = if is_own_std_channel(log_file) {
            Output::Inherit
        } else if makes_pid_file {
            Output::Append(log_file)
        } else {
            Output::Capture
        };
        let mut env = Cow::Borrowed(config.env.as_slice());
        if spawning_daemon {
            if let Some(socket) = controller.operation().notify.as_ref() {
                let path = socket.path().as_os_str().to_owned();
                env.to_mut().push(("NOTIFY_SOCKET".to_owned(), Some(path)));
            }
        }
        let spec = CommandSpec {
            command: &command,
            env: &env,
            keep_fds: &keep_fds,
            output,
            daemonize: config.daemonize_for_me,
            exec_in_shell: makes_pid_file,
            chdir: config.chdir.as_deref(),
        };
        let shown = command.to_string_lossy();
        controller.debug(ruby, || format!("Running command: {shown}"));
        let start_error =
            |message: String| Error::new(ruby.get_inner(&errors::START_ERROR), message);
        let cannot_run =
            |reason: String| start_error(format!("Cannot run command '{shown}': {reason}"));
        if let Some(dir) = &config.chdir {
            let problem = match std::fs::metadata(dir) {
                Ok(metadata) if metadata.is_dir() => None,
                Ok(_) => Some("Not a directory".to_owned()),
                Err(e) => Some(messages::describe(&e)),
            };
            if let Some(problem) = problem {
                let dir = dir.display();
                return Err(cannot_run(format!(
                    "cannot change to directory {dir}: {problem}"
                )));
            }
        }
        let spawned = spawn::spawn(&spec).map_err(|e| match e {
            SpawnError::Program(_) => cannot_run(e.to_string()),
            SpawnError::Setup { .. } => start_error(e.to_string()),
        })?;
        let pid = spawned.pid();
        // The PID a result reports: the program's own where the PID file
        // is ours to write.
        let reported_pid = match makes_pid_file {
            true => spawned.daemon_pid().unwrap_or(pid),
            false => pid,
        };
        let exited = controller.wait_for(ruby, &spawned, controller.deadline())?;
        let output = spawned.output();
        if !exited {
            controller.debug(ruby, || {
                format!("Command still running at the deadline, PID {pid}")
            });
            return ruby.get_inner(&TIMEOUT_RESULT).new_instance((pid, output));
        }
        let status = match ruby
            .get_inner(&PROCESS)
            .funcall::<_, _, RArray>("wait2", (pid,))
        {
            Ok(pair) => pair.entry::<Value>(1)?,
            // Someone else (a Process.wait(-1) elsewhere) reaped it first.
            Err(e) if e.is_kind_of(ruby.exception_system_call_error()) => {
                return ruby
                    .get_inner(&OK_RESULT)
                    .new_instance((reported_pid, output));
            }
            Err(e) => return Err(e),
        };
        controller.debug(ruby, || format!("Command exited, PID {pid}"));
        let succeeded: Value = status.funcall("success?", ())?;
        if succeeded.to_bool() {
            ruby.get_inner(&OK_RESULT)
                .new_instance((reported_pid, output))
        } else {
            ruby.get_inner(&ERROR_RESULT)
                .new_instance((pid, output, status))
        }
    })
}

fn run_ping_command(ruby: &Ruby, controller: Controller) -> Result<Value, Error> {
    rescue_panics(ruby, || {
        let config = controller.config(ruby)?;
        let answer = match &config.ping_command {
            PingCommand::Callable(callable) => return ping_callable(ruby, controller, *callable),
            PingCommand::Command(command) => ping_command(ruby, controller, command)?,
            PingCommand::Tcp { host, port } => {
                let address =
                    PackedAddress::tcp(host, *port).map_err(|e| errors::io_error(ruby, e, None))?;
                up_or(ping_address(ruby, &address)?, "no connection")
            }
            PingCommand::Unix(path) => {
                let address =
                    PackedAddress::unix(path).map_err(|e| errors::io_error(ruby, e, None))?;
                up_or(ping_address(ruby, &address)?, "no connection")
            }
            PingCommand::Http(target) => {
                let up = nogvl::blocking(ruby, || http::is_up(target, HTTP_PING_TIMEOUT))?
                    .map_err(|e| errors::io_error(ruby, e, None))?;
                up_or(up, "no 2xx or 3xx answer")
            }
            // Outside a start there is no socket, and so no readiness. The
            // lock is released before an error becomes a Ruby exception.
            PingCommand::Notify => {
                let ready = match controller.operation().notify.as_mut() {
                    Some(socket) => socket.receive().map(|()| socket.is_ready()),
                    None => Ok(false),
                };
                up_or(
                    ready.map_err(|e| errors::io_error(ruby, e, None))?,
                    "no READY=1 yet",
                )
            }
        };
        Ok(ruby.into_value(record_ping(controller, answer)))
    })
}

/// A ping's answer: up, or down for the reason given.
type PingAnswer = Result<(), String>;

fn up_or(up: bool, reason: &str) -> PingAnswer {
    if up {
        Ok(())
    } else {
        Err(reason.to_owned())
    }
}

/// Keeps the reason of a failed ping for the report of a timeout; whether
/// the ping succeeded.
fn record_ping(controller: Controller, answer: PingAnswer) -> bool {
    let up = answer.is_ok();
    controller.operation().last_ping = answer.err();
    up
}

/// A callable's value is the answer; an allowed connect exception means
/// down; a result that can be closed is closed.
fn ping_callable(
    ruby: &Ruby,
    controller: Controller,
    callable: Opaque<Value>,
) -> Result<Value, Error> {
    let value = match controller.call_before_deadline(ruby, callable) {
        Ok(value) => value,
        Err(e) if is_allowed_connect_exception(ruby, &e)? => {
            let raised = e.value().map_or_else(String::new, |exception| {
                let text: String = exception.funcall("to_s", ()).unwrap_or_default();
                format!("raised {}: {text}", unsafe { exception.classname() })
            });
            record_ping(controller, Err(raised));
            return Ok(ruby.qfalse().as_value());
        }
        Err(e) => return Err(e),
    };
    let answer = match value.to_bool() {
        true => Ok(()),
        false => Err(format!("returned {}", value.inspect())),
    };
    record_ping(controller, answer);
    if value.respond_to("close", false)? {
        let _: Result<Value, Error> = value.funcall("close", ());
    }
    Ok(value)
}

/// A command ping runs like `system`: up when it exits 0.
fn ping_command(ruby: &Ruby, controller: Controller, command: &OsStr) -> Result<PingAnswer, Error> {
    let spec = CommandSpec {
        command,
        env: &[],
        keep_fds: &[],
        output: Output::System,
        daemonize: false,
        exec_in_shell: false,
        chdir: controller.config(ruby)?.chdir.as_deref(),
    };
    let spawned = match spawn::spawn(&spec) {
        Ok(spawned) => spawned,
        Err(e) => return Ok(Err(format!("cannot run: {e}"))),
    };
    let exited = controller.wait_for(ruby, &spawned, controller.deadline())?;
    if !exited {
        let _ = kill(Pid::from_raw(spawned.pid()), Signal::SIGKILL);
    }
    let status = spawned
        .reap()
        .map_err(|e| errors::io_error(ruby, e, None))?;
    if !exited {
        return Err(Error::new(
            ruby.get_inner(&TIMEOUT_ERROR),
            "ping command timed out",
        ));
    }
    Ok(match status {
        Some(0) => Ok(()),
        Some(status) => Err(Exit::from_wait_status(status).to_string()),
        None => Err("exit status unknown".to_owned()),
    })
}

fn ping_address(ruby: &Ruby, address: &PackedAddress) -> Result<bool, Error> {
    nogvl::blocking(ruby, || ping::connects(address, ping::CONNECT_TIMEOUT))?
        .map_err(|e| errors::io_error(ruby, e, None))
}

fn ping_socket(
    ruby: &Ruby,
    _controller: Controller,
    domain: i32,
    address: RString,
) -> Result<bool, Error> {
    rescue_panics(ruby, || {
        let address = PackedAddress {
            domain,
            bytes: unsafe { address.as_slice() }.to_vec(),
        };
        ping_address(ruby, &address)
    })
}

pub fn define(ruby: &Ruby) -> Result<RClass, Error> {
    let class = ruby.define_class("DaemonController", ruby.class_object())?;
    class.define_alloc_func::<RbController>();
    class.define_method("initialize", method!(initialize, -1))?;
    class.define_method("start", method!(start, 0))?;
    class.define_method("stop", method!(stop, 0))?;
    class.define_method("restart", method!(restart, 0))?;
    class.define_method("connect", method!(connect, 0))?;
    class.define_method("pid", method!(pid, 0))?;
    class.define_method("running?", method!(is_running, 0))?;
    class.define_private_method("daemon_is_running?", method!(daemon_is_running, 0))?;
    class.define_private_method("pid_file_available?", method!(pid_file_available, 0))?;
    class.define_private_method("before_start", method!(before_start, 0))?;
    class.define_private_method("spawn_daemon", method!(spawn_daemon, 0))?;
    class.define_private_method("run_command", method!(run_command, 1))?;
    class.define_private_method("run_ping_command", method!(run_ping_command, 0))?;
    class.define_private_method("ping_socket", method!(ping_socket, 2))?;
    Ok(class)
}
