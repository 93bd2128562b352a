# frozen_string_literal: true

require_relative "support"

RSpec.describe "DaemonController managing nginx" do
  include_context "real server"

  let(:program) { installed_program("nginx", "nginx") }
  let(:server_pid_file) { server_file("nginx.pid") }
  let(:error_log) { server_file("error.log") }
  let(:page) { "served by nginx from #{tmpdir}\n" }

  let(:request) { "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" }
  let(:answer) { %r{\AHTTP/1\.1 200 OK\r\n.*\r\n\r\n#{Regexp.escape(page)}\z}m }

  let(:complaints) { [/unknown directive "no_such_directive"/] }

  # Everything nginx writes goes to the tmpdir: the PID file, the logs and
  # the temporary files, whose compiled-in defaults are under /var. A root
  # master would run its workers as nobody, who cannot read the tmpdir.
  def write_config(extra = "")
    FileUtils.mkdir_p(server_file("www"))
    File.write(server_file("www/index.html"), page)
    config = server_file("nginx.conf")
    File.write(config, <<~CONFIG)
      #{"user root;" if root?}
      worker_processes 2;
      pid #{server_pid_file};
      error_log #{error_log} info;
      #{extra}
      events {
        worker_connections 64;
      }
      http {
        access_log off;
        default_type text/plain;
        client_body_temp_path #{server_file("client_body")};
        proxy_temp_path #{server_file("proxy")};
        fastcgi_temp_path #{server_file("fastcgi")};
        uwsgi_temp_path #{server_file("uwsgi")};
        scgi_temp_path #{server_file("scgi")};
        server {
          listen 127.0.0.1:#{server_port};
          root #{server_file("www")};
        }
      }
    CONFIG
    config
  end

  def nginx_controller(config)
    managed_server(identifier: "nginx",
                   # -e: the error log nginx opens before reading its configuration.
                   start_command: [program, "-p", "#{tmpdir}/", "-c", config, "-e", error_log].shelljoin,
                   ping_command: [:tcp, "127.0.0.1", server_port], log_file: error_log)
  end

  let(:controller) { nginx_controller(write_config) }
  let(:broken_controller) { nginx_controller(write_config("no_such_directive on;")) }

  it_behaves_like "a real server under DaemonController"

  it "stops the workers along with the master" do
    controller.start
    master = controller.pid
    workers = eventually do
      tree = process_tree(master)
      tree - [master] if tree.size == 3 # the master and worker_processes 2
    end
    remember_server_processes(master)
    expect(cmdline(master)).to start_with("nginx: master process")
    expect(workers.map { |worker| cmdline(worker) }).to all(start_with("nginx: worker process"))

    controller.stop
    survivors = ([master] + workers).select { |pid| process_alive?(pid) }
    expect(survivors).to be_empty, "still alive after stop: #{describe_processes(survivors)}"
  end
end
