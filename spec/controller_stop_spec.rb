# frozen_string_literal: true

require_relative "spec_helper"

RSpec.describe DaemonController, "#stop and #restart" do
  before { record_process_kills }

  # Children of ours whose command name is `comm` (zombies included).
  def children_named(comm)
    Dir.glob("/proc/[0-9]*/stat").filter_map do |path|
      stat = File.read(path)
      fields = stat[(stat.rindex(")") + 2)..].split
      name = stat[(stat.index("(") + 1)...stat.rindex(")")]
      path[%r{/proc/(\d+)/}, 1].to_i if fields[1].to_i == Process.pid && name == comm
    rescue SystemCallError
      nil
    end
  end

  describe "#stop" do
    it "is no error when the daemon is not running" do
      controller = new_controller
      expect { controller.stop }.not_to raise_error
      expect(@kills).to be_empty
    end

    it "is no error with a stale PID file, which it removes" do
      write_pid_file(unused_pid)
      controller = new_controller
      expect { controller.stop }.not_to raise_error
      expect(File.exist?(pid_file)).to be(false)
    end

    it "stops a running daemon with SIGTERM and waits until it has exited" do
      controller = new_controller(["--stop-time", "0.5"])
      controller.start
      daemon = read_pid_file
      took = elapsed { controller.stop }
      expect(process_alive?(daemon)).to be(false)
      expect(File.exist?(pid_file)).to be(false)
      expect(port_open?).to be(false)
      expect(Process).to have_received(:kill).with("SIGTERM", daemon).once
      expect(took).to be >= 0.4
      expect(took).to be < 5
      expect(controller.running?).to be_falsy
    end

    it "force-kills a daemon that does not exit in time and raises StopTimeout" do
      controller = new_controller(["--ignore-sigterm"], identifier: "stubborn", stop_timeout: 0.5)
      controller.start
      daemon = read_pid_file
      took = elapsed do
        expect { controller.stop }.to raise_error(DaemonController::StopTimeout,
                                                  "Daemon 'stubborn' did not exit in time (force killed)")
      end
      expect(Process).to have_received(:kill).with("SIGTERM", daemon).once
      expect(Process).to have_received(:kill).with("SIGKILL", daemon).once
      expect(kills_of(daemon)).to eq(%w[SIGTERM SIGKILL])
      expect(process_alive?(daemon)).to be(false)
      expect(File.exist?(pid_file)).to be(false)
      expect(took).to be >= 0.4
      expect(took).to be < 4
    end

    it "gives up 10 seconds after a SIGKILL that did not remove the daemon, with a StopError naming it" do
      controller = new_controller(["--ignore-sigterm"], stop_timeout: 0.2)
      controller.start
      daemon = read_pid_file
      # A SIGKILL that does not take effect, as for a process stuck in the kernel.
      allow(Process).to receive(:kill).with("SIGKILL", daemon).and_return(1)
      took = elapsed do
        expect { controller.stop }.to raise_error(DaemonController::StopError) { |error|
          expect(error.message).to start_with("Process #{daemon} still exists 10 seconds after SIGKILL")
          expect(error.pid).to eq(daemon)
        }
      end
      expect(took).to be >= 10
      expect(process_alive?(daemon)).to be(true)
    end

    it "makes StopTimeout a TimeoutError" do
      controller = new_controller(["--ignore-sigterm"], stop_timeout: 0.3)
      controller.start
      expect { controller.stop }.to raise_error(DaemonController::TimeoutError)
    end

    it "sends stop_graceful_signal 'INT' as SIGINT" do
      controller = new_controller(stop_graceful_signal: "INT")
      controller.start
      daemon = read_pid_file
      controller.stop
      expect(Process).to have_received(:kill).with("SIGINT", daemon).once
      expect(Process).not_to have_received(:kill).with("SIGTERM", daemon)
      expect(File.read(log_file)).to include("received SIGINT")
      expect(process_alive?(daemon)).to be(false)
    end

    it "does not add a second SIG prefix to 'SIGINT'" do
      controller = new_controller(stop_graceful_signal: "SIGINT")
      controller.start
      daemon = read_pid_file
      controller.stop
      expect(kills_of(daemon)).to eq(["SIGINT"])
    end

    it "waits for a daemon that deletes its PID file while still shutting down" do
      controller = new_controller(["--delete-pid-file-early", "--stop-time", "0.8"])
      controller.start
      daemon = read_pid_file
      took = elapsed { controller.stop }
      expect(process_alive?(daemon)).to be(false)
      expect(took).to be >= 0.6
      expect(File.read(log_file)).to include("exiting")
    end

    it "waits for a daemon that leaves its PID file behind on exit, and removes the stale file" do
      controller = new_controller(["--keep-pid-file", "--stop-time", "0.3"])
      controller.start
      daemon = read_pid_file
      controller.stop
      expect(process_alive?(daemon)).to be(false)
      expect(File.exist?(pid_file)).to be(false)
    end

    it "does not signal a process whose PID was reused (PID file older than the process)", :process_table do
      sleeper = pid_file_naming_a_reused_pid
      controller = new_controller
      expect { controller.stop }.not_to raise_error
      expect(Process).not_to have_received(:kill).with(anything, sleeper)
      expect(process_alive?(sleeper)).to be(true)
    end

    it "propagates EPERM from the graceful signal" do
      controller = new_controller
      controller.start
      allow(Process).to receive(:kill).with("SIGTERM", anything).and_raise(Errno::EPERM)
      expect { controller.stop }.to raise_error(Errno::EPERM)
    end

    it "ignores ESRCH from the graceful signal (already gone)" do
      controller = new_controller
      controller.start
      daemon = read_pid_file
      allow(Process).to receive(:kill).with("SIGTERM", anything) do
        DaemonControllerSpecHelper::REAL_KILL.call("TERM", daemon)
        raise Errno::ESRCH
      end
      expect { controller.stop }.not_to raise_error
      expect(process_alive?(daemon)).to be(false)
    end

    it "takes the exclusive lock (waits while another process holds a shared lock)" do
      controller = new_controller
      controller.start
      spawn_lock_holder("-s", "#{pid_file}.lock")
      expect { Timeout.timeout(0.4) { controller.stop } }.to raise_error(Timeout::Error)
      expect(port_open?).to be(true)
    end

    it "is interruptible by Timeout.timeout while waiting for the daemon to exit" do
      controller = new_controller(["--ignore-sigterm"], stop_timeout: 20)
      controller.start
      took = elapsed { expect { Timeout.timeout(0.4) { controller.stop } }.to raise_error(Timeout::Error) }
      expect(took).to be < 2
      expect(system("flock", "-n", "-x", "#{pid_file}.lock", "true")).to be(true)
    end

    describe "with stop_command" do
      it "runs the stop command (through run_command) instead of sending a signal, and waits for the exit" do
        controller = new_controller(["--stop-time", "0.4"])
        controller.start
        daemon = read_pid_file
        stop_command = "kill -TERM #{daemon}"
        controller = new_controller(["--stop-time", "0.4"], stop_command: stop_command)
        expect(controller).to receive(:run_command).with(stop_command).and_call_original
        controller.stop
        expect(@kills).to be_empty
        expect(process_alive?(daemon)).to be(false)
      end

      it "raises StopError with the stop command's output (never the log file's) when it fails" do
        controller = new_controller(stop_command: "echo could not stop; exit 3")
        controller.start
        File.open(log_file, "a") { |f| f.puts "LOG FILE CONTENT" }
        expect { controller.stop }.to raise_error(DaemonController::StopError,
                                                  "could not stop\n(exited with status 3)")
      end

      it "raises StopError '(logs empty; exited with status 2)' for a silent failing stop command" do
        controller = new_controller(stop_command: "exit 2")
        controller.start
        expect { controller.stop }.to raise_error(DaemonController::StopError, "(logs empty; exited with status 2)")
      end

      it "terminates and reaps a stop command still running at the deadline, raises StopError ending in " \
         "'timed out', and does not kill the daemon" do
        controller = new_controller(stop_command: "sleep 31", stop_timeout: 0.5)
        controller.start
        daemon = read_pid_file
        took = elapsed { expect { controller.stop }.to raise_error(DaemonController::StopError, /timed out\)?\z/) }
        expect(took).to be < 4
        expect(children_named("sleep")).to be_empty
        expect(process_alive?(daemon)).to be(true)
        expect(kills_of(daemon)).to be_empty
      end

      it "skips the stop command when dont_stop_if_pid_file_invalid is set and the PID file is invalid" do
        marker = File.join(tmpdir, "stop-ran")
        controller = new_controller(stop_command: "touch #{marker.shellescape}", dont_stop_if_pid_file_invalid: true)
        File.write(pid_file, "garbage")
        expect(controller).not_to receive(:run_command)
        controller.stop
        expect(File.exist?(marker)).to be(false)
      end

      it "skips the stop command when dont_stop_if_pid_file_invalid is set and there is no PID file" do
        marker = File.join(tmpdir, "stop-ran")
        controller = new_controller(stop_command: "touch #{marker.shellescape}", dont_stop_if_pid_file_invalid: true)
        controller.stop
        expect(File.exist?(marker)).to be(false)
      end

      it "runs the stop command when dont_stop_if_pid_file_invalid is set and the PID file is valid" do
        controller = new_controller
        controller.start
        daemon = read_pid_file
        controller = new_controller(stop_command: "kill #{daemon}", dont_stop_if_pid_file_invalid: true)
        controller.stop
        expect(process_alive?(daemon)).to be(false)
      end

      it "runs the stop command with env, stdin from /dev/null and captured output" do
        out = File.join(tmpdir, "stop-env")
        controller = new_controller(env: { "DC_STOP_VAR" => "from-env" },
                                    stop_command: "echo \"$DC_STOP_VAR\" > #{out.shellescape}; " \
                                                  "readlink /proc/$$/fd/0 >> #{out.shellescape}; echo captured; exit 1")
        write_pid_file(spawn_sleeper)
        expect { controller.stop }.to raise_error(DaemonController::StopError, "captured\n(exited with status 1)")
        expect(File.read(out)).to eq("from-env\n/dev/null\n")
      end
    end
  end

  describe "#restart" do
    it "calls stop then start through method dispatch" do
      controller = new_controller
      expect(controller).to receive(:stop).ordered
      expect(controller).to receive(:start).ordered
      controller.restart
    end

    it "restarts a running daemon (new PID, still serving)" do
      controller = new_controller
      controller.start
      first = read_pid_file
      controller.restart
      second = read_pid_file
      expect(second).not_to eq(first)
      expect(process_alive?(first)).to be(false)
      expect(process_alive?(second)).to be(true)
      expect(echo("restarted")).to eq("restarted\n")
    end

    it "starts a daemon that was not running" do
      controller = new_controller
      controller.restart
      expect(port_open?).to be(true)
    end

    it "runs restart_command through run_command instead of stop and start" do
      command = "echo restarting"
      controller = new_controller(restart_command: command)
      expect(controller).to receive(:run_command).with(command).and_call_original
      expect(controller).not_to receive(:stop)
      expect(controller).not_to receive(:start)
      controller.restart
    end

    it "counts a run_command result that is not an error or timeout struct (nil) as success" do
      command = "false"
      controller = new_controller(restart_command: command)
      expect(controller).to receive(:run_command).with(command).and_return(nil)
      expect { controller.restart }.not_to raise_error
    end

    it "raises StartError with the output of a failing restart command" do
      controller = new_controller(restart_command: "echo cannot restart; exit 2")
      expect { controller.restart }.to raise_error(DaemonController::StartError, /cannot restart/) { |e|
        expect(e.message).to include("exited with status 2")
      }
    end

    it "raises StartError for an error struct returned by run_command" do
      system("exit 4")
      status = $?
      controller = new_controller(restart_command: "whatever")
      allow(controller).to receive(:run_command)
        .and_return(DaemonController::InternalCommandErrorResult.new(1, "stubbed failure", status))
      expect { controller.restart }.to raise_error(DaemonController::StartError, /stubbed failure/)
    end

    it "gives the restart command no time limit" do
      controller = new_controller(restart_command: "sleep 0.6", start_timeout: 0.2, stop_timeout: 0.2)
      expect { controller.restart }.not_to raise_error
    end

    it "really restarts through a restart_command" do
      controller = new_controller
      controller.start
      first = read_pid_file
      restart = "kill #{first}; while kill -0 #{first} 2>/dev/null; do sleep 0.05; done; " \
                "#{daemon_command(*standard_flags)}"
      controller = new_controller(restart_command: restart)
      controller.restart
      eventually(5) { (pid = read_pid_file) && pid != first && port_open? }
      expect(echo("via restart_command")).to eq("via restart_command\n")
    end
  end
end
