# frozen_string_literal: true

require "open3"
require "pty"

# Runs exe/daemon_controller the way a shell script would, in a subprocess,
# and looks only at what a script sees: exit status, stdout and stderr.
module CliSpecHelper
  ROOT = File.expand_path("../..", __dir__)
  EXECUTABLE = File.join(ROOT, "exe", "daemon_controller")
  # Far more than any command here takes; a hang fails instead of blocking.
  TIME_LIMIT = 20

  CliResult = Struct.new(:status, :stdout, :stderr)

  def cli_command_line(*args)
    [RbConfig.ruby, "-I#{File.join(ROOT, "lib")}", EXECUTABLE, *args.map(&:to_s)]
  end

  # `env` adds to the environment; `prefix` goes before the command line (to run
  # it as another user, say).
  def run_cli(*args, env: {}, prefix: [])
    Open3.popen3(env, *prefix, *cli_command_line(*args)) do |stdin, stdout, stderr, waiter|
      stdin.close
      readers = [stdout, stderr].map { |io| Thread.new { io.read } }
      unless waiter.join(TIME_LIMIT)
        Process.kill("KILL", waiter.pid)
        raise "daemon_controller #{args.join(" ")} did not exit within #{TIME_LIMIT} s"
      end
      # A daemon that inherited these pipes would keep them open after the
      # command has exited, and a script reading its output would hang.
      output, errors = readers.map do |reader|
        reader.join(5) or raise "something still holds the output of daemon_controller #{args.first}"
        reader.value
      end
      CliResult.new(waiter.value.exitstatus, output, errors)
    end
  end

  # The flags that describe the test daemon of this example; `daemon_flags`
  # go to the test daemon itself. identifier: nil leaves --identifier out.
  def cli_flags(*daemon_flags, identifier: "test daemon")
    flags = ["--start-command", daemon_command(*standard_flags, *daemon_flags),
             "--ping", "tcp:127.0.0.1:#{port}", "--pid-file", pid_file, "--log-file", log_file,
             "--start-timeout", "10", "--stop-timeout", "10", "--start-abort-timeout", "3"]
    identifier ? ["--identifier", identifier, *flags] : flags
  end

  # The first line of every failure report.
  def cannot(verb, identifier = "test daemon")
    "daemon_controller: cannot #{verb} #{identifier}:\n"
  end

  # A start command, through /bin/sh, that writes $GREETING and $NAME to
  # `path` before starting the test daemon.
  def env_reporting_command(path)
    "printf '%s %s' \"$GREETING\" \"$NAME\" > #{path.shellescape} && #{daemon_command(*standard_flags)}"
  end

  # Runs a shell script in `chdir` with `daemon_controller` on its PATH, as
  # the README's examples are run; returns its output and status.
  def run_shell_with_tool(script, chdir:)
    bin = File.join(tmpdir, "bin")
    FileUtils.mkdir_p(bin)
    File.write(File.join(bin, "daemon_controller"), "#!/bin/sh\nexec #{cli_command_line.shelljoin} \"$@\"\n")
    File.chmod(0o755, File.join(bin, "daemon_controller"))
    Open3.capture2e({ "PATH" => "#{bin}:#{ENV.fetch("PATH")}" }, "sh", "-c", script, chdir: chdir)
  end

  # A code block of the README: the first whose text matches `pattern`.
  def readme_block(pattern)
    readme = File.read(File.join(ROOT, "README.md"))
    readme.scan(/^```\w*\n(.*?)^```/m).flatten.find { |block| block.match?(pattern) } or
      raise "the README has no code block matching #{pattern.inspect}"
  end

  # Whether a pseudo-terminal can be opened here (not in a root whose /dev
  # lacks /dev/pts).
  def terminals_available?
    PTY.open { true }
  rescue SystemCallError, RuntimeError
    false
  end

  # Runs the tool on a pseudo-terminal, as a person at a terminal would;
  # returns the exit status and everything written to the terminal (stdout
  # and stderr together).
  def run_cli_on_terminal(*args, env: {})
    result = nil
    PTY.spawn(env, *cli_command_line(*args)) do |terminal, _input, pid|
      output = +""
      Timeout.timeout(TIME_LIMIT) do
        loop { output << terminal.readpartial(4096) }
      rescue EOFError, Errno::EIO # EIO: the terminal's last writer has exited
        nil
      end
      _, status = Process.wait2(pid)
      result = CliResult.new(status.exitstatus, output, nil)
    end
    result
  end
end
