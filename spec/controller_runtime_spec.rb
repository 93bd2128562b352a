# frozen_string_literal: true

require_relative "spec_helper"

# Threads, fork, reaping, and the finer points of the waits.
RSpec.describe DaemonController, "runtime behaviour" do
  describe "threads and fork" do
    it "serializes concurrent starts from several threads: one starts, the others get AlreadyStarted" do
      controller = new_controller
      threads = Array.new(3) do
        Thread.new do
          controller.start
        rescue DaemonController::AlreadyStarted
          :already_started
        end
      end
      results = threads.map { |t| t.join(20)&.value }
      expect(results.count(true)).to eq(1)
      expect(results.count(:already_started)).to eq(2)
    end

    it "lets several controllers start their daemons from several threads at once" do
      ports = Array.new(3) { free_port }
      controllers = ports.each_with_index.map do |p, i|
        pid_path = File.join(tmpdir, "d#{i}.pid")
        described_class.new(identifier: "d#{i}",
                            start_command: daemon_command("--port", p, "--pid-file", pid_path,
                                                          "--log-file", File.join(tmpdir, "d#{i}.log")),
                            ping_command: [:tcp, "127.0.0.1", p], pid_file: pid_path,
                            log_file: File.join(tmpdir, "d#{i}.log"), start_timeout: 15)
      end
      results = controllers.map { |c| Thread.new { c.start } }.map { |t| t.join(30)&.value }
      expect(results).to eq([true, true, true])
      ports.each { |p| expect(port_open?(p)).to be(true) }
    end

    it "works in a child process after fork" do
      controller = new_controller
      controller.pid # use it in the parent first
      child = fork do
        ok = begin
          Timeout.timeout(20) { controller.start == true && controller.running? == true }
        rescue Exception # rubocop:disable Lint/RescueException
          false
        end
        exit!(ok ? 0 : 1)
      end
      Process.wait(child)
      expect($?.exitstatus).to eq(0)
      expect(port_open?).to be(true)
      expect(controller.running?).to be(true)
    end
  end

  describe "reaping" do
    it "treats a command reaped by someone else (ECHILD) as an ok result" do
      controller = new_controller
      stop = false
      reaper = Thread.new do
        until stop
          begin
            Process.wait(-1, Process::WNOHANG)
          rescue Errno::ECHILD
            nil
          end
          sleep 0.001
        end
      end
      results = Array.new(10) { controller.send(:run_command, "sleep 0.05") }
      stop = true
      reaper.join
      expect(results).to all(be_a(DaemonController::InternalCommandOkResult))
    end
  end

  describe "waits" do
    it "pings at least every ping_interval" do
      controller = new_controller(ping_interval: 0.02)
      calls = 0
      allow(controller).to receive(:run_ping_command).and_wrap_original do |original|
        calls += 1
        calls <= 20 ? false : original.call
      end
      took = elapsed { expect(controller.start).to be(true) }
      expect(calls).to be >= 21
      expect(took).to be < 1.2
    end

    it "starts the log-activity clock when daemon_spawned returns" do
      File.write(log_file, "") # exists and stays silent until the daemon listens
      controller = new_controller(["--wait-before-pid", "1.0"], log_file_activity_timeout: 0.6)
      allow(controller).to receive(:daemon_spawned) { sleep 0.7 }
      # The PID file comes 0.3 s after daemon_spawned returns: within the
      # activity timeout if, and only if, the clock starts then.
      expect(controller.start).to be(true)
    end

    it "asks daemon_is_running? in the abort wait (a daemon still 'running' after SIGTERM gets SIGKILL)" do
      controller = new_controller(["--wait-before-listen", "30"], start_timeout: 0.5, start_abort_timeout: 0.3)
      phase = :starting
      allow(Process).to receive(:kill).and_wrap_original do |original, signal, pid|
        phase = :killed if signal == "SIGKILL"
        original.call(signal, pid)
      end
      allow(controller).to receive(:start_timed_out) { phase = :aborting }
      allow(controller).to receive(:daemon_is_running?).and_wrap_original do |original|
        phase == :aborting ? true : original.call
      end
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      daemon = File.read(track_file).split.last.to_i
      expect(Process).to have_received(:kill).with("SIGKILL", daemon).once
    end

    it "does not SIGKILL in the abort when start_abort_timeout is 0 (no limit)" do
      controller = new_controller(["--wait-before-listen", "30", "--stop-time", "0.6"],
                                  start_timeout: 0.5, start_abort_timeout: 0)
      allow(Process).to receive(:kill).and_call_original
      took = elapsed { expect { controller.start }.to raise_error(DaemonController::StartTimeout) }
      daemon = File.read(track_file).split.last.to_i
      expect(Process).to have_received(:kill).with("SIGTERM", daemon).once
      expect(Process).not_to have_received(:kill).with("SIGKILL", anything)
      expect(took).to be >= 1.0
      expect(File.read(log_file)).to include("exiting")
    end
  end
end
