//! The exception hierarchy and the translation of engine errors into Ruby
//! exceptions.

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};

use daemon_controller_engine::controller::Failure;
use magnus::exception::ExceptionClass;
use magnus::prelude::*;
use magnus::value::Lazy;
use magnus::{Error, RClass, RModule, Ruby};

pub static DAEMON_CONTROLLER: Lazy<RClass> =
    Lazy::new(|ruby| ruby.class_object().const_get("DaemonController").unwrap());

macro_rules! exception_class {
    ($static:ident, $name:literal) => {
        pub static $static: Lazy<ExceptionClass> =
            Lazy::new(|ruby| ruby.get_inner(&DAEMON_CONTROLLER).const_get($name).unwrap());
    };
}

exception_class!(ERROR, "Error");
exception_class!(ALREADY_STARTED, "AlreadyStarted");
exception_class!(START_ERROR, "StartError");
exception_class!(START_TIMEOUT, "StartTimeout");
exception_class!(STOP_ERROR, "StopError");
exception_class!(STOP_TIMEOUT, "StopTimeout");
exception_class!(CONNECT_ERROR, "ConnectError");

pub static TIMEOUT_ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| {
    ruby.require("timeout").unwrap();
    ruby.class_object()
        .const_get::<_, RModule>("Timeout")
        .unwrap()
        .const_get("Error")
        .unwrap()
});

/// Defines `Error`, `TimeoutError`, `AlreadyStarted`, ... under `class`.
pub fn define(ruby: &Ruby, class: RClass) -> Result<(), Error> {
    let error = class.define_error("Error", ruby.exception_standard_error())?;
    let timeout = class.define_error("TimeoutError", error)?;
    for name in ["AlreadyStarted", "StartError", "StopError", "ConnectError"] {
        class.define_error(name, error)?;
    }
    class.define_error("StartTimeout", timeout)?;
    class.define_error("StopTimeout", timeout)?;
    Ok(())
}

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

pub fn failure(ruby: &Ruby, failure: Failure<Error>) -> Error {
    let message = failure.to_string();
    let class = match failure {
        Failure::Seam(error) => return error,
        Failure::AlreadyStarted(_) => &ALREADY_STARTED,
        Failure::Start(_) => &START_ERROR,
        Failure::StartTimeout(_) => &START_TIMEOUT,
        Failure::Stop(_) => &STOP_ERROR,
        Failure::StopTimeout(_) => &STOP_TIMEOUT,
    };
    Error::new(ruby.get_inner(class), message)
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
