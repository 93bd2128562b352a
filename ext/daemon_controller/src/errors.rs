//! The exception hierarchy and the translation of engine errors into Ruby
//! exceptions.

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};

use daemon_controller_engine::controller::Failure;
use daemon_controller_engine::messages::{signal_name, Exit, Report};
use magnus::exception::ExceptionClass;
use magnus::prelude::*;
use magnus::value::Lazy;
use magnus::{Error, Exception, RClass, RModule, RObject, Ruby};

pub static DAEMON_CONTROLLER: Lazy<RClass> =
    Lazy::new(|ruby| ruby.class_object().const_get("DaemonController").unwrap());

crate::ruby_defined! {
    ExceptionClass;
    ERROR = "Error",
    ALREADY_STARTED = "AlreadyStarted",
    START_ERROR = "StartError",
    START_TIMEOUT = "StartTimeout",
    STOP_ERROR = "StopError",
    STOP_TIMEOUT = "StopTimeout",
    CONNECT_ERROR = "ConnectError",
}

pub static TIMEOUT_ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| {
    ruby.require("timeout").unwrap();
    ruby.class_object()
        .const_get::<_, RModule>("Timeout")
        .unwrap()
        .const_get("Error")
        .unwrap()
});

/// The matching `Errno::*` exception, with the path in its message.
pub fn io_error(ruby: &Ruby, error: io::Error, path: Option<&std::path::Path>) -> Error {
    let Some(errno) = error.raw_os_error() else {
        return Error::new(ruby.get_inner(&ERROR), error.to_string());
    };
    let message = path.map(|path| path.display().to_string());
    match ruby
        .exception_system_call_error()
        .new_instance((message, errno))
    {
        Ok(exception) => exception.into(),
        Err(e) => e,
    }
}

/// The exception for a failed flow. StartError, StartTimeout and StopError
/// also carry the parts of their message as attributes.
pub fn failure(ruby: &Ruby, failure: Failure<Error>) -> Error {
    let message = failure.to_string();
    let (class, report) = match failure {
        Failure::Seam(error) => return error,
        Failure::Connect(cause) => return connect_error(ruby, cause),
        Failure::AlreadyStarted(_) => (&ALREADY_STARTED, None),
        Failure::Start(report) => (&START_ERROR, Some(report)),
        Failure::StartTimeout(report) => (&START_TIMEOUT, Some(report)),
        Failure::Stop(report) => (&STOP_ERROR, Some(report)),
        Failure::StopTimeout(_) => (&STOP_TIMEOUT, None),
    };
    let exception = match ruby.get_inner(class).new_instance((message,)) {
        Ok(exception) => exception,
        Err(e) => return e,
    };
    if let Some(report) = report {
        if let Err(e) = set_report(&exception, report) {
            return e;
        }
    }
    exception.into()
}

/// "Cannot connect to the daemon", with ": <message> (<class>)" of the
/// exception the block raised, if any.
fn connect_error(ruby: &Ruby, cause: Option<Error>) -> Error {
    let mut message = "Cannot connect to the daemon".to_owned();
    if let Some(exception) = cause.and_then(|cause| cause.value()) {
        let text = match exception.funcall::<_, _, String>("to_s", ()) {
            Ok(text) => text,
            Err(e) => return e,
        };
        message = format!("{message}: {text} ({})", unsafe { exception.classname() });
    }
    Error::new(ruby.get_inner(&CONNECT_ERROR), message)
}

fn set_report(exception: &Exception, report: Report) -> Result<(), Error> {
    // Exceptions are plain objects (T_OBJECT) on every Ruby.
    let Some(exception) = RObject::from_value(exception.as_value()) else {
        return Ok(());
    };
    let (exit_status, signal) = match report.exit {
        Some(Exit::Status(code)) => (Some(code), None),
        Some(Exit::Signal(number)) => (None, Some(number)),
        None => (None, None),
    };
    exception.ivar_set("@output", report.output)?;
    exception.ivar_set("@logs", report.logs)?;
    exception.ivar_set("@exit_status", exit_status)?;
    exception.ivar_set(
        "@signal",
        signal.map(|number| match signal_name(number) {
            Some(name) => format!("SIG{name}"),
            None => number.to_string(),
        }),
    )?;
    exception.ivar_set("@pid", report.pid)?;
    let Some(waited) = report.details.and_then(|details| details.waited) else {
        return Ok(());
    };
    exception.ivar_set("@waited_for", waited.what)?;
    exception.ivar_set("@waited", waited.how_long.as_secs_f64())?;
    exception.ivar_set("@last_ping_result", waited.last_ping)?;
    exception.ivar_set("@signals_sent", waited.signals_sent)
}

/// Runs a step that opens files. When descriptors run out, it collects
/// garbage first (controllers and lock files dropped but not yet collected
/// keep a descriptor each) and runs the step once more, as Ruby's own
/// `File.open` does.
pub fn opening_files<T>(ruby: &Ruby, mut step: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match step() {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(nix::libc::EMFILE | nix::libc::ENFILE)
            ) =>
        {
            ruby.gc_start();
            step()
        }
        result => result,
    }
}

/// Runs a method body, turning a Rust panic into a Ruby exception
/// (`DaemonController::Error`) instead of the `fatal` that would end the
/// process.
pub fn rescue_panics<T>(ruby: &Ruby, body: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    panic::catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(panic_error(ruby, payload)))
}

fn panic_error(ruby: &Ruby, payload: Box<dyn Any + Send>) -> Error {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::new(
        ruby.get_inner(&ERROR),
        format!("internal error in daemon_controller: {detail}"),
    )
}
