# frozen_string_literal: true

# A small TCP echo server used by the daemon_controller specs.
#
#   ruby spec/support/test_daemon.rb --port N --pid-file PATH --log-file PATH [flags]
#
# By default it daemonizes (fork, setsid, the parent exits 0), redirects stdin
# from /dev/null and stdout/stderr to the log file, writes its PID file, then
# listens on 127.0.0.1:PORT and echoes every line it receives. On SIGTERM (or
# SIGINT) it waits --stop-time seconds, deletes its PID file and exits 0.
#
# Flags (in the order the daemon acts on them):
#   --track-file PATH          append every PID this program runs as to PATH
#                              (the spec helper uses it to kill leftovers)
#   --ignore-sigterm           ignore SIGTERM from the very beginning
#   --message-before-log TEXT  print TEXT to stdout before the log is opened
#   --exit-before-fork CODE    exit with CODE before daemonizing
#   --signal-before-fork SIG   kill itself with SIG before daemonizing
#   --sleep-before-fork SECS   sleep before daemonizing
#   --no-daemonize             stay in the foreground (no fork, no setsid)
#   --message-after-log TEXT   write TEXT to the log file
#   --touch-env VAR            touch the file named by environment variable VAR
#   --wait-before-pid SECS     delay before writing the PID file
#   --no-pid-file              do not write a PID file
#   --crash-before-listen      write "crashing, as instructed" to the log and
#                              exit 1 (or die by --crash-signal)
#   --crash-signal SIG         crash by killing itself with SIG instead (a
#                              name or a number)
#   --wait-before-listen SECS  delay before listening
#   --unix-socket PATH         also listen on a Unix socket at PATH
#   --stop-time SECS           take that long to exit after SIGTERM
#   --delete-pid-file-early    delete the PID file as soon as SIGTERM arrives,
#                              before the --stop-time pause (like nginx)
#   --keep-pid-file            leave the PID file behind on exit (stale)

require "socket"

options = {
  port: nil,
  pid_file: nil,
  log_file: nil,
  daemonize: true,
  wait_before_pid: 0.0,
  wait_before_listen: 0.0,
  crash_before_listen: false,
  crash_signal: nil,
  ignore_sigterm: false,
  stop_time: 0.0,
  write_pid_file: true,
  message_before_log: nil,
  message_after_log: nil,
  touch_env: nil,
  delete_pid_file_early: false,
  keep_pid_file: false,
  exit_before_fork: nil,
  signal_before_fork: nil,
  sleep_before_fork: nil,
  unix_socket: nil,
  track_file: nil
}

# "XCPU", "SIGXCPU" or a number ("40": a signal without a name).
def signal_arg(text)
  text.match?(/\A\d+\z/) ? Integer(text) : text
end

args = ARGV.dup
until args.empty?
  flag = args.shift
  value = lambda do
    abort("test_daemon: #{flag} needs a value") if args.empty?
    args.shift
  end
  case flag
  when "--port" then options[:port] = Integer(value.call)
  when "--pid-file" then options[:pid_file] = value.call
  when "--log-file" then options[:log_file] = value.call
  when "--no-daemonize" then options[:daemonize] = false
  when "--wait-before-pid" then options[:wait_before_pid] = Float(value.call)
  when "--wait-before-listen" then options[:wait_before_listen] = Float(value.call)
  when "--crash-before-listen" then options[:crash_before_listen] = true
  when "--crash-signal" then options[:crash_signal] = signal_arg(value.call)
  when "--ignore-sigterm" then options[:ignore_sigterm] = true
  when "--stop-time" then options[:stop_time] = Float(value.call)
  when "--no-pid-file" then options[:write_pid_file] = false
  when "--message-before-log" then options[:message_before_log] = value.call
  when "--message-after-log" then options[:message_after_log] = value.call
  when "--touch-env" then options[:touch_env] = value.call
  when "--delete-pid-file-early" then options[:delete_pid_file_early] = true
  when "--keep-pid-file" then options[:keep_pid_file] = true
  when "--exit-before-fork" then options[:exit_before_fork] = Integer(value.call)
  when "--signal-before-fork" then options[:signal_before_fork] = signal_arg(value.call)
  when "--sleep-before-fork" then options[:sleep_before_fork] = Float(value.call)
  when "--unix-socket" then options[:unix_socket] = value.call
  when "--track-file" then options[:track_file] = value.call
  else
    abort("test_daemon: unknown flag #{flag.inspect}")
  end
