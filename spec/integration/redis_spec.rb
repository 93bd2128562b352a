# frozen_string_literal: true

require_relative "support"

RSpec.describe "DaemonController managing redis-server" do
  include_context "real server"

  let(:program) { installed_program("redis-server", "redis-server") }
  let(:server_pid_file) { server_file("redis.pid") }
  let(:log) { server_file("redis.log") }
  let(:socket_path) { server_file("redis.sock") }

  let(:request) { "PING\r\n" }
  let(:answer) { /\A\+PONG\r\n\z/ }

  let(:complaints) { [/Bad directive|Unresolved Configuration/, /no-such-option/] }

  def write_config(extra = "")
    config = server_file("redis.conf")
    File.write(config, <<~CONFIG)
      daemonize yes
      pidfile #{server_pid_file}
      logfile #{log}
      bind 127.0.0.1
      port #{server_port}
      unixsocket #{socket_path}
      dir #{tmpdir}
      save ""
      appendonly no
      # The title names the configuration file, hence the tmpdir.
      proc-title-template "{title} {listen-addr} {config-file}"
      #{extra}
    CONFIG
    config
  end

  def redis_controller(config)
    # Redis listens on its socket and its port at the same point.
    managed_server(identifier: "redis-server", start_command: [program, config].shelljoin,
                   ping_command: [:unix, socket_path], log_file: log)
  end

  let(:controller) { redis_controller(write_config) }
  let(:broken_controller) { redis_controller(write_config("no-such-option yes")) }

  it_behaves_like "a real server under DaemonController"

  it "serves its unix socket too, and the log file tells that it is ready" do
    controller.start
    remember_server_processes(controller.pid)
    socket = UNIXSocket.new(socket_path)
    begin
      expect(exchange(socket, request, answer)).to match(answer)
    ensure
      socket.close
    end
    expect(File.read(log)).to include("Ready to accept connections")
  end

  it "runs in the foreground and reports readiness through NOTIFY_SOCKET (make_pid_file, [:notify])" do
    config = server_file("foreground.conf")
    File.write(config, <<~CONFIG)
      daemonize no
      supervised systemd
      bind 127.0.0.1
      port #{server_port}
      dir #{tmpdir}
      save ""
      appendonly no
      proc-title-template "{title} {listen-addr} {config-file}"
    CONFIG
    foreground = managed_server(identifier: "redis-server", start_command: [program, config].shelljoin,
                                ping_command: [:notify], log_file: log, daemonize_for_me: true,
                                make_pid_file: true)
    expect(foreground.start).to be(true)
    pid = foreground.pid
    remember_server_processes(pid)
    expect(process_program(pid)).to end_with("redis-check-rdb").or end_with("redis-server")
    expect(ask_once(request, answer)).to match(answer)
    expect(File.read(log)).to include("Supervised by systemd")
    foreground.stop
    expect(process_alive?(pid)).to be(false)
  end
end
