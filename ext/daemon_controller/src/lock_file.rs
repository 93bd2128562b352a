//! `DaemonController::LockFile`: a thin handle around the engine's lock file.

use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use daemon_controller_engine::lock_file::{LockFile, LockGuard, LockKind};
use magnus::prelude::*;
use magnus::value::Lazy;
use magnus::{method, typed_data::Obj, Error, ExceptionClass, RClass, RString, Ruby, Value};

use crate::errors::{self, rescue_panics};
use crate::nogvl;

static ALREADY_LOCKED: Lazy<ExceptionClass> = Lazy::new(|ruby| {
    ruby.get_inner(&errors::DAEMON_CONTROLLER)
        .const_get::<_, RClass>("LockFile")
        .unwrap()
        .const_get("AlreadyLocked")
        .unwrap()
});

#[derive(Default)]
#[magnus::wrap(class = "DaemonController::LockFile", free_immediately)]
pub struct RbLockFile {
    lock_file: OnceLock<LockFile>,
}

/// A Ruby value naming a file: a String, or anything with `to_path`, as
/// `File.path` takes it (which rejects a NUL byte with ArgumentError). The
/// bytes are kept as they are, whatever their encoding.
pub fn path_from(ruby: &Ruby, value: Value) -> Result<PathBuf, Error> {
    let path: RString = ruby
        .class_object()
        .const_get::<_, RClass>("File")?
        .funcall("path", (value,))?;
    let bytes = unsafe { path.as_slice() }.to_vec();
    Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

/// Takes a lock: at once when it is free, otherwise waiting without the GVL.
/// An interrupt while waiting drops the open file, so nothing stays locked.
pub fn acquire(ruby: &Ruby, lock_file: &LockFile, kind: LockKind) -> Result<LockGuard, Error> {
    let io_error = |e| errors::io_error(ruby, e, Some(lock_file.path()));
    match errors::opening_files(ruby, || lock_file.try_lock(kind)).map_err(io_error)? {
        Ok(guard) => Ok(guard),
        Err(mut pending) => {
            nogvl::blocking(ruby, || pending.wait())?.map_err(io_error)?;
            Ok(pending.into_guard())
        }
    }
}

impl RbLockFile {
    /// Keeps the name given in `@filename` too, as the original gem does.
    fn initialize(ruby: &Ruby, rb_self: Obj<Self>, filename: Value) -> Result<(), Error> {
        rescue_panics(ruby, || {
            let path = path_from(ruby, filename)?;
            rb_self.lock_file.set(LockFile::new(path)).map_err(|_| {
                Error::new(
                    ruby.exception_runtime_error(),
                    "LockFile already initialized",
                )
            })?;
            rb_self.ivar_set("@filename", filename)
        })
    }

    fn get(&self, ruby: &Ruby) -> Result<&LockFile, Error> {
        self.lock_file
            .get()
            .ok_or_else(|| Error::new(ruby.exception_runtime_error(), "LockFile not initialized"))
    }

    fn locked(ruby: &Ruby, rb_self: &Self, kind: LockKind) -> Result<Value, Error> {
        rescue_panics(ruby, || {
            let _guard = acquire(ruby, rb_self.get(ruby)?, kind)?;
            ruby.yield_values(())
        })
    }

    fn try_locked(ruby: &Ruby, rb_self: &Self, kind: LockKind) -> Result<Value, Error> {
        rescue_panics(ruby, || {
            let lock_file = rb_self.get(ruby)?;
            let attempt = lock_file
                .try_lock(kind)
                .map_err(|e| errors::io_error(ruby, e, Some(lock_file.path())))?;
            let Ok(_guard) = attempt else {
                return Err(Error::new(
                    ruby.get_inner(&ALREADY_LOCKED),
                    "Lock file is already locked",
                ));
            };
            ruby.yield_values(())
        })
    }

    fn exclusive_lock(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        Self::locked(ruby, rb_self, LockKind::Exclusive)
    }

    fn shared_lock(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        Self::locked(ruby, rb_self, LockKind::Shared)
    }

    fn try_exclusive_lock(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        Self::try_locked(ruby, rb_self, LockKind::Exclusive)
    }

    fn try_shared_lock(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        Self::try_locked(ruby, rb_self, LockKind::Shared)
    }

    fn filename(ruby: &Ruby, rb_self: &Self) -> Result<String, Error> {
        Ok(rb_self.get(ruby)?.path().display().to_string())
    }
}

pub fn define(ruby: &Ruby, outer: RClass) -> Result<(), Error> {
    let class = outer.define_class("LockFile", ruby.class_object())?;
    class.define_alloc_func::<RbLockFile>();
    class.define_method("initialize", method!(RbLockFile::initialize, 1))?;
    class.define_method("exclusive_lock", method!(RbLockFile::exclusive_lock, 0))?;
    class.define_method("shared_lock", method!(RbLockFile::shared_lock, 0))?;
    class.define_method(
        "try_exclusive_lock",
        method!(RbLockFile::try_exclusive_lock, 0),
    )?;
    class.define_method("try_shared_lock", method!(RbLockFile::try_shared_lock, 0))?;
    class.define_method("filename", method!(RbLockFile::filename, 0))?;
    Ok(())
}
