# frozen_string_literal: true

class DaemonController
  # The root of this gem's exceptions. Those that report a failed command or
  # daemon (StartError, StartTimeout, StopError) also carry the parts of
  # their message; each attribute is nil where its part is unknown or does
  # not apply, and always nil on the other exceptions.
  class Error < StandardError
    # @return [String, nil] what the command printed, stripped; nil when its
    #   output was not captured.
    attr_reader :output

    # @return [String, nil] what the log file gained since the start began,
    #   stripped; nil when the log file is not a regular file.
    attr_reader :logs

    # @return [Integer, nil] the command's exit status, when it exited.
    attr_reader :exit_status

    # @return [String, nil] the signal that killed the command, as "SIGKILL",
    #   or as its number for a signal without a name.
    attr_reader :signal

    # @return [Integer, nil] the PID of the command or daemon concerned.
    attr_reader :pid

    # What a StartTimeout knows beyond its message, which stays as it was;
    # nil on the other exceptions.
    #
    # @return [String, nil] what the start waited for: "the ping
    #   tcp:127.0.0.1:6379", "the PID file tmp/web.pid" or "the start
    #   command to exit".
    attr_reader :waited_for

    # @return [Float, nil] seconds from the start to the timeout.
    attr_reader :waited

    # @return [String, nil] what the last ping answered, when the start was
    #   pinging: "no connection", "no 2xx or 3xx answer", "exited with status
    #   1", "returned nil".
    attr_reader :last_ping_result

    # @return [Array<String>, nil] the signals sent to end what was started,
    #   in order: ["SIGTERM"] or ["SIGTERM", "SIGKILL"].
    attr_reader :signals_sent
  end

  # The root of the exceptions for running out of time.
  class TimeoutError < Error; end

  # Raised by {DaemonController#start} when the daemon is already running.
  # The message reads "Daemon '<identifier>' is already started".
  class AlreadyStarted < Error; end

  # Raised when the start command exits with a non-zero status, dies by a
  # signal or cannot be run at all, when the daemon dies before it answers,
  # and when a restart command fails. The message holds what the command
  # printed and what the log file gained, then a note in parentheses:
  #
  #     Configuration error: missing listen directive
  #     (exited with status 1)
  class StartError < Error; end

  # Raised when the daemon does not answer within `start_timeout`, or its log
  # file stays silent for `log_file_activity_timeout` seconds. What was
  # started has been terminated by then. The message ends in "timed out)".
  class StartTimeout < TimeoutError; end

  # Raised when the stop command fails, or is still running at the deadline
  # (the message then ends in "timed out)").
  class StopError < Error; end

  # Raised when the daemon does not exit within `stop_timeout`. It has been
  # killed with SIGKILL by then. The message reads
  # "Daemon '<identifier>' did not exit in time (force killed)".
  class StopTimeout < TimeoutError; end

  # Raised by {DaemonController#connect} when the block gives nothing even
  # after the daemon was started: "Cannot connect to the daemon", followed by
  # ": <message> (<class>)" when the block raised.
  class ConnectError < Error; end

  # The exception classes that mean "the daemon is not answering yet" rather
  # than "something is broken": `connect` treats a block that raises one of
  # them as a block that returned nil, and a callable `ping_command` that
  # raises one of them as a failed ping.
  #
  # The Array is not frozen. Append your own classes to it (or modules, as
  # `rescue` accepts them): every check reads it afresh.
  #
  # @example A client library whose "connection refused" is its own class
  #   DaemonController::ALLOWED_CONNECT_EXCEPTIONS << MyClient::ConnectionRefused
  #
  # @return [Array<Class, Module>]
  ALLOWED_CONNECT_EXCEPTIONS = [ # rubocop:disable Style/MutableConstant -- callers append to it
    Errno::ECONNREFUSED, Errno::ENETUNREACH, Errno::ETIMEDOUT,
    Errno::ECONNRESET, Errno::EINVAL, Errno::EADDRNOTAVAIL
  ]
end
