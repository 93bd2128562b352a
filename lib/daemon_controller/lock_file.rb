# frozen_string_literal: true

class DaemonController
  # A lock on a file, taken with `flock(2)`: it serializes the threads of one
  # process and separate processes alike, including processes that run the
  # pure-Ruby gem or `flock(1)` on the same file. {DaemonController} locks
  # `<pid_file>.lock` with it; you may use it for your own locks too.
  #
  # The file is created when it is first locked if it does not exist, and it
  # is opened close-on-exec, so commands spawned meanwhile do not inherit it.
  # Waiting for a lock does not hold up other Ruby threads, and Ctrl-C,
  # `Thread#raise` or `Timeout.timeout` interrupt the wait without leaving
  # the lock held.
  #
  # @example
  #   lock = DaemonController::LockFile.new("/var/run/app/maintenance.lock")
  #   lock.exclusive_lock { rotate_logs }
  #   begin
  #     lock.try_shared_lock { read_state }
  #   rescue DaemonController::LockFile::AlreadyLocked
  #     warn "busy, try later"
  #   end
  class LockFile
    # Raised by the `try_` methods when another holder has the lock in a mode
    # that excludes the one asked for.
    class AlreadyLocked < StandardError; end
  end
end
