# frozen_string_literal: true

# A tiny TCP daemon for the benchmark. It writes its PID file at once,
# waits DELAY seconds, starts listening, and records that moment
# (CLOCK_MONOTONIC, which all processes share) in READY_FILE, a file in a
# directory the controller does not watch. Exits at once on SIGTERM.
#
#   ruby bench_daemon.rb MODE PORT PID_FILE LOG_FILE READY_FILE DELAY
#
# MODE says how a controller can tell that it is ready:
# - exit:   the start command exits only once the daemon listens;
# - log:    the start command exits at once, the daemon logs a line when it
#           listens;
# - silent: the start command exits at once, the daemon writes nothing when
#           it listens (only a ping can tell).

require "socket"

mode, port, pid_file, log_file, ready_file, delay = ARGV
delay = Float(delay)

listening, ready = IO.pipe
if fork
  ready.close
  # The start command's own exit is the readiness signal in "exit" mode.
  listening.read(1) if mode == "exit"
  exit!(0)
end
listening.close
Process.setsid
$stdin.reopen(File::NULL)
$stdout.reopen(log_file, "a")
$stderr.reopen($stdout)
$stdout.sync = true
trap("TERM") { exit!(0) }
File.write(pid_file, Process.pid.to_s)
sleep(delay) if delay.positive?
server = TCPServer.new("127.0.0.1", Integer(port))
ready_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
# Renamed into place, so that a reader never sees it half written.
File.write("#{ready_file}.tmp", ready_at.to_s)
File.rename("#{ready_file}.tmp", ready_file)
puts "listening on 127.0.0.1:#{port}" if mode == "log"
ready.write("!") if mode == "exit"
ready.close
loop { server.accept.close }
