# frozen_string_literal: true

require "daemon_controller/version"

class DaemonController
  class CLI
    # --help, `help COMMAND` and --version.
    module Help
      PING_FORMS = <<~TEXT
        Ping forms (--ping, or ping_command: in a config file):
          tcp:HOST:PORT      up when a TCP connection to HOST:PORT succeeds
          unix:PATH          up when a connection to the Unix socket succeeds
          http://URL         up when URL answers with a 2xx or 3xx status (http only)
          notify             up when the daemon reports that it is ready
          anything else      a shell command; exit status 0 means up
      TEXT

      # The options that have neither a flag nor a config-file key.
      RUBY_ONLY = DaemonController::OPTIONS.select { |_, row| OptionParsing::RUBY_ONLY_KINDS.include?(row[:kind]) }
                                           .keys.freeze

      CONFIG_HELP = <<~TEXT
        Config file (--config FILE): YAML, keyed by the options' Ruby names:
          identifier: web
          start_command: bin/server --daemon
          ping_command: "tcp:127.0.0.1:8080"
          pid_file: tmp/server.pid
          log_file: log/server.log
          start_timeout: 60
          env: {RAILS_ENV: production}
        Flags given on the command line override the file (--env adds to env).
        foreground: true in the file does what --foreground does.
        Relative paths are relative to the current directory.

        #{RUBY_ONLY[0..-2].join(", ")} and #{RUBY_ONLY.last} take Ruby objects, so they
        have no flag (there is no --keep-ios) and no config key.
      TEXT

      # The longest line of the paragraphs that help composes.
      PARAGRAPH_WIDTH = 70

      private

      def show_help(parser, command)
        say(command ? command_help(parser, command) : general_help(parser))
        exit_code(:success)
      end

      def show_version
        say("#{PROGRAM} #{DaemonController::VERSION_STRING}")
        exit_code(:success)
      end

      def general_help(parser)
        commands = COMMANDS.map { |name, command| format("  %-9s %s", name, command.summary) }.join("\n")
        <<~TEXT
          Usage: #{PROGRAM} COMMAND [OPTIONS]
                 #{PROGRAM} COMMAND --help
                 #{PROGRAM} --version

          Starts a daemon and waits until it answers, stops it with a timeout,
          and says why it did not start: for shell scripts, Procfiles and CI jobs.

          Commands:
          #{commands}

          #{options_summary(parser)}
          #{PING_FORMS}
          #{CONFIG_HELP}
          #{exit_statuses(COMMANDS.keys)}
        TEXT
      end

      def command_help(parser, name)
        command = COMMANDS.fetch(name)
        <<~TEXT
          Usage: #{PROGRAM} #{name} [OPTIONS]

          #{command.description}
          #{requirements_help(command)}

          #{options_summary(parser)}
          #{PING_FORMS}
          #{CONFIG_HELP}
          #{exit_statuses([name])}
        TEXT
      end

      # "Needs --pid-file, as a flag or in the --config file.", from what the
      # command requires.
      def requirements_help(command)
        needs = command.requirements.call({})
        text = "Needs #{flag_list(needs)}, as #{needs.size == 1 ? "a flag" : "flags"} or in the --config file"
        with_restart_command = command.requirements.call({ restart_command: true })
        text += "; with --restart-command, only #{flag_list(with_restart_command)}" if with_restart_command != needs
        wrap("#{text}.", PARAGRAPH_WIDTH).join("\n")
      end

      def flag_list(names)
        flags = names.map { |name| flag_name(name) }
        flags.size > 1 ? "#{flags[0..-2].join(", ")} and #{flags.last}" : flags.first
      end

      def options_summary(parser)
        lines = []
        parser.summarize { |line| lines << line }
        "Options (--flag VALUE or --flag=VALUE, booleans also --no-flag; typed in full):\n" \
          "#{lines.join("\n")}\n"
      end

      def exit_statuses(commands)
        relevant = EXIT_STATUSES.each_value.select { |status| (status.commands & commands).any? }
        lines = relevant.map do |status|
          status.meaning.lines.map.with_index do |line, index|
            index.zero? ? format("  %-4d%s", status.code, line.chomp) : "      #{line.chomp}"
          end
        end
        "Exit status:\n#{lines.join("\n")}"
      end
    end
  end
end
