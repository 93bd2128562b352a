# frozen_string_literal: true

# Manages examples/echo_daemon.rb with DaemonController: starts it, asks about
# it, talks to it, stops it, then shows how a failed start is reported.
# Every step prints how long it took. Run it with bin/demo [--verbose];
# --verbose also prints DaemonController's debug log.

require "daemon_controller"
require "daemon_controller/version"
require "fileutils"
require "logger"
require "rbconfig"
require "shellwords"
require "socket"
require "tmpdir"

ECHO_DAEMON = File.expand_path("echo_daemon.rb", __dir__)
VERBOSE = ARGV.include?("--verbose")

# Runs the block, prints its label, its duration in milliseconds and what it
# returned (or raised), and returns the block's value.
def step(label)
  puts "  #{label} ..." if VERBOSE # the debug lines that follow belong to this step
  began = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  begin
    result = yield
    outcome = result.inspect
  rescue DaemonController::Error => e
    outcome = "raised #{e.class}:\n#{e.message.gsub(/^/, "      ")}"
  end
  elapsed = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - began) * 1000
  puts format("  %-18s %8.1f ms  %s", label, elapsed, outcome)
  result
end

def free_port
  probe = TCPServer.new("127.0.0.1", 0)
  probe.addr[1]
ensure
  probe&.close
end

# A controller for one echo daemon whose files live in dir/name.*.
def echo_controller(dir, name, port, *extra_args)
  pid_file = File.join(dir, "#{name}.pid")
  log_file = File.join(dir, "#{name}.log")
  command = [RbConfig.ruby, ECHO_DAEMON, "--port", port.to_s, "--pid-file", pid_file,
             "--log-file", log_file, *extra_args]
  options = {
    identifier: "#{name} (127.0.0.1:#{port})",
    start_command: Shellwords.join(command),
    ping_command: [:tcp, "127.0.0.1", port],
    pid_file: pid_file,
    log_file: log_file,
    start_timeout: 10,
    stop_timeout: 10
  }
  options[:logger] = Logger.new($stdout, formatter: proc { |_, _, _, message| "      | #{message}\n" }) if VERBOSE
  DaemonController.new(**options)
end

dir = Dir.mktmpdir("daemon_controller-demo-")
controllers = []
begin
  port = free_port
  echo = echo_controller(dir, "echo", port, "--ready-delay", "0.2")
  controllers << echo
  puts "DaemonController #{DaemonController::VERSION_STRING}: echo daemon on 127.0.0.1:#{port}, files in #{dir}"

  step("start") { echo.start }
  step("running?") { echo.running? }
  step("pid") { echo.pid }
  socket = step("connect") { echo.connect { TCPSocket.new("127.0.0.1", port) } }
  step("send + echo") do
    socket.puts("hello, daemon")
    socket.gets.chomp
  ensure
    socket.close
  end
  step("start (again)") { echo.start }
  step("stop") { echo.stop }
  step("running?") { echo.running? }

  puts
  puts "A daemon that dies before it listens: start raises StartError with its log"
  broken = echo_controller(dir, "broken", free_port, "--fail", "port already in use (example failure)")
  controllers << broken
  step("start") { broken.start }
  step("running?") { broken.running? }
ensure
  controllers.each do |controller|
    controller.stop
  rescue DaemonController::Error, SystemCallError => e
    warn "cleanup: #{e.class}: #{e.message}"
  end
  FileUtils.remove_entry(dir)
end
