//! Ruby bindings of the `daemon_controller` gem: `DaemonController` and
//! `DaemonController::LockFile`, translating between Ruby values and the
//! engine crate.

/// `Lazy` lookups of constants that lib/daemon_controller/*.rb defines under
/// `DaemonController`, and `check_defined`, which the extension's init calls
/// so that a missing one is a NameError at load time rather than a panic in
/// a later lookup.
macro_rules! ruby_defined {
    ($kind:ty; $($static:ident = $name:literal),* $(,)?) => {
        $(
            pub static $static: magnus::value::Lazy<$kind> = magnus::value::Lazy::new(|ruby| {
                ruby.get_inner(&crate::errors::DAEMON_CONTROLLER).const_get($name).unwrap()
            });
        )*

        pub fn check_defined(class: magnus::RClass) -> Result<(), magnus::Error> {
            use magnus::Module;
            $(let _: $kind = class.const_get($name)?;)*
            Ok(())
        }
    };
}
pub(crate) use ruby_defined;

mod controller;
mod errors;
mod lock_file;
mod nogvl;
mod options;
mod results;

use magnus::{Error, Ruby};

/// Defines the native methods. The exceptions, result structs, hooks and the
/// option table are Ruby, loaded before this by lib/daemon_controller.rb; a missing one
/// fails the load here with a NameError naming it, not a later lookup.
#[magnus::init]
fn init(ruby: &Ruby) -> Result<(), Error> {
    ruby.require("timeout")?;
    ruby.require("socket")?;
    let class = controller::define(ruby)?;
    errors::check_defined(class)?;
    results::check_defined(class)?;
    options::load_table(ruby, class)?;
    lock_file::define(ruby, class)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io;

    use magnus::error::ErrorType;
    use magnus::{Error, Ruby};

    use crate::{errors, init, nogvl};

    fn internal_error_message(ruby: &Ruby, error: &Error) -> String {
        assert!(
            error.is_kind_of(ruby.get_inner(&errors::ERROR)),
            "not a DaemonController::Error: {error}"
        );
        match error.error_type() {
            ErrorType::Error(_, message) => message.to_string(),
            other => panic!("expected a new exception, got {other:?}"),
        }
    }

    /// A process boots one Ruby VM at most, so every check that needs one
    /// lives in this test.
    #[test]
    fn panics_become_daemon_controller_errors() {
        // Errors are reported while the VM is still up: `Ruby::init` tears it
        // down before it formats an error it is handed.
        Ruby::init(|ruby| {
            check_panic_rescue(ruby).unwrap_or_else(|e| panic!("{e}"));
            Ok(())
        })
        .unwrap();
    }

    fn check_panic_rescue(ruby: &Ruby) -> Result<(), Error> {
        let lib = concat!(env!("CARGO_MANIFEST_DIR"), "/../../lib");
        for file in ["errors", "results", "hooks", "lock_file", "options"] {
            ruby.require(format!("{lib}/daemon_controller/{file}"))?;
        }
        init(ruby)?;

        let in_method_body =
            errors::rescue_panics(ruby, || -> Result<(), Error> { panic!("boom") });
        assert_eq!(
            internal_error_message(ruby, &in_method_body.unwrap_err()),
            "internal error in daemon_controller: boom"
        );

        // A panic without the GVL is carried back over Ruby's C frames
        // and only then raised as an exception.
        let without_gvl = errors::rescue_panics(ruby, || {
            let outcome = nogvl::blocking(ruby, || -> io::Result<()> {
                panic!("boom without the GVL {}", 42)
            })?;
            Ok(outcome.is_ok())
        });
        assert_eq!(
            internal_error_message(ruby, &without_gvl.unwrap_err()),
            "internal error in daemon_controller: boom without the GVL 42"
        );

        // Ruby carries on afterwards.
        let name: String = ruby.eval("DaemonController::StartError.superclass.name")?;
        assert_eq!(name, "DaemonController::Error");
        Ok(())
    }
}
