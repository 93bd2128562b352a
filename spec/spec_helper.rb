# frozen_string_literal: true

lib = File.expand_path("../lib", __dir__)
$LOAD_PATH.unshift(lib) unless $LOAD_PATH.include?(lib)

require "daemon_controller"
require "etc"
require "fileutils"
require "rbconfig"
require "shellwords"
require "socket"
require "stringio"
require "timeout"
require "tmpdir"

module DaemonControllerSpecHelper
  TEST_DAEMON = File.expand_path("support/test_daemon.rb", __dir__)
  # The real Process.kill, captured before any example can stub it.
  REAL_KILL = Process.method(:kill)

  # A fresh temporary directory per example, removed after it.
  def tmpdir
    @tmpdir ||= Dir.mktmpdir("dc-spec-")
  end

  # A TCP port on 127.0.0.1 that nothing listens on right now. Ports handed
  # out in this process are never handed out twice.
  def free_port
    DaemonControllerSpecHelper.free_port
  end

  @used_ports = {}
  @port_mutex = Mutex.new

  def self.free_port
    @port_mutex.synchronize do
      loop do
        server = TCPServer.new("127.0.0.1", 0)
        port = server.addr[1]
        server.close
        next if @used_ports[port]

        @used_ports[port] = true
        return port
      end
    end
  end

  # Polls the block until it returns truthy; returns that value. Fails the
  # example when the timeout passes first.
  def eventually(timeout = 5, interval = 0.01)
    deadline = monotonic + timeout
    loop do
      result = yield
      return result if result
      raise RSpec::Expectations::ExpectationNotMetError, "condition not met within #{timeout}s" if monotonic > deadline

      sleep interval
    end
  end

  def monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Measures how long the block takes, in seconds.
  def elapsed
    start = monotonic
    yield
    monotonic - start
  end

  # Alive and not a zombie.
  def process_alive?(pid)
    return false unless pid

    REAL_KILL.call(0, pid) # not Process.kill: examples spy on that
    stat = File.read("/proc/#{pid}/stat") rescue nil # rubocop:disable Style/RescueModifier
    return true unless stat

    state = stat[(stat.rindex(")") + 2)..].split(" ", 2).first
    state != "Z" && state != "X"
  rescue Errno::ESRCH
    false
  rescue Errno::EPERM
    true
  end

  # Remembers a PID to SIGKILL (and reap, if it is our child) after the
  # example.
  def track_pid(pid)
    (@tracked_pids ||= []) << pid
    pid
  end

  # Remembers a process group (led by pid) to SIGKILL after the example.
  def track_group(pid)
    (@tracked_groups ||= []) << pid
    pid
  end

  # Holds the lock file `path` with `flock MODE path sleep SECONDS` (util-linux)
  # in its own process group, and returns once the lock is held. Returns the
  # PID of flock.
  def spawn_lock_holder(mode, path, seconds = 30)
    pid = Process.spawn("flock", mode, path, "sleep", seconds.to_s, pgroup: true)
    track_group(pid)
    probe = mode == "-x" ? "-s" : "-x"
    eventually(5) { !system("flock", "-n", probe, path, "true") }
    pid
  end

  # SIGKILLs a process group and reaps its leader (if it is our child).
  def kill_group(pid)
    begin
      REAL_KILL.call("KILL", -pid)
    rescue SystemCallError
      nil
    end
    begin
      Process.waitpid(pid)
    rescue SystemCallError
      nil
    end
  end

  # Spawns a long-running process that we do not care about, tracked for
  # cleanup.
  def spawn_sleeper(seconds = 100)
    pid = Process.spawn("sleep", seconds.to_s, in: File::NULL, out: File::NULL, err: File::NULL)
    track_pid(pid)
  end

  def track_file
    File.join(tmpdir, "tracked_pids")
  end

  def ruby_command
    [RbConfig.ruby, "--disable-gems", TEST_DAEMON]
  end

  # The test daemon command line (a String without shell metacharacters, so
  # that it is exec'd directly), always with --track-file.
  def daemon_command(*flags)
    (ruby_command + ["--track-file", track_file] + flags.flatten.map(&:to_s)).shelljoin
  end

  def port
    @port ||= free_port
  end

  def pid_file
    @pid_file ||= File.join(tmpdir, "daemon.pid")
  end

  def log_file
    @log_file ||= File.join(tmpdir, "daemon.log")
  end

  def unix_socket_path
    @unix_socket_path ||= File.join(tmpdir, "daemon.sock")
  end

  # The standard flags for the test daemon of this example.
  def standard_flags
    ["--port", port, "--pid-file", pid_file, "--log-file", log_file]
  end

  # Options for a controller of the test daemon; `flags` are extra daemon
  # flags; `options` override or add controller options.
  def controller_options(flags = [], **options)
    {
      identifier: "test daemon",
      start_command: daemon_command(*standard_flags, *flags),
      ping_command: [:tcp, "127.0.0.1", port],
      pid_file: pid_file,
      log_file: log_file,
      start_timeout: 10,
      stop_timeout: 10,
      log_file_activity_timeout: 10,
      start_abort_timeout: 3
    }.merge(options)
  end

  def new_controller(flags = [], **options)
    DaemonController.new(**controller_options(flags, **options))
  end

  def read_pid_file(path = pid_file)
    return nil unless File.file?(path) # a FIFO would block the read

    content = File.binread(path).strip
    content =~ /\A\d+\z/ ? content.to_i : nil
  rescue SystemCallError
    nil
  end

  def write_pid_file(pid, path = pid_file)
    File.write(path, "#{pid}\n")
  end

  # True when something accepts TCP connections on 127.0.0.1:port.
  def port_open?(the_port = port)
    TCPSocket.new("127.0.0.1", the_port).close
    true
  rescue SystemCallError
    false
  end

  # Sends a line to the test daemon and returns the echoed line.
  def echo(line, the_port = port)
    socket = TCPSocket.new("127.0.0.1", the_port)
    socket.puts(line)
    socket.gets
  ensure
    socket&.close
  end

  # Points our file descriptors 1 and 2 at a pipe (not a regular file, so
  # that a log_file of /dev/stdout or /dev/stderr is "not available"
  # whatever the suite's own output is) while the block runs. Returns what
  # was written to them; the block's exceptions propagate after restoring.
  def capture_fds_through_pipe
    reader, writer = IO.pipe
    collected = +""
    collector = Thread.new { collected << reader.read }
    saved_out = $stdout.dup
    saved_err = $stderr.dup
    $stdout.flush
    $stderr.flush
    $stdout.reopen(writer)
    $stderr.reopen(writer)
    begin
      yield
    ensure
      $stdout.flush
      $stderr.flush
      $stdout.reopen(saved_out)
      $stderr.reopen(saved_err)
      saved_out.close
      saved_err.close
      writer.close
      # Whatever still holds the pipe (a daemon) must not keep us waiting.
      collector.join(2)
      collected << reader.read_nonblock(1 << 16, exception: false).to_s if collector.alive?
      collector.kill
      reader.close
    end
    collected
  end

  # A PID that no process has right now.
  def unused_pid
    pid = fork { exit!(0) }
    Process.wait(pid)
    pid
  end

  # A zombie: a child that has exited and that we have not reaped.
  def zombie_pid
    pid = fork { exit!(0) }
    track_pid(pid)
    eventually(5) { !process_alive?(pid) }
    pid
  end

  # Runs the block in a forked child that drops root privileges (to nobody),
  # and returns [:ok, value] or [:error, class name, message].
  def in_unprivileged_child
    reader, writer = IO.pipe
    child = fork do
      reader.close
      if Process.uid.zero?
        Process::Sys.setgid(65_534)
        Process::Sys.setuid(65_534)
      end
      result = begin
        [:ok, yield]
      rescue Exception => e # rubocop:disable Lint/RescueException
        [:error, e.class.name, e.message]
      end
      data = begin
        Marshal.dump(result)
      rescue TypeError
        Marshal.dump([:ok, result[1].inspect])
      end
      writer.write(data)
      writer.close
      exit!(0)
    end
    writer.close
    data = reader.read
    Process.wait(child)
    Marshal.load(data) # rubocop:disable Security/MarshalLoad -- written by the child forked just above
  end

  # A directory everybody may write to, inside the (now traversable) tmpdir.
  def open_dir
    @open_dir ||= begin
      File.chmod(0o755, tmpdir)
      dir = File.join(tmpdir, "open")
      Dir.mkdir(dir)
      File.chmod(0o777, dir)
      dir
    end
  end

  # The start time of a process, as a Time (from /proc, like the engine).
  def process_start_time(pid)
    stat = File.read("/proc/#{pid}/stat")
    ticks = stat[(stat.rindex(")") + 2)..].split[19].to_i
    btime = File.read("/proc/stat")[/^btime (\d+)/, 1].to_i
    Time.at(btime + (ticks.to_f / Etc.sysconf(Etc::SC_CLK_TCK)))
  end

  def cmdline(pid)
    File.read("/proc/#{pid}/cmdline")
  rescue SystemCallError
    ""
  end

  # A running process named by a PID file last written a minute before it
  # started: its PID was reused, so the file is stale. Returns the PID.
  def pid_file_naming_a_reused_pid
    sleeper = spawn_sleeper
    write_pid_file(sleeper)
    past = Time.now - 60
    File.utime(past, past, pid_file)
    sleeper
  end

  # Stubs a hook with a body that outlasts the start deadline: start must
  # still raise StartTimeout, and only after the hook has finished.
  def expect_hook_not_interrupted(controller, hook)
    finished = false
    allow(controller).to receive(hook) do
      sleep 0.6
      finished = true
    end
    expect { controller.start }.to raise_error(DaemonController::StartTimeout)
    expect(finished).to be(true)
  end

  # Spies on Process.kill (the signals are still sent), for kills_of.
  def record_process_kills
    @kills = []
    allow(Process).to receive(:kill).and_wrap_original do |original, *args|
      @kills << args
      original.call(*args)
    end
  end

  # The signals sent to pid through Process.kill, in order.
  def kills_of(pid)
    @kills.select { |_, target| target == pid }.map(&:first)
  end

  # The test daemons started in this example (each appends its PID to the
  # track file, once before and once after daemonizing) that are still alive.
  def live_test_daemons
    return [] unless File.exist?(track_file)

    File.read(track_file).split.map(&:to_i).uniq.select do |pid|
      process_alive?(pid) && cmdline(pid).include?("test_daemon")
    end
  end

  def kill_leftovers
    pids = []
    if @tmpdir && File.exist?(track_file)
      File.read(track_file).split.each do |p|
        pid = p.to_i
        pids << pid if pid > 0 && cmdline(pid).include?("test_daemon")
      end
    end
    if @tmpdir
      Dir.glob(File.join(@tmpdir, "**", "*.pid")).each do |f|
        pid = read_pid_file(f)
        pids << pid if pid && cmdline(pid).include?("test_daemon")
      end
    end
    (@tracked_groups || []).each { |pid| kill_group(pid) }
    pids.concat(@tracked_pids || [])
    pids.uniq.each do |pid|
      begin
        REAL_KILL.call("KILL", pid)
      rescue SystemCallError
        nil
      end
      begin
        Process.waitpid(pid) # only blocks for our own (now killed) children
      rescue SystemCallError
        nil
      end
    end
  end
end

RSpec.configure do |config|
  config.include DaemonControllerSpecHelper

  config.expect_with :rspec do |c|
    c.syntax = :expect
  end
  config.mock_with :rspec do |c|
    c.syntax = :expect
    c.verify_partial_doubles = true
  end

  config.disable_monkey_patching!
  config.order = :defined

  # Examples of what only a process table tells (start times, kernel
  # threads), which the portable platform layer does without.
  config.before(:each, :process_table) do
    if ENV["DAEMON_CONTROLLER_PLATFORM"] == "fallback"
      skip "the fallback platform layer reads no process table: no start time, no kernel-thread flag"
    end
  end

  config.after do
    kill_leftovers
    FileUtils.rm_rf(@tmpdir) if @tmpdir
  end
end
