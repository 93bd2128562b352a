# frozen_string_literal: true

require_relative "spec_helper"
require "daemon_controller/version"

RSpec.describe DaemonController do
  describe "the class" do
    it "is a class whose superclass is Object" do
      expect(described_class).to be_a(Class)
      expect(described_class.superclass).to eq(Object)
    end

    it "has VERSION_STRING 3.1.0 made of MAJOR, MINOR and TINY" do
      expect(described_class::VERSION_STRING).to eq("3.1.0")
      expect(described_class::MAJOR).to eq(3)
      expect(described_class::MINOR).to eq(1)
      expect(described_class::TINY).to eq(0)
      expect(described_class::VERSION_STRING).to eq(
        "#{described_class::MAJOR}.#{described_class::MINOR}.#{described_class::TINY}"
      )
    end

    it "answers can_ping_unix_sockets? with true" do
      expect(described_class.can_ping_unix_sockets?).to be(true)
    end

    it "has the public instance methods start, stop, restart, connect, pid and running?" do
      %i[start stop restart connect pid running?].each do |name|
        expect(described_class.public_method_defined?(name)).to be(true), "#{name} is not public"
      end
    end

    it "has the seams as private instance methods" do
      %i[daemon_is_running? spawn_daemon pid_file_available? run_ping_command run_command
         daemon_spawned start_timed_out daemonization_timed_out ping_socket].each do |name|
        expect(described_class.private_method_defined?(name)).to be(true), "#{name} is not a private method"
      end
    end
  end

  describe "instance variables" do
    it "holds each option under the original's name, the value given or the default, set at construction" do
      before_start = -> {}
      controller = described_class.new(identifier: "iv", start_command: "start it", ping_command: "ping it",
                                       pid_file: "rel/daemon.pid", log_file: "/var/log/x.log",
                                       stop_timeout: 5, env: { "A" => "1" }, before_start: before_start)
      given = { identifier: "iv", start_command: "start it", ping_command: "ping it", pid_file: "rel/daemon.pid",
                log_file: "/var/log/x.log", stop_timeout: 5, env: { "A" => "1" }, before_start: before_start }
      defaults = { stop_command: nil, restart_command: nil, start_timeout: 30, start_abort_timeout: 10,
                   log_file_activity_timeout: 10, ping_interval: 0.1, stop_graceful_signal: "TERM",
                   dont_stop_if_pid_file_invalid: false, daemonize_for_me: false, keep_ios: nil, logger: nil }
      given.merge(defaults).each do |name, value|
        expect(controller.instance_variable_get(:"@#{name}")).to eq(value), "@#{name}"
      end
      lock = controller.instance_variable_get(:@lock_file)
      expect(lock).to be_a(DaemonController::LockFile)
      expect(lock.instance_variable_get(:@filename)).to eq(File.absolute_path("rel/daemon.pid.lock"))
    end

    it "names the given lock file by its absolute path, and takes String keys of an options Hash" do
      controller = described_class.new("identifier" => "iv", "start_command" => "s", "ping_command" => "p",
                                       "pid_file" => "/a.pid", "log_file" => "/a.log", "lock_file" => "l.lock")
      expect(controller.instance_variable_get(:@identifier)).to eq("iv")
      expect(controller.instance_variable_get(:@lock_file).instance_variable_get(:@filename))
        .to eq(File.absolute_path("l.lock"))
    end
  end

  describe "exceptions" do
    {
      "Error" => StandardError,
      "TimeoutError" => "Error",
      "AlreadyStarted" => "Error",
      "StartError" => "Error",
      "StartTimeout" => "TimeoutError",
      "StopError" => "Error",
      "StopTimeout" => "TimeoutError",
      "ConnectError" => "Error"
    }.each do |name, parent|
      parent_class = parent.is_a?(String) ? "DaemonController::#{parent}" : parent.name
      it "defines DaemonController::#{name} < #{parent_class}" do
        klass = described_class.const_get(name, false)
        expect(klass).to be_a(Class)
        expect(klass.name).to eq("DaemonController::#{name}")
        expected_parent = parent.is_a?(String) ? described_class.const_get(parent, false) : parent
        expect(klass.superclass).to equal(expected_parent)
      end
    end

    it "lets callers rescue every error as DaemonController::Error and StandardError" do
      expect { raise DaemonController::StartTimeout, "x" }.to raise_error(DaemonController::Error, "x")
      expect { raise DaemonController::StopTimeout, "y" }.to raise_error(DaemonController::TimeoutError, "y")
      expect { raise DaemonController::ConnectError, "z" }.to raise_error(StandardError, "z")
    end

    it "does not make StartTimeout a Timeout::Error" do
      expect(DaemonController::StartTimeout.ancestors).not_to include(Timeout::Error)
    end
  end

  describe "ALLOWED_CONNECT_EXCEPTIONS" do
    it "is an Array of exactly the six connection errors" do
      list = described_class::ALLOWED_CONNECT_EXCEPTIONS
      expect(list).to be_an(Array)
      expect(list).to match_array([Errno::ECONNREFUSED, Errno::ENETUNREACH, Errno::ETIMEDOUT,
                                   Errno::ECONNRESET, Errno::EINVAL, Errno::EADDRNOTAVAIL])
    end

    it "is not frozen, so that callers may add classes" do
      list = described_class::ALLOWED_CONNECT_EXCEPTIONS
      expect(list).not_to be_frozen
      extra = Class.new(StandardError)
      list << extra
      begin
        expect(described_class::ALLOWED_CONNECT_EXCEPTIONS).to include(extra)
      ensure
        list.delete(extra)
      end
    end
  end

  describe "result structs" do
    it "defines InternalCommandOkResult(:pid, :output)" do
      klass = described_class::InternalCommandOkResult
      expect(klass.ancestors).to include(Struct)
      expect(klass.members).to eq(%i[pid output])
      result = klass.new(12, "out")
      expect(result.pid).to eq(12)
      expect(result.output).to eq("out")
    end

    it "defines InternalCommandErrorResult(:pid, :output, :exit_status)" do
      klass = described_class::InternalCommandErrorResult
      expect(klass.ancestors).to include(Struct)
      expect(klass.members).to eq(%i[pid output exit_status])
      system("exit 3")
      status = $?
      result = klass.new(7, "oops", status)
      expect(result.pid).to eq(7)
      expect(result.output).to eq("oops")
      expect(result.exit_status.exitstatus).to eq(3)
    end

    it "defines InternalCommandTimeoutResult(:pid, :output)" do
      klass = described_class::InternalCommandTimeoutResult
      expect(klass.ancestors).to include(Struct)
      expect(klass.members).to eq(%i[pid output])
      expect(klass.new(5, nil).to_a).to eq([5, nil])
    end

    it "makes the three structs distinct classes" do
      classes = [described_class::InternalCommandOkResult, described_class::InternalCommandErrorResult,
                 described_class::InternalCommandTimeoutResult]
      expect(classes.uniq.size).to eq(3)
    end
  end
end
