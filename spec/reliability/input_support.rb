# frozen_string_literal: true

# Helpers shared by the bad-input, fuzz and GC-stress specs. Included
# explicitly by the example groups that use them.
module BadInputSupport
  # What became of a block run in a child process by run_in_child.
  ChildOutcome = Struct.new(:kind, :value, :detail, keyword_init: true) do
    # The block's value; fails the example when the child raised, crashed,
    # exited early or hung.
    def value!
      return value if kind == :returned

      raise RSpec::Expectations::ExpectationNotMetError, "the child process #{detail}"
    end
  end

  # Runs the block in a forked child and returns a ChildOutcome. A segfault
  # or an abort in the child becomes an outcome (kind :signaled) instead of
  # killing the suite, and a child that is still busy after `timeout`
  # seconds (a wait that holds the GVL cannot be interrupted from inside) is
  # killed and reported as :hung. The block's value must survive Marshal.
  def run_in_child(timeout:, &block)
    reader, writer = IO.pipe
    child = fork do
      reader.close
      writer.write(Marshal.dump(child_result(&block)))
    ensure
      exit!(0) # never the parent's at_exit hooks
    end
    writer.close
    data = read_until_eof(reader, monotonic + timeout)
    reader.close
    outcome_of_child(child, data, timeout)
  end

  # The PIDs of this process's children, zombies included.
  def child_pids
    Dir.glob("/proc/[0-9]*/stat").filter_map do |path|
      stat = File.read(path)
      ppid = stat[(stat.rindex(")") + 2)..].split(" ", 3)[1].to_i
      path[%r{/proc/(\d+)/}, 1].to_i if ppid == Process.pid
    rescue SystemCallError
      nil # it went away while we looked
    end
  end

  # The children that appeared since `before` and are still there after a
  # short grace period (Process.detach reaps in a thread, a moment later).
  def new_children_since(before, grace = 2)
    deadline = monotonic + grace
    loop do
      extra = child_pids - before
      return extra if extra.empty? || monotonic > deadline

      sleep 0.02
    end
  end

  # Kills the test daemons of this example that are still alive.
  def kill_test_daemons
    live_test_daemons.each do |pid|
      DaemonControllerSpecHelper::REAL_KILL.call("KILL", pid)
    rescue SystemCallError
      nil
    end
  end

  # Matches an ArgumentError or TypeError (or only the classes given) whose
  # message names the option.
  def option_error_naming(name, classes = [ArgumentError, TypeError])
    satisfy("#{classes.join(" or ")} naming :#{name}") do |error|
      classes.any? { |klass| error.is_a?(klass) } && error.message.include?(name.to_s)
    end
  end

  # Mandatory options that make a valid controller doing nothing harmful.
  def minimal_options(**overrides)
    {
      identifier: "bad input",
      start_command: "true",
      ping_command: [:tcp, "127.0.0.1", port],
      pid_file: pid_file,
      log_file: log_file
    }.merge(overrides)
  end

  private

  def child_result
    [:returned, yield]
  rescue Exception => e # rubocop:disable Lint/RescueException
    [:raised, "raised #{e.class}: #{e.message}\n  #{Array(e.backtrace).first(8).join("\n  ")}"]
  end

  def read_until_eof(reader, deadline)
    data = +""
    loop do
      left = deadline - monotonic
      return nil if left <= 0 || !reader.wait_readable(left)

      chunk = reader.read_nonblock(1 << 16, exception: false)
      return data if chunk.nil?

      data << chunk unless chunk == :wait_readable
    end
  end

  def outcome_of_child(child, data, timeout)
    if data.nil?
      DaemonControllerSpecHelper::REAL_KILL.call("KILL", child)
      Process.wait(child)
      return ChildOutcome.new(kind: :hung, detail: "did not finish within #{timeout} s (killed)")
    end
    _, status = Process.wait2(child)
    return ChildOutcome.new(kind: :signaled, detail: "died of SIG#{Signal.signame(status.termsig)}") if status.signaled?
    return ChildOutcome.new(kind: :exited, detail: "exited early with #{status.inspect}") if data.empty?

    kind, payload = Marshal.load(data) # rubocop:disable Security/MarshalLoad
    kind == :returned ? ChildOutcome.new(kind: kind, value: payload) : ChildOutcome.new(kind: kind, detail: payload)
  end
end
