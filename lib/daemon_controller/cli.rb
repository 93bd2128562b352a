# frozen_string_literal: true

# The `daemon_controller` command (exe/daemon_controller): start, stop,
# restart, status and pid of a daemon, for shell scripts, Procfiles and CI
# jobs. Every option of DaemonController.new that can be written in a shell
# has a flag, and the same options can come from a YAML file (--config); both
# come from DaemonController::OPTIONS (cli/option_parsing.rb). The exit
# statuses are listed in CLI::EXIT_STATUSES, which --help prints.

require "daemon_controller"
require "optparse"
require "yaml"
require "daemon_controller/cli/option_parsing"
require "daemon_controller/cli/help"

class DaemonController
  # The command-line interface. `CLI.new.run(ARGV)` returns the exit status;
  # it never raises for a failure of the daemon or of the user's input.
  class CLI
    include OptionParsing
    include Help

    PROGRAM = "daemon_controller"

    # What one command does: a line for the command list, a paragraph for
    # its own help, the verb of "cannot ..." when it fails, the options it
    # needs (given the others, as restart needs less with a restart command)
    # and the method that runs it.
    Command = Struct.new(:summary, :description, :verb, :requirements, :action, keyword_init: true)

    # The options start needs from the user. The library insists on
    # :identifier too, but the tool names the daemon itself (see
    # #controller_options).
    START_REQUIREMENTS = (DaemonController::OPTIONS.select { |_, row| row[:mandatory] }.keys - [:identifier]).freeze
    PID_FILE_ONLY = %i[pid_file].freeze

    COMMANDS = {
      "start" => Command.new(
        summary: "start the daemon; return once it answers the ping", verb: "start",
        requirements: ->(_options) { START_REQUIREMENTS }, action: :start,
        description: <<~TEXT
          Starts the daemon: runs the start command, waits until the PID file
          appears and the ping succeeds, and exits 0 once the daemon answers.
          Prints nothing unless --verbose. If the daemon does not come up, the
          report on stderr holds what the command printed and what the log file
          gained meanwhile.
        TEXT
      ),
      "stop" => Command.new(
        summary: "stop the daemon (not running is no error)", verb: "stop",
        requirements: ->(_options) { PID_FILE_ONLY }, action: :stop,
        description: <<~TEXT
          Stops the daemon: runs --stop-command if given, otherwise sends the
          graceful signal (--stop-graceful-signal) to the PID in the PID file
          and waits until that process has exited. A daemon still running after
          --stop-timeout is killed with SIGKILL. A daemon that is not running
          is no error.
        TEXT
      ),
      "restart" => Command.new(
        summary: "run --restart-command, or stop, then start", verb: "restart",
        requirements: ->(options) { options[:restart_command] ? PID_FILE_ONLY : START_REQUIREMENTS },
        action: :restart,
        description: <<~TEXT
          Restarts the daemon: runs --restart-command if given, otherwise stops
          the daemon (if it is running) and starts it.
        TEXT
      ),
      "status" => Command.new(
        summary: "print \"running (PID n)\" or \"not running\"", verb: "get the status of",
        requirements: ->(_options) { PID_FILE_ONLY }, action: :status,
        description: <<~TEXT
          Prints "running (PID n)" and exits 0 when the daemon is running;
          prints "not running" and exits 3 otherwise (deleting a stale PID file).
        TEXT
      ),
      "pid" => Command.new(
        summary: "print the daemon's PID", verb: "get the PID of",
        requirements: ->(_options) { PID_FILE_ONLY }, action: :print_pid,
        description: <<~TEXT
          Prints the daemon's PID and exits 0 when it is running; prints nothing
          and exits 3 otherwise.
        TEXT
      )
    }.freeze

    # An exit status: its number, the library exception it stands for (if
    # any), the commands that can end with it and what it means (for --help).
    ExitStatus = Struct.new(:code, :error, :commands, :meaning)

    EXIT_STATUSES = {
      success: ExitStatus.new(0, nil, COMMANDS.keys,
                              "success (start: started; stop: stopped, or was not running;\n" \
                              "restart: restarted; status: running; pid: printed)"),
      failure: ExitStatus.new(1, nil, COMMANDS.keys, "other error (a file that cannot be written, say)"),
      already_started: ExitStatus.new(2, AlreadyStarted, %w[start restart], "start: the daemon is already running"),
      not_running: ExitStatus.new(3, nil, %w[status pid], "status, pid: the daemon is not running"),
      start_error: ExitStatus.new(4, StartError, %w[start restart], "start, restart: the daemon failed to start"),
      start_timeout: ExitStatus.new(5, StartTimeout, %w[start restart],
                                    "start, restart: the daemon did not answer within\n--start-timeout"),
      stop_error: ExitStatus.new(6, StopError, %w[stop restart], "stop, restart: the stop command failed or timed out"),
      stop_timeout: ExitStatus.new(7, StopTimeout, %w[stop restart],
                                   "stop, restart: the daemon did not exit within\n--stop-timeout " \
                                   "(it was killed with SIGKILL)"),
      usage: ExitStatus.new(64, nil, COMMANDS.keys,
                            "usage error: unknown command or flag, missing or\ninvalid option"),
      interrupted: ExitStatus.new(130, nil, COMMANDS.keys, "interrupted (Ctrl-C)")
    }.freeze

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

      options = controller_options(COMMANDS.fetch(command))
      perform(command, options[:identifier], new_controller(options))
    rescue OptionParser::ParseError, UsageError => e
      usage_error(e, argv)
    rescue Interrupt
      @stderr.puts("#{PROGRAM}: interrupted")
      exit_code(:interrupted)
    end

    private

    def reset
      @flags = {}
      @config_path = nil
      @verbose = false
      @help = false
      @version = false
    end

    def exit_code(name)
      EXIT_STATUSES.fetch(name).code
    end

    # ---- the commands ------------------------------------------------------

    def perform(command, identifier, controller)
      __send__(COMMANDS.fetch(command).action, controller, identifier)
    rescue StandardError => e
      report_failure(command, identifier, e)
    end

    def start(controller, identifier)
      controller.start
      say("started #{identifier} (PID #{controller.pid})") if @verbose
      exit_code(:success)
    end

    def stop(controller, identifier)
      was_running = controller.running? if @verbose
      controller.stop
      say(was_running ? "stopped #{identifier}" : "#{identifier} was not running") if @verbose
      exit_code(:success)
    end

    def restart(controller, identifier)
      controller.restart
      say("restarted #{identifier} (PID #{controller.pid})") if @verbose
      exit_code(:success)
    end

    def status(controller, _identifier)
      pid = running_pid(controller)
      say(pid ? "running (PID #{pid})" : "not running")
      exit_code(pid ? :success : :not_running)
    end

    def print_pid(controller, _identifier)
      pid = running_pid(controller)
      say(pid.to_s) if pid
      exit_code(pid ? :success : :not_running)
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
      @stderr.puts("#{PROGRAM}: cannot #{COMMANDS.fetch(command).verb} #{identifier}:")
      status = EXIT_STATUSES.each_value.find { |exit_status| exit_status.error && error.is_a?(exit_status.error) }
      # The library's messages are made for people; anything else may be a
      # bug, and its class helps to find it.
      known = status || error.is_a?(DaemonController::Error) || error.is_a?(SystemCallError)
      @stderr.puts(known ? error.message : "#{error.message} (#{error.class})")
      status ? status.code : exit_code(:failure)
    end

    def say(line)
      @stdout.puts(line)
    end

    def usage_error(error, argv)
      message = error.message
      if error.is_a?(OptionParser::InvalidOption) && error.args.first.to_s.start_with?("--keep-ios")
        message += " (keep_ios takes Ruby IO objects: there is no flag for it)"
      end
      command = argv.find { |word| COMMANDS.key?(word) }
      @stderr.puts("#{PROGRAM}: #{message}")
      @stderr.puts("Run '#{[PROGRAM, command, "--help"].compact.join(" ")}' for usage.")
      exit_code(:usage)
    end
  end
end
