# frozen_string_literal: true

class DaemonController
  # The result of a command that exited with status 0 (or that someone else
  # reaped first). Returned by the seams that run commands; tests may build
  # one to stub them.
  #
  # @!attribute pid
  #   @return [Integer, nil] the command's PID.
  # @!attribute output
  #   @return [String, nil] what it printed, or nil when its output was not
  #     captured.
  InternalCommandOkResult = Struct.new(:pid, :output)

  # The result of a command that exited with a non-zero status or died by a
  # signal.
  #
  # @!attribute pid
  #   @return [Integer, nil] the command's PID.
  # @!attribute output
  #   @return [String, nil] what it printed, or nil when its output was not
  #     captured.
  # @!attribute exit_status
  #   @return [Process::Status] how it ended (anything that answers
  #     `exitstatus`, `signaled?`, `termsig` and `success?` will do).
  InternalCommandErrorResult = Struct.new(:pid, :output, :exit_status)

  # The result of a command that was still running at the deadline of the
  # start or stop in progress.
  #
  # @!attribute pid
  #   @return [Integer] the command's PID.
  # @!attribute output
  #   @return [String, nil] what it printed so far, or nil when its output
  #     was not captured.
  InternalCommandTimeoutResult = Struct.new(:pid, :output)
end
