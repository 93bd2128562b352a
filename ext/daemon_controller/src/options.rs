//! Turning the constructor's options (keywords, or one positional Hash as
//! 1.x callers pass) into the engine's settings and the Ruby values the
//! controller keeps. Every type is checked here, at construction.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use daemon_controller_engine::controller::Settings;
use daemon_controller_engine::http::HttpTarget;
use daemon_controller_engine::lock_file::{absolute_path, LockFile};
use daemon_controller_engine::pid_file::PidFile;
use daemon_controller_engine::ping_schedule::PingCost;
use magnus::gc::Marker;
use magnus::prelude::*;
use magnus::r_hash::ForEach;
use magnus::value::Opaque;
use magnus::{Error, RArray, RClass, RHash, RModule, RString, Ruby, Symbol, Value};

use crate::lock_file::path_from;

/// The options that the code below gives a meaning to. Each must be a row of
/// `DaemonController::OPTIONS` (checked when the extension loads); the table
/// alone says which are mandatory, which are known and what the defaults are.
const NATIVE: [&str; 22] = [
    "identifier",
    "start_command",
    "ping_command",
    "pid_file",
    "log_file",
    "lock_file",
    "chdir",
    "stop_command",
    "restart_command",
    "before_start",
    "start_timeout",
    "start_abort_timeout",
    "stop_timeout",
    "log_file_activity_timeout",
    "ping_interval",
    "stop_graceful_signal",
    "dont_stop_if_pid_file_invalid",
    "daemonize_for_me",
    "make_pid_file",
    "keep_ios",
    "env",
    "logger",
];

/// One row of `DaemonController::OPTIONS`, as far as the parser uses it.
struct Row {
    name: String,
    mandatory: bool,
    /// A Numeric default, in seconds.
    default_seconds: Option<f64>,
    /// A String default (a signal name).
    default_text: Option<String>,
}

/// `DaemonController::OPTIONS`, read once when the extension loads.
static TABLE: OnceLock<Vec<Row>> = OnceLock::new();

/// Reads `DaemonController::OPTIONS`; fails the load when it lacks an option
/// the parser gives a meaning to.
pub fn load_table(ruby: &Ruby, class: RClass) -> Result<(), Error> {
    let table: RHash = class.const_get("OPTIONS")?;
    let mut rows = Vec::new();
    table.foreach(|name: Symbol, row: RHash| {
        let field = |key: &str| row.aref::<_, Value>(ruby.to_symbol(key));
        let default = field("default")?;
        rows.push(Row {
            name: name.name()?.into_owned(),
            mandatory: field("mandatory")?.to_bool(),
            default_seconds: match default.is_kind_of(ruby.class_numeric()) {
                true => Some(f64::try_convert(default)?),
                false => None,
            },
            default_text: RString::from_value(default)
                .map(|text| text.to_string())
                .transpose()?,
        });
        Ok(ForEach::Continue)
    })?;
    if let Some(missing) = NATIVE
        .iter()
        .find(|name| !rows.iter().any(|row| row.name == **name))
    {
        return Err(Error::new(
            ruby.exception_runtime_error(),
            format!(
                "DaemonController::OPTIONS has no row for :{missing}, which the extension reads"
            ),
        ));
    }
    // A second load (the same library required twice) reads the same table.
    let _ = TABLE.set(rows);
    Ok(())
}

fn table() -> &'static [Row] {
    TABLE.get().map_or(&[], Vec::as_slice)
}

fn row(name: &str) -> Option<&'static Row> {
    table().iter().find(|row| row.name == name)
}

/// A command given as a String, or as a callable returning one.
pub enum StartCommand {
    Text(OsString),
    Callable(Opaque<Value>),
}

pub enum PingCommand {
    Command(OsString),
    Tcp {
        host: String,
        port: u16,
    },
    Unix(Vec<u8>),
    Http(HttpTarget),
    /// Up once the program sends READY=1 on its NOTIFY_SOCKET.
    Notify,
    Callable(Opaque<Value>),
}

