# frozen_string_literal: true

class DaemonController # rubocop:disable Style/Documentation -- documented in lib/daemon_controller.rb
  # Tells whether a `ping_command` may name a Unix domain socket, as
  # `[:unix, path]`. It always may: the answer is there for callers that
  # check before they rely on it.
  # @return [true]
  def self.can_ping_unix_sockets?
    true
  end

  private

  # @!group Seams for tests

  # Called once the start command has been run, whatever its result. Does
  # nothing; a hook for tests.
  # @return [void]
  def daemon_spawned; end

  # Called when a start times out after the start command exited, before
  # the daemon is terminated. Does nothing; a hook for tests.
  # @param pid [Integer, nil] the PID in the PID file, if any.
  # @return [void]
  def start_timed_out(pid); end

  # Called when the start command itself is still running at the start
  # deadline, before it is terminated. Does nothing; a hook for tests.
  # @param pid [Integer] the start command's PID.
  # @return [void]
  def daemonization_timed_out(pid); end

  # @!endgroup
end
