# frozen_string_literal: true

# The `daemon_controller` command (exe/daemon_controller): start, stop,
# restart, status and pid of a daemon, for shell scripts, Procfiles and CI
# jobs. Every option of DaemonController.new that can be written in a shell
# has a flag, and the same options can come from a YAML file (--config).
#
# Exit statuses (also listed by --help):
#   0   success: start started the daemon; stop stopped it or it was not
#       running; restart restarted it; status: it is running; pid: printed
#   1   any other error (a PID or lock file that cannot be written, say)
#   2   start: the daemon is already running (AlreadyStarted)
#   3   status, pid: the daemon is not running (as LSB init scripts say it)
#   4   start, restart: the daemon failed to start (StartError)
#   5   start, restart: it did not answer within --start-timeout (StartTimeout)
#   6   stop, restart: the stop command failed or timed out (StopError)
#   7   stop, restart: the daemon outlived --stop-timeout and was killed
#       (StopTimeout)
#   64  usage error: unknown command or flag, missing or invalid option
#       (EX_USAGE of sysexits.h)
#   130 interrupted (Ctrl-C)

require "daemon_controller"
require "optparse"
require "yaml"

class DaemonController
  # The command-line interface. `CLI.new.run(ARGV)` returns the exit status;
  # it never raises for a failure of the daemon or of the user's input.
  class CLI
    PROGRAM = "daemon_controller"

    EXIT_SUCCESS = 0
    EXIT_FAILURE = 1
    EXIT_ALREADY_STARTED = 2
    EXIT_NOT_RUNNING = 3
    EXIT_START_ERROR = 4
    EXIT_START_TIMEOUT = 5
    EXIT_STOP_ERROR = 6
    EXIT_STOP_TIMEOUT = 7
    EXIT_USAGE = 64
    EXIT_INTERRUPTED = 130

    # Library exceptions and the exit status each one means. None of these
    # classes is a subclass of another, so the order does not matter.
    EXIT_STATUS_OF_ERROR = {
      AlreadyStarted => EXIT_ALREADY_STARTED,
      StartError => EXIT_START_ERROR,
      StartTimeout => EXIT_START_TIMEOUT,
      StopError => EXIT_STOP_ERROR,
      StopTimeout => EXIT_STOP_TIMEOUT
    }.freeze

    # [status, the commands that can end with it, what it means], for --help.
    EXIT_STATUSES = [
      [EXIT_SUCCESS, %w[start stop restart status pid],
       "success (start: started; stop: stopped, or was not running;\n" \
       "restart: restarted; status: running; pid: printed)"],
      [EXIT_FAILURE, %w[start stop restart status pid],
       "other error (a file that cannot be written, say)"],
      [EXIT_ALREADY_STARTED, %w[start restart], "start: the daemon is already running"],
      [EXIT_NOT_RUNNING, %w[status pid], "status, pid: the daemon is not running"],
      [EXIT_START_ERROR, %w[start restart], "start, restart: the daemon failed to start"],
      [EXIT_START_TIMEOUT, %w[start restart],
       "start, restart: the daemon did not answer within\n--start-timeout"],
      [EXIT_STOP_ERROR, %w[stop restart], "stop, restart: the stop command failed or timed out"],
      [EXIT_STOP_TIMEOUT, %w[stop restart],
       "stop, restart: the daemon did not exit within\n--stop-timeout (it was killed with SIGKILL)"],
      [EXIT_USAGE, %w[start stop restart status pid],
       "usage error: unknown command or flag, missing or\ninvalid option"],
      [EXIT_INTERRUPTED, %w[start stop restart status pid], "interrupted (Ctrl-C)"]
    ].freeze

    COMMANDS = {
      "start" => "start the daemon; return once it answers the ping",
      "stop" => "stop the daemon (not running is no error)",
      "restart" => "run --restart-command, or stop, then start",
      "status" => "print \"running (PID n)\" or \"not running\"",
      "pid" => "print the daemon's PID"
    }.freeze

    COMMAND_DESCRIPTIONS = {
      "start" => <<~TEXT,
        Starts the daemon: runs the start command, waits until the PID file
        appears and the ping succeeds, and exits 0 once the daemon answers.
        Prints nothing unless --verbose. If the daemon does not come up, the
        report on stderr holds what the command printed and what the log file
        gained meanwhile.
      TEXT
      "stop" => <<~TEXT,
        Stops the daemon: runs --stop-command if given, otherwise sends the
        graceful signal (--stop-graceful-signal) to the PID in the PID file
        and waits until that process has exited. A daemon still running after
        --stop-timeout is killed with SIGKILL. A daemon that is not running
        is no error.
      TEXT
      "restart" => <<~TEXT,
        Restarts the daemon: runs --restart-command if given, otherwise stops
        the daemon (if it is running) and starts it.
      TEXT
      "status" => <<~TEXT,
        Prints "running (PID n)" and exits 0 when the daemon is running;
        prints "not running" and exits 3 otherwise (deleting a stale PID file).
      TEXT
      "pid" => <<~TEXT
        Prints the daemon's PID and exits 0 when it is running; prints nothing
        and exits 3 otherwise.
      TEXT
    }.freeze

    # What "cannot ..." says when a command fails.
    FAILURE_VERBS = {
      "start" => "start", "stop" => "stop", "restart" => "restart",
      "status" => "get the status of", "pid" => "get the PID of"
    }.freeze

    # The options a command cannot do without. stop, status and pid only
    # read the PID file (and run --stop-command), so they need nothing else.
    START_REQUIREMENTS = %i[start_command ping_command pid_file log_file].freeze
    PID_FILE_ONLY = %i[pid_file].freeze

    # The library insists on every mandatory option even for the commands
    # that never start the daemon; these stand in for the ones left out.
    NOT_USED_BY_STOP = { start_command: "false", ping_command: "false", log_file: File::NULL }.freeze

    REQUIREMENTS_HELP = {
      "start" => "Needs --start-command, --ping, --pid-file and --log-file, as flags\n" \
                 "or in the --config file.",
      "restart" => "Needs --start-command, --ping, --pid-file and --log-file, as flags\n" \
                   "or in the --config file; with --restart-command, only --pid-file.",
      "stop" => "Needs --pid-file, as a flag or in the --config file.",
      "status" => "Needs --pid-file, as a flag or in the --config file.",
      "pid" => "Needs --pid-file, as a flag or in the --config file."
    }.freeze

    # The flags of the mandatory options, for "missing option" messages.
    REQUIRED_FLAGS = {
      start_command: "--start-command", ping_command: "--ping",
      pid_file: "--pid-file", log_file: "--log-file"
    }.freeze

    # Keys of a --config file and the kind of value each takes.
    CONFIG_KEYS = {
      "identifier" => :string, "start_command" => :string, "ping_command" => :ping,
      "pid_file" => :string, "log_file" => :string, "lock_file" => :string,
      "stop_command" => :string, "restart_command" => :string,
      "start_timeout" => :seconds, "stop_timeout" => :seconds, "start_abort_timeout" => :seconds,
      "log_file_activity_timeout" => :seconds, "ping_interval" => :seconds,
      "stop_graceful_signal" => :string, "env" => :env,
      "daemonize_for_me" => :boolean, "make_pid_file" => :boolean, "foreground" => :foreground,
      "dont_stop_if_pid_file_invalid" => :boolean
    }.freeze

    # Options that take Ruby objects, which neither a shell nor YAML can
    # give.
    RUBY_ONLY_OPTIONS = %w[keep_ios before_start logger].freeze

    PING_FORMS = <<~TEXT
      Ping forms (--ping, or ping_command: in a config file):
        tcp:HOST:PORT      up when a TCP connection to HOST:PORT succeeds
        unix:PATH          up when a connection to the Unix socket succeeds
        http://URL         up when URL answers with a 2xx or 3xx status (http only)
        notify             up when the daemon reports that it is ready
        anything else      a shell command; exit status 0 means up
    TEXT

    CONFIG_HELP = <<~TEXT
      Config file (--config FILE): YAML, keyed by the options' Ruby names:
        identifier: web
        start_command: bin/server --daemon
        ping_command: "tcp:127.0.0.1:8080"
        pid_file: tmp/server.pid
        log_file: log/server.log
        start_timeout: 60
        env: {RAILS_ENV: production}
      Flags given on the command line override the file (--env adds to env).
      foreground: true in the file does what --foreground does.
      Relative paths are relative to the current directory.

      keep_ios, before_start and logger take Ruby objects, so they have no
      flag (there is no --keep-ios) and no config key.
    TEXT

    # Bad input from the user: reported with a hint, exit status 64.
    class UsageError < StandardError; end

    def initialize(stdout: $stdout, stderr: $stderr)
      @stdout = stdout
      @stderr = stderr
    end

    # Runs one command line and returns the exit status.
    def run(argv)
      reset
      parser = option_parser
      command, *extra = parser.permute(argv)
      if command == "help" # `help [COMMAND]`, as git and gem have it
        @help = true
        command, *extra = extra
      end
      raise UsageError, "unknown command: #{command}" if command && !COMMANDS.key?(command)
      return show_help(parser, command) if @help
      return show_version if @version
      raise UsageError, "no command given" unless command
      raise UsageError, "unexpected argument: #{extra.first}" unless extra.empty?

      options = controller_options(command)
      perform(command, options[:identifier], new_controller(options))
    rescue OptionParser::ParseError, UsageError => e
      usage_error(e, argv)
    rescue Interrupt
      @stderr.puts("#{PROGRAM}: interrupted")
      EXIT_INTERRUPTED
    end

    private

    def reset
      @flags = {}
      @config_path = nil
      @verbose = false
      @help = false
      @version = false
    end

    # ---- the commands ------------------------------------------------------

    def perform(command, identifier, controller)
      case command
      when "start" then start(controller, identifier)
      when "stop" then stop(controller, identifier)
      when "restart" then restart(controller, identifier)
      when "status" then status(controller)
      when "pid" then print_pid(controller)
      end
    rescue StandardError => e
      report_failure(command, identifier, e)
    end

    def start(controller, identifier)
      controller.start
      say("started #{identifier} (PID #{controller.pid})") if @verbose
      EXIT_SUCCESS
    end

    def stop(controller, identifier)
      was_running = controller.running? if @verbose
      controller.stop
      say(was_running ? "stopped #{identifier}" : "#{identifier} was not running") if @verbose
      EXIT_SUCCESS
    end

    def restart(controller, identifier)
      controller.restart
      say("restarted #{identifier} (PID #{controller.pid})") if @verbose
      EXIT_SUCCESS
    end

    def status(controller)
      pid = running_pid(controller)
      say(pid ? "running (PID #{pid})" : "not running")
      pid ? EXIT_SUCCESS : EXIT_NOT_RUNNING
    end

    def print_pid(controller)
      pid = running_pid(controller)
      say(pid.to_s) if pid
      pid ? EXIT_SUCCESS : EXIT_NOT_RUNNING
    end

    # The PID of the running daemon, or nil. `running?` also removes a stale
    # PID file, so a PID left by a dead daemon is never printed.
    def running_pid(controller)
      controller.pid if controller.running?
    end

    def new_controller(options)
      DaemonController.new(**options)
    rescue ArgumentError, TypeError => e
      # The library's own checks of a value (an unknown signal name, say).
      raise UsageError, e.message
    end

    def report_failure(command, identifier, error)
      @stderr.puts("#{PROGRAM}: cannot #{FAILURE_VERBS.fetch(command)} #{identifier}:")
      status = EXIT_STATUS_OF_ERROR.find { |klass, _| error.is_a?(klass) }&.last
      # The library's messages are made for people; anything else may be a
      # bug, and its class helps to find it.
      known = status || error.is_a?(DaemonController::Error) || error.is_a?(SystemCallError)
      @stderr.puts(known ? error.message : "#{error.message} (#{error.class})")
      status || EXIT_FAILURE
    end

    def say(line)
      @stdout.puts(line)
    end

    # ---- options -------------------------------------------------------------

    # The options for DaemonController.new: the config file's, overridden by
    # the flags, checked for what `command` needs, with defaults filled in.
    def controller_options(command)
      from_file = @config_path ? load_config(@config_path) : {}
      options = from_file.merge(@flags) do |name, file_value, flag_value|
        name == :env ? file_value.merge(flag_value) : flag_value
      end
      missing = requirements(command, options).reject { |name| options[name] }
      unless missing.empty?
        label = missing.size == 1 ? "missing option" : "missing options"
        raise UsageError, "#{label}: #{missing.map { |name| REQUIRED_FLAGS.fetch(name) }.join(", ")}"
      end

      options[:identifier] ||= options[:start_command] || options[:pid_file]
      NOT_USED_BY_STOP.merge(options)
    end

    def requirements(command, options)
      case command
      when "start" then START_REQUIREMENTS
      when "restart" then options[:restart_command] ? PID_FILE_ONLY : START_REQUIREMENTS
      else PID_FILE_ONLY
      end
    end

    def option_parser
      OptionParser.new do |opts|
        opts.program_name = PROGRAM
        # Abbreviated flags would break scripts as soon as a flag is added
        # (optparse before 0.2, in Ruby 2.7, always accepts them).
        opts.require_exact = true if opts.respond_to?(:require_exact=)
        opts.summary_indent = "  "
        opts.summary_width = 30

        opts.separator("Required by start and restart (stop, status, pid: only --pid-file):")
        string_flag(opts, :start_command, "--start-command CMD",
                    "command that starts the daemon; it must",
                    "exit 0 once the daemon is on its way")
        opts.on("--ping PING", "how to tell that the daemon is up: see",
                "\"Ping forms\" below") do |text|
          @flags[:ping_command] = parse_ping(text, "--ping")
        end
        string_flag(opts, :pid_file, "--pid-file PATH", "file the daemon writes its PID to")
        string_flag(opts, :log_file, "--log-file PATH",
                    "file the daemon logs to (quoted in reports)")

        opts.separator("")
        opts.separator("More about the daemon:")
        string_flag(opts, :identifier, "--identifier NAME",
                    "name used in messages (default: the start",
                    "command, or the PID file when there is none)")
        string_flag(opts, :lock_file, "--lock-file PATH", "lock file (default: the PID file + .lock)")
        string_flag(opts, :stop_command, "--stop-command CMD",
                    "command that stops the daemon (default:",
                    "send the graceful signal to its PID)")
        string_flag(opts, :restart_command, "--restart-command CMD",
                    "command that restarts the daemon",
                    "(default: stop, then start)")
        string_flag(opts, :stop_graceful_signal, "--stop-graceful-signal SIG",
                    "signal for a graceful stop (default: TERM)")
        opts.on("--env NAME=VALUE", "environment variable for the commands",
                "(repeatable)") do |text|
          name, value = text.split("=", 2)
          raise UsageError, "--env: #{text.inspect} is not NAME=VALUE" if value.nil? || name.empty?

          (@flags[:env] ||= {})[name] = value
        end
        opts.on("--[no-]daemonize-for-me", "run the commands detached, in a new",
                "session, for programs that do not",
                "daemonize themselves") do |value|
          @flags[:daemonize_for_me] = value
        end
        opts.on("--foreground", "for programs that stay in the foreground:",
                "detach them and write their PID file",
                "(--daemonize-for-me, and make_pid_file)") do
          @flags[:daemonize_for_me] = true
          @flags[:make_pid_file] = true
        end
        opts.on("--[no-]dont-stop-if-pid-file-invalid",
                "do not run --stop-command when the PID",
                "file holds no valid PID") do |value|
          @flags[:dont_stop_if_pid_file_invalid] = value
        end

        opts.separator("")
        opts.separator("Timeouts, in seconds (0 means no limit):")
        seconds_flag(opts, :start_timeout, "--start-timeout SECS",
                     "for the whole start (default: 30)")
        seconds_flag(opts, :stop_timeout, "--stop-timeout SECS",
                     "for a stop, before SIGKILL (default: 30)")
        seconds_flag(opts, :start_abort_timeout, "--start-abort-timeout SECS",
                     "when aborting a failed start, from",
                     "SIGTERM to SIGKILL (default: 10)")
        seconds_flag(opts, :log_file_activity_timeout, "--log-file-activity-timeout SECS",
                     "log-file silence after which a starting",
                     "daemon is taken to have died (default: 10)")
        seconds_flag(opts, :ping_interval, "--ping-interval SECS",
                     "longest pause between two pings",
                     "(default: 0.1)")

        opts.separator("")
        opts.separator("The command line itself:")
        opts.on("--config FILE", "read options from a YAML file (see",
                "\"Config file\" below)") do |path|
          @config_path = non_empty(path, "--config")
        end
        opts.on("--verbose", "say what was done (start, stop, restart)") { @verbose = true }
        opts.on("-h", "--help", "show this help") { @help = true }
        opts.on("--version", "print the version") { @version = true }
      end
    end

    def string_flag(opts, name, flag, *description)
      opts.on(flag, *description) { |text| @flags[name] = non_empty(text, flag.split.first) }
    end

    def seconds_flag(opts, name, flag, *description)
      opts.on(flag, *description) { |text| @flags[name] = seconds(text, flag.split.first) }
    end

    def non_empty(text, source)
      raise UsageError, "#{source}: must not be empty" if text.strip.empty?

      text
    end

    # A timeout or interval: a number of seconds, 0 or more. A config file
    # may also give nil (~), which the library takes as "no limit".
    def seconds(value, source)
      return nil if value.nil?

      number = value.is_a?(String) ? Float(value, exception: false) : value
      return number if number.is_a?(Numeric) && number.finite? && number >= 0

      raise UsageError, "#{source}: #{value.inspect} is not a number of seconds (0 or more)"
    end

    # "tcp:HOST:PORT", "unix:PATH", "http(s)://...", "notify", or a shell
    # command: the ping_command forms of the library.
    def parse_ping(text, source)
      case text
      when /\Atcp:/
        match = text.match(/\Atcp:\[?(?<host>[^\[\]]+?)\]?:(?<port>\d+)\z/)
        port = match && Integer(match[:port], 10)
        unless port&.between?(1, 65_535)
          raise UsageError, "#{source}: #{text.inspect} is not tcp:HOST:PORT (a port from 1 to 65535)"
        end

        [:tcp, match[:host], port]
      when /\Aunix:/
        path = text.delete_prefix("unix:")
        raise UsageError, "#{source}: #{text.inspect} is not unix:PATH" if path.empty?

        [:unix, path]
      when %r{\Ahttps?://.}i then [:http, text]
      when "notify" then [:notify]
      else non_empty(text, source)
      end
    end

    # ---- the config file -----------------------------------------------------

    def load_config(path)
      content = begin
        File.read(path)
      rescue SystemCallError => e
        raise UsageError, "--config: cannot read #{path}: #{e.message}"
      end
      data = begin
        YAML.safe_load(content, filename: path)
      rescue Psych::SyntaxError => e
        raise UsageError, "--config: #{path}:#{e.line}:#{e.column}: #{e.problem} #{e.context}".strip
      rescue Psych::Exception => e # an alias, or a tag or class that safe_load refuses
        raise UsageError, "--config: #{path}: #{e.message}"
      end
      return {} if data.nil?
      raise UsageError, "--config: #{path} must hold a mapping of option names to values" unless data.is_a?(Hash)

      data.each_with_object({}) do |(key, value), options|
        config_option(options, key.to_s, value, "#{path}: #{key}")
      end
    end

    def config_option(options, key, value, source)
      if RUBY_ONLY_OPTIONS.include?(key)
        raise UsageError, "#{source}: takes Ruby objects, which a config file cannot give"
      end

      kind = CONFIG_KEYS.fetch(key) { raise UsageError, "#{source}: unknown option" }
      # An empty value (`stop_command:`) is the same as leaving the key out,
      # except for timeouts, where the library takes nil as "no limit".
      return if value.nil? && kind != :seconds

      case kind
      when :string then options[key.to_sym] = config_string(value, source)
      when :ping then options[:ping_command] = parse_ping(config_string(value, source), source)
      when :seconds then options[key.to_sym] = seconds(value, source)
      when :boolean then options[key.to_sym] = config_boolean(value, source)
      when :foreground
        options[:daemonize_for_me] = options[:make_pid_file] = true if config_boolean(value, source)
      when :env then options[:env] = config_env(value, source)
      end
    end

    def config_string(value, source)
      raise UsageError, "#{source}: must be a String, not #{value.inspect}" unless value.is_a?(String)

      non_empty(value, source)
    end

    def config_boolean(value, source)
      return value if [true, false].include?(value)

      raise UsageError, "#{source}: must be true or false, not #{value.inspect}"
    end

    # Values may be written as YAML numbers or booleans (PORT: 8080); the
    # environment only holds strings. nil unsets the variable.
    def config_env(value, source)
      raise UsageError, "#{source}: must be a mapping of variable names to values" unless value.is_a?(Hash)

      value.to_h do |name, setting|
        name = name.to_s
        raise UsageError, "#{source}: #{name.inspect} is not a variable name" if name.empty? || name.include?("=")
        unless setting.nil? || [String, Numeric, TrueClass, FalseClass].any? { |kind| setting.is_a?(kind) }
          raise UsageError, "#{source}: the value of #{name} must be a String, not #{setting.inspect}"
        end

        [name, setting&.to_s]
      end
    end

    # ---- help and errors -----------------------------------------------------

    def show_help(parser, command)
      say(command ? command_help(parser, command) : general_help(parser))
      EXIT_SUCCESS
    end

    def show_version
      say("#{PROGRAM} #{DaemonController::VERSION_STRING}")
      EXIT_SUCCESS
    end

    def general_help(parser)
      commands = COMMANDS.map { |name, summary| format("  %-9s %s", name, summary) }.join("\n")
      <<~TEXT
        Usage: #{PROGRAM} COMMAND [OPTIONS]
               #{PROGRAM} COMMAND --help
               #{PROGRAM} --version

        Starts a daemon and waits until it answers, stops it with a timeout,
        and says why it did not start: for shell scripts, Procfiles and CI jobs.

        Commands:
        #{commands}

        #{options_summary(parser)}
        #{PING_FORMS}
        #{CONFIG_HELP}
        #{exit_statuses(COMMANDS.keys)}
      TEXT
    end

    def command_help(parser, command)
      <<~TEXT
        Usage: #{PROGRAM} #{command} [OPTIONS]

        #{COMMAND_DESCRIPTIONS.fetch(command)}
        #{REQUIREMENTS_HELP.fetch(command)}

        #{options_summary(parser)}
        #{PING_FORMS}
        #{CONFIG_HELP}
        #{exit_statuses([command])}
      TEXT
    end

    def options_summary(parser)
      lines = []
      parser.summarize { |line| lines << line }
      "Options:\n#{lines.join("\n")}\n"
    end

    def exit_statuses(commands)
      relevant = EXIT_STATUSES.select { |_, used_by, _| (used_by & commands).any? }
      lines = relevant.map do |status, _, meaning|
        meaning.lines.map.with_index do |line, index|
          index.zero? ? format("  %-4d%s", status, line.chomp) : "      #{line.chomp}"
        end
      end
      "Exit status:\n#{lines.join("\n")}"
    end

    def usage_error(error, argv)
      message = error.message
      if error.is_a?(OptionParser::InvalidOption) && error.args.first.to_s.start_with?("--keep-ios")
        message += " (keep_ios takes Ruby IO objects: there is no flag for it)"
      end
      command = argv.find { |word| COMMANDS.key?(word) }
      @stderr.puts("#{PROGRAM}: #{message}")
      @stderr.puts("Run '#{[PROGRAM, command, "--help"].compact.join(" ")}' for usage.")
      EXIT_USAGE
    end
  end
end
