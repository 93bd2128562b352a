# frozen_string_literal: true

# Waiting for conditions, and measuring how long things take.
module DaemonControllerSpecHelper
  # Polls the block until it returns truthy; returns that value. Fails the
  # example when the timeout passes first.
  def eventually(timeout = 5, interval = 0.01)
    deadline = monotonic + timeout
    loop do
      result = yield
      return result if result
      raise RSpec::Expectations::ExpectationNotMetError, "condition not met within #{timeout}s" if monotonic > deadline

      sleep interval
    end
  end

  def monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Measures how long the block takes, in seconds.
  def elapsed
    start = monotonic
    yield
    monotonic - start
  end
end
