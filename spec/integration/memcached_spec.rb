# frozen_string_literal: true

require_relative "support"

RSpec.describe "DaemonController managing memcached" do
  include_context "real server"

  let(:program) { installed_program("memcached", "memcached") }
  let(:server_pid_file) { server_file("memcached.pid") }
  let(:log) { server_file("memcached.log") }

  let(:request) { "version\r\n" }
  let(:answer) { /\AVERSION \S+\r\n\z/ }

  let(:complaints) { [/unrecognized option '--no-such-flag'/] }

  # memcached has no log file of its own: with -v it keeps the descriptors
  # it was started with when it daemonizes, so the shell points them at
  # the log file, where the controller reads its complaints.
  def memcached_controller(*extra_flags)
    flags = ["-d", "-P", server_pid_file, "-l", "127.0.0.1", "-p", server_port.to_s, "-U", "0", "-vv"]
    flags += ["-u", "root"] if root? # memcached refuses to run as root otherwise
    command = [program, *flags, *extra_flags].shelljoin
    managed_server(identifier: "memcached", start_command: "#{command} >>#{log.shellescape} 2>&1",
                   ping_command: [:tcp, "127.0.0.1", server_port], log_file: log)
  end

  let(:controller) { memcached_controller }
  let(:broken_controller) { memcached_controller("--no-such-flag") }

  it_behaves_like "a real server under DaemonController"

  it "has the daemon write what it does to the log file" do
    controller.start
    ask_once(request, answer)
    remember_server_processes(controller.pid)
    expect(eventually { File.read(log)[/^<\d+ version$/] }).to be_truthy
  end
end
