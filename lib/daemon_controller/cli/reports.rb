# frozen_string_literal: true

class DaemonController
  class CLI
    # What the tool writes to a person: failure reports bounded to the last
    # lines of the output and the log, the status line while a start waits
    # on a terminal, and colour where it can be seen.
    module Reports
      # Lines of the command's output, and of the log, that a report shows.
      REPORT_LINES = 20
      # A start this quick shows no status line at all.
      STATUS_LINE_DELAY = 0.5
      STATUS_LINE_INTERVAL = 0.1
      CLEAR_LINE = "\r\e[K"
      BOLD_RED = "\e[1;31m"
      RESET = "\e[0m"

      private

      # The exception's message with what the command printed and what the
      # log gained cut to their last REPORT_LINES lines, then what the
      # exception knows beyond its message (what a timeout waited for), and
      # where the full log is.
      def failure_report(error)
        return error.message unless error.is_a?(DaemonController::Error)

        [bounded_message(error), *error_details(error), full_log_note(error)].compact.join("\n")
      end

      def bounded_message(error)
        parts = [error.output, error.logs].compact.map(&:strip).reject(&:empty?)
        return error.message if parts.all? { |part| part.lines.size <= REPORT_LINES }

        rest = parts.reduce(error.message) { |text, part| text.delete_prefix(part).delete_prefix("\n") }
        # The library's message is its parts, then its notes: anything else
        # is shown whole rather than cut in the wrong place.
        return last_lines(error.message) unless error.message.end_with?(rest) && rest.size < error.message.size

        [*parts.map { |part| last_lines(part) }, rest].reject(&:empty?).join("\n")
      end

      def last_lines(text)
        lines = text.lines
        return text if lines.size <= REPORT_LINES

        # The library keeps only the end of a long part, after a note of the
        # bytes it left out: one note then says both.
        bytes = lines.first[/\A\[(\d+) earlier bytes left out\]\n\z/, 1]
        lines.shift if bytes
        dropped = lines.size - REPORT_LINES
        left_out = bytes ? "#{bytes} earlier bytes and #{dropped} lines" : "#{dropped} earlier lines"
        "[#{left_out} left out]\n#{lines.last(REPORT_LINES).join.chomp}"
      end

      # The attributes a timeout carries besides its message, as lines.
      def error_details(error)
        return [] unless error.respond_to?(:waited_for) && error.waited_for

        detail = "waited #{format("%.1f", error.waited)} s for #{error.waited_for}"
        detail += "; last ping: #{error.last_ping_result}" if error.last_ping_result
        detail += "; sent #{error.signals_sent.join(", then ")}" if error.signals_sent&.any?
        [detail]
      end

      def full_log_note(error)
        return nil unless error.is_a?(StartError) || error.is_a?(StartTimeout)

        log_file = @options[:log_file].to_s
        File.file?(log_file) && File.size?(log_file) ? "full log: #{log_file}" : nil
      end

      # `--ping`'s value as the user wrote it.
      def ping_text
        ping = @options[:ping_command]
        return ping unless ping.is_a?(Array)

        ping.first == :http ? ping.last : ping.join(":")
      end

      # Runs the block; meanwhile, on a terminal, one line on stderr says
      # what the start waits for and for how long, cleared at the end.
      def with_status_line
        return yield if @quiet || !@stderr.tty?

        began = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        shown = false
        updater = Thread.new do
          sleep(STATUS_LINE_DELAY)
          loop do
            waited = Process.clock_gettime(Process::CLOCK_MONOTONIC) - began
            @stderr.print("#{CLEAR_LINE}waiting for #{ping_text} ... #{format("%.1f", waited)} s")
            @stderr.flush
            shown = true
            sleep(STATUS_LINE_INTERVAL)
          end
        end
        begin
          yield
        ensure
          updater.kill.join
          @stderr.print(CLEAR_LINE) if shown
        end
      end

      # A headline in bold red where a person sees it: on a terminal, unless
      # NO_COLOR asks for none (https://no-color.org).
      def highlight(text)
        @stderr.tty? && ENV.fetch("NO_COLOR", "").empty? ? "#{BOLD_RED}#{text}#{RESET}" : text
      end
    end
  end
end
