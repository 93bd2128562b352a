# frozen_string_literal: true

# One implementation of the daemon_controller API under measurement: the
# one found first on the load path. bench.rb starts a worker per
# implementation and sends it the name of one measurement per line; the
# worker answers each with one line of JSON. All daemons listen on
# 127.0.0.1, all files live in one temporary directory, and no process
# outlives the worker.

require "daemon_controller"
require "fiddle"
require "json"
require "socket"
require "tmpdir"

module BenchWorker
  DAEMON = File.expand_path("bench_daemon.rb", __dir__)
  PR_SET_CHILD_SUBREAPER = 36 # prctl(2), Linux
  PING_RUNS_DELAY = 4.5
  PING_RUNS_INTERVAL = 5
  PING_COMMAND_SECONDS = 0.2

  module_function

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # As child subreaper, this process adopts the daemons when their start
  # commands exit, so that it can reap them promptly as a good init does.
  def child_subreaper(enabled)
    prctl = Fiddle::Function.new(Fiddle::Handle::DEFAULT["prctl"], [Fiddle::TYPE_INT] + ([Fiddle::TYPE_LONG] * 4),
                                 Fiddle::TYPE_INT)
    prctl.call(PR_SET_CHILD_SUBREAPER, enabled ? 1 : 0, 0, 0, 0)
  end

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  # One daemon's files. The controller watches `dir` (PID and log file);
  # the daemon's readiness record and the ping log go to `records`, which
  # nothing watches, so that they cannot wake the controller early.
  class Daemon
    attr_reader :controller, :port, :ready_file

    # With `slow_ping`, the ping is a shell command that takes
    # PING_COMMAND_SECONDS and logs each run to `ping_log`.
    def initialize(root, mode:, delay:, slow_ping: false, **options)
      @dir = Dir.mktmpdir("daemon", root)
      @records = Dir.mktmpdir("records", root)
      @port = BenchWorker.free_port
      @ready_file = File.join(@records, "ready")
      pid_file = File.join(@dir, "daemon.pid")
      log_file = File.join(@dir, "daemon.log")
      command = [RbConfig.ruby, DAEMON, mode, @port, pid_file, log_file, @ready_file, delay].join(" ")
      ping = if slow_ping
               "sleep #{PING_COMMAND_SECONDS}; echo >> #{ping_log}; test -e #{@ready_file}"
             else
               [:tcp, "127.0.0.1", @port]
             end
      @controller = DaemonController.new(identifier: "bench daemon", start_command: command, ping_command: ping,
                                         pid_file: pid_file, log_file: log_file, **options)
    end

    def ping_log
      File.join(@records, "pings")
    end

    def reap(pid)
      Process.wait(pid)
    rescue Errno::ECHILD
      nil # not ours: PID 1 adopted it
    end

    # When the daemon began to listen.
    def ready_at
      Float(File.read(@ready_file))
    end

    # Stops the daemon while a thread reaps it the moment it exits, as a
    # prompt init would, so that an implementation that waits for the
    # process to disappear is not held up by a zombie. Returns seconds.
    def stop
      pid = @controller.pid
      reaper = Thread.new { reap(pid) } if pid
      started = BenchWorker.now
      @controller.stop
      BenchWorker.now - started
    ensure
      reaper&.join
    end
  end

  def rate(seconds: 0.5, &block)
    count = 0
    started = now
    finish = started + seconds
    while now < finish
      1000.times(&block)
      count += 1000
    end
    count / (now - started)
  end

  def per_call_micros(calls, &block)
    started = now
    calls.times(&block)
    (now - started) / calls * 1e6
  end

  def hot_daemon
    @hot_daemon ||= Daemon.new(@root, mode: "exit", delay: 0).tap { |daemon| daemon.controller.start }
  end

  def measure_hot
    controller = hot_daemon.controller
    object = Object.new
    { "running? calls per second" => rate { controller.running? },
      "pid calls per second" => rate { controller.pid },
      "connect { obj } microseconds per call" => per_call_micros(100_000) { controller.connect { object } } }
  end

  def measure_memory
    controller = hot_daemon.controller
    rss = -> { File.read("/proc/self/status")[/VmRSS:\s+(\d+)/, 1].to_i }
    200_000.times { controller.running? }
    before = rss.call
    1_000_000.times { controller.running? }
    { "running? resident memory growth over 1,000,000 calls, kB" => rss.call - before }
  end

  # Time from the daemon starting to listen to `start` returning, and how
  # long `start` had waited until then.
  def measure_readiness(mode, delay)
    daemon = Daemon.new(@root, mode: mode, delay: delay)
    started = now
    daemon.controller.start
    returned = now
    ready_at = daemon.ready_at
    daemon.stop
    { "latency_ms" => (returned - ready_at) * 1000, "waited_ms" => (ready_at - started) * 1000 }
  end

  def measure_start_stop
    daemon = Daemon.new(@root, mode: "exit", delay: 0)
    started = now
    daemon.controller.start
    start_seconds = now - started
    { "start of a fast daemon, ms" => start_seconds * 1000, "stop, ms" => daemon.stop * 1000 }
  end

  # With no subreaper, the daemon is adopted by PID 1, which may reap it
  # late: a stop that waits for the PID to vanish waits for PID 1.
  def measure_lazy_reaper_stop
    child_subreaper(false)
    daemon = Daemon.new(@root, mode: "exit", delay: 0)
    daemon.controller.start
    started = now
    daemon.controller.stop
    { "stop, daemon reaped only by PID 1, ms" => (now - started) * 1000 }
  ensure
    child_subreaper(true)
  end

  # A silent daemon ready after 4.5 s, a ping command that takes 200 ms and
  # ping_interval 5: how often the ping command runs, and when start returns.
  def measure_ping_runs
    daemon = Daemon.new(@root, mode: "silent", delay: PING_RUNS_DELAY, slow_ping: true,
                               ping_interval: PING_RUNS_INTERVAL)
    started = now
    daemon.controller.start
    returned = now
    latency = returned - daemon.ready_at
    daemon.stop
    { "ping runs" => File.readlines(daemon.ping_log).size, "latency_ms" => latency * 1000,
      "start_s" => returned - started }
  end

  def measure(name)
    case name
    when "hot" then measure_hot
    when "memory" then measure_memory
    when /\Aready:(\w+):([\d.]+)\z/ then measure_readiness(Regexp.last_match(1), Float(Regexp.last_match(2)))
    when "start_stop" then measure_start_stop
    when "lazy_stop" then measure_lazy_reaper_stop
    when "ping_runs" then measure_ping_runs
    else raise ArgumentError, "unknown measurement #{name.inspect}"
    end
  end

  def serve
    $stdout.sync = true
    Dir.mktmpdir("dc-bench") do |root|
      @root = root
      child_subreaper(true)
      puts JSON.generate("implementation" => $LOADED_FEATURES.grep(%r{/daemon_controller\.rb\z}).first)
      $stdin.each_line { |line| puts JSON.generate(measure(line.strip)) }
    ensure
      @hot_daemon&.stop
    end
  end
end

BenchWorker.serve
