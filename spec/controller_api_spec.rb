# frozen_string_literal: true

require_relative "spec_helper"

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
