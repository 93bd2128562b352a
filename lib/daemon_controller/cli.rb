# frozen_string_literal: true

# The `daemon_controller` command (exe/daemon_controller): start, stop,
# restart, status and pid of a daemon, for shell scripts, Procfiles and CI
# jobs. Every option of DaemonController.new that can be written in a shell
# has a flag, and the same options can come from a YAML file (--config); both
# come from DaemonController::OPTIONS (cli/option_parsing.rb). The exit
# statuses are listed in CLI::EXIT_STATUSES, which --help prints.

require "daemon_controller"
require "did_you_mean"
require "fiddle"
require "fileutils"
require "json"
require "optparse"
require "pathname"
require "yaml"
require "daemon_controller/cli/option_parsing"
require "daemon_controller/cli/help"
require "daemon_controller/cli/process_info"
require "daemon_controller/cli/reports"

class DaemonController
  # The command-line interface. `CLI.new.run(ARGV)` returns the exit status;
  # it never raises for a failure of the daemon or of the user's input.
  class CLI
    include OptionParsing
    include Help
    include Reports

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
          Prints nothing unless --verbose; on a terminal, a status line shows
          what it waits for after half a second (not with --quiet).
          Creates missing parent directories of the PID, lock and log files.
          Refuses (exit 8) when something already answers the ping but the PID
          file names no running daemon: another program holds the address.
          If the daemon does not come up, the report on stderr holds the last
          20 lines of what the command printed and of what the log file gained
          meanwhile, and the log file's path. Ctrl-C stops what was started,
          unless --keep-on-interrupt.
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
        summary: "print \"running (PID n)\", \"dead (PID n) ...\" or \"not running\"",
        verb: "get the status of", requirements: ->(_options) { PID_FILE_ONLY }, action: :status,
        description: <<~TEXT
          Prints the daemon's state and exits with the LSB status code:
          "running (PID n)", 0; "dead (PID n), but PID_FILE remains", 1 (the
          file is left in place); "not running", 3; unknown (the PID file
          cannot be read), 4. Reads the PID file under the shared lock, or
          without it when the lock file cannot be opened (--verbose says so).
          --json prints one JSON object instead. LSB's 2 ("dead, but the lock
          file exists") is not used: the lock file is never deleted.
        TEXT
      ),
      "pid" => Command.new(
        summary: "print the daemon's PID", verb: "get the PID of",
        requirements: ->(_options) { PID_FILE_ONLY }, action: :print_pid,
        description: <<~TEXT
          Prints the daemon's PID and exits 0 when it is running; prints nothing
          otherwise, exiting as status does (1 dead, 3 not running, 4 unknown).
          --json prints the JSON object of status instead.
        TEXT
      )
    }.freeze

    # Raised when something answers the ping before the start command runs.
    class PingAlreadyAnswers < StandardError; end

    # An exit status: its number, the exception it stands for (if any), the
    # commands that can end with it and what it means (for --help).
    ExitStatus = Struct.new(:code, :error, :commands, :meaning)

    EXIT_STATUSES = {
      success: ExitStatus.new(0, nil, COMMANDS.keys,
                              "success (start: started; stop: stopped, or was not running;\n" \
                              "restart: restarted; status: running; pid: printed)"),
      failure: ExitStatus.new(1, nil, %w[start stop restart], "other error (a file that cannot be written, say)"),
      dead: ExitStatus.new(1, nil, %w[status pid], "status, pid: the daemon is dead, but its PID file remains"),
      already_started: ExitStatus.new(2, AlreadyStarted, %w[start restart],
                                      "start: the daemon is already running (0 with --ok-if-running)"),
      not_running: ExitStatus.new(3, nil, %w[status pid], "status, pid: the daemon is not running"),
      unknown: ExitStatus.new(4, nil, %w[status pid], "status, pid: unknown (the PID file cannot be read)"),
      start_error: ExitStatus.new(4, StartError, %w[start restart], "start, restart: the daemon failed to start"),
      start_timeout: ExitStatus.new(5, StartTimeout, %w[start restart],
                                    "start, restart: the daemon did not answer within\n--start-timeout"),
      stop_error: ExitStatus.new(6, StopError, %w[stop restart], "stop, restart: the stop command failed or timed out"),
      stop_timeout: ExitStatus.new(7, StopTimeout, %w[stop restart],
                                   "stop, restart: the daemon did not exit within\n--stop-timeout " \
                                   "(it was killed with SIGKILL)"),
      ping_answers: ExitStatus.new(8, PingAlreadyAnswers, %w[start],
                                   "start: something already answers --ping, and the PID\n" \
                                   "file names no running daemon (nothing was started)"),
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
      command, options = parse_arguments(argv)
      return show_help(@parser, command) if @help
      return show_version if @version

      perform(command, options, new_controller(options))
    rescue OptionParser::ParseError, UsageError => e
      usage_error(e, argv)
    rescue Interrupt
      @stderr.puts("#{PROGRAM}: interrupted")
      exit_code(:interrupted)
    end

    # The command and the options for DaemonController.new that `argv`
    # gives (no options for --help and --version).
    def parse_arguments(argv)
      reset
      @parser = option_parser
      refuse_abbreviations(@parser, argv)
      command, *extra = @parser.permute(argv)
      if command == "help" # `help [COMMAND]`, as git and gem have it
        @help = true
        command, *extra = extra
      end
      raise UsageError, "unknown command: #{command}" if command && !COMMANDS.key?(command)
      return [command, nil] if @help || @version
      raise UsageError, "no command given" unless command
      raise UsageError, "unexpected argument: #{extra.first}" unless extra.empty?

      [command, controller_options(COMMANDS.fetch(command))]
    end

    private

    def reset
      @flags = {}
      @flag_sources = {}
      @config_path = nil
      @help = false
      @version = false
      TOOL_FLAGS.each_value { |variable, _| instance_variable_set(variable, false) }
    end

    def exit_code(name)
      EXIT_STATUSES.fetch(name).code
    end

    # ---- the commands ------------------------------------------------------

    def perform(command, options, controller)
      @options = options
      __send__(COMMANDS.fetch(command).action, controller, options[:identifier])
    rescue StandardError => e
      report_failure(command, options[:identifier], e)
    end

    def start(controller, identifier)
      make_parent_directories
      refuse_if_ping_answers(controller)
      adopt_orphans
      stopping_on_interrupt(controller) { with_status_line { controller.start } }
      say("started #{identifier} (PID #{controller.pid})") if @verbose
      exit_code(:success)
    rescue AlreadyStarted
      raise unless @ok_if_running

      say("#{identifier} is already running (PID #{controller.pid})") if @verbose
      exit_code(:success)
    end

    def stop(controller, identifier)
      was_running = controller.running? if @verbose
      controller.stop
      say(was_running ? "stopped #{identifier}" : "#{identifier} was not running") if @verbose
      exit_code(:success)
    end

    def restart(controller, identifier)
      make_parent_directories
      adopt_orphans
      stopping_on_interrupt(controller) { with_status_line { controller.restart } }
      say("restarted #{identifier} (PID #{controller.pid})") if @verbose
      exit_code(:success)
    end

    def status(controller, _identifier)
      state = daemon_state(controller)
      say(@json ? JSON.generate(state.to_json_object) : state.description)
      exit_code(state.exit_status)
    end

    def print_pid(controller, _identifier)
      state = daemon_state(controller)
      if @json
        say(JSON.generate(state.to_json_object))
      elsif state.running?
        say(state.pid.to_s)
      end
      exit_code(state.exit_status)
    end

    def new_controller(options)
      DaemonController.new(**options)
    rescue ArgumentError, TypeError => e
      # The library's own checks of a value (an unknown signal name, say),
      # which name the option as Ruby does: name it as the user typed it.
      raise UsageError, e.message.gsub(/option :(\w+)/) { |ruby_name|
                          @sources.fetch(Regexp.last_match(1).to_sym, ruby_name)
                        }
    end

    # ---- start's checks and cleanup ----------------------------------------

    # Creates the missing parent directories of the PID, lock and log files
    # (with the umask's mode, as mkdir -p does), or says which one it could
    # not create.
    def make_parent_directories
      directories = @options.values_at(:pid_file, :lock_file, :log_file).compact.map { |path| File.dirname(path.to_s) }
      directories.uniq.reject { |directory| File.directory?(directory) }.each do |directory|
        FileUtils.mkdir_p(directory)
        say("created directory #{directory}") if @verbose
      rescue SystemCallError => e
        in_the_way = Pathname(directory).ascend.find { |path| path.exist? && !path.directory? }
        reason = in_the_way ? "#{in_the_way} is not a directory" : e.message.sub(/ @ .*/, "")
        raise DaemonController::Error, "cannot create directory #{directory}: #{reason}"
      end
    end

    # Something that answers the ping before the start command has run is
    # not the daemon, unless the PID file names a running one (then start
    # says "already started").
    def refuse_if_ping_answers(controller)
      return if @options[:ping_command] == [:notify] || controller.running?
      return unless controller.__send__(:run_ping_command)

      raise PingAlreadyAnswers, "#{ping_text} already answers, but #{@options[:pid_file]} names no running " \
                                "daemon: another program holds the address. Nothing was started."
    end

    # prctl(2)'s option (Linux) that makes the orphans of our descendants
    # our children.
    PR_SET_CHILD_SUBREAPER = 36

    # A program run with --foreground is detached: once its start command
    # has exited, only its new parent can learn how it ended. As that
    # parent, the tool lets the library reap a program that dies before it
    # answers and put its exit status or signal in the report. Where there
    # is no prctl, init adopts it and the report cannot say.
    def adopt_orphans
      long = Fiddle::TYPE_LONG
      prctl = Fiddle::Function.new(Fiddle::Handle::DEFAULT["prctl"], [Fiddle::TYPE_INT, long, long, long, long],
                                   Fiddle::TYPE_INT)
      prctl.call(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    rescue Fiddle::DLError
      nil
    end

    # Ctrl-C during a start stops what was started, so that no orphan is
    # left for the next start to call "already started".
    def stopping_on_interrupt(controller)
      yield
    rescue Interrupt
      unless @keep_on_interrupt
        @stderr.puts("#{PROGRAM}: interrupted; stopping what was started (--keep-on-interrupt keeps it)")
        begin
          controller.stop
        rescue DaemonController::Error, SystemCallError => e
          @stderr.puts("#{PROGRAM}: cannot stop #{@options[:identifier]}: #{e.message}")
        end
      end
      raise
    end

    # ---- status and pid ----------------------------------------------------

    # The daemon as the PID file tells it: running, dead (the file names a
    # process that is gone) or not running (no file, or no PID in it).
    DaemonState = Struct.new(:pid, :pid_file, :process, :alive, keyword_init: true) do
      def running?
        alive
      end

      def exit_status
        return :not_running unless pid

        alive ? :success : :dead
      end

      def description
        return "not running" unless pid

        alive ? "running (PID #{pid})" : "dead (PID #{pid}), but #{pid_file} remains"
      end

      def to_json_object
        { running: alive, pid: pid, pid_file: File.expand_path(pid_file.to_s),
          uptime: alive ? process.uptime : nil, command: alive ? process.command_line : nil }
      end
    end

    def daemon_state(controller)
      pid_file = @options[:pid_file]
      pid = pid_from_file(controller)
      process = pid && ProcessInfo.new(pid)
      written = begin
        File.mtime(pid_file)
      rescue SystemCallError
        nil
      end
      DaemonState.new(pid: pid, pid_file: pid_file, process: process, alive: process&.alive?(written) || false)
    end

    # The PID the file holds, read under the shared lock; without it when
    # the lock file cannot be opened (a user who may read the PID file but
    # not write beside it, or a read-only file system).
    def pid_from_file(controller)
      controller.pid
    rescue Errno::EACCES, Errno::EPERM, Errno::EROFS, Errno::ENOENT => e
      lock_file = @options[:lock_file] || "#{@options[:pid_file]}.lock"
      if @verbose
        @stderr.puts("#{PROGRAM}: cannot lock #{lock_file} (#{e.message.sub(/ @ .*| - .*/, "")}); " \
                     "reading the PID file without the lock")
      end
      read_pid_without_lock
    end

    def read_pid_without_lock
      File.read(@options[:pid_file].to_s)[/\A\s*(\d+)\s*\z/, 1]&.to_i
    rescue Errno::ENOENT
      nil
    end

    # ---- output ------------------------------------------------------------

    def report_failure(command, identifier, error)
      @stderr.puts(highlight("#{PROGRAM}: cannot #{COMMANDS.fetch(command).verb} #{identifier}:"))
      status = EXIT_STATUSES.each_value.find do |exit_status|
        exit_status.error && error.is_a?(exit_status.error) && exit_status.commands.include?(command)
      end
      # The library's messages are made for people; anything else may be a
      # bug, and its class helps to find it.
      known = status || error.is_a?(DaemonController::Error) || error.is_a?(SystemCallError)
      @stderr.puts(known ? failure_report(error) : "#{error.message} (#{error.class})")
      return status.code if status

      exit_code(EXIT_STATUSES.fetch(:failure).commands.include?(command) ? :failure : :unknown)
    end

    def say(line)
      @stdout.puts(line)
    end

    def usage_error(error, argv)
      command = argv.find { |word| COMMANDS.key?(word) }
      @stderr.puts("#{PROGRAM}: #{error.message}")
      @stderr.puts("Run '#{[PROGRAM, command, "--help"].compact.join(" ")}' for usage.")
      exit_code(:usage)
    end
  end
end
