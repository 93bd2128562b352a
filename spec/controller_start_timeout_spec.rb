# frozen_string_literal: true

require_relative "spec_helper"

RSpec.describe DaemonController, "#start timeouts and aborts" do
  before { record_process_kills }

  # The PID of the start command itself (exec'd directly, so the first PID
  # the test daemon records).
  def start_command_pid
    File.read(track_file).split.first.to_i
  end

  def no_child_left?(pid)
    # Reaped: no /proc entry at all (a zombie would still have one).
    !File.exist?("/proc/#{pid}")
  end

  describe "(a) the start command does not exit in time" do
    it "calls daemonization_timed_out(pid), SIGTERMs the command once, reaps it and raises StartTimeout" do
      controller = new_controller(start_command: daemon_command("--sleep-before-fork", "30"),
                                  start_timeout: 0.5, start_abort_timeout: 3)
      events = []
      allow(controller).to receive(:daemon_spawned) { events << :daemon_spawned }
      expect(controller).to receive(:daemonization_timed_out) { |pid| events << [:daemonization_timed_out, pid] }
      took = elapsed { expect { controller.start }.to raise_error(DaemonController::StartTimeout) }
      command = start_command_pid
      # daemon_spawned follows spawn_daemon whatever its result.
      expect(events).to eq([:daemon_spawned, [:daemonization_timed_out, command]])
      expect(Process).to have_received(:kill).with("SIGTERM", command).once
      expect(Process).not_to have_received(:kill).with("SIGKILL", command)
      expect(no_child_left?(command)).to be(true)
      expect(took).to be < 3
    end

    it "SIGKILLs a command that ignores SIGTERM after start_abort_timeout" do
      controller = new_controller(start_command: daemon_command("--ignore-sigterm", "--sleep-before-fork", "30"),
                                  start_timeout: 0.4, start_abort_timeout: 0.5)
      took = elapsed { expect { controller.start }.to raise_error(DaemonController::StartTimeout) }
      command = start_command_pid
      expect(Process).to have_received(:kill).with("SIGTERM", command).once
      expect(Process).to have_received(:kill).with("SIGKILL", command).once
      expect(kills_of(command)).to eq(%w[SIGTERM SIGKILL])
      expect(no_child_left?(command)).to be(true)
      expect(took).to be >= 0.8
      expect(took).to be < 4
    end

    it "raises a StartTimeout ending in 'timed out'" do
      controller = new_controller(start_command: daemon_command("--sleep-before-fork", "30"), start_timeout: 0.3)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout, /timed out\)\z/)
    end

    it "includes what the command printed" do
      controller = new_controller(start_command: daemon_command("--message-before-log", "still starting",
                                                                "--sleep-before-fork", "30"),
                                  start_timeout: 0.5)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout, "still starting\n(timed out)")
    end

    it "does not interrupt the daemonization_timed_out hook with the deadline" do
      controller = new_controller(start_command: daemon_command("--sleep-before-fork", "30"), start_timeout: 0.3)
      expect_hook_not_interrupted(controller, :daemonization_timed_out)
    end

    it "lets a Timeout::Error raised by daemonization_timed_out propagate as it is" do
      controller = new_controller(start_command: daemon_command("--sleep-before-fork", "30"), start_timeout: 0.3)
      allow(controller).to receive(:daemonization_timed_out).and_raise(Timeout::Error, "from the hook")
      expect { controller.start }.to raise_error(Timeout::Error, "from the hook")
    end

    it "ignores a SystemCallError from Process.kill during the abort (still sends SIGTERM once)" do
      controller = new_controller(start_command: daemon_command("--sleep-before-fork", "30"),
                                  start_timeout: 0.3, start_abort_timeout: 0.3)
      allow(Process).to receive(:kill).with("SIGTERM", anything).and_raise(Errno::ESRCH)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      command = start_command_pid
      expect(Process).to have_received(:kill).with("SIGTERM", command).once
      # The SIGTERM never arrived, so the abort ends with SIGKILL.
      expect(Process).to have_received(:kill).with("SIGKILL", command).once
    end

    it "deletes the PID file if it names the command's own PID" do
      script = File.join(tmpdir, "writes_own_pid.rb")
      File.write(script, "File.write(#{pid_file.dump}, Process.pid.to_s)\nsleep 30\n")
      controller = new_controller(start_command: [RbConfig.ruby, "--disable-gems", script].shelljoin,
                                  start_timeout: 0.6)
      command_pid = nil
      allow(controller).to receive(:daemonization_timed_out) { |pid| command_pid = pid }
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      expect(command_pid).to be_a(Integer)
      track_pid(command_pid)
      expect(File.exist?(pid_file)).to be(false)
    end

    it "leaves a daemon that forked just in time running (PID file names another PID)" do
      # The command daemonizes (the daemon writes the PID file), then
      # lingers without exiting.
      inner = daemon_command(*standard_flags)
      command = "#{inner} && exec sleep 30"
      controller = new_controller(start_command: command, start_timeout: 1)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      daemon = read_pid_file
      expect(daemon).to be_a(Integer)
      expect(process_alive?(daemon)).to be(true)
      expect(File.exist?(pid_file)).to be(true)
      expect(Process).not_to have_received(:kill).with(anything, daemon)
    end
  end

  describe "(b) the command exited but the daemon did not become ready" do
    it "calls start_timed_out(pid), SIGTERMs the daemon then SIGKILLs it, and raises StartTimeout" do
      controller = new_controller(["--ignore-sigterm", "--wait-before-listen", "30"],
                                  start_timeout: 0.8, start_abort_timeout: 0.5)
      hooked = :not_called
      expect(controller).to receive(:start_timed_out) { |pid| hooked = pid }
      took = elapsed do
        expect { controller.start }.to raise_error(DaemonController::StartTimeout, "(logs empty; timed out)")
      end
      daemon = File.read(track_file).split.last.to_i
      expect(hooked).to eq(daemon)
      expect(Process).to have_received(:kill).with("SIGTERM", daemon).once
      expect(Process).to have_received(:kill).with("SIGKILL", daemon).once
      expect(kills_of(daemon)).to eq(%w[SIGTERM SIGKILL])
      expect(process_alive?(daemon)).to be(false)
      expect(took).to be < 4
    end

    it "stops after SIGTERM alone when the daemon obeys it" do
      controller = new_controller(["--wait-before-listen", "30"], start_timeout: 0.6, start_abort_timeout: 3)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      daemon = File.read(track_file).split.last.to_i
      expect(Process).to have_received(:kill).with("SIGTERM", daemon).once
      expect(Process).not_to have_received(:kill).with("SIGKILL", daemon)
      # "No longer running" may be judged from the PID file, which the daemon
      # deletes a moment before it exits.
      eventually(2) { !process_alive?(daemon) }
    end

    it "calls start_timed_out(nil) and kills nothing when there is no PID file" do
      controller = new_controller(["--no-pid-file"], start_timeout: 0.6, log_file_activity_timeout: 5)
      expect(controller).to receive(:start_timed_out).with(nil)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      expect(Process).not_to have_received(:kill).with("SIGTERM", anything)
    end

    it "times out on log inactivity before the start_timeout" do
      controller = new_controller(["--wait-before-listen", "30"], start_timeout: 20, log_file_activity_timeout: 0.5)
      took = elapsed { expect { controller.start }.to raise_error(DaemonController::StartTimeout) }
      expect(took).to be < 4
    end

    it "does not interrupt the start_timed_out hook with the deadline" do
      controller = new_controller(["--wait-before-listen", "30"], start_timeout: 0.4)
      expect_hook_not_interrupted(controller, :start_timed_out)
    end

    it "lets a Timeout::Error raised by start_timed_out propagate as it is" do
      controller = new_controller(["--wait-before-listen", "30"], start_timeout: 0.4)
      allow(controller).to receive(:start_timed_out).and_raise(Timeout::Error, "hook timeout")
      expect { controller.start }.to raise_error(Timeout::Error, "hook timeout")
    end

    it "treats a Timeout::Error raised by a callable ping as a start timeout" do
      controller = new_controller(ping_command: -> { raise Timeout::Error, "ping timeout" },
                                  start_timeout: 10)
      expect(controller).to receive(:start_timed_out).and_call_original
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
    end

    it "interrupts a callable ping that blocks past the deadline" do
      controller = new_controller(ping_command: -> { sleep 30 }, start_timeout: 0.6)
      took = elapsed { expect { controller.start }.to raise_error(DaemonController::StartTimeout) }
      expect(took).to be < 4
    end
  end

  describe "before_start and a callable start_command at the deadline" do
    it "interrupts a slow before_start, calls start_timed_out(nil) and raises '(logs empty; timed out)'" do
      controller = new_controller(before_start: -> { sleep 30 }, start_timeout: 0.4)
      expect(controller).to receive(:start_timed_out).with(nil)
      expect(controller).not_to receive(:spawn_daemon)
      took = elapsed do
        expect { controller.start }.to raise_error(DaemonController::StartTimeout, "(logs empty; timed out)")
      end
      expect(took).to be < 3
    end

    it "interrupts a slow callable start_command the same way" do
      controller = new_controller(start_command: lambda {
        sleep 30
        "true"
      }, start_timeout: 0.4)
      expect(controller).to receive(:start_timed_out).with(nil)
      took = elapsed { expect { controller.start }.to raise_error(DaemonController::StartTimeout) }
      expect(took).to be < 3
    end

    it "treats Timeout::Error raised by before_start as a start timeout" do
      controller = new_controller(before_start: -> { raise Timeout::Error })
      expect(controller).to receive(:start_timed_out).with(nil)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
    end

    it "says 'logs not available' when the log file is not a regular file" do
      controller = new_controller(before_start: -> { sleep 30 }, start_timeout: 0.3, log_file: "/dev/null")
      expect { controller.start }.to raise_error(DaemonController::StartTimeout, "(logs not available; timed out)")
    end
  end

  describe "the overall deadline" do
    it "bounds the whole start (a daemon slower than start_timeout)" do
      controller = new_controller(["--wait-before-pid", "0.4", "--wait-before-listen", "30"],
                                  start_timeout: 1, log_file_activity_timeout: 10)
      took = elapsed { expect { controller.start }.to raise_error(DaemonController::StartTimeout) }
      expect(took).to be >= 0.9
      expect(took).to be < 4
    end

    it "leaves no lock held after a timeout" do
      controller = new_controller(start_command: daemon_command("--sleep-before-fork", "30"), start_timeout: 0.3)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      expect(system("flock", "-n", "-x", "#{pid_file}.lock", "true")).to be(true)
    end

    it "is interruptible by Timeout.timeout around start, leaving no lock held and no child unreaped" do
      controller = new_controller(start_command: daemon_command("--sleep-before-fork", "30"), start_timeout: 20)
      took = elapsed do
        expect { Timeout.timeout(0.5) { controller.start } }.to raise_error(Timeout::Error)
      end
      expect(took).to be < 2
      expect(system("flock", "-n", "-x", "#{pid_file}.lock", "true")).to be(true)
      # Whether or not the controller killed the command, it must not be left
      # as a zombie once it is dead: we do not reap it ourselves here.
      command = start_command_pid
      begin
        DaemonControllerSpecHelper::REAL_KILL.call("KILL", command)
      rescue Errno::ESRCH
        nil
      end
      eventually(3) { no_child_left?(command) }
    end

    it "lets other Ruby threads run while start waits" do
      controller = new_controller(["--wait-before-listen", "0.6"])
      ticks = 0
      ticker = Thread.new do
        loop do
          sleep 0.02
          ticks += 1
        end
      end
      controller.start
      ticker.kill
      expect(ticks).to be > 10
    end
  end
end
