# frozen_string_literal: true

class DaemonController
  # API documentation of the methods the native extension defines. YARD
  # reads the directives below; Ruby finds nothing to run here but two
  # empty class reopenings, so loading this file changes nothing. What Ruby
  # defines itself (exceptions, result structs, hooks) is documented where
  # it is defined.

  # @!method initialize(*args)
  #   Creates a controller for one daemon. Nothing runs yet: every option is
  #   checked here, and a missing or ill-typed one raises at once.
  #
  #   The options come as keywords or, as 1.x callers wrote them, as one Hash
  #   with Symbol keys; those that OPTIONS marks mandatory must be given. An
  #   option this class does not know is ignored with a warning naming it.
  #   "Callable" means anything that responds to `call` with no arguments: a
  #   Proc, a lambda, a Method. For every timeout, 0 or nil means no limit
  #   (and then nothing is ever killed for being slow).
  #
  #   @overload initialize(**options)
  #     The keyword form.
  #     @return [DaemonController]
  #     @param options [Hash{Symbol => Object}] the options, as keywords:
  #       {DaemonController::OPTIONS} lists each with its kind, default and a
  #       line of help, and doc/OPTIONS.md describes each in full.
  #     @example
  #       redis = DaemonController.new(
  #         identifier: "Redis for the job queue",
  #         start_command: "redis-server /etc/app/redis.conf",
  #         ping_command: [:tcp, "127.0.0.1", 6390],
  #         pid_file: "/var/run/app/redis.pid",
  #         log_file: "/var/log/app/redis.log",
  #         start_timeout: 15
  #       )
  #
  #   @overload initialize(options)
  #     The 1.x form: the same options, mandatory ones included, in one Hash.
  #     @return [DaemonController]
  #     @param options [Hash{Symbol => Object}] the options, with the names,
  #       meanings and defaults of the keyword form.
  #
  #     @example
  #       controller = DaemonController.new(
  #         :identifier    => "search server",
  #         :start_command => "searchd --config /etc/search.conf",
  #         :ping_command  => lambda { TCPSocket.new("localhost", 9312) },
  #         :pid_file      => "/var/run/searchd.pid",
  #         :log_file      => "/var/log/searchd.log"
  #       )
  #
  #   @raise [ArgumentError] when a mandatory option is missing, or an option
  #     has an impossible value (an unknown signal, a negative timeout, a
  #     malformed ping command, `make_pid_file` without `daemonize_for_me`).
  #   @raise [TypeError] when an option has the wrong type.

  # @!method start
  #   Starts the daemon and returns once it answers a ping.
  #
  #   The exclusive lock is held throughout. After deleting any PID file left
  #   behind, it runs `before_start`, then the start command, and waits for
  #   that command to exit; then it waits until the PID file appears and the
  #   daemon answers, all within `start_timeout`. Past the deadline, or after
  #   `log_file_activity_timeout` seconds of silence in the log file, what was
  #   started is terminated (SIGTERM, then SIGKILL after
  #   `start_abort_timeout`).
  #
  #   @example
  #     redis.start  # => true
  #   @return [true]
  #   @raise [AlreadyStarted] when the daemon is already running.
  #   @raise [StartError] when the start command fails or cannot be run, or
  #     the daemon dies before it answers.
  #   @raise [StartTimeout] when the daemon does not answer in time.

  # @!method stop
  #   Stops the daemon, under the exclusive lock, within `stop_timeout`.
  #
  #   With a `stop_command`, runs it. Otherwise sends `stop_graceful_signal`
  #   to the PID in the PID file and waits until that very process has
  #   exited, even if the daemon deletes its PID file before it is done. A
  #   daemon still running at the deadline is killed with SIGKILL. Stopping a
  #   daemon that is not running is no error.
  #
  #   @return [nil]
  #   @raise [StopError] when the stop command fails, or is still running at
  #     the deadline (it is then terminated; the daemon is not killed).
  #   @raise [StopTimeout] when the daemon outlives `stop_timeout` and is
  #     killed.

  # @!method restart
  #   Restarts the daemon: runs `restart_command` if there is one (with no
  #   time limit), and otherwise calls {#stop}, then {#start}.
  #   @return [true, InternalCommandOkResult] what {#start} returned, or the
  #     result of the restart command.
  #   @raise [StartError] when the restart command fails, or the start
  #     does.
  #   @raise [StartTimeout, StopError, StopTimeout] as {#start} and {#stop}
  #     raise them.

  # @!method connect
  #   Connects to the daemon, starting it first if it does not answer.
  #
  #   Calls the block under the shared lock. When it returns nil or raises
  #   one of {ALLOWED_CONNECT_EXCEPTIONS}, takes the exclusive lock, starts
  #   the daemon unless it is running, and calls the block again. The block
  #   may therefore run twice; any other exception it raises propagates.
  #
  #   @example
  #     socket = redis.connect { TCPSocket.new("127.0.0.1", 6390) }
  #   @yield a connection attempt.
  #   @yieldreturn [Object, nil] the connection, or nil for none.
  #   @return [Object] the first non-nil value the block returned.
  #   @raise [ConnectError] when the second attempt gives nothing either; the
  #     message names the exception it raised, if any.
  #   @raise [StartError, StartTimeout] when the daemon has to be started and
  #     that fails.

  # @!method pid
  #   Reads the PID file, under the shared lock.
  #   @return [Integer, nil] the PID, or nil when the file is missing, empty
  #     or holds anything other than digits.
  #   @raise [SystemCallError] (an `Errno` exception) when the file exists but
  #     cannot be read.

  # @!method running?
  #   Tells whether the daemon is running: the PID file names a process that
  #   exists and has not exited (a zombie has exited). A PID whose process
  #   started well after the PID file was written has been reused by another
  #   program, and does not count. When the process is gone, the stale PID
  #   file is deleted.
  #   @return [Boolean]

  # @!group Seams for tests
  #
  # The controller reaches the private methods below through ordinary
  # method dispatch, in the same order and number as the pure-Ruby gem, so
  # `expect(controller).to receive(...)` stubs and spies replace them. Each
  # does the real work when it is not stubbed.

  # @!method daemon_is_running?
  #   @!visibility private
  #   Whether the process the PID file names is alive (see {#running?}),
  #   without taking the lock.
  #   @return [Boolean]

  # @!method pid_file_available?
  #   @!visibility private
  #   Whether the PID file exists and is not empty.
  #   @return [Boolean]

  # @!method before_start
  #   @!visibility private
  #   Calls the `before_start` option, if given, within the start deadline.
  #   @return [Object, nil] what it returned.

  # @!method spawn_daemon
  #   @!visibility private
  #   Runs the start command (calling `start_command` first if it is
  #   callable) through `run_command`.
  #   @return [InternalCommandOkResult, InternalCommandErrorResult, InternalCommandTimeoutResult]

  # @!method run_command(command)
  #   @!visibility private
  #   Runs a command with stdin from /dev/null, `env`, `keep_ios` and
  #   `daemonize_for_me` applied, capturing its output unless the log file
  #   is this process's own stdout or stderr, and waits for it to exit until
  #   the deadline of the start or stop in progress.
  #   @param command [String]
  #   @return [InternalCommandOkResult, InternalCommandErrorResult, InternalCommandTimeoutResult]

  # @!method run_ping_command
  #   @!visibility private
  #   Pings the daemon once, as `ping_command` says.
  #   @return [Boolean, Object] true or false for command and socket pings;
  #     for a callable, its value, or false when it raised one of
  #     {ALLOWED_CONNECT_EXCEPTIONS}.

  # @!method ping_socket(socket_domain, packed_sockaddr)
  #   @!visibility private
  #   Whether a stream connection to the address succeeds.
  #   @param socket_domain [Integer] `Socket::AF_INET`, `Socket::AF_UNIX` ...
  #   @param packed_sockaddr [String] as `Socket.sockaddr_in` or
  #     `Socket.sockaddr_un` make it.
  #   @return [Boolean] false when the connection is refused or the socket
  #     file is missing.

  # @!endgroup

  class LockFile # rubocop:disable Lint/EmptyClass -- reopened for its documentation only
    # @!method initialize(filename)
    #   Names the file to lock; nothing is opened yet.
    #   @param filename [String, #to_path]
    #   @return [LockFile]

    # @!method filename
    #   @return [String] the name of the locked file, as given.

    # @!method exclusive_lock
    #   Waits until no one else holds the lock, then runs the block with the
    #   lock held exclusively, and releases it however the block ends.
    #   @yield with the lock held.
    #   @return [Object] the block's value.

    # @!method shared_lock
    #   Waits until no one holds the lock exclusively, then runs the block
    #   with the lock held in shared mode (alongside other shared holders),
    #   and releases it however the block ends.
    #   @yield with the lock held.
    #   @return [Object] the block's value.

    # @!method try_exclusive_lock
    #   Like {#exclusive_lock}, but does not wait.
    #   @yield with the lock held.
    #   @return [Object] the block's value.
    #   @raise [AlreadyLocked] when anyone else holds the lock.

    # @!method try_shared_lock
    #   Like {#shared_lock}, but does not wait.
    #   @yield with the lock held.
    #   @return [Object] the block's value.
    #   @raise [AlreadyLocked] when someone holds the lock exclusively.
  end
end
