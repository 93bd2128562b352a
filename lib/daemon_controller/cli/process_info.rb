# frozen_string_literal: true

require "etc"

class DaemonController
  class CLI
    # What the kernel says about the process a PID file names, read without
    # touching the file: for `status` and `pid`, which must not delete a
    # stale PID file (the LSB "dead, but the PID file exists" answer) and
    # must work for a user who can only read it. Linux's /proc gives the
    # start time (for the uptime, and to tell a reused PID) and the command
    # line; elsewhere only signal 0 answers.
    class ProcessInfo
      # A process that started this long after the PID file was written
      # cannot have written it: its PID was reused (the library's rule too).
      PID_REUSE_SLACK = 5

      attr_reader :pid

      def initialize(pid)
        @pid = pid
        @stat = begin
          File.read("/proc/#{pid}/stat")
        rescue SystemCallError
          nil
        end
      end

      # Whether the process runs and can be the one that wrote a file last
      # modified at `written`.
      def alive?(written)
        return signal_zero_answers? unless @stat
        return false if %w[Z X].include?(field(3))

        started = started_at
        !(started && written && started > written + PID_REUSE_SLACK)
      end

      # Seconds since the process started, or nil when unknown.
      def uptime
        started = started_at
        started && (Time.now - started).round(1)
      end

      # The command line, its arguments separated by spaces, or nil.
      def command_line
        words = File.read("/proc/#{pid}/cmdline").split("\0")
        words.empty? ? nil : words.join(" ")
      rescue SystemCallError
        nil
      end

      private

      def signal_zero_answers?
        Process.kill(0, pid)
        true
      rescue Errno::EPERM
        true
      rescue SystemCallError, RangeError
        false
      end

      # Field `number` of /proc/PID/stat, counted as proc(5) does; the
      # command name (field 2) may hold spaces and parentheses.
      def field(number)
        @stat[(@stat.rindex(")") + 2)..].split[number - 3]
      end

      def started_at
        return nil unless @stat

        boot = File.foreach("/proc/stat").find { |line| line.start_with?("btime ") }&.split&.last
        ticks = Etc.sysconf(Etc::SC_CLK_TCK)
        boot && ticks&.positive? ? Time.at(Integer(boot) + (Integer(field(22)).to_f / ticks)) : nil
      rescue SystemCallError, ArgumentError
        nil
      end
    end
  end
end
