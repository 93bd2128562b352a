# frozen_string_literal: true

# A small line-echo server that daemonizes itself, for trying out
# DaemonController (see examples/demo.rb). It uses only Ruby's standard library.
#
#   ruby echo_daemon.rb --port N --pid-file P --log-file L
#                       [--ready-delay SECONDS] [--fail MESSAGE]
#
# The command returns at once (exit status 0) while a detached child carries
# on: it writes its PID file, waits --ready-delay seconds (to play a slow
# server), then answers every line a client sends on 127.0.0.1:N with that
# same line. SIGTERM makes it remove its PID file and exit with status 0.
# With --fail it writes MESSAGE to the log and exits with status 1 instead
# of listening, the way a server dies when its port is taken.

require "fileutils"
require "optparse"
require "socket"

options = { ready_delay: 0.0 }
parser = OptionParser.new do |opts|
  opts.banner = "usage: #{File.basename($PROGRAM_NAME)} --port N --pid-file P --log-file L " \
                "[--ready-delay SECONDS] [--fail MESSAGE]"
  opts.on("--port N", Integer, "TCP port to listen on, on 127.0.0.1") { |v| options[:port] = v }
  opts.on("--pid-file PATH", "where to write the daemon's PID") { |v| options[:pid_file] = File.expand_path(v) }
  opts.on("--log-file PATH", "where stdout and stderr go") { |v| options[:log_file] = File.expand_path(v) }
  opts.on("--ready-delay SECONDS", Float, "pause before listening") { |v| options[:ready_delay] = v }
  opts.on("--fail MESSAGE", "log MESSAGE and exit 1 instead of listening") { |v| options[:fail] = v }
end
parser.parse!(ARGV)
missing = %i[port pid_file log_file].reject { |key| options[key] }
abort("#{parser.banner}\nmissing: #{missing.join(", ")}") unless missing.empty?

def log(message)
  $stdout.puts("#{Time.now.strftime("%H:%M:%S.%L")} echo_daemon[#{Process.pid}] #{message}")
end

# Detach: the parent returns to whoever ran us, the child leads a new session
# with no terminal, and all its output goes to the log file.
exit!(0) if fork
Process.setsid
Dir.chdir("/")
$stdin.reopen(File::NULL)
$stdout.reopen(options[:log_file], "a")
$stderr.reopen($stdout)
$stdout.sync = true

pid_file = options[:pid_file]
File.write(pid_file, "#{Process.pid}\n")
log("daemonized, wrote #{File.basename(pid_file)}")

# A TERM signal unwinds the main thread with SystemExit, so the ensure clause
# below does the cleanup outside of the signal handler.
trap("TERM") { exit(0) }

remove_pid_file = true
begin
  if options[:ready_delay].positive?
    log(format("getting ready for %.2f s", options[:ready_delay]))
    sleep(options[:ready_delay])
  end

  if options[:fail]
    warn(options[:fail])
    remove_pid_file = false # left for the controller, which sees this process gone
    exit(1)
  end

  server = TCPServer.new("127.0.0.1", options[:port])
  log("listening on 127.0.0.1:#{options[:port]}")
  loop do
    client = server.accept
    Thread.new(client) do |connection|
      peer = connection.remote_address.inspect_sockaddr
      log("client #{peer} connected")
      while (line = connection.gets)
        connection.write(line)
        log("echoed #{line.chomp.inspect} to #{peer}")
      end
      log("client #{peer} disconnected")
    rescue IOError, SystemCallError => e
      log("client #{peer}: #{e.class}: #{e.message}")
    ensure
      connection.close
    end
  end
ensure
  if remove_pid_file
    log("shutting down, removing #{pid_file}")
    FileUtils.rm_f(pid_file)
  end
end
