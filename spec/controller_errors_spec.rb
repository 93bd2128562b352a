# frozen_string_literal: true

require "spec_helper"

RSpec.describe DaemonController, "exceptions' attributes" do
  def failure_of
    yield
  rescue DaemonController::Error => e
    e
  else
    raise "expected a DaemonController::Error"
  end

  def attributes(error)
    %i[output logs exit_status signal pid].to_h { |name| [name, error.public_send(name)] }
  end

  it "gives a failed start command's output, log growth, exit status and PID, with the message unchanged" do
    controller = new_controller(["--message-before-log", "no config", "--message-after-log", "giving up",
                                 "--exit-before-fork", "3"])
    error = failure_of { controller.start }
    expect(error).to be_a(DaemonController::StartError)
    expect(error.message).to eq("no config\n(exited with status 3)")
    expect(error.output).to eq("no config")
    expect(error.logs).to eq("")
    expect(error.exit_status).to eq(3)
    expect(error.signal).to be_nil
    expect(error.pid).to be_a(Integer).and be > 0
  end

  it "names the signal that killed the start command, with no exit status" do
    controller = new_controller(["--signal-before-fork", "KILL"])
    error = failure_of { controller.start }
    expect(error.message).to eq("(logs empty; terminated with signal SIGKILL)")
    expect(error).to have_attributes(exit_status: nil, signal: "SIGKILL")
  end

  it "gives the log file's growth when the daemon dies after forking" do
    controller = new_controller(["--crash-before-listen"])
    error = failure_of { controller.start }
    expect(error).to be_a(DaemonController::StartError)
    expect(error.logs).to include("crashing, as instructed")
    expect(error.message).to include(error.logs)
    expect(error.exit_status).to be_nil
  end

  it "gives the PID of a daemon that timed out" do
    controller = new_controller(["--wait-before-listen", "30"], start_timeout: 0.5)
    error = failure_of { controller.start }
    expect(error).to be_a(DaemonController::StartTimeout)
    expect(error.message).to end_with("timed out)")
    expect(error.pid).to be_a(Integer)
    # The abort waits for the PID file to go; the process exits right after.
    eventually { !process_alive?(error.pid) }
  end

  it "gives a failed stop command's output and exit status, and no logs" do
    controller = new_controller(stop_command: "echo could not stop; exit 4")
    controller.start
    error = failure_of { controller.stop }
    expect(error).to be_a(DaemonController::StopError)
    expect(attributes(error)).to include(output: "could not stop", logs: nil, exit_status: 4, signal: nil)
  end

  it "leaves every attribute nil on exceptions without a report" do
    controller = new_controller
    controller.start
    error = failure_of { controller.start }
    expect(error).to be_a(DaemonController::AlreadyStarted)
    expect(attributes(error).values).to all(be_nil)
    expect(attributes(DaemonController::StartError.new("made by hand")).values).to all(be_nil)
  end
end
