# frozen_string_literal: true

require_relative "spec_helper"

# What a failed start tells beyond its message: what a timeout waited for,
# and a ping that answered for a program other than the daemon; and the
# commands' working directory (chdir).
RSpec.describe DaemonController, "#start reports" do
  def start_error
    yield
  rescue DaemonController::Error => e
    e
  else
    raise "no exception"
  end

  describe "a timeout" do
    it "carries what it waited for, how long, the last ping and the signals sent; the message is unchanged" do
      closed_port = free_port
      controller = new_controller(ping_command: [:tcp, "127.0.0.1", closed_port], start_timeout: 0.5)
      error = start_error { controller.start }
      expect(error).to be_a(DaemonController::StartTimeout)
      expect(error.message).to end_with("timed out)")
      expect(error.message).not_to include("waited")
      expect(error).to have_attributes(waited_for: "the ping tcp:127.0.0.1:#{closed_port}",
                                       last_ping_result: "no connection", signals_sent: ["SIGTERM"])
      expect(error.waited).to be_a(Float).and(be >= 0.5)
    end

    it "names a command ping's exit status" do
      controller = new_controller(ping_command: "exit 3", start_timeout: 0.5)
      error = start_error { controller.start }
      expect(error).to have_attributes(waited_for: "the ping exit 3", last_ping_result: "exited with status 3")
    end

    it "names the PID file when the daemon never wrote it, and what was sent to the start command" do
      controller = new_controller(["--no-pid-file"], start_timeout: 0.5)
      error = start_error { controller.start }
      expect(error).to have_attributes(waited_for: "the PID file #{pid_file}", last_ping_result: nil,
                                       signals_sent: [])
      slow = new_controller(start_command: daemon_command("--sleep-before-fork", "30"), start_timeout: 0.5)
      expect(start_error { slow.start })
        .to have_attributes(waited_for: "the start command to exit", signals_sent: ["SIGTERM"])
    end

    it "leaves the attributes nil on the other exceptions" do
      error = start_error { new_controller(["--exit-before-fork", "2"]).start }
      expect(error).to be_a(DaemonController::StartError)
      expect(error).to have_attributes(waited_for: nil, waited: nil, last_ping_result: nil, signals_sent: nil)
    end
  end

  it "fails when the ping answers but the process of the PID file is gone: another program answers" do
    holder = TCPServer.new("127.0.0.1", port)
    # Writes its own PID, then exits: the PID file names a process that is
    # gone by the time the ping answers.
    writes_and_exits = "echo started; echo $$ > #{pid_file.shellescape}"
    error = start_error { new_controller(start_command: writes_and_exits).start }
    expect(error).to be_a(DaemonController::StartError)
    pid = error.pid
    expect(pid).to be_a(Integer)
    expect(error.message).to eq("started\n(the ping answered, but process #{pid} of the PID file is not running: " \
                                "another program answers tcp:127.0.0.1:#{port})")
    expect(error.output).to eq("started")
  ensure
    holder&.close
  end

  describe "chdir" do
    it "runs the start, stop and ping commands in the directory given, relative paths and all" do
      app = File.join(tmpdir, "app")
      Dir.mkdir(app)
      File.write(File.join(app, "check"), "#!/bin/sh\npwd > pinged-in\nexit 0\n")
      File.chmod(0o755, File.join(app, "check"))
      start = "pwd > started-in && #{daemon_command(*standard_flags)}"
      controller = new_controller(start_command: start, ping_command: "./check", chdir: app,
                                  stop_command: "pwd > stopped-in && kill $(cat #{pid_file.shellescape})")
      controller.start
      controller.stop
      %w[started-in pinged-in stopped-in].each do |name|
        expect(File.read(File.join(app, name))).to eq("#{app}\n"), name
      end
      expect(File.exist?("started-in")).to be(false)
    end

    it "makes a relative directory absolute when the controller is created" do
      app = File.join(tmpdir, "app")
      Dir.mkdir(app)
      controller = Dir.chdir(tmpdir) do
        new_controller(start_command: "pwd > started-in && #{daemon_command(*standard_flags)}", chdir: "app")
      end
      controller.start
      expect(File.read(File.join(app, "started-in"))).to eq("#{app}\n")
    end

    it "is a StartError naming the directory when it is missing" do
      missing = File.join(tmpdir, "missing")
      error = start_error { new_controller(chdir: missing).start }
      expect(error).to be_a(DaemonController::StartError)
      expect(error.message).to eq("Cannot run command '#{daemon_command(*standard_flags)}': " \
                                  "cannot change to directory #{missing}: No such file or directory")
      expect(File.exist?(track_file)).to be(false)
    end

    it "rejects a value that is not a path" do
      expect { new_controller(chdir: 42) }.to raise_error(TypeError, /option :chdir must be a String or Pathname/)
    end
  end
end
