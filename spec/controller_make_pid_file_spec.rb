# frozen_string_literal: true

require "spec_helper"

RSpec.describe DaemonController, "make_pid_file" do
  # The test daemon as a foreground program: no fork, no PID file, and its
  # output on stdout and stderr rather than in a log of its own.
  def foreground_command(*flags)
    daemon_command("--port", port, "--no-daemonize", "--no-pid-file", *flags)
  end

  def foreground_controller(command = foreground_command, **options)
    DaemonController.new(**controller_options(start_command: command, daemonize_for_me: true,
                                              make_pid_file: true, **options))
  end

  it "starts a program that neither daemonizes nor writes a PID file, and writes the PID file itself" do
    controller = foreground_controller
    expect(controller.start).to be(true)
    pid = read_pid_file
    expect(cmdline(pid)).to include("test_daemon")
    expect(controller.pid).to eq(pid)
    expect(controller.running?).to be(true)
    expect(controller.connect { TCPSocket.new("127.0.0.1", port) }.tap(&:close)).to be_a(TCPSocket)
    controller.stop
    expect(process_alive?(pid)).to be(false)
    expect(File.exist?(pid_file)).to be(false)
  end

  it "never writes through a symlink planted where it stages the PID file" do
    target = File.join(tmpdir, "precious")
    File.write(target, "keep me")
    planted = ["#{pid_file}.#{Process.pid}.new", File.join(tmpdir, ".daemon.pid.new"),
               File.join(tmpdir, ".daemon.pid.#{Process.pid}.new")]
    planted.each { |name| File.symlink(target, name) }
    controller = foreground_controller
    controller.start
    expect(read_pid_file).to eq(controller.pid)
    expect(File.read(target)).to eq("keep me")
    expect(Dir.children(tmpdir).grep(/\.new\z/).map { |name| File.join(tmpdir, name) }).to match_array(planted)
    controller.stop
  end

  it "names the log file and the operation when the log file's directory is missing" do
    missing = File.join(tmpdir, "missing", "daemon.log")
    controller = foreground_controller(log_file: missing)
    expect { controller.start }.to raise_error(DaemonController::StartError,
                                               "Cannot open the log file #{missing}: No such file or directory")
    expect(File.exist?(pid_file)).to be(false)
  end

  # Starts `command`, checks that the PID file names the test daemon itself
  # (not a shell) and hands that PID to the block, then stops it.
  def expect_program_pid_for(command)
    controller = foreground_controller(command)
    controller.start
    pid = read_pid_file
    expect(cmdline(pid)).to include("test_daemon")
    yield pid
    controller.stop
    expect(process_alive?(pid)).to be(false)
  end

  it "records the program's own PID when the command goes through the shell" do
    expect_program_pid_for("#{foreground_command} --message-after-log 'two words'") do
      expect(File.read(log_file)).to include("two words\n")
    end
  end

  it "records the program's own PID behind leading variable assignments" do
    expect_program_pid_for("GREETING='hello there' #{foreground_command}") do |pid|
      expect(File.read("/proc/#{pid}/environ").split("\0")).to include("GREETING=hello there")
    end
  end

  it "appends the program's output to the log file, and reports it when the program dies" do
    File.write(log_file, "earlier run\n")
    controller = foreground_controller(foreground_command("--message-before-log", "bad setting on line 3",
                                                          "--crash-before-listen"))
    started = monotonic
    expect { controller.start }.to raise_error(DaemonController::StartError) { |error|
      expect(error.message).to include("bad setting on line 3").and include("crashing, as instructed")
      expect(error.message).not_to include("earlier run")
    }
    expect(monotonic - started).to be < 5
    expect(File.exist?(pid_file)).to be(false)
  end

  it "raises StartError and ends the program when the PID file cannot be written" do
    missing = File.join(tmpdir, "missing", "daemon.pid")
    controller = foreground_controller(pid_file: missing, lock_file: File.join(tmpdir, "lock"))
    expect { controller.start }.to raise_error(DaemonController::StartError, /cannot write #{Regexp.escape(missing)}/)
    expect(port_open?).to be(false)
  end

  it "requires daemonize_for_me" do
    expect { DaemonController.new(**controller_options(make_pid_file: true)) }
      .to raise_error(ArgumentError, /make_pid_file needs daemonize_for_me: true/)
  end

  it "is off by default: a foreground program without a PID file times out" do
    controller = DaemonController.new(**controller_options(start_command: foreground_command,
                                                           daemonize_for_me: true, start_timeout: 0.5))
    expect { controller.start }.to raise_error(DaemonController::StartTimeout)
  end

  it "leaves stop and restart commands alone (their PIDs are not written)" do
    marker = File.join(tmpdir, "restarted")
    controller = foreground_controller(restart_command: "touch #{marker}")
    controller.start
    pid = read_pid_file
    controller.restart
    eventually { File.exist?(marker) } # detached, like every command here
    expect(read_pid_file).to eq(pid)
  end
end