impl PingCommand {
    /// Connection attempts are cheap; programs and Ruby code may not be.
    fn cost(&self) -> PingCost {
        match self {
            PingCommand::Tcp { .. }
            | PingCommand::Unix(_)
            | PingCommand::Http(_)
            | PingCommand::Notify => PingCost::Cheap,
            PingCommand::Command(_) | PingCommand::Callable(_) => PingCost::Expensive,
        }
    }

    /// The ping as reports name it: the forms the command-line tool takes.
    fn describe(&self) -> String {
        match self {
            PingCommand::Command(command) => command.to_string_lossy().into_owned(),
            PingCommand::Tcp { host, port } => format!("tcp:{host}:{port}"),
            PingCommand::Unix(path) => format!("unix:{}", String::from_utf8_lossy(path)),
            PingCommand::Http(target) => format!("http://{}{}", target.host_header, target.path),
            PingCommand::Notify => "notify".to_owned(),
            PingCommand::Callable(_) => "callable".to_owned(),
        }
    }

    fn socket(&self) -> Option<PathBuf> {
        match self {
            PingCommand::Unix(path) => Some(PathBuf::from(std::ffi::OsStr::from_bytes(path))),
            _ => None,
        }
    }
}

/// Everything a controller was constructed with.
pub struct Config {
    pub settings: Settings,
    pub lock_file: LockFile,
    pub start_command: StartCommand,
    pub ping_command: PingCommand,
    pub stop_command: Option<OsString>,
    pub restart_command: Option<OsString>,
    /// The working directory of the commands, absolute.
    pub chdir: Option<PathBuf>,
    pub before_start: Option<Opaque<Value>>,
    pub daemonize_for_me: bool,
    pub keep_ios: Vec<Opaque<Value>>,
    pub env: Vec<(String, Option<OsString>)>,
    pub logger: Option<Opaque<Value>>,
}

impl Config {
    /// Marks the Ruby values the controller keeps, for the GC.
    pub fn mark(&self, marker: &Marker) {
        let callables = [&self.before_start, &self.logger];
        for value in callables.into_iter().flatten() {
            marker.mark(*value);
        }
        if let StartCommand::Callable(value) = &self.start_command {
            marker.mark(*value);
        }
        if let PingCommand::Callable(value) = &self.ping_command {
            marker.mark(*value);
        }
        for io in &self.keep_ios {
            marker.mark(*io);
        }
    }
}

/// A command or an environment value as the bytes Unix takes, whatever the
/// String's encoding (the original gem passes binary Strings through).
pub fn bytes_of(text: RString) -> OsString {
    OsString::from_vec(unsafe { text.as_slice() }.to_vec())
}

/// A command back as a Ruby String: UTF-8 when it is, binary otherwise.
pub fn ruby_string(ruby: &Ruby, text: &OsStr) -> RString {
    match text.to_str() {
        Some(text) => ruby.str_new(text),
        None => ruby.str_from_slice(text.as_bytes()),
    }
}

/// The options as given, by name.
struct Options<'a> {
    ruby: &'a Ruby,
    given: Vec<(String, Value)>,
}

impl<'a> Options<'a> {
    fn get(&self, name: &str) -> Option<Value> {
        self.given
            .iter()
            .rev()
            .find(|(given, _)| given == name)
            .map(|(_, value)| *value)
            .filter(|value| !value.is_nil())
    }

    fn type_error(&self, name: &str, expected: &str, value: Value) -> Error {
        let class = unsafe { value.classname() }.into_owned();
        Error::new(
            self.ruby.exception_type_error(),
            format!("option :{name} must be {expected}, not {class}"),
        )
    }

    fn argument_error(&self, message: String) -> Error {
        Error::new(self.ruby.exception_arg_error(), message)
    }

    fn is_callable(value: Value) -> bool {
        value.respond_to("call", false).unwrap_or(false)
    }

    fn string(&self, name: &str, value: Value) -> Result<String, Error> {
        RString::from_value(value)
            .ok_or_else(|| self.type_error(name, "a String", value))?
            .to_string()
    }

    fn optional_command(&self, name: &str) -> Result<Option<OsString>, Error> {
        self.get(name)
            .map(|value| {
                RString::from_value(value)
                    .map(bytes_of)
                    .ok_or_else(|| self.type_error(name, "a String", value))
            })
            .transpose()
    }

