//! Ruby bindings of the `daemon_controller` gem: `DaemonController` and
//! `DaemonController::LockFile`, translating between Ruby values and the
//! engine crate.

mod controller;
mod errors;
mod lock_file;
mod nogvl;
mod options;
mod results;

use magnus::prelude::*;
use magnus::{Error, RModule, Ruby};

#[magnus::init]
fn init(ruby: &Ruby) -> Result<(), Error> {
    ruby.require("timeout")?;
    ruby.require("socket")?;
    let class = controller::define(ruby)?;
    errors::define(ruby, class)?;
    results::define(ruby, class)?;
    lock_file::define(ruby, class)?;
    let errno: RModule = ruby.class_object().const_get("Errno")?;
    let allowed = ruby.ary_new();
    for name in [
        "ECONNREFUSED",
        "ENETUNREACH",
        "ETIMEDOUT",
        "ECONNRESET",
        "EINVAL",
        "EADDRNOTAVAIL",
    ] {
        allowed.push(errno.const_get::<_, magnus::Value>(name)?)?;
    }
    class.const_set("ALLOWED_CONNECT_EXCEPTIONS", allowed)?;
    Ok(())
}
