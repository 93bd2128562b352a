# frozen_string_literal: true

# Processes the examples start, signal, inspect and clean up after.
module DaemonControllerSpecHelper
  TEST_DAEMON = File.expand_path("test_daemon.rb", __dir__)
  # The real Process.kill, captured before any example can stub it.
  REAL_KILL = Process.method(:kill)

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

  # Clock ticks after boot at which a process started (from /proc).
  def start_ticks(pid)
    stat = File.read("/proc/#{pid}/stat")
    stat[(stat.rindex(")") + 2)..].split[19].to_i
  end

  # The start time of a process, as a Time (from /proc, like the engine).
  def process_start_time(pid)
    btime = File.read("/proc/stat")[/^btime (\d+)/, 1].to_i
    Time.at(btime + (start_ticks(pid).to_f / Etc.sysconf(Etc::SC_CLK_TCK)))
  end

  def cmdline(pid)
    File.read("/proc/#{pid}/cmdline")
  rescue SystemCallError
    ""
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