end

track = lambda do
  next unless options[:track_file]

  File.open(options[:track_file], "a") { |f| f.puts(Process.pid) }
end

def reset_signal(name)
  Signal.trap(name, "DEFAULT")
rescue ArgumentError, SystemCallError
  nil # a signal Ruby reserves for itself
end

track.call
Signal.trap("TERM", "IGNORE") if options[:ignore_sigterm]
# Unbuffered, as a program logging to its output should be: nothing is lost
# to exit! or a signal.
$stdout.sync = true
$stderr.sync = true

if options[:message_before_log]
  $stdout.puts(options[:message_before_log])
  $stdout.flush
end

exit!(options[:exit_before_fork]) if options[:exit_before_fork]

if options[:signal_before_fork]
  $stdout.flush
  reset_signal(options[:signal_before_fork])
  Process.kill(options[:signal_before_fork], Process.pid)
  sleep 5
  exit!(99)
end

sleep(options[:sleep_before_fork]) if options[:sleep_before_fork]

if options[:daemonize]
  $stdout.flush
  $stderr.flush
  exit!(0) if fork

  Process.setsid
  track.call
  $stdin.reopen(File::NULL, "r")
end

if options[:log_file]
  log = File.open(options[:log_file], "a")
  log.sync = true
  $stdout.reopen(log)
  $stderr.reopen(log)
  $stdout.sync = true
  $stderr.sync = true
  log.close
end

def log(message)
  $stdout.puts("[test_daemon #{Process.pid}] #{message}")
end

$stdout.puts(options[:message_after_log]) if options[:message_after_log]

if options[:touch_env]
  path = ENV.fetch(options[:touch_env])
  File.open(path, "a") {} # rubocop:disable Lint/EmptyBlock
  File.utime(Time.now, Time.now, path)
end

# Graceful-stop handling: the trap only writes to a pipe; the main thread
# does the work.
signal_reader, signal_writer = IO.pipe
%w[TERM INT].each do |name|
  next if name == "TERM" && options[:ignore_sigterm]

  Signal.trap(name) do
    signal_writer.write_nonblock(name[0]) rescue nil # rubocop:disable Style/RescueModifier
  end
end

pid_file_written = false
delete_pid_file = lambda do
  next unless pid_file_written

  pid_file_written = false
  begin
    File.unlink(options[:pid_file]) if File.read(options[:pid_file]).strip == Process.pid.to_s
  rescue SystemCallError
    nil
  end
end

# Shutdown runs in its own thread, so that a graceful stop works at any
# point (also while waiting before writing the PID file or listening).
shutdown = Thread.new do
  which = signal_reader.read(1)
  log("received SIG#{which == "I" ? "INT" : "TERM"}")
  File.unlink(options[:pid_file]) if options[:delete_pid_file_early] && pid_file_written
  sleep(options[:stop_time]) if options[:stop_time] > 0
  delete_pid_file.call unless options[:keep_pid_file]
  File.unlink(options[:unix_socket]) if options[:unix_socket] && File.socket?(options[:unix_socket])
  log("exiting")
  exit!(0)
end

sleep(options[:wait_before_pid]) if options[:wait_before_pid] > 0
if options[:write_pid_file] && options[:pid_file]
  File.write(options[:pid_file], "#{Process.pid}\n")
  pid_file_written = true
end

if options[:crash_before_listen]
  log("crashing, as instructed")
  if options[:crash_signal]
    reset_signal(options[:crash_signal])
    Process.kill(options[:crash_signal], Process.pid)
    sleep 5
  end
  exit!(1)
end

sleep(options[:wait_before_listen]) if options[:wait_before_listen] > 0

servers = []
servers << TCPServer.new("127.0.0.1", options[:port]) if options[:port]
if options[:unix_socket]
  File.unlink(options[:unix_socket]) if File.socket?(options[:unix_socket])
  servers << UNIXServer.new(options[:unix_socket])
end
log("listening")

servers.each do |server|
  Thread.new do
    loop do
      client = server.accept
      Thread.new(client) do |c|
        while (line = c.gets)
          c.write(line)
        end
      rescue StandardError
        nil
      ensure
        c.close
      end
    rescue StandardError
      break
    end
  end
end

shutdown.join