    fn path(&self, name: &str, value: Value) -> Result<PathBuf, Error> {
        path_from(self.ruby, value).map_err(|e| {
            if e.is_kind_of(self.ruby.exception_arg_error()) {
                self.argument_error(format!("option :{name}: path name contains null byte"))
            } else {
                self.type_error(name, "a String or Pathname", value)
            }
        })
    }

    fn callable(&self, name: &str) -> Result<Option<Opaque<Value>>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(value) if Self::is_callable(value) => Ok(Some(value.into())),
            Some(value) => Err(self.type_error(name, "callable (respond to #call)", value)),
        }
    }

    /// Seconds as a Duration; nil or 0 mean no limit, and so does a table
    /// row without a default.
    fn timeout(&self, name: &str) -> Result<Option<Duration>, Error> {
        let seconds = match self.given.iter().rev().find(|(given, _)| given == name) {
            None => match row(name).and_then(|row| row.default_seconds) {
                Some(default) => default,
                None => return Ok(None),
            },
            Some((_, value)) if value.is_nil() => return Ok(None),
            Some((_, value)) => self.seconds(name, *value)?,
        };
        Ok((seconds > 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).ok())
            .flatten())
    }

    fn seconds(&self, name: &str, value: Value) -> Result<f64, Error> {
        if !value.is_kind_of(self.ruby.class_numeric()) {
            return Err(self.type_error(name, "a number of seconds", value));
        }
        // Complex is Numeric too, but no number of seconds.
        let seconds = f64::try_convert(value)
            .map_err(|_| self.type_error(name, "a number of seconds", value))?;
        if seconds.is_nan() {
            return Err(self.argument_error(format!("option :{name} must be a number, not NaN")));
        }
        if seconds < 0.0 {
            return Err(self.argument_error(format!("option :{name} must not be negative")));
        }
        Ok(seconds)
    }

    fn truthy(&self, name: &str) -> bool {
        self.get(name).is_some_and(|value| value.to_bool())
    }

    fn start_command(&self, value: Value) -> Result<StartCommand, Error> {
        if let Some(text) = RString::from_value(value) {
            Ok(StartCommand::Text(bytes_of(text)))
        } else if Self::is_callable(value) {
            Ok(StartCommand::Callable(value.into()))
        } else {
            Err(self.type_error("start_command", "a String or callable", value))
        }
    }

    fn ping_command(&self, value: Value) -> Result<PingCommand, Error> {
        if let Some(text) = RString::from_value(value) {
            return Ok(PingCommand::Command(bytes_of(text)));
        }
        if Self::is_callable(value) {
            return Ok(PingCommand::Callable(value.into()));
        }
        let invalid = || {
            self.argument_error(format!(
                "option :ping_command must be a command String, [:tcp, host, port], [:unix, path], [:http, url], [:notify] or callable, not {}",
                value.inspect()
            ))
        };
        let array = RArray::from_value(value).ok_or_else(invalid)?;
        let items = elements(array)?;
        let kind = items
            .first()
            .and_then(|kind| Symbol::from_value(*kind))
            .ok_or_else(invalid)?;
        match (kind.name()?.as_ref(), &items[1..]) {
            ("tcp", [host, port]) => {
                let host = RString::from_value(*host)
                    .ok_or_else(invalid)?
                    .to_string()?;
                let port = u16::try_convert(*port).or_else(|_| {
                    String::try_convert(*port)
                        .map_err(|_| invalid())?
                        .parse()
                        .map_err(|_| invalid())
                })?;
                Ok(PingCommand::Tcp { host, port })
            }
            ("unix", [path]) => Ok(PingCommand::Unix(
                path_from(self.ruby, *path)
                    .map_err(|_| invalid())?
                    .into_os_string()
                    .into_encoded_bytes(),
            )),
            ("http", [url]) => {
                let url = RString::from_value(*url).ok_or_else(invalid)?.to_string()?;
                HttpTarget::parse(&url)
                    .map(PingCommand::Http)
                    .map_err(|reason| {
                        self.argument_error(format!("option :ping_command: {reason}"))
                    })
            }
            ("notify", []) => Ok(PingCommand::Notify),
            _ => Err(invalid()),
        }
    }

    fn stop_signal(&self) -> Result<String, Error> {
        let name = match self.get("stop_graceful_signal") {
            None => row("stop_graceful_signal")
                .and_then(|row| row.default_text.clone())
                .unwrap_or_default(),
            Some(value) => match Symbol::from_value(value) {
                Some(symbol) => symbol.name()?.into_owned(),
                None => self
                    .string("stop_graceful_signal", value)
                    .map_err(|_| self.type_error("stop_graceful_signal", "a signal name", value))?,
            },
        };
        let bare = name.strip_prefix("SIG").unwrap_or(&name);
        let known: RHash = self
            .ruby
            .class_object()
            .const_get::<_, RModule>("Signal")?
            .funcall("list", ())?;
        if known.get(bare).is_none() {
            return Err(self.argument_error(format!(
                "option :stop_graceful_signal: unknown signal {name:?}"
            )));
        }
        Ok(format!("SIG{bare}"))
    }

    fn keep_ios(&self) -> Result<Vec<Opaque<Value>>, Error> {
        let Some(value) = self.get("keep_ios") else {
            return Ok(Vec::new());
        };
        let array = RArray::from_value(value)
            .ok_or_else(|| self.type_error("keep_ios", "an Array of IO objects", value))?;
        elements(array)?
            .into_iter()
            .map(|io| {
                if io.respond_to("fileno", false)? {
                    Ok(io.into())
                } else {
                    Err(self.type_error("keep_ios", "an Array of IO objects", io))
                }
            })
            .collect()
    }

    fn env(&self) -> Result<Vec<(String, Option<OsString>)>, Error> {
        let Some(value) = self.get("env") else {
            return Ok(Vec::new());
        };
        let hash =
            RHash::from_value(value).ok_or_else(|| self.type_error("env", "a Hash", value))?;
        let mut env = Vec::new();
        hash.foreach(|name: Value, value: Value| {
            let name = RString::from_value(name)
                .ok_or_else(|| self.type_error("env", "a Hash with String keys", name))?
                .to_string()?;
            let value = if value.is_nil() {
                None
            } else {
                let value = RString::from_value(value).ok_or_else(|| {
                    self.type_error("env", "a Hash of String (or nil) values", value)
                })?;
                Some(bytes_of(value))
            };
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(
                    self.argument_error(format!("option :env: invalid variable name {name:?}"))
                );
            }
            if value
                .as_ref()
                .is_some_and(|value| value.as_bytes().contains(&0))
            {
                return Err(self.argument_error(format!(
                    "option :env: the value of {name} contains a null byte"
                )));
            }
            env.push((name, value));
            Ok(ForEach::Continue)
        })?;
        Ok(env)
    }

    fn logger(&self) -> Result<Option<Opaque<Value>>, Error> {
        match self.get("logger") {
            None => Ok(None),
            Some(logger) if logger.respond_to("debug", false)? => Ok(Some(logger.into())),
            Some(logger) => Err(self.type_error("logger", "a logger (respond to #debug)", logger)),
        }
    }
}

