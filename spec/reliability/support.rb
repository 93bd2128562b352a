# frozen_string_literal: true

# Helpers for the reliability specs. ReliabilityProbes needs only the gem, so
# that child Ruby processes started by the specs can require this file too;
# ReliabilitySpecHelper builds on the spec helper and is included by the
# example groups that need it.

require "daemon_controller"

module ReliabilityProbes
  module_function

  def monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # PIDs of the children of `parent` that have exited and wait to be reaped.
  def zombie_children(parent = Process.pid)
    Dir.glob("/proc/[0-9]*/stat").filter_map do |path|
      stat = File.read(path)
      state, ppid = stat[(stat.rindex(")") + 2)..].split(" ", 3)
      path[/\d+/].to_i if state == "Z" && ppid.to_i == parent
    rescue SystemCallError
      nil # the process went away while we looked
    end
  end

  # The zombie children (other than `known` ones) still there after up to
  # `timeout` seconds: a child handed to Process.detach is reaped by a thread
  # a moment after it dies, so a short wait is fair. No answer is given
  # before `settle` seconds, so that a child about to die is seen too.
  def lingering_zombies(timeout = 3, known: [], settle: 0)
    started = monotonic
    loop do
      zombies = zombie_children - known
      return zombies if monotonic > started + timeout
      return zombies if zombies.empty? && monotonic >= started + settle

      sleep 0.02
    end
  end

  # Whether an exclusive lock on `path` can be had right now, by a fresh
  # LockFile (its own open file description, so a lock held anywhere else in
  # this process counts as held too).
  def lock_free?(path)
    DaemonController::LockFile.new(path).try_exclusive_lock { true }
  rescue DaemonController::LockFile::AlreadyLocked
    false
  end

  # Calls `marker` the first time the controller's flow reaches `seam` (a
  # private method it dispatches to), just before the seam runs. The flow
  # itself is unchanged.
  def on_first_call(controller, seam, &marker)
    fired = false
    controller.singleton_class.prepend(Module.new do
      define_method(seam) do |*args|
        unless fired
          fired = true
          marker.call
        end
        super(*args)
      end
    end)
  end
end

module ReliabilitySpecHelper
  SUPPORT_FILE = File.expand_path(__FILE__)
  LIB_DIR = File.expand_path("../../lib", __dir__)

  # Raised into a waiting thread with Thread#raise.
  class Interruption < StandardError; end

  def lock_path
    "#{pid_file}.lock"
  end

  def lock_free?
    ReliabilityProbes.lock_free?(lock_path)
  end

  def zombie_children
    ReliabilityProbes.zombie_children
  end

  # Processes of the process group `pgid` that have not exited.
  def live_group_members(pgid)
    Dir.glob("/proc/[0-9]*/stat").filter_map do |path|
      stat = File.read(path)
      state, _ppid, pgrp = stat[(stat.rindex(")") + 2)..].split(" ", 4)
      path[/\d+/].to_i if pgrp.to_i == pgid && !%w[Z X].include?(state)
    rescue SystemCallError
      nil
    end
  end

  # Ends a lock holder started by spawn_lock_holder, and waits until every
  # process of it (flock and the program it runs, which shares the lock) is
  # gone, so that the lock is no longer held on its behalf.
  def release_lock_holder(pgid)
    kill_group(pgid)
    eventually(3) { live_group_members(pgid).empty? }
  end

  # Whether every thread of the process has exited. (A process whose main
  # thread has exited shows as a zombie while its other threads still run,
  # holding its descriptors: its listening socket, say.)
  def exited_entirely?(pid)
    Dir.children("/proc/#{pid}/task").all? do |thread|
      stat = File.read("/proc/#{pid}/task/#{thread}/stat")
      %w[Z X].include?(stat[(stat.rindex(")") + 2)..].split(" ", 2).first)
    rescue SystemCallError
      true # that thread is gone
    end
  rescue SystemCallError
    true # no such process
  end

  # Forks a child that runs the block and exits with 0 when it returns, 1
  # when it raises (after writing the error to `report`, if given). Never
  # runs the parent's at_exit hooks.
  def fork_child(report: nil)
    pid = fork do
      status = 1
      begin
        yield
        status = 0
      rescue Exception => e # rubocop:disable Lint/RescueException
        File.write(report, "#{e.class}: #{e.message}") if report
      ensure
        exit!(status)
      end
    end
    track_pid(pid)
  end

  # Forks `count` children that each wait at a gate until all of them are
  # there, then run the block (given the child's index) at the same moment.
  # `reports` gives each child's report file for fork_child. Returns the
  # PIDs once the gate is open.
  def fork_together(count, reports: nil)
    gate_reader, gate_writer = IO.pipe
    ready_reader, ready_writer = IO.pipe
    pids = Array.new(count) do |index|
      fork_child(report: reports&.call(index)) do
        gate_writer.close
        ready_reader.close
        ready_writer.write(".")
        ready_writer.close
        gate_reader.read(1) # returns at EOF, once the parent opens the gate
        yield index
      end
    end
    ready_writer.close
    gate_reader.close
    ready_reader.read(count) # all of them are at the gate
    ready_reader.close
    gate_writer.close
    pids
  end

  # Reaps the given children, failing the example if they have not all
  # exited within `timeout` seconds (fork_child tracks them, so the rest are
  # killed after the example). Returns their statuses, in order.
  def wait_for_children(pids, timeout = 20)
    deadline = monotonic + timeout
    statuses = {}
    until statuses.size == pids.size
      (pids - statuses.keys).each do |pid|
        reaped, status = Process.wait2(pid, Process::WNOHANG)
        statuses[reaped] = status if reaped
      end
      next if statuses.size == pids.size

      if monotonic > deadline
        raise RSpec::Expectations::ExpectationNotMetError,
              "#{pids.size - statuses.size} of #{pids.size} children still running after #{timeout}s"
      end

      sleep 0.01
    end
    pids.map { |pid| statuses[pid] }
  end

  # Reads lines from `io` in a background thread, so that each can be
  # awaited with a time limit.
  class LineReader
    def initialize(io)
      @lines = Queue.new
      @thread = Thread.new do
        while (line = io.gets)
          @lines << line.chomp
        end
        @lines << :eof
      end
    end

    # The next line, :eof at the end, or :timeout.
    def next_line(timeout = 5)
      Timeout.timeout(timeout) { @lines.pop }
    rescue Timeout::Error
      :timeout
    end

    def close
      @thread.kill
      @thread.join
    end
  end

  def line_reader(io)
    LineReader.new(io)
  end

  # Starts `ruby -Ilib -e script`, with the probes loaded, its stdin and
  # stdout connected to pipes and its stderr going to a file. Returns the
  # PID, the writer of its stdin, a LineReader of its stdout and the stderr
  # path.
  def spawn_ruby_child(script)
    stdin_reader, stdin_writer = IO.pipe
    stdout_reader, stdout_writer = IO.pipe
    stderr_path = File.join(tmpdir, "child-#{monotonic.to_s.tr(".", "-")}.err")
    pid = Process.spawn(RbConfig.ruby, "--disable-gems", "-I", LIB_DIR, "-r", SUPPORT_FILE, "-e", script,
                        in: stdin_reader, out: stdout_writer, err: stderr_path)
    track_pid(pid)
    stdin_reader.close
    stdout_writer.close
    [pid, stdin_writer, line_reader(stdout_reader), stderr_path]
  end
end
