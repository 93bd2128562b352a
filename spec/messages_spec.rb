# frozen_string_literal: true

require_relative "spec_helper"

# The exact error message formats ("Error messages" in the contract).
RSpec.describe DaemonController, "error messages" do
  def start_error_message(controller)
    controller.start
    raise "start did not fail"
  rescue DaemonController::Error => e
    e
  end

  it "is 'output\\n(exited with status N)' when the command printed something" do
    controller = new_controller(start_command: daemon_command("--message-before-log", "hello world",
                                                              "--exit-before-fork", "1"))
    error = start_error_message(controller)
    expect(error).to be_a(DaemonController::StartError)
    expect(error.message).to eq("hello world\n(exited with status 1)")
  end

  it "strips the output" do
    controller = new_controller(start_command: "printf '\\n\\n  padded output  \\n\\n'; exit 1")
    expect(start_error_message(controller).message).to eq("padded output\n(exited with status 1)")
  end

  it "keeps multi-line output" do
    controller = new_controller(start_command: "echo line one; echo line two; exit 2")
    expect(start_error_message(controller).message).to eq("line one\nline two\n(exited with status 2)")
  end

  it "is '(logs empty; exited with status 1)' when the command printed nothing and the log did not grow" do
    File.write(log_file, "from an earlier run\n")
    controller = new_controller(start_command: daemon_command("--exit-before-fork", "1"))
    expect(start_error_message(controller).message).to eq("(logs empty; exited with status 1)")
  end

  it "is '(logs empty; exited with status 1)' when the log file does not exist at all" do
    controller = new_controller(start_command: daemon_command("--exit-before-fork", "1"))
    expect(File.exist?(log_file)).to be(false)
    expect(start_error_message(controller).message).to eq("(logs empty; exited with status 1)")
  end

  it "joins output and logs as 'output\\nlogs\\n(tail)'" do
    command = "echo log text >> #{log_file.shellescape}; echo out text; exit 1"
    controller = new_controller(start_command: command)
    expect(start_error_message(controller).message).to eq("out text\nlog text\n(exited with status 1)")
  end

  it "reports the logs of a log file that did not exist before the start (counts as empty then)" do
    command = "echo first log line >> #{log_file.shellescape}; exit 3"
    controller = new_controller(start_command: command)
    expect(File.exist?(log_file)).to be(false)
    expect(start_error_message(controller).message).to eq("first log line\n(exited with status 3)")
  end

  it "reports only what the log file gained since the start" do
    File.write(log_file, "old content\n")
    command = "echo new content >> #{log_file.shellescape}; exit 1"
    controller = new_controller(start_command: command)
    expect(start_error_message(controller).message).to eq("new content\n(exited with status 1)")
  end

  it "names a terminating signal from Signal.list with a SIG prefix" do
    controller = new_controller(start_command: daemon_command("--signal-before-fork", "XCPU"))
    expect(start_error_message(controller).message).to eq("(logs empty; terminated with signal SIGXCPU)")
  end

  it "gives a signal without a name as its number" do
    expect(Signal.list.values).not_to include(40)
    controller = new_controller(start_command: daemon_command("--signal-before-fork", "40"))
    expect(start_error_message(controller).message).to eq("(logs empty; terminated with signal 40)")
  end

  it "has no parentheses when there is no tail (daemon died after forking)" do
    controller = new_controller(["--message-after-log", "about to crash", "--crash-before-listen"])
    message = start_error_message(controller).message
    expect(message).to match(/\Aabout to crash\n\[test_daemon \d+\] crashing, as instructed\z/)
  end

  it "is '(logs not available)' when nothing is captured and the log file is not a regular file" do
    # The controller reads /dev/null as its log file; the daemon logs elsewhere.
    flags = ["--port", port, "--pid-file", pid_file, "--log-file", File.join(tmpdir, "elsewhere.log"),
             "--crash-before-listen"]
    controller = new_controller(start_command: daemon_command(*flags), log_file: "/dev/stderr")
    error = nil
    capture_fds_through_pipe { error = start_error_message(controller) }
    expect(error).to be_a(DaemonController::StartError)
    expect(error.message).to eq("(logs not available)")
  end

  it "is '(logs not available; exited with status 1)' when output is not captured" do
    controller = new_controller(start_command: daemon_command("--exit-before-fork", "1"), log_file: "/dev/stdout")
    error = nil
    capture_fds_through_pipe { error = start_error_message(controller) }
    expect(error.message).to eq("(logs not available; exited with status 1)")
  end

  it "is '(logs empty; timed out)' for a readiness timeout with a silent daemon" do
    # --ignore-sigterm: the abort must SIGKILL it, so it logs nothing on the
    # way out either (what it logged during the abort would count too).
    controller = new_controller(["--ignore-sigterm", "--wait-before-listen", "30"],
                                start_timeout: 0.5, start_abort_timeout: 0.2)
    error = start_error_message(controller)
    expect(error).to be_a(DaemonController::StartTimeout)
    expect(error.message).to eq("(logs empty; timed out)")
  end

  it "is 'logs\\n(timed out)' for a readiness timeout with a daemon that logged" do
    controller = new_controller(["--ignore-sigterm", "--message-after-log", "starting up slowly",
                                 "--wait-before-listen", "30"],
                                start_timeout: 0.5, start_abort_timeout: 0.2)
    expect(start_error_message(controller).message).to eq("starting up slowly\n(timed out)")
  end

  it "is '(logs not available; timed out)' when nothing is available" do
    controller = new_controller(before_start: -> { sleep 10 }, start_timeout: 0.3, log_file: "/dev/null")
    expect(start_error_message(controller).message).to eq("(logs not available; timed out)")
  end

  it "formats StopError from the stop command's output only" do
    controller = new_controller(stop_command: "echo stop output; exit 1")
    write_pid_file(spawn_sleeper)
    File.write(log_file, "log written before\n")
    expect { controller.stop }.to raise_error(DaemonController::StopError, "stop output\n(exited with status 1)")
  end

  it "formats StopError for a stop command killed by a signal" do
    controller = new_controller(stop_command: daemon_command("--signal-before-fork", "XCPU"))
    write_pid_file(spawn_sleeper)
    expect { controller.stop }.to raise_error(DaemonController::StopError,
                                              "(logs empty; terminated with signal SIGXCPU)")
  end

  it "formats AlreadyStarted, StopTimeout and ConnectError exactly" do
    controller = new_controller(["--ignore-sigterm"], identifier: "msg daemon", stop_timeout: 0.3)
    controller.start
    expect { controller.start }.to raise_error("Daemon 'msg daemon' is already started")
    expect { controller.connect { nil } }.to raise_error("Cannot connect to the daemon")
    expect { controller.connect { raise Errno::ECONNRESET, "peer" } }
      .to raise_error("Cannot connect to the daemon: #{Errno::ECONNRESET.new("peer").message} (Errno::ECONNRESET)")
    expect { controller.stop }.to raise_error("Daemon 'msg daemon' did not exit in time (force killed)")
  end
end
