# frozen_string_literal: true

# Standard output and error pointed elsewhere while a block runs.
module DaemonControllerSpecHelper
  # Points our file descriptors 1 and 2 at a pipe (not a regular file, so
  # that a log_file of /dev/stdout or /dev/stderr is "not available"
  # whatever the suite's own output is) while the block runs. Returns what
  # was written to them; the block's exceptions propagate after restoring.
  def capture_fds_through_pipe
    reader, writer = IO.pipe
    collected = +""
    collector = Thread.new { collected << reader.read }
    saved_out = $stdout.dup
    saved_err = $stderr.dup
    $stdout.flush
    $stderr.flush
    $stdout.reopen(writer)
    $stderr.reopen(writer)
    begin
      yield
    ensure
      $stdout.flush
      $stderr.flush
      $stdout.reopen(saved_out)
      $stderr.reopen(saved_err)
      saved_out.close
      saved_err.close
      writer.close
      # Whatever still holds the pipe (a daemon) must not keep us waiting.
      collector.join(2)
      collected << reader.read_nonblock(1 << 16, exception: false).to_s if collector.alive?
      collector.kill
      reader.close
    end
    collected
  end
end
