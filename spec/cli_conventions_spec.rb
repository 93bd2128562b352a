# frozen_string_literal: true

require_relative "spec_helper"
require_relative "support/cli"
require "daemon_controller/cli"
require "json"

# The conventions scripts rely on: how flags parse, exit statuses, --json,
# and what a start does around the library (directories, a ping that already
# answers, Ctrl-C, reports, the terminal).
# A value of each kind as a flag's text, and the option it becomes.
CLI_FLAG_VALUES = {
  name: %w[web web], command: ["bin/server --daemon", "bin/server --daemon"],
  string: ["bin/stop now", "bin/stop now"], path: %w[tmp/x.pid tmp/x.pid],
  ping: ["tcp:127.0.0.1:9", [:tcp, "127.0.0.1", 9]], seconds: ["2.5", 2.5], signal: %w[HUP HUP],
  env: ["A=b=c", { "A" => "b=c" }]
}.freeze

RSpec.describe "exe/daemon_controller conventions" do
  include CliSpecHelper

  # What the tool makes of a command line; the options every command may
  # need come first, in both forms, so that the flag under test decides.
  def parse(command, *argv)
    required = { "--start-command" => "true", "--ping" => "notify", "--pid-file" => "x.pid", "--log-file" => "x.log" }
    spaced = required.flat_map { |flag, value| [flag, value] }
    joined = required.map { |flag, value| "#{flag}=#{value}" }
    options = [spaced, joined].map { |base| DaemonController::CLI.new.parse_arguments([command, *base, *argv]).last }
    expect(options.first).to eq(options.last)
    options.first
  end

  describe "flags, generated from the option table" do
    flagged = DaemonController::OPTIONS.select { |_, row| row[:flag] }

    DaemonController::CLI::COMMANDS.each_key do |command|
      flagged.each do |name, row|
        flag = row[:flag].split.first
        if row[:kind] == :boolean
          bare = flag.sub("[no-]", "")
          negated = flag.sub("[no-]", "no-")
          it "#{command}: #{bare} and #{negated}" do
            expect(parse(command, bare)[name]).to be(true)
            expect(parse(command, bare, negated)[name]).to be(false)
          end
        else
          text, value = CLI_FLAG_VALUES.fetch(row[:kind])
          it "#{command}: #{flag} VALUE and #{flag}=VALUE" do
            expect(parse(command, flag, text)[name]).to eq(value)
            expect(parse(command, "#{flag}=#{text}")[name]).to eq(value)
          end
        end
      end
    end

    it "accepts every flag in the --flag=VALUE form from the shell" do
      equals_forms = flagged.map do |name, row|
        flag = row[:flag].split.first
        next flag.sub("[no-]", "") if row[:kind] == :boolean
        next "#{flag}=#{pid_file}" if name == :pid_file
        next "#{flag}=#{File.join(tmpdir, "x.lock")}" if name == :lock_file

        "#{flag}=#{CLI_FLAG_VALUES.fetch(row[:kind]).first}"
      end
      expect(run_cli("status", *equals_forms)).to have_attributes(status: 3, stdout: "not running\n", stderr: "")
      expect(run_cli("stop", *equals_forms, "--start-timeout", "3")).to have_attributes(status: 0, stderr: "")
    end

    it "refuses abbreviations, naming the flags they could stand for" do
      result = run_cli("status", "--pid", pid_file)
      expect(result).to have_attributes(status: 64, stdout: "")
      expect(result.stderr).to start_with("daemon_controller: invalid option: --pid " \
                                          "(flags are not abbreviated: --pid-file)\n")
      expect(run_cli("start", "--start", "x").stderr)
        .to include("--start (flags are not abbreviated: --start-command, --start-timeout, --start-abort-timeout)")
      expect(run_cli("status", "--pidfile=#{pid_file}").stderr)
        .to include("invalid option: --pidfile=#{pid_file} (did you mean --pid-file?)")
    end

    it "takes a value that starts with -- as the value of the flag before it" do
      expect(parse("stop", "--stop-command", "--bogus")[:stop_command]).to eq("--bogus")
    end

    it "names the flag the user typed when the library rejects its value" do
      result = run_cli("stop", "--pid-file", pid_file, "--stop-graceful-signal=BOGUS")
      expect(result).to have_attributes(status: 64, stdout: "")
      expect(result.stderr.lines.first)
        .to eq("daemon_controller: --stop-graceful-signal: unknown signal \"BOGUS\"\n")

      config = File.join(tmpdir, "daemon.yml")
      File.write(config, "pid_file: #{pid_file}\nstop_graceful_signal: BOGUS\n")
      expect(run_cli("stop", "--config", config).stderr.lines.first)
        .to eq("daemon_controller: #{config}: stop_graceful_signal: unknown signal \"BOGUS\"\n")
    end

    it "answers a misspelt config key with what may have been meant" do
      config = File.join(tmpdir, "daemon.yml")
      { "ping: tcp:127.0.0.1:9" => "ping: unknown option (did you mean ping_command?)",
        "pid-file: x.pid" => "pid-file: unknown option (did you mean pid_file?)",
        "pid_fiel: x.pid" => "pid_fiel: unknown option (did you mean pid_file?)",
        "frobnicate: 1" => "frobnicate: unknown option\n" }.each do |content, message|
        File.write(config, content)
        result = run_cli("stop", "--config", config)
        expect(result.status).to eq(64)
        expect(result.stderr).to include("#{config}: #{message}")
      end
    end
  end

  describe "status and pid" do
    it "use the LSB exit codes: 0 running, 1 dead with a PID file, 3 not running, 4 unknown" do
      expect(run_cli("start", *cli_flags).status).to eq(0)
      expect(run_cli("status", "--pid-file", pid_file).status).to eq(0)
      daemon = read_pid_file
      Process.kill("KILL", daemon)
      eventually { !process_alive?(daemon) }
      expect(run_cli("status", "--pid-file", pid_file).status).to eq(1)
      expect(read_pid_file).to eq(daemon)
      File.delete(pid_file)
      expect(run_cli("status", "--pid-file", pid_file).status).to eq(3)

      Dir.mkdir(pid_file) # a PID file that cannot be read
      unknown = run_cli("status", "--pid-file", pid_file)
      expect(unknown).to have_attributes(status: 4, stdout: "")
      expect(unknown.stderr).to start_with(cannot("get the status of", pid_file))
      expect(run_cli("pid", "--pid-file", pid_file).status).to eq(4)
    end

    it "print one JSON object with --json" do
      expect(run_cli("start", *cli_flags).status).to eq(0)
      daemon = read_pid_file
      %w[status pid].each do |command|
        result = run_cli(command, "--pid-file", pid_file, "--json")
        expect(result).to have_attributes(status: 0, stderr: "")
        expect(result.stdout.lines.size).to eq(1)
        object = JSON.parse(result.stdout)
        expect(object).to include("running" => true, "pid" => daemon, "pid_file" => pid_file,
                                  "command" => cmdline(daemon).split("\0").join(" "))
        expect(object["uptime"]).to be_a(Numeric).and(be >= 0)
      end
      expect(run_cli("stop", *cli_flags).status).to eq(0)
      expect(JSON.parse(run_cli("status", "--pid-file", pid_file, "--json").stdout))
        .to eq("running" => false, "pid" => nil, "pid_file" => pid_file, "uptime" => nil, "command" => nil)
    end

    it "read the PID file without the lock for a user who cannot write the lock file, saying so with --verbose" do
      expect(run_cli("start", *cli_flags).status).to eq(0)
      daemon = read_pid_file
      File.chmod(0o755, tmpdir)
      File.chmod(0o644, pid_file)
      File.delete("#{pid_file}.lock")
      # nobody, for root; the owner of a read-only directory otherwise.
      prefix = if Process.uid.zero?
                 [RbConfig.ruby, "-e", "Process::Sys.setgid(65_534); Process::Sys.setuid(65_534); exec(*ARGV)"]
               else
                 File.chmod(0o555, tmpdir)
                 []
               end
      begin
        result = run_cli("status", "--pid-file", pid_file, "--verbose", prefix: prefix)
        expect(result).to have_attributes(status: 0, stdout: "running (PID #{daemon})\n")
        expect(result.stderr).to eq("daemon_controller: cannot lock #{pid_file}.lock (Permission denied); " \
                                    "reading the PID file without the lock\n")
        expect(run_cli("pid", "--pid-file", pid_file, prefix: prefix))
          .to have_attributes(status: 0, stdout: "#{daemon}\n", stderr: "")
      ensure
        File.chmod(0o700, tmpdir)
      end
    end
  end

  describe "start" do
    it "exits 0 with --ok-if-running when the daemon already runs" do
      expect(run_cli("start", *cli_flags).status).to eq(0)
      daemon = read_pid_file
      expect(run_cli("start", *cli_flags, "--ok-if-running", "--verbose"))
        .to have_attributes(status: 0, stdout: "test daemon is already running (PID #{daemon})\n", stderr: "")
      expect(run_cli("start", *cli_flags).status).to eq(2)
    end

    it "refuses with exit 8 when something else already answers the ping, starting nothing" do
      holder = TCPServer.new("127.0.0.1", port)
      result = run_cli("start", *cli_flags)
      expect(result).to have_attributes(
        status: 8, stdout: "",
        stderr: "#{cannot("start")}tcp:127.0.0.1:#{port} already answers, but #{pid_file} names no running " \
                "daemon: another program holds the address. Nothing was started.\n"
      )
      expect(File.exist?(track_file)).to be(false)
    ensure
      holder&.close
    end

    it "creates the missing parent directories of the PID, lock and log files, as mkdir -p would" do
      fresh = File.join(tmpdir, "fresh")
      files = ["--pid-file", File.join(fresh, "tmp", "daemon.pid"), "--log-file", File.join(fresh, "log", "daemon.log"),
               "--lock-file", File.join(fresh, "locks", "daemon.lock")]
      start_command = daemon_command("--port", port, "--pid-file", files[1], "--log-file", files[3],
                                     "--track-file", track_file)
      result = run_cli("start", *cli_flags, *files, "--start-command", start_command, "--verbose")
      expect(result.status).to eq(0), result.stderr
      %w[tmp log locks].each do |name|
        directory = File.join(fresh, name)
        expect(result.stdout).to include("created directory #{directory}\n")
        expect(File.stat(directory).mode & 0o777).to eq(0o777 & ~File.umask)
      end
    end

    it "stops the half-started daemon on Ctrl-C and exits 130, so that the next start starts it" do
      flags = cli_flags("--wait-before-listen", "30") + ["--start-timeout", "60"]
      _, err, waiter = Open3.popen3(*cli_command_line("start", *flags)).values_at(0, 2, 3)
      eventually(10) { read_pid_file && process_alive?(read_pid_file) }
      daemon = read_pid_file
      Process.kill("INT", waiter.pid)
      expect(waiter.join(CliSpecHelper::TIME_LIMIT)&.value&.exitstatus).to eq(130)
      expect(err.read).to include("interrupted; stopping what was started")
      expect(process_alive?(daemon)).to be(false)
      expect(run_cli("start", *cli_flags).status).to eq(0)
    end

    it "leaves the half-started daemon running on Ctrl-C with --keep-on-interrupt" do
      flags = cli_flags("--wait-before-listen", "30") + ["--start-timeout", "60", "--keep-on-interrupt"]
      waiter = Open3.popen3(*cli_command_line("start", *flags)).last
      eventually(10) { read_pid_file && process_alive?(read_pid_file) }
      Process.kill("INT", waiter.pid)
      expect(waiter.join(CliSpecHelper::TIME_LIMIT)&.value&.exitstatus).to eq(130)
      expect(process_alive?(read_pid_file)).to be(true)
    end

    it "runs the README's foreground example as written, in a fresh directory" do
      skip "python3 is not installed" unless system("command -v python3 >/dev/null")
      command = /^daemon_controller start --foreground \\\n(?:  .*\n)+/
      example = readme_block(command)[command]
      fresh = File.join(tmpdir, "fresh")
      Dir.mkdir(fresh)
      errors, status = run_shell_with_tool(example.gsub("8000", port.to_s), chdir: fresh)
      begin
        expect(status.exitstatus).to eq(0), errors
        expect(File.stat(File.join(fresh, "tmp")).mode & 0o777).to eq(0o777 & ~File.umask)
        expect(File.directory?(File.join(fresh, "log"))).to be(true)
      ensure
        run_cli("stop", "--pid-file", File.join(fresh, "tmp", "web.pid"))
      end
    end

    it "runs the commands in --chdir DIR" do
      app = File.join(tmpdir, "app")
      Dir.mkdir(app)
      start = "pwd > started-in && #{daemon_command(*standard_flags)}"
      expect(run_cli("start", *cli_flags, "--start-command", start, "--chdir=#{app}"))
        .to have_attributes(status: 0, stderr: "")
      expect(File.read(File.join(app, "started-in"))).to eq("#{app}\n")
    end

    it "shows the last 20 lines of the output and of the log, and where the full log is" do
      command = "seq 1 30000; seq 1 40000 >> #{log_file.shellescape}; exit 3"
      result = run_cli("start", *cli_flags, "--start-command", command)
      expect(result.status).to eq(4)
      # The library keeps the last 64 KiB of each and says how many bytes it
      # left out; the tool adds how many of the kept lines it leaves out.
      left_out = lambda do |count|
        full = (1..count).map { |n| "#{n}\n" }.join
        "[#{full.bytesize - 65_536} earlier bytes and #{full[-65_536..].strip.lines.size - 20} lines left out]"
      end
      expected_tail = [
        left_out.call(30_000), *(29_981..30_000).map(&:to_s),
        left_out.call(40_000), *(39_981..40_000).map(&:to_s),
        "(exited with status 3)", "full log: #{log_file}"
      ]
      expect(result.stderr).to eq("#{cannot("start")}#{expected_tail.join("\n")}\n")
    end
  end

  describe "on a terminal" do
    before { skip "no pseudo-terminals here (/dev/pts is not mounted)" unless terminals_available? }

    it "shows one status line while start waits, cleared at the end, and none with --quiet" do
      slow = cli_flags("--wait-before-listen", "1.5")
      shown = run_cli_on_terminal("start", *slow)
      expect(shown.status).to eq(0)
      expect(shown.stdout).to match(/\r\e\[Kwaiting for tcp:127\.0\.0\.1:#{port} \.\.\. \d+\.\d s/)
      expect(shown.stdout).to end_with("\r\e[K")
      expect(run_cli("stop", *slow).status).to eq(0)

      quiet = run_cli_on_terminal("start", *slow, "--quiet")
      expect(quiet).to have_attributes(status: 0, stdout: "")
    end

    it "puts the headline of a failure in colour, unless NO_COLOR is set" do
      failing = cli_flags("--exit-before-fork", "3")
      coloured = run_cli_on_terminal("start", *failing)
      expect(coloured.status).to eq(4)
      expect(coloured.stdout).to start_with("\e[1;31mdaemon_controller: cannot start test daemon:\e[0m\r\n")
      plain = run_cli_on_terminal("start", *failing, env: { "NO_COLOR" => "1" })
      expect(plain.stdout).to start_with("daemon_controller: cannot start test daemon:\r\n")
      expect(run_cli("start", *failing).stderr).not_to include("\e[")
    end
  end
end
