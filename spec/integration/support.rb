# frozen_string_literal: true

require_relative "../spec_helper"

# Helpers for the specs that manage real servers from Debian's packages
# (nginx, memcached, Redis), each under its own configuration in the
# example's tmpdir, on its own 127.0.0.1 port.
module RealServerHelper
  # Debian installs servers in sbin, which a non-root PATH may lack.
  PROGRAM_DIRS = %w[/usr/sbin /usr/bin /sbin /bin].freeze

  def self.program_path(name)
    dirs = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR) + PROGRAM_DIRS
    dirs.map { |dir| File.join(dir, name) }.find { |path| File.file?(path) && File.executable?(path) }
  end

  # The absolute path of the server program. A missing one fails the example
  # instead of skipping it: bin/setup installs these packages, so their
  # absence means a broken setup, and a skip would hide it.
  def installed_program(name, package)
    RealServerHelper.program_path(name) or
      raise "#{name} is not installed (Debian package #{package}): run bin/setup"
  end

  def root?
    Process.uid.zero?
  end

  def server_port
    @server_port ||= free_port
  end

  def server_file(name)
    File.join(tmpdir, name)
  end

  # Writes request on the socket, then reads until the answer matches
  # pattern, the server closes, or 5 s pass. Returns what was read.
  def exchange(socket, request, pattern)
    socket.write(request)
    answer = +""
    deadline = monotonic + 5
    until answer.match?(pattern)
      remaining = deadline - monotonic
      break if remaining <= 0 || !socket.wait_readable(remaining)

      chunk = socket.read_nonblock(4096, exception: false)
      break if chunk.nil?

      answer << chunk if chunk.is_a?(String)
    end
    answer
  end

  # One fresh TCP connection, one request, its answer: no retry, so that a
  # server that does not answer yet fails the example.
  def ask_once(request, pattern, the_port = server_port)
    socket = TCPSocket.new("127.0.0.1", the_port)
    exchange(socket, request, pattern)
  ensure
    socket&.close
  end

  # PID => parent PID, for every process visible in /proc.
  def parent_pids
    Dir.glob("/proc/[0-9]*/stat").each_with_object({}) do |path, parents|
      stat = File.read(path)
      fields = stat[(stat.rindex(")") + 2)..].split
      parents[path[/\d+/].to_i] = fields[1].to_i
    rescue SystemCallError
      next # the process exited while we looked
    end
  end

  # pid and all its descendants that are alive.
  def process_tree(pid)
    parents = parent_pids
    tree = [pid]
    loop do
      children = parents.select { |child, parent| tree.include?(parent) && !tree.include?(child) }.keys
      break if children.empty?

      tree.concat(children)
    end
    tree.select { |member| process_alive?(member) }
  end

  # The file that a program's path names in the end, as /proc/<pid>/exe
  # gives it: /usr/bin/redis-server is a link to redis-check-rdb, which
  # behaves by the name it is run as.
  def program_file(path)
    File.realpath(path)
  end

  # The program a process runs (its /proc/<pid>/exe), or nil.
  def process_program(pid)
    File.readlink("/proc/#{pid}/exe")
  rescue SystemCallError
    nil
  end

  # Live processes, other than this one, whose command line mentions the
  # example's tmpdir (where the server's configuration and PID file are),
  # with their descendants: an nginx worker's title names nothing.
  def processes_of_this_example
    return [] unless @tmpdir

    mentioning = parent_pids.keys.select do |pid|
      pid != Process.pid && cmdline(pid).include?(@tmpdir) && process_alive?(pid)
    end
    mentioning.flat_map { |pid| process_tree(pid) }.uniq
  end

  # Registers a controller, so that the cleanup stops its server.
  def managed(controller)
    (@managed_controllers ||= []) << controller
    controller
  end

  # A controller of this example's server, registered for the cleanup; the
  # PID file and the generous limits are the same for every server.
  def managed_server(**options)
    managed(DaemonController.new(pid_file: server_pid_file, start_timeout: 10, stop_timeout: 10,
                                 start_abort_timeout: 3, **options))
  end

  # Remembers the server's processes, so that the cleanup kills them even
  # if they have left the process tree (a worker whose master died).
  def remember_server_processes(pid)
    (@server_pids ||= []).concat(process_tree(pid)) if pid
  end

  # After each example: stops its servers, then SIGKILLs whatever is left.
  def clean_up_real_servers
    (@managed_controllers || []).each do |controller|
      controller.stop
    rescue StandardError => e
      warn "cleanup: stop failed: #{e.class}: #{e.message}"
    end
    (processes_of_this_example + (@server_pids || [])).uniq.each do |pid|
      next unless process_alive?(pid)

      begin
        DaemonControllerSpecHelper::REAL_KILL.call("KILL", pid)
      rescue SystemCallError
        nil
      end
    end
  end

  def describe_processes(pids)
    pids.map { |pid| "#{pid} #{cmdline(pid).tr("\0", " ").strip}" }.join(", ")
  end
