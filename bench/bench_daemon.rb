# frozen_string_literal: true

# A tiny TCP daemon for the benchmark: daemonizes, writes its PID file,
# optionally waits before listening, logs that it listens (as servers do) and
# records (CLOCK_MONOTONIC, shared by all processes on Linux) when it began to
# listen. Exits at once on SIGTERM.
#
#   ruby bench_daemon.rb PORT PID_FILE LOG_FILE READY_FILE [DELAY_SECONDS]

require "socket"

port, pid_file, log_file, ready_file, delay = ARGV
delay = delay.to_f

exit!(0) if fork
Process.setsid
$stdin.reopen(File::NULL)
$stdout.reopen(log_file, "a")
$stderr.reopen($stdout)
$stdout.sync = true
File.write(pid_file, Process.pid.to_s)
sleep(delay) if delay.positive?
server = TCPServer.new("127.0.0.1", Integer(port))
ready_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
puts "listening on 127.0.0.1:#{port}"
# Renamed into place, so that a reader never sees it half written.
File.write("#{ready_file}.tmp", ready_at.to_s)
File.rename("#{ready_file}.tmp", ready_file)
trap("TERM") { exit!(0) }
loop do
  server.accept.close
end
