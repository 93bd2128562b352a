# frozen_string_literal: true

require_relative "spec_helper"

RSpec.describe DaemonController, "constructor" do
  let(:mandatory) do
    {
      identifier: "options test",
      start_command: "true",
      ping_command: [:tcp, "127.0.0.1", port],
      pid_file: pid_file,
      log_file: log_file
    }
  end

  def error_naming(name)
    satisfy("an ArgumentError or TypeError naming #{name}") do |e|
      (e.is_a?(ArgumentError) || e.is_a?(TypeError)) && e.message.include?(name.to_s)
    end
  end

  describe "argument styles" do
    it "accepts keyword arguments" do
      controller = described_class.new(**mandatory)
      expect(controller).to be_a(described_class)
      write_pid_file(4321)
      expect(controller.pid).to eq(4321)
    end

    it "accepts the options as one positional Hash (1.x style)" do
      controller = described_class.new(mandatory)
      expect(controller).to be_a(described_class)
      write_pid_file(1234)
      expect(controller.pid).to eq(1234)
    end

    it "uses the options given in a positional Hash, not defaults (identifier in messages)" do
      controller = described_class.new(mandatory.merge(identifier: "positional id"))
      allow(controller).to receive(:daemon_is_running?).and_return(true)
      expect { controller.start }.to raise_error(DaemonController::AlreadyStarted,
                                                 "Daemon 'positional id' is already started")
    end

    it "accepts a positional Hash with optional options (start_timeout takes effect)" do
      controller = described_class.new(mandatory.merge(start_command: "sleep 5", start_timeout: 0.3,
                                                       start_abort_timeout: 1))
      took = elapsed { expect { controller.start }.to raise_error(DaemonController::StartTimeout) }
      expect(took).to be < 3
    end
  end

  describe "mandatory options" do
    %i[identifier start_command ping_command pid_file log_file].each do |name|
      it "raises ArgumentError naming #{name} when it is missing (keywords)" do
        options = mandatory.reject { |k, _| k == name }
        expect { described_class.new(**options) }.to raise_error(ArgumentError, /#{name}/)
      end

      it "raises ArgumentError naming #{name} when it is missing (positional Hash)" do
        options = mandatory.reject { |k, _| k == name }
        expect { described_class.new(options) }.to raise_error(ArgumentError, /#{name}/)
      end
    end
  end

  describe "unknown options" do
    it "warns once, naming the option, and otherwise ignores it (keywords)" do
      controller = nil
      expect { controller = described_class.new(**mandatory, timeout: 25) }
        .to output(/\A[^\n]*timeout[^\n]*\n?\z/).to_stderr
      expect(controller).to be_a(described_class)
    end

    it "warns and ignores an unknown option in a positional Hash (Passenger's :timeout => 25)" do
      controller = nil
      expect { controller = described_class.new(mandatory.merge(timeout: 25)) }.to output(/timeout/).to_stderr
      write_pid_file(99)
      expect(controller.pid).to eq(99)
    end

    it "names each unknown option" do
      expect { described_class.new(**mandatory, frobnicate: true, zork: 1) }
        .to output(/frobnicate.*zork|zork.*frobnicate/m).to_stderr
    end

    it "does not warn about known options" do
      expect { described_class.new(**mandatory, start_timeout: 5, stop_timeout: 5, env: {}) }
        .not_to output.to_stderr
    end
  end

  describe "wrong types" do
    {
      start_command: 42,
      pid_file: 42,
      log_file: 42,
      lock_file: 42,
      start_timeout: "soon",
      stop_timeout: "later",
      start_abort_timeout: [],
      log_file_activity_timeout: "x",
      ping_interval: "fast",
      before_start: "not callable",
      env: "FOO=bar",
      keep_ios: "not an array",
      logger: Object.new
    }.each do |name, value|
      it "raises ArgumentError or TypeError naming #{name} for #{value.inspect} at construction" do
        expect { described_class.new(**mandatory, name => value) }.to raise_error(error_naming(name))
      end
    end

    it "rejects env with non-String keys or values, naming env" do
      expect { described_class.new(**mandatory, env: { "A" => 1 }) }.to raise_error(error_naming(:env))
      expect { described_class.new(**mandatory, env: { 1 => "a" }) }.to raise_error(error_naming(:env))
    end

    it "rejects keep_ios holding a non-IO, naming keep_ios" do
      expect { described_class.new(**mandatory, keep_ios: ["nope"]) }.to raise_error(error_naming(:keep_ios))
    end

    it "rejects invalid ping_command forms with ArgumentError at construction" do
      [42, [:udp, "127.0.0.1", 80], [:tcp], [:tcp, "127.0.0.1"], [:unix], [], :tcp].each do |form|
        expect { described_class.new(**mandatory, ping_command: form) }
          .to raise_error(ArgumentError), "ping_command #{form.inspect} was accepted"
      end
    end
  end

  describe "duck types" do
    it "accepts any object with #call as before_start, start_command and ping_command" do
      callable = Object.new
      def callable.call
        "true"
      end
      expect do
        described_class.new(**mandatory, before_start: callable, start_command: callable, ping_command: callable)
      end.not_to raise_error
    end

    it "accepts a Method object as ping_command" do
      expect { described_class.new(**mandatory, ping_command: method(:port)) }.not_to raise_error
    end

    it "accepts any object with #debug as the logger" do
      logger = Object.new
      def logger.debug(*); end
      expect { described_class.new(**mandatory, logger: logger) }.not_to raise_error
    end

    it "accepts Integer and Float timeouts, and 0 and nil for no limit" do
      expect do
        described_class.new(**mandatory, start_timeout: 1, stop_timeout: 0.5, start_abort_timeout: 0,
                                         log_file_activity_timeout: nil, ping_interval: 0.05)
      end.not_to raise_error
    end

    it "accepts String signal names for stop_graceful_signal" do
      expect { described_class.new(**mandatory, stop_graceful_signal: "INT") }.not_to raise_error
      expect { described_class.new(**mandatory, stop_graceful_signal: "SIGTERM") }.not_to raise_error
    end

    it "accepts env: nil as {}" do
      controller = described_class.new(**mandatory, env: nil)
      result = controller.send(:run_command, "echo \"${HOME-unset}\"")
      expect(result).to be_a(DaemonController::InternalCommandOkResult)
      expect(result.output.strip).to eq(ENV.fetch("HOME", "unset"))
    end

    it "accepts keep_ios: nil and an empty Array" do
      expect { described_class.new(**mandatory, keep_ios: nil) }.not_to raise_error
      expect { described_class.new(**mandatory, keep_ios: []) }.not_to raise_error
    end
  end

  describe "lock_file" do
    it "defaults to pid_file + '.lock' (the shared lock of #pid creates it)" do
      controller = described_class.new(**mandatory)
      controller.pid
      expect(File.exist?("#{pid_file}.lock")).to be(true)
    end

    it "uses the lock_file option when given" do
      lock = File.join(tmpdir, "custom.lock")
      controller = described_class.new(**mandatory, lock_file: lock)
      controller.pid
      expect(File.exist?(lock)).to be(true)
      expect(File.exist?("#{pid_file}.lock")).to be(false)
    end

    it "is made absolute at construction" do
      first = File.join(tmpdir, "first")
      second = File.join(tmpdir, "second")
      FileUtils.mkdir_p([first, second])
      controller = Dir.chdir(first) { described_class.new(**mandatory, lock_file: "relative.lock") }
      Dir.chdir(second) { controller.pid }
      expect(File.exist?(File.join(first, "relative.lock"))).to be(true)
      expect(File.exist?(File.join(second, "relative.lock"))).to be(false)
    end

    it "makes the default lock file (from a relative pid_file) absolute at construction" do
      first = File.join(tmpdir, "first")
      second = File.join(tmpdir, "second")
      FileUtils.mkdir_p([first, second])
      controller = Dir.chdir(first) { described_class.new(**mandatory, pid_file: "d.pid") }
      Dir.chdir(second) { controller.pid }
      expect(File.exist?(File.join(first, "d.pid.lock"))).to be(true)
      expect(File.exist?(File.join(second, "d.pid.lock"))).to be(false)
    end

    it "is the lock that another process holding it exclusively keeps #pid waiting on" do
      controller = described_class.new(**mandatory)
      spawn_lock_holder("-x", "#{pid_file}.lock")
      expect { Timeout.timeout(0.3) { controller.pid } }.to raise_error(Timeout::Error)
    end
  end

  describe "defaults" do
    it "stops with SIGTERM by default (stop_graceful_signal)" do
      controller = new_controller
      controller.start
      daemon = read_pid_file
      allow(Process).to receive(:kill).and_call_original
      controller.stop
      expect(Process).to have_received(:kill).with("SIGTERM", daemon).once
      expect(File.read(log_file)).to include("received SIGTERM")
    end

    it "runs the stop command even when the PID file is invalid by default (dont_stop_if_pid_file_invalid false)" do
      marker = File.join(tmpdir, "stop-ran")
      controller = described_class.new(**mandatory, stop_command: "touch #{marker.shellescape}")
      File.write(pid_file, "garbage")
      controller.stop
      expect(File.exist?(marker)).to be(true)
    end

    it "does not run commands in a new session by default (daemonize_for_me false)" do
      controller = described_class.new(**mandatory)
      result = controller.send(:run_command, "cat /proc/$$/stat")
      fields = result.output[(result.output.rindex(")") + 2)..].split
      our_sid = File.read("/proc/self/stat").then { |s| s[(s.rindex(")") + 2)..].split[3] }
      expect(fields[3]).to eq(our_sid)
    end

    it "passes the environment unchanged by default (env {})" do
      ENV["DC_SPEC_DEFAULT_ENV"] = "inherited"
      controller = described_class.new(**mandatory)
      result = controller.send(:run_command, "echo \"${DC_SPEC_DEFAULT_ENV-unset}\"")
      expect(result.output.strip).to eq("inherited")
    ensure
      ENV.delete("DC_SPEC_DEFAULT_ENV")
    end

    it "waits for the daemon to come up with the default timeouts (no option needed)" do
      controller = described_class.new(identifier: "defaults",
                                       start_command: daemon_command(*standard_flags, "--wait-before-listen", "0.3"),
                                       ping_command: [:tcp, "127.0.0.1", port],
                                       pid_file: pid_file, log_file: log_file)
      expect(controller.start).to be(true)
      expect(port_open?).to be(true)
      controller.stop
      expect(process_alive?(read_pid_file)).to be(false)
    end

    it "treats start_timeout: 0 and nil as no limit" do
      [0, nil].each do |value|
        controller = new_controller(["--wait-before-listen", "0.5"], start_timeout: value)
        expect(controller.start).to be(true)
        controller.stop
      end
    end

    it "does not force-kill when stop_timeout is 0 (no limit)" do
      controller = new_controller(["--stop-time", "0.6"], stop_timeout: 0)
      controller.start
      daemon = read_pid_file
      allow(Process).to receive(:kill).and_call_original
      controller.stop
      expect(Process).not_to have_received(:kill).with("SIGKILL", anything)
      expect(File.read(log_file)).to include("exiting")
      expect(process_alive?(daemon)).to be(false)
    end
  end
end
