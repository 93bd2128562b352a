# frozen_string_literal: true

# A foreground program for the readiness specs (run it with make_pid_file).
#
#   ruby spec/support/readiness_daemon.rb [flags]
#
#   --status TEXT        send STATUS=TEXT on $NOTIFY_SOCKET (repeatable, in order)
#   --errno N            then send ERRNO=N
#   --ready-after SECS   then, after SECS, send READY=1 (never without this flag)
#   --exit-after SECS    exit 1 after SECS instead of running on
#   --http-port PORT     answer HTTP on 127.0.0.1:PORT ...
#   --http-status CODE   ... with this status (default 200) ...
#   --http-after SECS    ... from SECS after starting (refused before)
#   --log-requests       print each HTTP request line (as many servers log)
#
# It prints "notify socket: <path or none>" to stdout first, then runs until
# SIGTERM.

require "socket"

statuses = []
errno = nil
ready_after = nil
exit_after = nil
http_port = nil
http_status = 200
http_after = 0.0
log_requests = false
args = ARGV.dup
until args.empty?
  flag = args.shift
  value = args.shift
  case flag
  when "--status" then statuses << value
  when "--errno" then errno = Integer(value)
  when "--ready-after" then ready_after = Float(value)
  when "--exit-after" then exit_after = Float(value)
  when "--http-port" then http_port = Integer(value)
  when "--http-status" then http_status = Integer(value)
  when "--http-after" then http_after = Float(value)
  when "--log-requests"
    log_requests = true
    args.unshift(value) if value
  else abort "readiness_daemon: unknown flag #{flag}"
  end
end

$stdout.sync = true
socket_path = ENV.fetch("NOTIFY_SOCKET", nil)
puts "notify socket: #{socket_path || "none"}"
Signal.trap("TERM") { exit!(0) }

notify = lambda do |message|
  next unless socket_path

  Socket.new(:UNIX, :DGRAM).tap { |s| s.send(message, 0, Socket.sockaddr_un(socket_path)) }.close
end

statuses.each { |status| notify.call("STATUS=#{status}") }
notify.call("ERRNO=#{errno}") if errno
threads = []
if ready_after
  threads << Thread.new do
    sleep ready_after
    notify.call("READY=1")
  end
end
if http_port
  threads << Thread.new do
    sleep http_after
    server = TCPServer.new("127.0.0.1", http_port)
    loop do
      client = server.accept
      request = client.gets
      puts "request: #{request&.chomp}" if log_requests
      client.write("HTTP/1.1 #{http_status} Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
      client.close
    end
  end
end
if exit_after
  sleep exit_after
  exit!(1)
end
sleep