end

# For each group of examples that runs a real server: the group defines
# `program` (installed_program) and passes each controller it makes through
# `managed`.
RSpec.shared_context "real server" do
  include RealServerHelper

  before do
    program # fails loudly when the server is not installed
  end

  after do
    clean_up_real_servers
  end
end

# The behaviour every real server must show under DaemonController. The
# including group includes the context "real server" and defines:
#   controller         - a DaemonController for the server as configured
#   broken_controller  - one for the server under a configuration it rejects
#   complaints         - regexps for what the server says about that
#   request, answer    - a request in the server's protocol and a regexp for
#                        a good answer
RSpec.shared_examples "a real server under DaemonController" do
  it "returns from start only once the server answers" do
    expect(controller.start).to be(true)
    # Straight away, no retry: start must not return before the server is up.
    expect(ask_once(request, answer)).to match(answer)
    remember_server_processes(controller.pid)
  end

  it "hands back a working connection from connect, starting the server" do
    expect(controller.running?).to be_falsy
    socket = controller.connect { TCPSocket.new("127.0.0.1", server_port) }
    begin
      expect(socket).to be_a(TCPSocket)
      expect(exchange(socket, request, answer)).to match(answer)
    ensure
      socket.close
    end
    expect(controller.running?).to be(true)
    remember_server_processes(controller.pid)
  end

  it "reports a running? and a pid that match the process table" do
    expect(controller.running?).to be_falsy
    expect(controller.pid).to be_nil
    controller.start
    pid = controller.pid
    remember_server_processes(pid)
    expect(pid).to be_a(Integer)
    expect(pid).to eq(read_pid_file(server_pid_file))
    expect(controller.running?).to be(true)
    expect(process_alive?(pid)).to be(true)
    expect(process_program(pid)).to eq(program_file(program))
    expect(cmdline(pid)).to include(tmpdir)
  end

  it "leaves no process of the server behind after stop" do
    controller.start
    pid = controller.pid
    tree = process_tree(pid)
    remember_server_processes(pid)
    expect(tree).to include(pid)
    expect(tree.map { |member| process_program(member) }.uniq).to eq([program_file(program)])

    controller.stop
    expect(controller.running?).to be_falsy
    survivors = tree.select { |member| process_alive?(member) }
    expect(survivors).to be_empty, "still alive after stop: #{describe_processes(survivors)}"
    leftovers = processes_of_this_example
    expect(leftovers).to be_empty, "still alive after stop: #{describe_processes(leftovers)}"
    expect(port_open?(server_port)).to be(false)
  end

  it "raises StartError with the server's own complaint about a broken configuration" do
    expect { broken_controller.start }.to raise_error(DaemonController::StartError) { |error|
      complaints.each { |complaint| expect(error.message).to match(complaint) }
    }
    expect(broken_controller.running?).to be_falsy
    leftovers = processes_of_this_example
    expect(leftovers).to be_empty, "left running: #{describe_processes(leftovers)}"
  end
end
