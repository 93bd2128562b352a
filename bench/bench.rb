# frozen_string_literal: true

# Benchmark of the hot paths and of event-driven waiting. Prints medians
# (with min and max) over repeated runs. Uses only 127.0.0.1 and a temporary
# directory, and leaves no process behind.
#
#   ruby -Ilib bench/bench.rb            (or: rake bench)
#
# DC_LIB=/path/to/other/lib runs the same benchmark against another
# implementation of the daemon_controller API, for comparison.

$LOAD_PATH.unshift(ENV["DC_LIB"]) if ENV["DC_LIB"]
require "daemon_controller"
require "fiddle"
require "socket"
require "tmpdir"

module Bench
  DAEMON = File.expand_path("bench_daemon.rb", __dir__)
  PR_SET_CHILD_SUBREAPER = 36

  module_function

  def child_subreaper(enabled)
    prctl = Fiddle::Function.new(Fiddle::Handle::DEFAULT["prctl"],
                                 [Fiddle::TYPE_INT, Fiddle::TYPE_LONG, Fiddle::TYPE_LONG, Fiddle::TYPE_LONG,
                                  Fiddle::TYPE_LONG],
                                 Fiddle::TYPE_INT)
    prctl.call(PR_SET_CHILD_SUBREAPER, enabled ? 1 : 0, 0, 0, 0)
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def summary(name, values, unit)
    sorted = values.sort
    median = sorted[sorted.size / 2]
    format("%-48s median %10.3f %s   (min %.3f, max %.3f, n=%d)", name, median, unit, sorted.first, sorted.last,
           sorted.size)
  end

  # Reaps daemons orphaned to us while we are a child subreaper.
  def reap_orphans
    loop { break unless Process.wait(-1, Process::WNOHANG) }
  rescue Errno::ECHILD
    nil
  end

  class Daemon
    attr_reader :controller, :port, :ready_file

    def initialize(dir, delay: 0)
      @port = Bench.free_port
      @ready_file = File.join(dir, "ready")
      pid_file = File.join(dir, "daemon.pid")
      log_file = File.join(dir, "daemon.log")
      command = [RbConfig.ruby, DAEMON, @port, pid_file, log_file, @ready_file, delay].join(" ")
      @controller = DaemonController.new(identifier: "bench daemon", start_command: command,
                                         ping_command: [:tcp, "127.0.0.1", @port],
                                         pid_file: pid_file, log_file: log_file)
    end

    # When the daemon began to listen. It records that just after listening,
    # so start may return a moment before the record exists.
    def ready_at
      deadline = Bench.now + 5
      sleep 0.001 until File.exist?(@ready_file) || Bench.now > deadline
      Float(File.read(@ready_file))
    end
  end

  def rate(seconds: 1.0, &block)
    count = 0
    started = now
    finish = started + seconds
    while now < finish
      1000.times(&block)
      count += 1000
    end
    count / (now - started)
  end

  def run
    rounds = Integer(ENV.fetch("BENCH_ROUNDS", "7"))
    puts "daemon_controller benchmark (#{RUBY_DESCRIPTION})"
    puts "implementation: #{$LOADED_FEATURES.grep(/daemon_controller/).join(", ")}"
    Dir.mktmpdir("dc-bench") do |dir|
      child_subreaper(true)
      hot_paths(dir, rounds)
      start_stop(dir, rounds)
      child_subreaper(false)
      lazy_reaper_stop(dir, rounds)
    end
  end

  def hot_paths(dir, rounds)
    daemon = Daemon.new(File.join(dir, "hot").tap { |d| Dir.mkdir(d) })
    controller = daemon.controller
    controller.start
    running = []
    pid = []
    connect = []
    overhead = []
    block = -> { TCPSocket.new("127.0.0.1", daemon.port) }
    rounds.times do
      running << rate { controller.running? }
      pid << rate { controller.pid }
      connect << rate(seconds: 0.5) { controller.connect(&block).close }
      overhead << connect_overhead(controller, block)
    end
    puts summary("running? calls per second", running, "/s")
    puts summary("pid calls per second", pid, "/s")
    puts summary("connect calls per second", connect, "/s")
    puts summary("connect overhead beyond its block", overhead, "us")
    memory_check(controller)
  ensure
    controller&.stop
    reap_orphans
  end

  # Microseconds per call that connect adds to its block: batches of the
  # bare block and of connect around it alternate, so that both see the same
  # machine; the median batch difference is the figure.
  def connect_overhead(controller, block, pairs: 40, batch: 100)
    differences = Array.new(pairs) do
      bare = timed { batch.times { block.call.close } }
      wrapped = timed { batch.times { controller.connect(&block).close } }
      (wrapped - bare) / batch * 1e6
    end
    differences.sort[pairs / 2]
  end

  def timed
    started = now
    yield
    now - started
  end

  def memory_check(controller)
    rss = -> { File.read("/proc/self/status")[/VmRSS:\s+(\d+)/, 1].to_i }
    200_000.times { controller.running? }
    before = rss.call
    1_000_000.times { controller.running? }
    puts format("%-48s %+d kB over 1,000,000 calls", "running? resident memory growth", rss.call - before)
  end

  def start_stop(dir, rounds)
    fast = []
    late = []
    stops = []
    rounds.times do |round|
      daemon = Daemon.new(File.join(dir, "fast#{round}").tap { |d| Dir.mkdir(d) })
      started = now
      daemon.controller.start
      fast << ((now - started) * 1000)
      started = now
      daemon.controller.stop
      stops << ((now - started) * 1000)
      reap_orphans

      daemon = Daemon.new(File.join(dir, "late#{round}").tap { |d| Dir.mkdir(d) }, delay: 0.03)
      daemon.controller.start
      late << ((now - daemon.ready_at) * 1000)
      daemon.controller.stop
      reap_orphans
    end
    puts summary("start of a fast daemon", fast, "ms")
    puts summary("start overhead, daemon ready 30 ms after fork", late, "ms")
    puts summary("stop", stops, "ms")
  end

  def lazy_reaper_stop(dir, rounds)
    stops = []
    rounds.times do |round|
      daemon = Daemon.new(File.join(dir, "lazy#{round}").tap { |d| Dir.mkdir(d) })
      daemon.controller.start
      started = now
      daemon.controller.stop
      stops << ((now - started) * 1000)
    end
    puts summary("stop, daemon reaped only by a lazy PID 1", stops, "ms")
  end
end

Bench.run
