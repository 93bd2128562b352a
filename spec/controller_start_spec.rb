# frozen_string_literal: true

require_relative "spec_helper"

RSpec.describe DaemonController, "#start" do
  describe "success" do
    it "returns true once the daemon answers pings, and the daemon is usable" do
      controller = new_controller
      expect(controller.start).to be(true)
      expect(echo("hello")).to eq("hello\n")
      daemon = read_pid_file
      expect(daemon).to be_a(Integer)
      expect(process_alive?(daemon)).to be(true)
      expect(controller.pid).to eq(daemon)
      expect(controller.running?).to be(true)
    end

    it "does not return before the daemon is pingable (slow listen)" do
      controller = new_controller(["--wait-before-listen", "0.5"])
      took = elapsed { expect(controller.start).to be(true) }
      expect(port_open?).to be(true)
      expect(took).to be >= 0.4
      expect(took).to be < 5
    end

    it "waits for a PID file that appears late" do
      controller = new_controller(["--wait-before-pid", "0.5"])
      took = elapsed { expect(controller.start).to be(true) }
      expect(took).to be >= 0.4
      expect(read_pid_file).to be_a(Integer)
    end

    it "starts quickly (well under a second for a fast daemon)" do
      controller = new_controller
      expect(elapsed { controller.start }).to be < 1.5
    end

    it "runs a start command with shell syntax through /bin/sh" do
      marker = File.join(tmpdir, "shell-ran")
      command = "touch #{marker.shellescape} && #{daemon_command(*standard_flags)}"
      controller = new_controller(start_command: command)
      expect(controller.start).to be(true)
      expect(File.exist?(marker)).to be(true)
      expect(echo("via shell")).to eq("via shell\n")
    end

    it "execs a start command without shell metacharacters directly (the spawned PID is the program's own)" do
      controller = new_controller
      result = controller.send(:run_command, daemon_command(*standard_flags))
      expect(result).to be_a(DaemonController::InternalCommandOkResult)
      first_pid = File.read(track_file).split.first.to_i
      expect(result.pid).to eq(first_pid)
    end

    it "accepts a callable start_command returning the command String" do
      calls = 0
      command = daemon_command(*standard_flags)
      controller = new_controller(start_command: lambda {
        calls += 1
        command
      })
      expect(controller.start).to be(true)
      expect(calls).to eq(1)
      expect(port_open?).to be(true)
    end

    it "accepts a Method as start_command" do
      command = daemon_command(*standard_flags)
      holder = Object.new
      holder.define_singleton_method(:command) { command }
      controller = new_controller(start_command: holder.method(:command))
      expect(controller.start).to be(true)
    end

    it "runs before_start before calling a callable start_command, once each" do
      events = []
      command = daemon_command(*standard_flags)
      controller = new_controller(before_start: -> { events << :before_start },
                                  start_command: lambda {
                                    events << :start_command
                                    command
                                  })
      controller.start
      expect(events).to eq(%i[before_start start_command])
    end

    it "runs before_start under the exclusive start lock" do
      held = nil
      controller = new_controller(before_start: lambda {
        held = !system("flock", "-n", "-s", "#{pid_file}.lock", "true")
      })
      controller.start
      expect(held).to be(true)
    end

    it "takes the exclusive lock (waits while another process holds a shared lock)" do
      controller = new_controller
      spawn_lock_holder("-s", "#{pid_file}.lock")
      expect { Timeout.timeout(0.5) { controller.start } }.to raise_error(Timeout::Error)
      expect(port_open?).to be(false)
    end

    it "deletes an existing PID file before before_start runs" do
      File.write(pid_file, "garbage\n")
      seen = :not_called
      controller = new_controller(before_start: -> { seen = File.exist?(pid_file) })
      controller.start
      expect(seen).to be(false)
    end

    it "deletes a stale PID file and starts" do
      write_pid_file(unused_pid)
      controller = new_controller
      expect(controller.start).to be(true)
      expect(read_pid_file).not_to be_nil
      expect(process_alive?(read_pid_file)).to be(true)
    end

    it "ignores a PID file that names a reused PID, without signalling that process", :process_table do
      sleeper = pid_file_naming_a_reused_pid
      allow(Process).to receive(:kill).and_call_original
      controller = new_controller
      expect(controller.start).to be(true)
      expect(read_pid_file).not_to eq(sleeper)
      expect(Process).not_to have_received(:kill).with(anything, sleeper)
      expect(process_alive?(sleeper)).to be(true)
    end

    it "can be started again after a stop" do
      controller = new_controller
      controller.start
      first = read_pid_file
      controller.stop
      expect(controller.start).to be(true)
      expect(read_pid_file).not_to eq(first)
      expect(echo("again")).to eq("again\n")
    end
  end

  describe "AlreadyStarted" do
    it "raises AlreadyStarted with the identifier when the daemon is running" do
      controller = new_controller(identifier: "my daemon")
      controller.start
      daemon = read_pid_file
      expect { controller.start }.to raise_error(DaemonController::AlreadyStarted,
                                                 "Daemon 'my daemon' is already started")
      expect(read_pid_file).to eq(daemon)
      expect(process_alive?(daemon)).to be(true)
    end

    it "does not run before_start or spawn anything when already started" do
      sleeper = spawn_sleeper
      write_pid_file(sleeper)
      ran = false
      controller = new_controller(before_start: -> { ran = true })
      expect(controller).not_to receive(:spawn_daemon)
      expect { controller.start }.to raise_error(DaemonController::AlreadyStarted)
      expect(ran).to be(false)
      expect(File.read(pid_file).strip).to eq(sleeper.to_s)
    end
  end

  describe "failures" do
    it "raises StartError with the output and exit status when the start command exits non-zero" do
      controller = new_controller(start_command: daemon_command("--message-before-log", "hello world",
                                                                "--exit-before-fork", "1"))
      expect { controller.start }.to raise_error(DaemonController::StartError, "hello world\n(exited with status 1)")
    end

    it "raises StartError '(logs empty; exited with status 1)' when nothing was printed" do
      controller = new_controller(start_command: daemon_command("--exit-before-fork", "1"))
      expect { controller.start }.to raise_error(DaemonController::StartError, "(logs empty; exited with status 1)")
    end

    it "raises StartError naming the signal when the start command is killed by one" do
      controller = new_controller(start_command: daemon_command("--signal-before-fork", "XCPU"))
      expect { controller.start }.to raise_error(DaemonController::StartError,
                                                 "(logs empty; terminated with signal SIGXCPU)")
    end

    it "raises StartError with the log content when the daemon crashes after forking" do
      controller = new_controller(["--crash-before-listen"])
      expect { controller.start }.to raise_error(DaemonController::StartError,
                                                 /\A\[test_daemon \d+\] crashing, as instructed\z/)
    end

    it "detects a crash after forking promptly (not by a timeout)" do
      controller = new_controller(["--crash-before-listen"], start_timeout: 20, log_file_activity_timeout: 20)
      took = elapsed { expect { controller.start }.to raise_error(DaemonController::StartError) }
      expect(took).to be < 5
    end

    it "detects a crash by signal after forking" do
      controller = new_controller(["--crash-before-listen", "--crash-signal", "KILL"])
      expect { controller.start }.to raise_error(DaemonController::StartError, /crashing, as instructed/)
    end

    it "reports only what the log file gained since the start" do
      File.write(log_file, "old line from before\n")
      controller = new_controller(["--crash-before-listen"])
      expect { controller.start }.to raise_error(DaemonController::StartError) { |e|
        expect(e.message).to include("crashing, as instructed")
        expect(e.message).not_to include("old line from before")
      }
    end

    it "raises StartError (not Errno) mentioning a start command that cannot be executed" do
      missing = File.join(tmpdir, "no-such-program")
      controller = new_controller(start_command: "#{missing} --flag")
      expect { controller.start }.to raise_error(DaemonController::StartError, /no-such-program/)
    end

    it "falls back as Dir.tmpdir does when TMPDIR names a missing directory, capturing output all the same" do
      saved = ENV.fetch("TMPDIR", nil)
      ENV["TMPDIR"] = "/nonexistent"
      failing = new_controller(["--message-before-log", "no config", "--exit-before-fork", "3"])
      expect { failing.start }.to raise_error(DaemonController::StartError, "no config\n(exited with status 3)")
      controller = new_controller
      expect(controller.start).to be(true)
      controller.stop
    ensure
      ENV["TMPDIR"] = saved
    end

    it "says getcwd failed when relative paths meet a working directory that was removed, as the original does" do
      gone = File.join(tmpdir, "gone")
      Dir.mkdir(gone)
      Dir.chdir(gone) do
        Dir.rmdir(gone)
        expect { new_controller(pid_file: "daemon.pid") }.to raise_error(Errno::ENOENT, /getcwd/)
      end
    end

    it "raises StartError for a missing program run through the shell" do
      missing = File.join(tmpdir, "no-such-program")
      controller = new_controller(start_command: "#{missing} --flag 2>&1")
      expect { controller.start }.to raise_error(DaemonController::StartError, /exited with status 127/)
    end

    it "raises StartError when the daemon dies between the PID file and a successful ping" do
      controller = new_controller(["--crash-before-listen", "--wait-before-pid", "0.2"])
      expect { controller.start }.to raise_error(DaemonController::StartError)
      expect(port_open?).to be(false)
    end

    it "propagates an exception raised by before_start, without spawning" do
      controller = new_controller(before_start: -> { raise ArgumentError, "before_start failed" })
      expect(controller).not_to receive(:spawn_daemon)
      expect { controller.start }.to raise_error(ArgumentError, "before_start failed")
    end

    it "releases the lock after a failed start" do
      controller = new_controller(start_command: daemon_command("--exit-before-fork", "1"))
      expect { controller.start }.to raise_error(DaemonController::StartError)
      expect(system("flock", "-n", "-x", "#{pid_file}.lock", "true")).to be(true)
    end
  end

  describe "no PID file" do
    it "raises StartTimeout after log_file_activity_timeout of log silence, with '(timed out)'" do
      controller = new_controller(["--no-pid-file"], log_file_activity_timeout: 0.5, start_timeout: 15)
      took = elapsed do
        expect { controller.start }.to raise_error(DaemonController::StartTimeout, /\(timed out\)\z/) { |e|
          expect(e.message).to match(/\A\[test_daemon \d+\] listening\n\(timed out\)\z/)
        }
      end
      expect(took).to be < 5
    end

    it "keeps waiting while the log file is active" do
      # A background loop keeps writing to the log while the daemon takes
      # 1.2 s to write its PID file, twice the activity timeout.
      ticker = "(for i in 1 2 3 4 5 6 7; do sleep 0.2; echo tick >> #{log_file.shellescape}; done) " \
               ">/dev/null 2>&1 &"
      command = "#{ticker} #{daemon_command(*standard_flags, "--wait-before-pid", "1.2")}"
      controller = new_controller(start_command: command, log_file_activity_timeout: 0.6)
      expect(controller.start).to be(true)
    end

    it "times out for log inactivity when the same daemon's log is silent" do
      controller = new_controller(["--wait-before-pid", "1.5"], log_file_activity_timeout: 0.5)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
    end

    it "does not time out for log inactivity while the log file does not exist yet (a failed stat is activity)" do
      command = "sleep 0.4; #{daemon_command(*standard_flags, "--wait-before-pid", "0.4")}"
      controller = new_controller(start_command: "(#{command}) >/dev/null 2>&1 &", log_file_activity_timeout: 0.6)
      expect(controller.start).to be(true)
    end
  end

  describe "environment and descriptors" do
    it "adds env to the daemon's environment" do
      marker = File.join(tmpdir, "touched")
      controller = new_controller(["--touch-env", "DC_TOUCH_ME"], env: { "DC_TOUCH_ME" => marker })
      controller.start
      expect(File.exist?(marker)).to be(true)
    end

    it "unsets a variable whose env value is nil" do
      ENV["DC_SPEC_UNSET_ME"] = "present"
      out = File.join(tmpdir, "env.txt")
      command = "echo \"${DC_SPEC_UNSET_ME-unset}\" > #{out.shellescape}; exec #{daemon_command(*standard_flags)}"
      controller = new_controller(start_command: command, env: { "DC_SPEC_UNSET_ME" => nil })
      controller.start
      expect(File.read(out).strip).to eq("unset")
    ensure
      ENV.delete("DC_SPEC_UNSET_ME")
    end

    it "does not change our own environment" do
      controller = new_controller(env: { "DC_SPEC_ONLY_CHILD" => "yes" })
      controller.start
      expect(ENV.key?("DC_SPEC_ONLY_CHILD")).to be(false)
    end

    it "passes keep_ios descriptors to the start command at the same numbers" do
      reader, writer = IO.pipe
      command = "echo kept > /dev/fd/#{writer.fileno}; exec #{daemon_command(*standard_flags)}"
      controller = new_controller(start_command: command, keep_ios: [writer])
      controller.start
      writer.close
      expect(reader.wait_readable(3)).to be_truthy
      expect(reader.gets).to eq("kept\n")
    ensure
      reader&.close
      writer&.close unless writer&.closed?
    end

    it "does not pass descriptors that are not in keep_ios, even without close-on-exec" do
      reader, writer = IO.pipe
      writer.close_on_exec = false
      command = "echo leaked 2>/dev/null > /dev/fd/#{writer.fileno}; exec #{daemon_command(*standard_flags)}"
      controller = new_controller(start_command: command)
      controller.start
      writer.close
      # Nobody else holds the write end: EOF, nothing written.
      expect(reader.wait_readable(3)).to be_truthy
      expect(reader.read).to eq("")
    ensure
      reader&.close
      writer&.close unless writer&.closed?
    end

    it "runs the start command with stdin from /dev/null" do
      out = File.join(tmpdir, "stdin.txt")
      command = "readlink /proc/$$/fd/0 > #{out.shellescape}; exec #{daemon_command(*standard_flags)}"
      controller = new_controller(start_command: command)
      controller.start
      expect(File.read(out).strip).to eq("/dev/null")
    end

    it "with daemonize_for_me, runs a foreground program detached in a new session" do
      controller = new_controller(["--no-daemonize"], daemonize_for_me: true, start_timeout: 5)
      expect(controller.start).to be(true)
      daemon = read_pid_file
      stat = File.read("/proc/#{daemon}/stat")
      fields = stat[(stat.rindex(")") + 2)..].split
      expect(fields[3].to_i).not_to eq(Process.getsid)
      expect(fields[1].to_i).not_to eq(Process.pid)
      expect(echo("detached")).to eq("detached\n")
    end

    it "without daemonize_for_me, a foreground program makes start time out" do
      controller = new_controller(["--no-daemonize"], start_timeout: 0.5, start_abort_timeout: 1)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
    end
  end

  describe "log_file that is our own stdout/stderr" do
    def expect_not_captured(path)
      controller = new_controller(log_file: path,
                                  start_command: daemon_command("--message-before-log", "visible-output",
                                                                "--exit-before-fork", "1"))
      error = nil
      output = capture_fds_through_pipe do
        controller.start
      rescue DaemonController::StartError => e
        error = e
      end
      expect(error).to be_a(DaemonController::StartError)
      expect(error.message).to eq("(logs not available; exited with status 1)")
      expect(output).to include("visible-output")
    end

    %w[/dev/stderr /dev/stdout /dev/fd/1 /dev/fd/2 /proc/self/fd/1 /proc/self/fd/2].each do |path|
      it "does not capture output when log_file is #{path} (logs not available)" do
        expect_not_captured(path)
      end
    end

    it "does not capture output when log_file is /proc/<our pid>/fd/2" do
      expect_not_captured("/proc/#{Process.pid}/fd/2")
    end

    it "does not capture output when log_file is a symlink resolving to /dev/stderr" do
      link = File.join(tmpdir, "log-link")
      File.symlink("/dev/stderr", link)
      expect_not_captured(link)
    end

    it "still starts a daemon normally" do
      controller = new_controller(log_file: "/dev/stderr")
      expect(controller.start).to be(true)
    end
  end

  describe "logger" do
    it "sends debug lines about the steps to the logger" do
      lines = []
      logger = Object.new
      logger.define_singleton_method(:debug) { |message = nil, &block| lines << (message || block&.call) }
      controller = new_controller(logger: logger)
      controller.start
      controller.stop
      expect(lines).not_to be_empty
      expect(lines).to all(be_a(String))
    end

    it "works with the standard library Logger" do
      require "logger"
      io = StringIO.new
      controller = new_controller(logger: Logger.new(io))
      controller.start
      expect(io.string).to include("DEBUG")
    end
  end
end
