# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "input_support"

# Odd files, odd paths, odd commands and wrongly typed options: each must
# give a clear Ruby exception or the documented answer, never a crash, a
# hang or a lost process.
RSpec.describe DaemonController, "given bad input" do
  include BadInputSupport

  describe "a PID file with bad content" do
    ten_megabytes = 10 * 1024 * 1024
    # name => [content builder, what #pid answers]; :huge is an Integer far
    # beyond any PID. Builders are lambdas so that the big strings only
    # exist while their examples run.
    contents = {
      "empty" => [-> { "" }, nil],
      "garbage" => [-> { "not a pid\n" }, nil],
      "a negative number" => [-> { "-5\n" }, nil],
      "two numbers" => [-> { "12 34\n" }, nil],
      # Process.kill(sig, 0) would signal our whole process group.
      "zero" => [-> { "0\n" }, 0],
      "a number too large to be a PID" => [-> { "99999999999999999999\n" }, 99_999_999_999_999_999_999],
      "binary junk" => [-> { "\xFF\xFE\x00\x01\x80 12\n\x00".b }, nil],
      "100 digits" => [-> { "9" * 100 }, :huge],
      # Longer than a PID file can be (128 bytes): garbage, never read whole.
      "10 MB of junk" => [-> { "x" * ten_megabytes }, nil],
      "10 MB of digits" => [-> { "9" * ten_megabytes }, nil]
    }

    contents.each do |name, (content, expected_pid)|
      context "(#{name})" do
        before { File.binwrite(pid_file, content.call) }
        # The suite's cleanup reads every PID file as text, and would choke
        # on binary junk; the track file still names every daemon started.
        after { FileUtils.rm_f(pid_file) }

        it "#pid answers #{expected_pid.inspect}" do
          pid = new_controller.pid
          if expected_pid == :huge
            expect(pid).to be_an(Integer).and(be > 2**64)
          else
            expect(pid).to eq(expected_pid)
          end
        end

        it "#running? is falsy and signals nothing" do
          record_process_kills
          expect(new_controller.running?).to be_falsy
          expect(@kills).to be_empty
        end

        it "#stop returns without signalling anything" do
          record_process_kills
          expect { new_controller.stop }.not_to raise_error
          expect(@kills).to be_empty
        end

        it "#start starts the daemon normally, replacing the stale file" do
          controller = new_controller
          expect(controller.start).to be(true)
          daemon = read_pid_file
          expect(process_alive?(daemon)).to be(true)
          expect(controller.pid).to eq(daemon)
          expect(echo("still there")).to eq("still there\n")
          controller.stop
          expect(process_alive?(daemon)).to be(false)
        end
      end
    end
  end

  describe "a PID file path that is a directory" do
    it "makes #pid, #running?, #start and #stop raise Errno::EISDIR, spawning and signalling nothing" do
      Dir.mkdir(pid_file)
      controller = new_controller
      record_process_kills
      %i[pid running? start stop].each do |method|
        expect { controller.public_send(method) }.to raise_error(Errno::EISDIR), "##{method} did not raise EISDIR"
      end
      expect(File.exist?(track_file)).to be(false), "the start command ran"
      expect(@kills).to be_empty
      expect(File.directory?(pid_file)).to be(true)
    end
  end

  describe "a PID file that is a FIFO" do
    # The suite's cleanup reads every PID file, and would block on this one.
    after { FileUtils.rm_f(pid_file) }

    # Opening a FIFO blocks until a writer comes. Whether #pid and #running?
    # wait for one or not, Timeout must be able to interrupt them: a wait
    # that holds the GVL would hang the whole process for good.
    it "leaves #pid and #running? interruptible by Timeout" do
      File.mkfifo(pid_file)
      controller = new_controller
      outcome = run_in_child(timeout: 3) do
        %i[pid running?].map do |method|
          Timeout.timeout(0.5) { controller.public_send(method) }
          :returned
        rescue Timeout::Error
          :interrupted
        end
      end
      expect(outcome.value!).to all(eq(:returned).or(eq(:interrupted)))
    end
  end

  describe "a PID file in a missing directory" do
    let(:missing_pid_file) { File.join(tmpdir, "missing", "daemon.pid") }

    it "with the default lock file beside it: every method raises Errno::ENOENT naming the lock file" do
      controller = new_controller(pid_file: missing_pid_file)
      %i[pid running? start stop].each do |method|
        expect { controller.public_send(method) }
          .to raise_error(Errno::ENOENT, /#{Regexp.escape(missing_pid_file)}\.lock/), "##{method}"
      end
      expect(File.exist?(track_file)).to be(false), "the start command ran"
    end

    context "with the lock file elsewhere" do
      # The daemon is told the same PID file path, which it cannot write.
      let(:controller) do
        @pid_file = missing_pid_file
        new_controller(lock_file: File.join(tmpdir, "daemon.lock"), start_timeout: 0.8)
      end

      it "has no PID and is not running; #stop signals nothing" do
        record_process_kills
        expect(controller.pid).to be_nil
        expect(controller.running?).to be_falsy
        expect { controller.stop }.not_to raise_error
        expect(@kills).to be_empty
      end

      it "#start times out with the daemon's complaint from the log, leaving no process behind" do
        took = elapsed do
          expect { controller.start }
            .to raise_error(DaemonController::StartTimeout, /No such file or directory.*timed out/m)
        end
        expect(took).to be < 5
        expect(live_test_daemons).to be_empty
      end
    end
  end

  describe "a lock file in a missing directory" do
    let(:missing_lock) { File.join(tmpdir, "missing", "daemon.lock") }
    let(:controller) { new_controller(lock_file: missing_lock) }

    %i[start stop running? pid].each do |method|
      it "makes ##{method} raise Errno::ENOENT naming the lock file" do
        expect { controller.public_send(method) }.to raise_error(Errno::ENOENT, /#{Regexp.escape(missing_lock)}/)
        expect(File.exist?(track_file)).to be(false), "the start command ran"
        expect(File.exist?(File.dirname(missing_lock))).to be(false)
      end
    end

    it "makes #connect raise Errno::ENOENT naming the lock file, before calling the block" do
      calls = 0
      expect { controller.connect { calls += 1 } }.to raise_error(Errno::ENOENT, /#{Regexp.escape(missing_lock)}/)
      expect(calls).to eq(0)
    end
  end

  describe "a log file that is a FIFO" do
    # Run in a child: opening a FIFO nobody writes to blocks in open(2), and
    # a native wait that holds the GVL would hang the whole suite.
    def start_outcome(controller)
      run_in_child(timeout: 3) do
        controller.start
        "started"
      rescue StandardError => e
        [e.class.name, e.message]
      end
    end

    let(:fifo) { File.join(tmpdir, "daemon.fifo") }

    it "reports a failing daemon from its output, without reading the FIFO" do
      File.mkfifo(fifo)
      @log_file = fifo
      controller = new_controller(["--message-before-log", "bad config", "--exit-before-fork", "3"])
      outcome = start_outcome(controller)
      expect(outcome.value!).to eq(["DaemonController::StartError", "bad config\n(exited with status 3)"])
    end

    it "times out without reading the FIFO when the daemon never writes its PID file" do
      File.mkfifo(fifo)
      controller = new_controller(start_command: "true", log_file: fifo, start_timeout: 0.5)
      outcome = start_outcome(controller)
      expect(outcome.value!).to eq(["DaemonController::StartTimeout", "(logs empty; timed out)"])
    end

    { "missing" => nil, "a regular file" => "old line\n" }.each do |before, old_content|
      it "does not block when the log file (#{before} when the start began) has become a FIFO" do
        File.write(fifo, old_content) if old_content
        # The start command replaces the log by a FIFO, then fails.
        command = "rm -f #{fifo.shellescape} && mkfifo #{fifo.shellescape} && echo bad config && exit 3"
        controller = new_controller(start_command: command, log_file: fifo)
        outcome = start_outcome(controller)
        expect(outcome.value!).to eq(["DaemonController::StartError", "bad config\n(exited with status 3)"])
      end
    end
  end

  describe "a log file that is /dev/null" do
    before { @log_file = File::NULL }

    it "reports a start command that fails from its output" do
      controller = new_controller(["--message-before-log", "bad config", "--exit-before-fork", "3"])
      expect { controller.start }.to raise_error(DaemonController::StartError, "bad config\n(exited with status 3)")
    end

    it "reports a daemon that dies after forking as having left empty logs" do
      controller = new_controller(["--crash-before-listen"])
      expect { controller.start }.to raise_error(DaemonController::StartError, "(logs empty)")
      expect(File.chardev?(File::NULL)).to be(true)
    end
  end

  describe "a start command that does not exist" do
    let(:missing_program) { File.join(tmpdir, "no-such-program") }

    def expect_quick_start_error_naming(controller, program)
      children = child_pids
      took = elapsed do
        expect { controller.start }.to raise_error(DaemonController::StartError) { |error|
          expect(error.message).to include(program)
          expect(error.message).to match(/not found|No such file/i)
        }
      end
      expect(took).to be < 2
      expect(new_children_since(children)).to be_empty
    end

    it "is a StartError naming it (absolute path with arguments)" do
      expect_quick_start_error_naming(new_controller(start_command: "#{missing_program} --flag"), missing_program)
    end

    it "is a StartError naming it (a name searched in PATH)" do
      program = "dc-spec-no-such-program-#{Process.pid}"
      expect_quick_start_error_naming(new_controller(start_command: program), program)
    end

    it "is a StartError naming it (returned by a callable start_command)" do
      controller = new_controller(start_command: -> { "#{missing_program} --flag" })
      expect_quick_start_error_naming(controller, missing_program)
    end

    it "is a StartError naming it when the output is not captured (log file /dev/stderr)" do
      controller = new_controller(start_command: "#{missing_program} --flag", log_file: "/dev/stderr")
      capture_fds_through_pipe { expect_quick_start_error_naming(controller, missing_program) }
    end
  end

  describe "options of the wrong type" do
    no_debug = Object.new
    def no_debug.inspect
      "an object without #debug"
    end

    # option => values that the contract and README rule out.
    wrong_values = {
      identifier: [42, [], {}, 1.5],
      start_command: [42, :start, [], {}, ["true"]],
      pid_file: [42, :daemon, [], {}, 1.5],
      log_file: [42, :daemon, [], {}, 1.5],
      lock_file: [42, :lock, [], {}],
      stop_command: [42, :stop, [], {}],
      restart_command: [42, :restart, [], {}],
      before_start: [42, :sym, "not callable", [], {}],
      start_timeout: ["10", :ten, [], {}, true],
      start_abort_timeout: ["10", :ten, [], {}, true],
      stop_timeout: ["10", :ten, [], {}, true],
      log_file_activity_timeout: ["10", :ten, [], {}, true],
      ping_interval: ["0.1", :fast, [], {}, true],
      stop_graceful_signal: [[], {}, "NOT_A_SIGNAL", :NOT_A_SIGNAL, 1.5],
      keep_ios: [$stdout, {}, 42, :io, [42], [nil]],
      env: [[%w[A b]], "A=b", 42, :env, { A: "b" }, { "A" => 1 }, { "A" => :b }],
      logger: [42, "logger", :logger, [], no_debug]
    }

    wrong_values.each do |name, values|
      values.each do |value|
        it "rejects #{name}: #{value.inspect} at construction, naming the option" do
          expect { described_class.new(**minimal_options(name => value)) }.to raise_error(option_error_naming(name))
        end
      end
    end

    it "rejects the same values in a positional options Hash (1.x style)" do
      wrong_values.each do |name, values|
        values.each do |value|
          expect { described_class.new(minimal_options(name => value)) }
            .to raise_error(option_error_naming(name)), "#{name}: #{value.inspect} was accepted"
        end
      end
    end

    %i[start_timeout start_abort_timeout stop_timeout log_file_activity_timeout ping_interval].each do |name|
      [-1, -0.5, -Float::INFINITY, Float::NAN].each do |value|
        it "rejects #{name}: #{value.inspect} (not a usable number of seconds), naming the option" do
          expect { described_class.new(**minimal_options(name => value)) }.to raise_error(option_error_naming(name))
        end
      end

      it "rejects #{name}: a Complex (a Numeric that is no number of seconds), naming the option" do
        expect { described_class.new(**minimal_options(name => Complex(1, 1))) }
          .to raise_error(option_error_naming(name))
      end
    end

    %i[identifier start_command ping_command pid_file log_file].each do |name|
      it "rejects #{name}: nil with ArgumentError naming it (keywords and positional Hash)" do
        expect { described_class.new(**minimal_options(name => nil)) }
          .to raise_error(option_error_naming(name, [ArgumentError]))
        expect { described_class.new(minimal_options(name => nil)) }
          .to raise_error(option_error_naming(name, [ArgumentError]))
      end
    end

    [
      [:tcp, "127.0.0.1", "not a port"], [:tcp, "127.0.0.1", 70_000], [:tcp, "127.0.0.1", -1],
      [:tcp, 127, 80], [:unix, 42], [:unix, "/a", "/b"], ["tcp", "127.0.0.1", 80], { tcp: 80 }, :unix, 1.5
    ].each do |form|
      it "rejects ping_command: #{form.inspect} with ArgumentError naming it" do
        expect { described_class.new(**minimal_options(ping_command: form)) }
          .to raise_error(option_error_naming(:ping_command, [ArgumentError]))
      end
    end

    %i[pid_file log_file lock_file].each do |name|
      it "rejects a #{name} with a NUL byte, saying so and naming the option" do
        expect { described_class.new(**minimal_options(name => "#{tmpdir}/a\0b")) }
          .to raise_error(option_error_naming(name)) { |error| expect(error.message).to match(/null|NUL/) }
      end
    end

    it "rejects an env value with a NUL byte at construction, naming env (as it does for names)" do
      expect { described_class.new(**minimal_options(env: { "A" => "b\0c" })) }
        .to raise_error(option_error_naming(:env))
    end

    it "takes any object for the two flags, by Ruby truthiness, so there is no wrong type to reject" do
      marker = File.join(tmpdir, "stop-command-ran")
      options = minimal_options(stop_command: "touch #{marker.shellescape}",
                                dont_stop_if_pid_file_invalid: "yes", daemonize_for_me: nil)
      controller = described_class.new(**options)
      File.write(pid_file, "garbage\n")
      controller.stop
      expect(File.exist?(marker)).to be(false)
    end

    it "does not leave a lock file or spawn anything when construction fails" do
      children = child_pids
      expect { described_class.new(**minimal_options(start_timeout: "soon")) }.to raise_error(TypeError)
      expect(File.exist?("#{pid_file}.lock")).to be(false)
      expect(new_children_since(children, 0)).to be_empty
    end
  end
end
