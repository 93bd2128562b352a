# frozen_string_literal: true

require_relative "spec_helper"
require "daemon_controller/version"
require_relative "support/cli"
require "yaml"

RSpec.describe "exe/daemon_controller" do
  include CliSpecHelper

  describe "managing a daemon" do
    it "starts, reports, restarts and stops it" do
      started = run_cli("start", *cli_flags)
      expect(started).to have_attributes(status: 0, stdout: "", stderr: "")
      daemon = read_pid_file
      expect(process_alive?(daemon)).to be(true)
      expect(echo("hello")).to eq("hello\n")

      expect(run_cli("status", *cli_flags))
        .to have_attributes(status: 0, stdout: "running (PID #{daemon})\n", stderr: "")
      expect(run_cli("pid", "--pid-file", pid_file)).to have_attributes(status: 0, stdout: "#{daemon}\n", stderr: "")

      restarted = run_cli("restart", *cli_flags, "--verbose")
      new_daemon = read_pid_file
      expect(new_daemon).not_to eq(daemon)
      expect(restarted).to have_attributes(status: 0, stdout: "restarted test daemon (PID #{new_daemon})\n", stderr: "")
      expect(process_alive?(daemon)).to be(false)
      expect(process_alive?(new_daemon)).to be(true)

      expect(run_cli("stop", *cli_flags)).to have_attributes(status: 0, stdout: "", stderr: "")
      expect(process_alive?(new_daemon)).to be(false)
      expect(File.exist?(pid_file)).to be(false)

      expect(run_cli("status", "--pid-file", pid_file))
        .to have_attributes(status: 3, stdout: "not running\n", stderr: "")
      expect(run_cli("pid", "--pid-file", pid_file)).to have_attributes(status: 3, stdout: "", stderr: "")
    end

    it "says what it did with --verbose" do
      started = run_cli("start", *cli_flags, "--verbose")
      expect(started).to have_attributes(status: 0, stdout: "started test daemon (PID #{read_pid_file})\n", stderr: "")
      expect(run_cli("stop", *cli_flags, "--verbose")).to have_attributes(status: 0, stdout: "stopped test daemon\n")
      expect(run_cli("stop", *cli_flags, "--verbose"))
        .to have_attributes(status: 0, stdout: "test daemon was not running\n", stderr: "")
    end

    it "exits 2 when the daemon is already running, naming it by its start command by default" do
      flags = cli_flags(identifier: nil)
      expect(run_cli("start", *flags).status).to eq(0)
      daemon = read_pid_file

      again = run_cli("start", *flags)
      command = daemon_command(*standard_flags)
      expect(again).to have_attributes(status: 2, stdout: "",
                                       stderr: "#{cannot("start", command)}Daemon '#{command}' is already started\n")
      expect(read_pid_file).to eq(daemon)
    end

    it "reports a stale PID file as a dead daemon (LSB status 1), leaving the file in place" do
      dead = unused_pid
      write_pid_file(dead)
      expect(run_cli("status", "--pid-file", pid_file))
        .to have_attributes(status: 1, stdout: "dead (PID #{dead}), but #{pid_file} remains\n", stderr: "")
      expect(run_cli("pid", "--pid-file", pid_file)).to have_attributes(status: 1, stdout: "", stderr: "")
      expect(read_pid_file).to eq(dead)
    end
  end

  describe "start failures" do
    it "exits 4 and reports the daemon's log when the daemon crashes" do
      result = run_cli("start", *cli_flags("--crash-before-listen"))
      expect(result.status).to eq(4)
      expect(result.stdout).to eq("")
      expect(result.stderr).to start_with(cannot("start"))
      expect(result.stderr).to include("crashing, as instructed")
      expect(result.stderr).not_to match(/\.rb:\d+:in /) # no backtrace
    end

    {
      [] => "(exited with status 1)",
      ["--crash-signal", "KILL"] => "(terminated with signal SIGKILL)"
    }.each do |crash, ending|
      it "reports how a --foreground program that died before answering ended: #{ending}" do
        program = daemon_command(*standard_flags, "--no-daemonize", "--no-pid-file", "--crash-before-listen", *crash)
        result = run_cli("start", *cli_flags, "--start-command", program, "--foreground")
        expect(result).to have_attributes(status: 4, stdout: "")
        expect(result.stderr).to include("crashing, as instructed\n#{ending}\nfull log: #{log_file}\n")
      end
    end

    it "prints the library's message exactly: the command's output and how it exited" do
      result = run_cli("start", *cli_flags("--message-before-log", "bad config line 3", "--exit-before-fork", "3"))
      expect(result).to have_attributes(status: 4, stdout: "",
                                        stderr: "#{cannot("start")}bad config line 3\n(exited with status 3)\n")
    end

    it "exits 5 when the daemon does not answer within --start-timeout, and stops it" do
      result = nil
      took = elapsed { result = run_cli("start", *cli_flags("--wait-before-listen", "5"), "--start-timeout", "0.5") }
      expect(result.status).to eq(5)
      expect(result.stderr).to start_with(cannot("start"))
      expect(result.stderr).to include("(timed out)\n")
      expect(result.stderr)
        .to match(/^waited \d+\.\d s for the ping tcp:127\.0\.0\.1:#{port}; last ping: no connection; sent SIGTERM$/)
      expect(took).to be < 4
      tracked = File.read(track_file).split.map(&:to_i)
      expect(tracked.none? { |pid| process_alive?(pid) }).to be(true)
    end

    it "exits 1, without a backtrace, naming the directory it cannot create" do
      File.write(File.join(tmpdir, "a-file"), "")
      blocked = File.join(tmpdir, "a-file", "tmp")
      result = run_cli("start", *cli_flags, "--pid-file", File.join(blocked, "daemon.pid"))
      expect(result).to have_attributes(
        status: 1, stdout: "",
        stderr: "#{cannot("start")}cannot create directory #{blocked}: #{File.dirname(blocked)} is not a directory\n"
      )
      expect(File.exist?(track_file)).to be(false) # nothing was started
    end
  end

  describe "stop failures" do
    it "exits 7 when the daemon ignores SIGTERM past --stop-timeout, and kills it" do
      expect(run_cli("start", *cli_flags("--ignore-sigterm")).status).to eq(0)
      daemon = read_pid_file

      result = run_cli("stop", *cli_flags, "--stop-timeout", "0.5")
      expect(result).to have_attributes(
        status: 7, stdout: "",
        stderr: "#{cannot("stop")}Daemon 'test daemon' did not exit in time (force killed)\n"
      )
      expect(process_alive?(daemon)).to be(false)
    end

    it "exits 6 with the stop command's output when the stop command fails" do
      expect(run_cli("start", *cli_flags).status).to eq(0)
      daemon = read_pid_file

      result = run_cli("stop", *cli_flags, "--stop-command", "echo refusing to stop; exit 3")
      expect(result).to have_attributes(status: 6, stdout: "",
                                        stderr: "#{cannot("stop")}refusing to stop\n(exited with status 3)\n")
      expect(process_alive?(daemon)).to be(true)
    end
  end

  describe "options" do
    it "passes every --env to the commands" do
      report = File.join(tmpdir, "env")
      flags = cli_flags + ["--start-command", env_reporting_command(report)]
      result = run_cli("start", *flags, "--env", "GREETING=hello", "--env", "NAME=a b=c")
      expect(result).to have_attributes(status: 0, stderr: "")
      expect(File.read(report)).to eq("hello a b=c")
    end

    it "reads a YAML --config file, and the flags override it" do
      report = File.join(tmpdir, "env")
      config = File.join(tmpdir, "daemon.yml")
      File.write(config, YAML.dump(
                           "identifier" => "from the file",
                           "start_command" => env_reporting_command(report),
                           "ping_command" => "tcp:127.0.0.1:#{port}",
                           "pid_file" => pid_file,
                           "log_file" => log_file,
                           "start_timeout" => 10,
                           "stop_timeout" => 10,
                           "env" => { "GREETING" => "hi", "NAME" => "file" }
                         ))

      result = run_cli("start", "--config", config, "--identifier", "from the flags", "--env", "NAME=flag", "--verbose")
      expect(result)
        .to have_attributes(status: 0, stdout: "started from the flags (PID #{read_pid_file})\n", stderr: "")
      expect(File.read(report)).to eq("hi flag")
      expect(run_cli("status", "--config", config).stdout).to eq("running (PID #{read_pid_file})\n")
      expect(run_cli("stop", "--config", config, "--verbose").stdout).to eq("stopped from the file\n")
      expect(File.exist?(pid_file)).to be(false)
    end

    it "lets a timeout given as a flag override the config file's" do
      config = File.join(tmpdir, "daemon.yml")
      File.write(config, YAML.dump(
                           "start_command" => daemon_command(*standard_flags, "--wait-before-listen", "0.8"),
                           "ping_command" => "tcp:127.0.0.1:#{port}",
                           "pid_file" => pid_file,
                           "log_file" => log_file,
                           "start_timeout" => 0.2
                         ))
      expect(run_cli("start", "--config", config, "--start-timeout", "10")).to have_attributes(status: 0, stderr: "")
      expect(port_open?).to be(true)
    end

    it "runs a program that stays in the foreground with --foreground, writing its PID file" do
      flags = cli_flags + ["--start-command", daemon_command(*standard_flags, "--no-daemonize", "--no-pid-file"),
                           "--foreground"]
      expect(run_cli("start", *flags)).to have_attributes(status: 0, stdout: "", stderr: "")
      daemon = read_pid_file
      expect(cmdline(daemon)).to include("test_daemon")
      expect(echo("in the foreground")).to eq("in the foreground\n")
      expect(run_cli("status", *flags).stdout).to eq("running (PID #{daemon})\n")

      expect(run_cli("stop", *flags)).to have_attributes(status: 0, stderr: "")
      expect(process_alive?(daemon)).to be(false)
    end

    {
      "http://127.0.0.1:PORT/" => ["--http-port", "PORT", "--http-after", "0.3"],
      "notify" => ["--ready-after", "0.3"]
    }.each do |ping, program_flags|
      it "waits for a --ping #{ping} that succeeds only after 0.3 s" do
        program = [RbConfig.ruby, File.expand_path("support/readiness_daemon.rb", __dir__),
                   *program_flags.map { |flag| flag.sub("PORT", port.to_s) }]
        flags = ["--start-command", program.shelljoin, "--foreground", "--ping", ping.sub("PORT", port.to_s),
                 "--pid-file", pid_file, "--log-file", log_file, "--start-timeout", "10"]
        result = nil
        took = elapsed { result = run_cli("start", *flags) }
        daemon = track_pid(read_pid_file) # it is no test_daemon: kill_leftovers needs its PID
        expect(result).to have_attributes(status: 0, stdout: "", stderr: "")
        expect(took).to be >= 0.3

        expect(run_cli("stop", *flags)).to have_attributes(status: 0, stderr: "")
        expect(process_alive?(daemon)).to be(false)
      end
    end

    it "pings a Unix socket given as unix:PATH" do
      flags = cli_flags("--unix-socket", unix_socket_path) + ["--ping", "unix:#{unix_socket_path}"]
      expect(run_cli("start", *flags)).to have_attributes(status: 0, stderr: "")
      expect(File.socket?(unix_socket_path)).to be(true)
    end

    it "pings with a shell command given as any other text" do
      flags = cli_flags + ["--ping", "test -S #{unix_socket_path.shellescape}", "--start-command",
                           daemon_command(*standard_flags, "--unix-socket", unix_socket_path)]
      expect(run_cli("start", *flags)).to have_attributes(status: 0, stderr: "")
      expect(File.socket?(unix_socket_path)).to be(true)
    end
  end

  describe "help" do
    it "prints the general help for --help, -h and help, whatever else is missing" do
      ["--help", "-h", "help"].each do |flag|
        result = run_cli(flag)
        expect(result).to have_attributes(status: 0, stderr: "")
        expect(result.stdout).to start_with("Usage: daemon_controller COMMAND [OPTIONS]\n")
        expect(result.stdout).to include("start", "stop", "restart", "status", "pid", "Exit status:",
                                         "--start-command CMD", "--ping PING", "tcp:HOST:PORT", "--config FILE",
                                         "keep_ios", "  64  usage error", "--flag=VALUE", "--ok-if-running",
                                         "--keep-on-interrupt", "--json", "--quiet", "--chdir DIR",
                                         "  8   start: something already answers --ping")
        expect(result.stdout.lines.map { |line| line.chomp.size }.max).to be <= 80
      end
    end

    {
      "start" => ["  2   start: the daemon is already running", "  5   start, restart"],
      "stop" => ["  7   stop, restart", "  6   stop, restart"],
      "restart" => ["  4   start, restart", "  7   stop, restart"],
      "status" => ["  3   status, pid: the daemon is not running"],
      "pid" => ["  3   status, pid: the daemon is not running"]
    }.each do |command, exit_statuses|
      it "prints the help of #{command} for `#{command} --help` and `help #{command}`" do
        [[command, "--help"], ["help", command], [command, "--pid-file", pid_file, "-h"]].each do |args|
          result = run_cli(*args)
          expect(result).to have_attributes(status: 0, stderr: "")
          expect(result.stdout).to start_with("Usage: daemon_controller #{command} [OPTIONS]\n")
          expect(result.stdout).to include("--pid-file PATH", "--stop-timeout SECS", *exit_statuses)
          expect(result.stdout.lines.map { |line| line.chomp.size }.max).to be <= 80
        end
      end
    end

    it "prints the version for --version" do
      expect(run_cli("--version"))
        .to have_attributes(status: 0, stdout: "daemon_controller #{DaemonController::VERSION_STRING}\n", stderr: "")
    end
  end

  describe "usage errors" do
    def expect_usage_error(args, message)
      result = run_cli(*args)
      expect(result.status).to eq(64), "#{args.inspect}: exit #{result.status}, stderr #{result.stderr.inspect}"
      expect(result.stdout).to eq("")
      first_line, hint = result.stderr.lines
      expect(first_line).to start_with("daemon_controller: ")
      expect(first_line).to include(message)
      expect(hint).to match(/\ARun 'daemon_controller( \w+)? --help' for usage\.\n\z/)
    end

    it "rejects unknown or abbreviated flags, unknown commands and stray arguments" do
      expect_usage_error(["start", *cli_flags, "--bogus"], "invalid option: --bogus")
      expect_usage_error(["status", "--pid", pid_file], "invalid option: --pid")
      expect_usage_error(["start", *cli_flags, "--keep-ios", "3"], "there is no flag for it")
      expect_usage_error(["launch", "--pid-file", pid_file], "unknown command: launch")
      expect_usage_error([], "no command given")
      expect_usage_error(["stop", "now", "--pid-file", pid_file], "unexpected argument: now")
    end

    it "names the mandatory options that are missing" do
      expect_usage_error(["stop"], "missing option: --pid-file")
      flags_without_pid_file = cli_flags.each_slice(2).reject { |flag, _| flag == "--pid-file" }.flatten
      expect_usage_error(["start", *flags_without_pid_file], "missing option: --pid-file")
      expect_usage_error(["start", "--pid-file", pid_file], "missing options: --start-command, --ping, --log-file")
    end

    it "rejects malformed values" do
      expect_usage_error(["start", *cli_flags, "--ping", "tcp:localhost"],
                         '--ping: "tcp:localhost" is not tcp:HOST:PORT')
      expect_usage_error(["start", *cli_flags, "--ping", "tcp:localhost:99999"], "is not tcp:HOST:PORT")
      expect_usage_error(["start", *cli_flags, "--ping", "unix:"], '--ping: "unix:" is not unix:PATH')
      expect_usage_error(["start", *cli_flags, "--start-timeout", "soon"],
                         '--start-timeout: "soon" is not a number of seconds')
      expect_usage_error(["stop", *cli_flags, "--stop-timeout", "-1"],
                         '--stop-timeout: "-1" is not a number of seconds')
      expect_usage_error(["start", *cli_flags, "--env", "NOVALUE"], '--env: "NOVALUE" is not NAME=VALUE')
      expect_usage_error(["start", *cli_flags, "--pid-file"], "missing argument: --pid-file")
      expect_usage_error(["stop", *cli_flags, "--stop-graceful-signal", "BOGUS"], 'unknown signal "BOGUS"')
      expect(File.exist?(track_file)).to be(false) # nothing was started
    end

    it "rejects a config file it cannot use, naming the file and the key" do
      config = File.join(tmpdir, "daemon.yml")
      {
        "pid_file: [unclosed" => "--config: #{config}:1:11: did not find expected ',' or ']'",
        "pid_file: :symbol" => "--config: #{config}: Tried to load unspecified class: Symbol",
        "- just a list" => "must hold a mapping of option names to values",
        "pid_fiel: x.pid" => "#{config}: pid_fiel: unknown option",
        "pid_file: x.pid\nstop_timeout: soon" => "#{config}: stop_timeout: \"soon\" is not a number of seconds",
        "pid_file: x.pid\nping_command: 'tcp:nowhere'" =>
          "#{config}: ping_command: \"tcp:nowhere\" is not tcp:HOST:PORT",
        "pid_file: x.pid\nkeep_ios: [1]" => "#{config}: keep_ios: takes Ruby objects",
        "pid_file: 42" => "#{config}: pid_file: must be a String"
      }.each do |content, message|
        File.write(config, content)
        expect_usage_error(["stop", "--config", config], message)
      end
      expect_usage_error(["stop", "--config", File.join(tmpdir, "missing.yml")], "cannot read")
    end
  end
end
