# frozen_string_literal: true

require_relative "spec_helper"

RSpec.describe DaemonController, "seams" do
  def exit_status(code)
    system("exit #{code}")
    $?
  end

  describe "daemon_is_running?" do
    it "is asked once by start, which raises AlreadyStarted when it says true" do
      controller = new_controller
      expect(controller).to receive(:daemon_is_running?).once.and_return(true)
      expect(controller).not_to receive(:spawn_daemon)
      expect { controller.start }.to raise_error(DaemonController::AlreadyStarted)
    end

    it "is asked by running?" do
      controller = new_controller
      expect(controller).to receive(:daemon_is_running?).and_return(true)
      expect(controller.running?).to be(true)
    end

    it "is asked by stop (reached by dispatch)" do
      controller = new_controller(["--stop-time", "0.3"])
      controller.start
      allow(controller).to receive(:daemon_is_running?).and_call_original
      controller.stop
      expect(controller).to have_received(:daemon_is_running?).at_least(:once)
    end

    it "is asked by the stop wait (a stub saying true makes stop time out)" do
      controller = new_controller(stop_timeout: 0.4)
      controller.start
      killed = false
      allow(Process).to receive(:kill).and_wrap_original do |original, signal, pid|
        killed = true if signal == "SIGKILL"
        original.call(signal, pid)
      end
      # Says "running" until the force kill (then the real answer, so that the
      # wait after SIGKILL can end).
      allow(controller).to receive(:daemon_is_running?).and_wrap_original do |original|
        killed ? original.call : true
      end
      expect { controller.stop }.to raise_error(DaemonController::StopTimeout)
      expect(killed).to be(true)
    end

    it "is asked only after a falsy ping while waiting for the daemon (twice in all for one failed ping)" do
      controller = new_controller
      expect(controller).to receive(:daemon_is_running?).twice.and_call_original
      expect(controller).to receive(:run_ping_command).exactly(3).times.and_return(false, true, true)
      expect(controller.start).to be(true)
    end

    it "ends the ping wait when it says the daemon is gone (then the final ping decides)" do
      controller = new_controller
      expect(controller).to receive(:daemon_is_running?).and_return(false, false)
      expect(controller).to receive(:run_ping_command).twice.and_return(false, false)
      expect { controller.start }.to raise_error(DaemonController::StartError)
    end

    it "does real work when not stubbed (private, callable with send)" do
      controller = new_controller
      expect(controller.send(:daemon_is_running?)).to be_falsy
      controller.start
      expect(controller.send(:daemon_is_running?)).to be(true)
    end
  end

  describe "spawn_daemon" do
    it "is called once by start, and an ok result continues the start" do
      controller = new_controller
      expect(controller).to receive(:spawn_daemon).once do
        system(daemon_command(*standard_flags))
        DaemonController::InternalCommandOkResult.new(1, "")
      end
      expect(controller.start).to be(true)
      expect(port_open?).to be(true)
    end

    it "turns an error result into StartError with its output and exit status" do
      controller = new_controller
      expect(controller).to receive(:spawn_daemon)
        .and_return(DaemonController::InternalCommandErrorResult.new(1, "stubbed output\n", exit_status(5)))
      expect { controller.start }.to raise_error(DaemonController::StartError, "stubbed output\n(exited with status 5)")
    end

    it "turns a timeout result into daemonization_timed_out(pid) and the abort of that PID" do
      controller = new_controller(start_abort_timeout: 2)
      sleeper = spawn_sleeper
      allow(Process).to receive(:kill).and_call_original
      expect(controller).to receive(:spawn_daemon)
        .and_return(DaemonController::InternalCommandTimeoutResult.new(sleeper, ""))
      expect(controller).to receive(:daemonization_timed_out).with(sleeper)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      expect(Process).to have_received(:kill).with("SIGTERM", sleeper).once
      expect(process_alive?(sleeper)).to be(false)
    end

    it "reaches run_command with the start command" do
      command = daemon_command(*standard_flags)
      controller = new_controller(start_command: command)
      expect(controller).to receive(:run_command).with(command).once.and_call_original
      controller.start
    end

    it "reaches run_command with the String a callable start_command returned" do
      command = daemon_command(*standard_flags)
      controller = new_controller(start_command: -> { command })
      expect(controller).to receive(:run_command).with(command).once.and_call_original
      controller.start
    end

    it "returns an ok result struct when not stubbed" do
      controller = new_controller
      result = controller.send(:spawn_daemon)
      expect(result).to be_a(DaemonController::InternalCommandOkResult)
      expect(result.pid).to be_a(Integer)
      eventually(5) { port_open? }
    end
  end

  describe "pid_file_available?" do
    it "is checked until it is true, and never after" do
      controller = new_controller
      answers = []
      # Two made-up misses, then the real answer (which waits for the file).
      allow(controller).to receive(:pid_file_available?).and_wrap_original do |original|
        answers << (answers.size < 2 ? false : original.call)
        answers.last
      end
      expect(controller.start).to be(true)
      expect(answers.first(2)).to eq([false, false])
      expect(answers.last).to be(true)
      expect(answers.count(true)).to eq(1)
    end

    it "rechecks at least every 0.1 s even without file events" do
      controller = new_controller
      calls = 0
      allow(controller).to receive(:pid_file_available?) do
        calls += 1
        calls >= 5
      end
      took = elapsed { controller.start }
      expect(calls).to eq(5)
      expect(took).to be < 2
    end

    it "answers from the PID file when not stubbed (exists and non-empty)" do
      controller = new_controller
      expect(controller.send(:pid_file_available?)).to be_falsy
      File.write(pid_file, "")
      expect(controller.send(:pid_file_available?)).to be_falsy
      File.write(pid_file, "123\n")
      expect(controller.send(:pid_file_available?)).to be_truthy
    end
  end

  describe "run_ping_command" do
    it "is called by dispatch during start" do
      controller = new_controller
      expect(controller).to receive(:run_ping_command).at_least(:twice).and_call_original
      controller.start
    end

    it "makes start fail with StartError when the final ping fails" do
      controller = new_controller
      expect(controller).to receive(:run_ping_command).twice.and_return(true, false)
      expect { controller.start }.to raise_error(DaemonController::StartError)
    end

    describe "[:tcp, host, port]" do
      it "returns exactly true when something listens" do
        server = TCPServer.new("127.0.0.1", port)
        controller = new_controller
        expect(controller.send(:run_ping_command)).to be(true)
      ensure
        server&.close
      end

      it "returns exactly false when nothing listens" do
        expect(new_controller.send(:run_ping_command)).to be(false)
      end
    end

    describe "[:unix, path]" do
      it "returns exactly true when something listens on the socket" do
        server = UNIXServer.new(unix_socket_path)
        controller = new_controller(ping_command: [:unix, unix_socket_path])
        expect(controller.send(:run_ping_command)).to be(true)
      ensure
        server&.close
      end

      it "returns exactly false when the socket file is missing" do
        controller = new_controller(ping_command: [:unix, unix_socket_path])
        expect(controller.send(:run_ping_command)).to be(false)
      end

      it "returns exactly false when nobody listens on the socket file any more (refused)" do
        server = UNIXServer.new(unix_socket_path)
        server.close
        expect(File.socket?(unix_socket_path)).to be(true)
        controller = new_controller(ping_command: [:unix, unix_socket_path])
        expect(controller.send(:run_ping_command)).to be(false)
      end

      it "returns false when the connect does not complete in time (full backlog)" do
        server = UNIXServer.new(unix_socket_path)
        server.listen(0)
        clients = []
        loop do
          socket = Socket.new(:UNIX, :STREAM)
          begin
            socket.connect_nonblock(Socket.sockaddr_un(unix_socket_path))
            clients << socket
          rescue IO::WaitWritable, Errno::EAGAIN
            socket.close
            break
          end
          break if clients.size > 50
        end
        controller = new_controller(ping_command: [:unix, unix_socket_path])
        result = nil
        took = elapsed { result = controller.send(:run_ping_command) }
        expect(result).to be(false)
        expect(took).to be < 1
      ensure
        clients&.each(&:close)
        server&.close
      end

      it "starts a daemon pinged through its Unix socket" do
        controller = new_controller(["--unix-socket", unix_socket_path], ping_command: [:unix, unix_socket_path])
        expect(controller.start).to be(true)
        expect(File.socket?(unix_socket_path)).to be(true)
      end
    end

    describe "a String command" do
      it "returns exactly true when the command exits 0" do
        controller = new_controller(ping_command: "true")
        expect(controller.send(:run_ping_command)).to be(true)
      end

      it "returns exactly false when the command exits non-zero" do
        controller = new_controller(ping_command: "false")
        expect(controller.send(:run_ping_command)).to be(false)
      end

      it "returns false for a missing program, silently, as system does (no shell for a plain command)" do
        controller = new_controller(ping_command: File.join(tmpdir, "no-such-ping"))
        result = nil
        output = capture_fds_through_pipe { result = controller.send(:run_ping_command) }
        expect(result).to be(false)
        expect(output).to eq("")
      end

      it "runs through the shell when it has shell syntax" do
        controller = new_controller(ping_command: "test 1 -eq 1 && exit 0")
        expect(controller.send(:run_ping_command)).to be(true)
      end

      it "does not get the env additions" do
        controller = new_controller(env: { "DC_PING_ENV" => "set" }, ping_command: "test -z \"$DC_PING_ENV\"")
        expect(controller.send(:run_ping_command)).to be(true)
      end

      it "inherits our stdout (like system)" do
        controller = new_controller(ping_command: "echo ping-was-here")
        output = capture_fds_through_pipe { controller.send(:run_ping_command) }
        expect(output).to include("ping-was-here")
      end

      it "starts a daemon pinged with a command" do
        check = "exec 3<>/dev/tcp/127.0.0.1/#{port}"
        controller = new_controller(ping_command: "bash -c #{check.shellescape} 2>/dev/null")
        expect(controller.start).to be(true)
      end
    end

    describe "a callable" do
      it "returns the callable's value" do
        controller = new_controller(ping_command: -> { :pong })
        expect(controller.send(:run_ping_command)).to eq(:pong)
      end

      it "returns nil/false values as they are (falsy = down)" do
        expect(new_controller(ping_command: -> {}).send(:run_ping_command)).to be_falsy
        expect(new_controller(ping_command: -> { false }).send(:run_ping_command)).to be(false)
      end

      it "returns false when the callable raises ECONNREFUSED" do
        controller = new_controller(ping_command: -> { raise Errno::ECONNREFUSED })
        expect(controller.send(:run_ping_command)).to be(false)
      end

      it "returns false for every ALLOWED_CONNECT_EXCEPTIONS class" do
        DaemonController::ALLOWED_CONNECT_EXCEPTIONS.each do |error_class|
          controller = new_controller(ping_command: -> { raise error_class })
          expect(controller.send(:run_ping_command)).to be(false), "#{error_class} was not treated as down"
        end
      end

      it "reads ALLOWED_CONNECT_EXCEPTIONS afresh (a class added by the caller counts as down)" do
        custom = Class.new(StandardError)
        controller = new_controller(ping_command: -> { raise custom })
        DaemonController::ALLOWED_CONNECT_EXCEPTIONS << custom
        begin
          expect(controller.send(:run_ping_command)).to be(false)
        ensure
          DaemonController::ALLOWED_CONNECT_EXCEPTIONS.delete(custom)
        end
        expect { controller.send(:run_ping_command) }.to raise_error(custom)
      end

      it "propagates other exceptions" do
        controller = new_controller(ping_command: -> { raise IOError, "ping broke" })
        expect { controller.send(:run_ping_command) }.to raise_error(IOError, "ping broke")
      end

      it "closes a result that responds to close" do
        closable = double("connection")
        expect(closable).to receive(:close).once
        controller = new_controller(ping_command: -> { closable })
        expect(controller.send(:run_ping_command)).to be_truthy
      end

      it "ignores an error raised by the result's close" do
        closable = double("connection")
        expect(closable).to receive(:close).once.and_raise(IOError, "close failed")
        controller = new_controller(ping_command: -> { closable })
        expect { expect(controller.send(:run_ping_command)).to be_truthy }.not_to raise_error
      end

      it "closes a real socket returned by the callable" do
        server = TCPServer.new("127.0.0.1", port)
        socket = nil
        controller = new_controller(ping_command: -> { socket = TCPSocket.new("127.0.0.1", port) })
        expect(controller.send(:run_ping_command)).to be_truthy
        expect(socket).to be_closed
      ensure
        server&.close
      end

      def ping_through_method
        TCPSocket.new("127.0.0.1", port)
      end

      it "accepts method(:x) and starts a daemon with it" do
        controller = new_controller(ping_command: method(:ping_through_method))
        expect(controller.start).to be(true)
      end

      it "starts a daemon pinged with a lambda" do
        controller = new_controller(ping_command: -> { TCPSocket.new("127.0.0.1", port) })
        expect(controller.start).to be(true)
      end
    end
  end

  describe "ping_socket (through send)" do
    it "is true when a stream connect to a TCP address succeeds" do
      server = TCPServer.new("127.0.0.1", port)
      controller = new_controller
      address = Socket.pack_sockaddr_in(port, "127.0.0.1")
      expect(controller.send(:ping_socket, Socket::AF_INET, address)).to be(true)
    ensure
      server&.close
    end

    it "is false when the TCP connect is refused" do
      controller = new_controller
      address = Socket.pack_sockaddr_in(port, "127.0.0.1")
      expect(controller.send(:ping_socket, Socket::AF_INET, address)).to be(false)
    end

    it "is true for a listening Unix socket and false for a missing socket file" do
      server = UNIXServer.new(unix_socket_path)
      controller = new_controller
      expect(controller.send(:ping_socket, Socket::AF_UNIX, Socket.pack_sockaddr_un(unix_socket_path))).to be(true)
      missing = File.join(tmpdir, "missing.sock")
      expect(controller.send(:ping_socket, Socket::AF_UNIX, Socket.pack_sockaddr_un(missing))).to be(false)
    ensure
      server&.close
    end
  end

  describe "run_command" do
    let(:controller) { new_controller }

    it "returns an ok result with the PID and captured output" do
      result = controller.send(:run_command, "echo out; echo err >&2")
      expect(result).to be_a(DaemonController::InternalCommandOkResult)
      expect(result.pid).to be_a(Integer)
      expect(result.output.strip).to eq("out\nerr")
    end

    it "returns an error result whose exit_status answers exitstatus, signaled?, success?" do
      result = controller.send(:run_command, "echo failing; exit 7")
      expect(result).to be_a(DaemonController::InternalCommandErrorResult)
      expect(result.output.strip).to eq("failing")
      expect(result.exit_status.exitstatus).to eq(7)
      expect(result.exit_status.signaled?).to be(false)
      expect(result.exit_status.success?).to be(false)
    end

    it "reports death by signal through exit_status.signaled? and termsig" do
      result = controller.send(:run_command, daemon_command("--signal-before-fork", "XCPU"))
      expect(result).to be_a(DaemonController::InternalCommandErrorResult)
      expect(result.exit_status.signaled?).to be(true)
      expect(result.exit_status.termsig).to eq(Signal.list.fetch("XCPU"))
    end

    it "reaps the command (no zombie left)" do
      result = controller.send(:run_command, "true")
      expect { Process.kill(0, result.pid) }.to raise_error(Errno::ESRCH)
    end

    it "runs commands with stdin from /dev/null" do
      result = controller.send(:run_command, "readlink /proc/$$/fd/0")
      expect(result.output.strip).to eq("/dev/null")
    end

    it "closes descriptors above 2 that are not in keep_ios, even without close-on-exec" do
      leaked = File.open(File.join(tmpdir, "leaked-file"), "w")
      leaked.close_on_exec = false
      result = controller.send(:run_command, "for f in /proc/$$/fd/*; do readlink \"$f\"; done")
      expect(result.output).not_to include("leaked-file")
    ensure
      leaked&.close
    end

    it "passes keep_ios descriptors at the same numbers" do
      kept = File.open(File.join(tmpdir, "kept-file"), "w")
      c = new_controller(keep_ios: [kept])
      result = c.send(:run_command, "readlink /proc/$$/fd/#{kept.fileno}")
      expect(result.output.strip).to eq(File.join(File.realpath(tmpdir), "kept-file"))
    ensure
      kept&.close
    end

    it "applies env additions and removals" do
      ENV["DC_RUN_COMMAND_REMOVED"] = "still here"
      c = new_controller(env: { "DC_RUN_COMMAND_ADDED" => "added", "DC_RUN_COMMAND_REMOVED" => nil })
      result = c.send(:run_command, "echo \"$DC_RUN_COMMAND_ADDED ${DC_RUN_COMMAND_REMOVED-removed}\"")
      expect(result.output.strip).to eq("added removed")
    ensure
      ENV.delete("DC_RUN_COMMAND_REMOVED")
    end

    it "with daemonize_for_me, runs the command in a new session and returns at once" do
      out = File.join(tmpdir, "session")
      c = new_controller(daemonize_for_me: true)
      took = elapsed do
        result = c.send(:run_command, "cat /proc/$$/stat > #{out.shellescape}; sleep 2")
        expect(result).to be_a(DaemonController::InternalCommandOkResult)
      end
      expect(took).to be < 1.5
      stat = eventually(3) { File.size?(out) && File.read(out) }
      fields = stat[(stat.rindex(")") + 2)..].split
      expect(fields[3].to_i).not_to eq(Process.getsid)
    end
  end

  describe "daemon_spawned" do
    it "is called once after spawn_daemon, even for an error result" do
      controller = new_controller(start_command: daemon_command("--exit-before-fork", "1"))
      expect(controller).to receive(:spawn_daemon).ordered.and_call_original
      expect(controller).to receive(:daemon_spawned).once.ordered.and_call_original
      expect { controller.start }.to raise_error(DaemonController::StartError)
    end

    it "is called once on a successful start" do
      controller = new_controller
      expect(controller).to receive(:daemon_spawned).once.and_call_original
      controller.start
    end

    it "turns a Timeout::Error it raises into StartTimeout, calling start_timed_out(pid) and stopping the daemon" do
      controller = new_controller(start_abort_timeout: 3)
      allow(Process).to receive(:kill).and_call_original
      expect(controller).to receive(:daemon_spawned) do
        eventually(5) { read_pid_file }
        raise Timeout::Error
      end
      allow(controller).to receive(:start_timed_out).and_call_original
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      daemon = File.read(track_file).split.last.to_i
      expect(controller).to have_received(:start_timed_out).once.with(daemon)
      expect(Process).to have_received(:kill).with("SIGTERM", daemon).once
      eventually(5) { !process_alive?(daemon) }
    end

    it "is not interrupted by the start deadline" do
      controller = new_controller(start_timeout: 0.3)
      expect_hook_not_interrupted(controller, :daemon_spawned)
    end
  end

  describe "start_timed_out and daemonization_timed_out" do
    it "calls start_timed_out(pid) with the daemon's PID when it never answers" do
      controller = new_controller(["--wait-before-listen", "30"], start_timeout: 0.5)
      allow(controller).to receive(:start_timed_out).and_call_original
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      daemon = File.read(track_file).split.last.to_i
      expect(controller).to have_received(:start_timed_out).once.with(daemon)
    end

    it "calls daemonization_timed_out(pid) with the start command's PID" do
      controller = new_controller(start_command: daemon_command("--sleep-before-fork", "30"), start_timeout: 0.3)
      allow(controller).to receive(:daemonization_timed_out).and_call_original
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      command = File.read(track_file).split.first.to_i
      expect(controller).to have_received(:daemonization_timed_out).once.with(command)
    end

    it "exist as no-op private hooks" do
      controller = new_controller
      expect { controller.send(:start_timed_out, 1) }.not_to raise_error
      expect { controller.send(:daemonization_timed_out, 1) }.not_to raise_error
      expect { controller.send(:daemon_spawned) }.not_to raise_error
    end
  end

  describe "subclasses" do
    let(:subclass) do
      Class.new(DaemonController) do
        attr_reader :extra, :events

        def initialize(extra, **options)
          @extra = extra
          @events = []
          super(**options)
        end

        private

        def daemon_spawned
          @events << :daemon_spawned
          super
        end
      end
    end

    it "works with an overridden initialize calling super and an overridden seam" do
      controller = subclass.new(:my_extra, **controller_options)
      expect(controller.extra).to eq(:my_extra)
      expect(controller.start).to be(true)
      expect(controller.events).to eq([:daemon_spawned])
      expect(controller).to be_a(DaemonController)
    end

    it "honours a subclass's daemon_is_running? override" do
      klass = Class.new(DaemonController) do
        private

        def daemon_is_running?
          true
        end
      end
      controller = klass.new(**controller_options)
      expect(controller.running?).to be(true)
      expect { controller.start }.to raise_error(DaemonController::AlreadyStarted)
    end

    it "works with a 1.x-style subclass passing one positional Hash to super" do
      klass = Class.new(DaemonController) do
        def initialize(options)
          super(options.merge(identifier: "subclassed"))
        end
      end
      controller = klass.new(controller_options)
      allow(controller).to receive(:daemon_is_running?).and_return(true)
      expect do
        controller.start
      end.to raise_error(DaemonController::AlreadyStarted, "Daemon 'subclassed' is already started")
    end

    it "honours a subclass's run_ping_command override" do
      klass = Class.new(DaemonController) do
        attr_reader :pings

        private

        def run_ping_command
          @pings = (@pings || 0) + 1
          super
        end
      end
      controller = klass.new(**controller_options)
      controller.start
      expect(controller.pings).to be >= 2
    end
  end

  describe "GC safety" do
    it "keeps its Ruby values (procs, env, logger) alive across GC" do
      lines = []
      logger = Object.new
      logger.define_singleton_method(:debug) { |message = nil| lines << message }
      command = daemon_command(*standard_flags)
      controller = new_controller(start_command: -> { command.dup },
                                  ping_command: -> { TCPSocket.new("127.0.0.1", port) },
                                  before_start: -> { lines << "before" },
                                  env: { "DC_GC" => "x" * 10 }, logger: logger)
      # Compaction happens in a child: some C extensions in this process
      # (RBS's parser, for the signature specs) do not survive it.
      child = fork do
        5.times { GC.start(full_mark: true, immediate_sweep: true) }
        GC.compact if GC.respond_to?(:compact)
        started = controller.start
        controller.stop
        exit!(started == true && lines.include?("before") ? 0 : 1)
      end
      Process.wait(child)
      expect($?.exitstatus).to eq(0)
    end

    it "survives GC.stress while constructing and using a controller and a lock file" do
      value = nil
      begin
        GC.stress = true
        controller = described_class.new(identifier: "stress", start_command: -> { "true" },
                                         ping_command: -> { :pong }, pid_file: pid_file, log_file: log_file,
                                         env: { "A" => "b" }, before_start: -> {}, keep_ios: [$stderr])
        value = [controller.send(:run_ping_command), controller.pid,
                 DaemonController::LockFile.new(File.join(tmpdir, "stress.lock")).exclusive_lock { :locked }]
      ensure
        GC.stress = false
      end
      expect(value).to eq([:pong, nil, :locked])
    end
  end
end
