# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "input_support"
require "logger"

# The controller keeps Ruby values (Procs, IOs, a logger) inside a native
# object: each must be marked for the GC, and nothing may touch a value the
# GC has freed or moved. Each example runs in a child process, so that a
# crash fails the example with its signal instead of killing the suite.
RSpec.describe DaemonController, "under GC pressure" do
  include BadInputSupport

  # Runs the block in a child with GC.stress on: a full GC at every
  # allocation, so a value that is not marked is freed at once. Under it Ruby
  # is slow, so the blocks stay small.
  def under_gc_stress(timeout: 30)
    run_in_child(timeout: timeout) do
      GC.stress = true
      yield
    ensure
      GC.stress = false
    end
  end

  # A fresh callable per call, holding nothing but what it is given.
  def recorder(calls, name, result)
    lambda do
      calls << name
      result
    end
  end

  it "builds controllers from callables, env and keep_ios, and answers running?, pid and connect" do
    daemon = spawn_sleeper # alive, and older than the file
    write_pid_file(daemon)
    outcome = under_gc_stress do
      calls = []
      controller = described_class.new(
        identifier: "stressed", pid_file: pid_file, log_file: log_file,
        start_command: recorder(calls, :start_command, "true"),
        ping_command: recorder(calls, :ping, true),
        before_start: recorder(calls, :before_start, nil),
        env: { "DC_STRESS_VAR" => "from env" }, keep_ios: [$stderr], logger: Logger.new(StringIO.new)
      )
      positional = described_class.new({ identifier: "positional", start_command: "true", ping_command: "true",
                                         pid_file: pid_file, log_file: log_file })
      [controller.running?, controller.pid, controller.connect { "connected" }, positional.pid,
       controller.send(:run_ping_command), controller.send(:run_command, "echo $DC_STRESS_VAR").output.strip, calls]
    end
    expect(outcome.value!).to eq([true, daemon, "connected", daemon, true, "from env", [:ping]])
  end

  it "starts and stops the test daemon with callable start_command, ping_command and before_start" do
    command = daemon_command(*standard_flags)
    the_port = port
    options = controller_options(start_timeout: 20, log_file_activity_timeout: 20)
    outcome = under_gc_stress(timeout: 40) do
      calls = []
      controller = described_class.new(
        **options,
        start_command: recorder(calls, :start_command, command),
        ping_command: lambda do
          calls << :ping
          TCPSocket.new("127.0.0.1", the_port)
        end,
        before_start: recorder(calls, :before_start, nil)
      )
      started = controller.start
      daemon = controller.pid
      running = controller.running?
      echoed = controller.connect do
        socket = TCPSocket.new("127.0.0.1", the_port)
        socket.puts("hello")
        socket.gets.tap { socket.close }
      end
      controller.stop
      [started, running, echoed, process_alive?(daemon), calls.tally]
    end
    started, running, echoed, still_alive, calls = outcome.value!
    expect([started, running, echoed, still_alive]).to eq([true, true, "hello\n", false])
    expect(calls).to include(before_start: 1, start_command: 1)
    expect(calls[:ping]).to be >= 2 # at least one while waiting, and the final one
  end

  # A caller that builds a controller per request and drops it: descriptors
  # are no GC pressure, so the GC may not run for a long while, and nothing
  # a dropped controller holds may pile up meanwhile (the original gem opens
  # and closes its lock file on every call).
  it "does not leave descriptors behind with dropped controllers until the GC runs" do
    files = Array.new(600) { |i| File.join(tmpdir, "dropped-#{i}.pid") }
    outcome = run_in_child(timeout: 10) do
      headroom = 128
      Process.setrlimit(:NOFILE, Dir.children("/proc/self/fd").size + headroom)
      files.each { |file| described_class.new(**minimal_options(pid_file: file)).pid }
      "no descriptor exhaustion"
    rescue Errno::EMFILE => e
      "#{e.class}: #{e.message}"
    end
    expect(outcome.value!).to eq("no descriptor exhaustion")
  end

  describe "values the caller no longer references" do
    # Builds a controller from freshly allocated values and keeps none of
    # them, except what the checks read back: the reader of a kept pipe and
    # the buffer of the logger. An ignored (unknown) option serves as the
    # control: nothing keeps it, so the GC must collect it. The callables
    # come from helper methods, so that none of them holds on to this
    # method's locals (the control among them).
    def build_controller(paths, calls, weak)
      io_reader, io_writer = IO.pipe
      log_buffer = StringIO.new
      controller = described_class.new(
        identifier: +"survivor #{rand(1000)}",
        start_command: start_command_for(paths, calls, io_writer.fileno),
        ping_command: recorder(calls, :ping, +"pong"),
        before_start: recorder(calls, :before_start, nil),
        pid_file: paths[:pid_file].dup, log_file: paths[:log_file].dup,
        env: { +"DC_SURVIVOR" => +"env value" },
        keep_ios: [io_writer],
        logger: Logger.new(log_buffer),
        unknown_control: weak[:control] = -> { :control }
      )
      [controller, io_reader, log_buffer]
    end

    # A start command that records the env and writes to the kept pipe,
    # then names a live process (the parent) in the PID file.
    def start_command_for(paths, calls, kept_fd)
      lambda do
        calls << :start_command
        +"echo \"$DC_SURVIVOR\" > #{paths[:record]} && echo kept > /dev/fd/#{kept_fd} && " \
         "echo #{paths[:parent]} > #{paths[:pid_file]}"
      end
    end

    # Allocates garbage so that stale copies of references are overwritten.
    def churn
      Array.new(200) { |i| "garbage #{i}" * 3 }.size
    end

    it "keeps Procs, strings, the env, kept IOs and the logger usable after GC and compaction" do
      paths = { record: File.join(tmpdir, "record"), parent: Process.pid, pid_file: pid_file, log_file: log_file }
      outcome = run_in_child(timeout: 20) do
        calls = []
        weak = ObjectSpace::WeakMap.new
        $stderr = StringIO.new # the warning about the unknown option
        controller, io_reader, log_buffer = build_controller(paths, calls, weak)
        churn
        4.times { GC.start(full_mark: true, immediate_sweep: true) }
        GC.compact if GC.respond_to?(:compact)
        GC.start(full_mark: true, immediate_sweep: true)
        results = { control_collected: !weak.key?(:control) }
        results[:ping] = controller.send(:run_ping_command)
        results[:started] = controller.start
        results[:kept_io] = io_reader.gets
        results[:record] = File.read(paths[:record])
        results[:pid] = controller.pid
        results[:already_started] = begin
          controller.start
        rescue DaemonController::AlreadyStarted => e
          e.message
        end
        results[:logged] = !log_buffer.string.empty?
        results[:calls] = calls
        results
      end
      results = outcome.value!
      expect(results[:control_collected]).to be(true), "the GC kept the control too: this check would prove nothing"
      expect(results).to include(
        ping: "pong", started: true, kept_io: "kept\n", record: "env value\n", pid: Process.pid, logged: true,
        calls: %i[ping before_start start_command ping ping]
      )
      expect(results[:already_started]).to match(/\ADaemon 'survivor \d+' is already started\z/)
    end
  end
end
