# frozen_string_literal: true

class DaemonController # rubocop:disable Style/Documentation -- documented in lib/daemon_controller.rb
  # Every option of {#initialize}, by name, in one place: the extension takes
  # its list of options, the mandatory ones and the defaults from here, the
  # command-line tool its flags and config-file keys, and the specs check
  # sig/ and doc/OPTIONS.md against it. Each row has
  #
  # - `kind`: the value the option takes. `:name` a String or Symbol;
  #   `:command` a String, or a callable returning one; `:ping` a ping form;
  #   `:path` a String or Pathname; `:string` a String; `:seconds` a Numeric
  #   (a timeout of 0 or nil means no limit); `:signal` a signal name;
  #   `:boolean` any value, by its truthiness; `:env` a Hash of String
  #   variables; and, only from Ruby, `:callable`, `:ios` (an Array of IO)
  #   and `:logger` (anything with `#debug`);
  # - `mandatory`: whether the constructor insists on it;
  # - `default`: the value an option left out takes (nil: none; the lock
  #   file's is the PID file's name + ".lock");
  # - `flag`: the flag of `exe/daemon_controller` that sets it, or nil;
  # - `help`: what it does, in one line.
  #
  # Every kind but the Ruby-only ones is also a key of the tool's `--config`
  # file, under the option's own name.
  # @return [Hash{Symbol => Hash{Symbol => Object}}]
  OPTIONS = {
    identifier: { kind: :name, mandatory: true, default: nil, flag: "--identifier NAME",
                  help: "name used in messages (the command-line tool defaults it to the start command, " \
                        "or to the PID file when there is none)" },
    start_command: { kind: :command, mandatory: true, default: nil, flag: "--start-command CMD",
                     help: "command that starts the daemon; it must exit 0 once the daemon is on its way" },
    ping_command: { kind: :ping, mandatory: true, default: nil, flag: "--ping PING",
                    help: "how to tell that the daemon is up" },
    pid_file: { kind: :path, mandatory: true, default: nil, flag: "--pid-file PATH",
                help: "file the daemon writes its PID to" },
    log_file: { kind: :path, mandatory: true, default: nil, flag: "--log-file PATH",
                help: "file the daemon logs to (quoted in reports)" },
    lock_file: { kind: :path, mandatory: false, default: nil, flag: "--lock-file PATH",
                 help: "lock file (default: the PID file + .lock)" },
    chdir: { kind: :path, mandatory: false, default: nil, flag: "--chdir DIR",
             help: "working directory of the start, stop, restart and ping commands (default: the current one)" },
    stop_command: { kind: :string, mandatory: false, default: nil, flag: "--stop-command CMD",
                    help: "command that stops the daemon (default: send the graceful signal to its PID)" },
    restart_command: { kind: :string, mandatory: false, default: nil, flag: "--restart-command CMD",
                       help: "command that restarts the daemon (default: stop, then start)" },
    before_start: { kind: :callable, mandatory: false, default: nil, flag: nil,
                    help: "called just before the start command, under the start lock" },
    start_timeout: { kind: :seconds, mandatory: false, default: 30, flag: "--start-timeout SECS",
                     help: "for the whole start" },
    start_abort_timeout: { kind: :seconds, mandatory: false, default: 10, flag: "--start-abort-timeout SECS",
                           help: "when aborting a failed start, from SIGTERM to SIGKILL" },
    stop_timeout: { kind: :seconds, mandatory: false, default: 30, flag: "--stop-timeout SECS",
                    help: "for a stop, before SIGKILL" },
    log_file_activity_timeout: { kind: :seconds, mandatory: false, default: 10,
                                 flag: "--log-file-activity-timeout SECS",
                                 help: "log-file silence after which a starting daemon is taken to have died" },
    ping_interval: { kind: :seconds, mandatory: false, default: 0.1, flag: "--ping-interval SECS",
                     help: "longest pause between two pings" },
    stop_graceful_signal: { kind: :signal, mandatory: false, default: "TERM", flag: "--stop-graceful-signal SIG",
                            help: "signal for a graceful stop" },
    dont_stop_if_pid_file_invalid: { kind: :boolean, mandatory: false, default: false,
                                     flag: "--[no-]dont-stop-if-pid-file-invalid",
                                     help: "do not run the stop command when the PID file holds no valid PID" },
    daemonize_for_me: { kind: :boolean, mandatory: false, default: false, flag: "--[no-]daemonize-for-me",
                        help: "run the commands detached, in a new session, for programs that do not " \
                              "daemonize themselves" },
    make_pid_file: { kind: :boolean, mandatory: false, default: false, flag: nil,
                     help: "write the PID file for a program that stays in the foreground " \
                           "(needs daemonize_for_me)" },
    keep_ios: { kind: :ios, mandatory: false, default: nil, flag: nil,
                help: "IO objects whose descriptors the commands inherit" },
    env: { kind: :env, mandatory: false, default: {}, flag: "--env NAME=VALUE",
           help: "environment variable for the commands (a flag for each)" },
    logger: { kind: :logger, mandatory: false, default: nil, flag: nil,
              help: "gets a debug line for each step" }
  }.each_value { |row| row.each_value(&:freeze).freeze }.freeze

  private

  # Keeps each option in an instance variable named after it (`@start_command`,
  # `@pid_file`, ...), holding the value given or the default, and `@lock_file`
  # as a {LockFile} on the lock file's absolute path, for subclasses and log
  # lines that read them. The controller works from its own copy taken at
  # construction: changing these afterwards has no effect.
  # @param given [Hash] the options as passed to {#initialize}
  # @return [void]
  def record_options(given)
    given = given.transform_keys(&:to_sym)
    OPTIONS.each do |name, row|
      instance_variable_set(:"@#{name}", given.fetch(name) { row[:default].dup })
    end
    @lock_file = LockFile.new(File.absolute_path(given[:lock_file] || "#{@pid_file}.lock"))
  end
end