fn elements(array: RArray) -> Result<Vec<Value>, Error> {
    (0..array.len())
        .map(|index| array.entry(index as isize))
        .collect()
}

/// Reads the options from the constructor's arguments: keywords (which reach
/// a native method as a trailing Hash) or one positional Hash.
fn collect<'a>(ruby: &'a Ruby, args: &[Value]) -> Result<Options<'a>, Error> {
    let hash = match args {
        [] => ruby.hash_new(),
        [hash] => RHash::from_value(*hash).ok_or_else(|| {
            Error::new(
                ruby.exception_type_error(),
                "DaemonController.new expects keyword options or an options Hash",
            )
        })?,
        _ => {
            return Err(Error::new(
                ruby.exception_arg_error(),
                format!(
                    "wrong number of arguments (given {}, expected 0..1)",
                    args.len()
                ),
            ))
        }
    };
    let mut given = Vec::new();
    hash.foreach(|key: Value, value: Value| {
        let name = match Symbol::from_value(key) {
            Some(symbol) => symbol.name()?.into_owned(),
            None => key.to_r_string()?.to_string()?,
        };
        given.push((name, value));
        Ok(ForEach::Continue)
    })?;
    Ok(Options { ruby, given })
}

pub fn parse(ruby: &Ruby, args: &[Value]) -> Result<Config, Error> {
    let options = collect(ruby, args)?;
    let missing: Vec<String> = table()
        .iter()
        .filter(|row| row.mandatory && options.get(&row.name).is_none())
        .map(|row| format!(":{}", row.name))
        .collect();
    if !missing.is_empty() {
        let noun = if missing.len() == 1 {
            "keyword"
        } else {
            "keywords"
        };
        return Err(options.argument_error(format!("missing {noun}: {}", missing.join(", "))));
    }
    for (name, _) in &options.given {
        if row(name).is_none() {
            let warning = format!("DaemonController: ignoring unknown option :{name}");
            let _: Value = ruby.module_kernel().funcall("warn", (warning,))?;
        }
    }
    let mandatory = |name: &str| options.get(name).expect("checked above");

    let identifier_value = mandatory("identifier");
    let identifier = match Symbol::from_value(identifier_value) {
        Some(symbol) => symbol.name()?.into_owned(),
        None => options.string("identifier", identifier_value)?,
    };
    let pid_file = options.path("pid_file", mandatory("pid_file"))?;
    let log_file = options.path("log_file", mandatory("log_file"))?;
    let lock_file = match options.get("lock_file") {
        Some(value) => options.path("lock_file", value)?,
        None => {
            let mut path = pid_file.clone().into_os_string();
            path.push(".lock");
            PathBuf::from(path)
        }
    };
    let stop_command = options.optional_command("stop_command")?;
    let ping_interval = match options.get("ping_interval") {
        Some(value) => Duration::try_from_secs_f64(options.seconds("ping_interval", value)?)
            .unwrap_or(Duration::MAX),
        None => row("ping_interval")
            .and_then(|row| row.default_seconds)
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .unwrap_or_default(),
    };
    let mut settings = Settings {
        identifier,
        pid_file: PidFile::new(pid_file),
        log_file,
        start_timeout: options.timeout("start_timeout")?,
        start_abort_timeout: options.timeout("start_abort_timeout")?,
        stop_timeout: options.timeout("stop_timeout")?,
        log_file_activity_timeout: options.timeout("log_file_activity_timeout")?,
        ping_interval,
        // Both come from the ping command, which is checked later, in the
        // order that decides which of several bad options is reported.
        ping_cost: PingCost::Cheap,
        ping_socket: None,
        ping_description: String::new(),
        stop_signal: options.stop_signal()?,
        has_stop_command: stop_command.is_some(),
        dont_stop_if_pid_file_invalid: options.truthy("dont_stop_if_pid_file_invalid"),
        make_pid_file: options.truthy("make_pid_file"),
    };
    let daemonize_for_me = options.truthy("daemonize_for_me");
    if settings.make_pid_file && !daemonize_for_me {
        return Err(Error::new(
            ruby.exception_arg_error(),
            "option :make_pid_file needs daemonize_for_me: true (the program must not daemonize itself)",
        ));
    }
    let start_command = options.start_command(mandatory("start_command"))?;
    let ping_command = options.ping_command(mandatory("ping_command"))?;
    settings.ping_cost = ping_command.cost();
    settings.ping_socket = ping_command.socket();
    settings.ping_description = ping_command.describe();
    Ok(Config {
        settings,
        lock_file: LockFile::new(absolute_path(&lock_file)),
        start_command,
        ping_command,
        stop_command,
        restart_command: options.optional_command("restart_command")?,
        chdir: match options.get("chdir") {
            Some(value) => Some(absolute_path(&options.path("chdir", value)?)),
            None => None,
        },
        before_start: options.callable("before_start")?,
        daemonize_for_me,
        keep_ios: options.keep_ios()?,
        env: options.env()?,
        logger: options.logger()?,
    })
}
