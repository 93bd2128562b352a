# frozen_string_literal: true

require_relative "spec_helper"
require "json"
require "logger"

RSpec.describe DaemonController, "and processes the caller cannot have meant" do
  # Runs `stop` in a forked child that leads a process group of its own,
  # with a PID file naming that child; a grandchild stops when
  # `from_grandchild`. Returns how the child ended: signalled by its own
  # controller, it dies of that signal.
  def stop_in_own_group(from_grandchild:)
    options = controller_options(stop_timeout: 1) # the paths, made here
    child = fork do
      Process.setpgid(0, 0)
      write_pid_file(Process.pid)
      stop = -> { described_class.new(**options).stop }
      if from_grandchild
        grandchild = fork do
          stop.call
          exit!(0)
        end
        Process.wait(grandchild)
        exit!($?.exitstatus || 1)
      end
      stop.call
      exit!(0)
    end
    Process.wait(child)
    $?
  end

  it "never signals its own process or the leader of its process group" do
    [false, true].each do |from_grandchild|
      status = stop_in_own_group(from_grandchild: from_grandchild)
      expect([status.exitstatus, status.termsig]).to eq([0, nil])
    end
    expect(File.exist?(pid_file)).to be(true)
  end

  it "never signals PID 1 (simulated in a PID namespace of the spec's own)" do
    skip "needs root for a PID namespace" unless Process.uid.zero?
    # Mount and PID namespaces of the spec's own, which end with it: only
    # /proc is made private there, first, so the new proc mount cannot
    # propagate out (the whole tree could not be inside a chroot, whose root
    # is no mount point).
    namespaces = %w[unshare --pid --fork --mount --propagation unchanged --]
    skip "unshare cannot make PID and mount namespaces here" unless system(*namespaces, "true", err: File::NULL)
    write_pid_file(1)
    script = File.join(tmpdir, "pid1.rb")
    File.write(script, <<~RUBY)
      require "daemon_controller"
      require "json"
      require "logger"
      require "stringio"
      kills = []
      Process.singleton_class.prepend(Module.new do
        define_method(:kill) do |signal, *pids|
          kills << [signal, *pids]
          super(signal, *pids)
        end
      end)
      io = StringIO.new
      controller = DaemonController.new(identifier: "pid 1", start_command: "true", ping_command: "true",
                                        pid_file: #{pid_file.dump}, log_file: #{log_file.dump},
                                        stop_timeout: 1, logger: Logger.new(io))
      running = controller.running?
      stopped = begin
        controller.stop
        "returned"
      rescue DaemonController::Error => e
        e.message
      end
      puts JSON.generate(init: File.read("/proc/1/comm").strip, me: Process.pid, running: running,
                         stopped: stopped, kills: kills, log: io.string)
    RUBY
    lib = File.expand_path("../lib", __dir__)
    # sh stays PID 1: it has a command left to run after ruby.
    inner = 'mount --make-private /proc && mount -t proc proc /proc && "$0" "$@"; true'
    output = IO.popen([*namespaces, "sh", "-c", inner, RbConfig.ruby, "-I", lib, script], &:read)
    result = JSON.parse(output)
    expect(result).to include("init" => "sh", "running" => false, "stopped" => "returned", "kills" => [])
    expect(result["me"]).to be > 1
    expect(result["log"]).to include("The PID file names PID 1, the init process (PID 1): " \
                                     "invalid, nothing is signalled")
  end

  describe "a PID file owned by another user (not root)" do
    before { skip "needs root to write a file as another user" unless Process.uid.zero? }

    let(:foreign_pid_file) { File.join(open_dir, "daemon.pid") }

    it "is not trusted when it names a process of somebody else: running? is falsy, stop raises StopError" do
      sleeper = spawn_sleeper
      foreign_pid_file # made before the child runs
      written = in_unprivileged_child do
        write_pid_file(sleeper, foreign_pid_file)
        File.stat(foreign_pid_file).uid
      end
      expect(written).to eq([:ok, 65_534])
      record_process_kills
      io = StringIO.new
      controller = new_controller(pid_file: foreign_pid_file, logger: Logger.new(io))
      expect(controller.running?).to be_falsy
      message = "The PID file #{foreign_pid_file} belongs to user 65534, but process #{sleeper} does not: " \
                "not trusted, nothing is signalled"
      expect { controller.stop }.to raise_error(DaemonController::StopError, message) { |e|
        expect(e.pid).to eq(sleeper)
      }
      expect(io.string).to include(message)
      expect(kills_of(sleeper)).to be_empty
      expect(process_alive?(sleeper)).to be(true)
      expect(File.exist?(foreign_pid_file)).to be(true)
    end

    it "is trusted when it names a process of that user", :process_table do
      foreign_pid_file # made before the child runs
      written = in_unprivileged_child do
        sleeper = Process.spawn("sleep", "100")
        write_pid_file(sleeper, foreign_pid_file)
        sleeper
      end
      expect(written.first).to eq(:ok)
      sleeper = track_pid(written.last)
      controller = new_controller(pid_file: foreign_pid_file, stop_timeout: 5)
      expect(controller.running?).to be(true)
      controller.stop
      expect(process_alive?(sleeper)).to be(false)
    end
  end
end
