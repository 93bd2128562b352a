//! The result structs of `run_command` and their translation to and from
//! the engine's `CommandOutcome`.

use daemon_controller_engine::controller::CommandOutcome;
use daemon_controller_engine::messages::Exit;
use magnus::prelude::*;
use magnus::{Error, RClass, Ruby, Value};

crate::ruby_defined! {
    RClass;
    OK_RESULT = "InternalCommandOkResult",
    ERROR_RESULT = "InternalCommandErrorResult",
    TIMEOUT_RESULT = "InternalCommandTimeoutResult",
}

fn field<T: magnus::TryConvert>(result: Value, name: &str) -> Result<Option<T>, Error> {
    let value: Value = result.funcall(name, ())?;
    if value.is_nil() {
        Ok(None)
    } else {
        T::try_convert(value).map(Some)
    }
}

/// How an exit status object (a `Process::Status`, or anything answering
/// `signaled?`, `termsig` and `exitstatus`) says the command ended.
fn exit_of(status: Value) -> Result<Option<Exit>, Error> {
    if status.is_nil() {
        return Ok(None);
    }
    let signaled: Value = status.funcall("signaled?", ())?;
    if signaled.to_bool() {
        let signal: i32 = status.funcall("termsig", ())?;
        Ok(Some(Exit::Signal(signal)))
    } else {
        let code: Option<i32> = status.funcall("exitstatus", ())?;
        Ok(code.map(Exit::Status))
    }
}

/// Reads a result struct. Anything that is neither an error nor a timeout
/// result (a stub's nil, say) counts as success, as in `restart`.
pub fn outcome(ruby: &Ruby, result: Value) -> Result<CommandOutcome, Error> {
    if result.is_kind_of(ruby.get_inner(&ERROR_RESULT)) {
        Ok(CommandOutcome::Failed {
            pid: field(result, "pid")?,
            output: field(result, "output")?,
            exit: exit_of(result.funcall("exit_status", ())?)?,
        })
    } else if result.is_kind_of(ruby.get_inner(&TIMEOUT_RESULT)) {
        Ok(CommandOutcome::TimedOut {
            pid: field(result, "pid")?.unwrap_or(0),
            output: field(result, "output")?,
        })
    } else if result.is_kind_of(ruby.get_inner(&OK_RESULT)) {
        Ok(CommandOutcome::Succeeded {
            pid: field(result, "pid")?,
            output: field(result, "output")?,
        })
    } else {
        Ok(CommandOutcome::Succeeded {
            pid: None,
            output: None,
        })
    }
}
