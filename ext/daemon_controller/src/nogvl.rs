//! Running blocking system calls without the GVL, so that other Ruby threads
//! run meanwhile and Ctrl-C, `Thread#raise`, `Thread#kill` and
//! `Timeout.timeout` reach the waiting thread promptly.

use std::any::Any;
use std::ffi::c_void;
use std::io;
use std::panic::{self, AssertUnwindSafe};

use magnus::{Error, Ruby};

/// Ruby's `RUBY_UBF_IO`: the VM interrupts the blocked thread with a signal,
/// so the system call returns EINTR.
fn ubf_io() -> rb_sys::rb_unblock_function_t {
    // SAFETY: Ruby compares this sentinel ((rb_unblock_function_t *)-1) and
    // never calls it.
    Some(unsafe { std::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void)>(usize::MAX) })
}

struct Call<'a, T> {
    step: &'a mut dyn FnMut() -> io::Result<T>,
    /// Stays `None` when Ruby had an interrupt pending and skipped the call.
    outcome: Option<Result<io::Result<T>, Box<dyn Any + Send>>>,
}

unsafe extern "C" fn trampoline<T>(data: *mut c_void) -> *mut c_void {
    let call = unsafe { &mut *(data as *mut Call<'_, T>) };
    // A panic must not unwind through Ruby's C frames: keep it for later.
    call.outcome = Some(panic::catch_unwind(AssertUnwindSafe(|| (call.step)())));
    std::ptr::null_mut()
}

/// Runs one blocking step without the GVL. `Err(Interrupted)` means Ruby
/// interrupted it (or skipped it for a pending interrupt).
fn without_gvl<T>(step: &mut dyn FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut call = Call {
        step,
        outcome: None,
    };
    unsafe {
        rb_sys::rb_thread_call_without_gvl2(
            Some(trampoline::<T>),
            &mut call as *mut Call<'_, T> as *mut c_void,
            ubf_io(),
            std::ptr::null_mut(),
        );
    }
    match call.outcome {
        None => Err(io::ErrorKind::Interrupted.into()),
        Some(Ok(result)) => result,
        Some(Err(payload)) => panic::resume_unwind(payload),
    }
}

/// Runs a blocking step without the GVL until it completes. Between
/// interrupted attempts the GVL is retaken and pending interrupts are
/// handled: a Ruby exception (Thread#raise, Interrupt, a timeout) ends the
/// wait as `Err`, and the step's resources are dropped by the caller.
pub fn blocking<T>(
    ruby: &Ruby,
    mut step: impl FnMut() -> io::Result<T>,
) -> Result<io::Result<T>, Error> {
    loop {
        match without_gvl(&mut step) {
            Err(e) if daemon_controller_engine::is_interrupted(&e) => ruby.thread_check_ints()?,
            result => return Ok(result),
        }
    }
}
