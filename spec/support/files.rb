# frozen_string_literal: true

# The example's temporary directory and the files in it: PID, log and lock files.
module DaemonControllerSpecHelper
  # A fresh temporary directory per example, removed after it.
  def tmpdir
    @tmpdir ||= Dir.mktmpdir("dc-spec-")
  end

  def track_file
    File.join(tmpdir, "tracked_pids")
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

  # Keeps `record` ("v1 <pid> <boot id> <start ticks>") on a PID file where
  # the engine keeps its identity records, through setxattr(2), which Ruby
  # does not wrap.
  def write_identity_record(record, path = pid_file)
    require "fiddle"
    args = ([Fiddle::TYPE_VOIDP] * 3) + [Fiddle::TYPE_SIZE_T, Fiddle::TYPE_INT]
    setxattr = Fiddle::Function.new(Fiddle::Handle::DEFAULT["setxattr"], args, Fiddle::TYPE_INT)
    done = setxattr.call(path, "user.daemon_controller.identity", record, record.bytesize, 0)
    raise "setxattr on #{path} failed" unless done.zero?
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

  # A running process named by a PID file last written a minute before it
  # started: its PID was reused, so the file is stale. Returns the PID.
  def pid_file_naming_a_reused_pid
    sleeper = spawn_sleeper
    write_pid_file(sleeper)
    past = Time.now - 60
    File.utime(past, past, pid_file)
    sleeper
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
end
