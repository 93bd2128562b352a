# frozen_string_literal: true

class DaemonController
  class CLI
    # The flags and the config file of the command-line tool, both built from
    # DaemonController::OPTIONS: an option gets a flag when its row has one,
    # and a config-file key unless only Ruby can give it. A row's kind says
    # how its text is read. Beside them, the tool's own flags (TOOL_FLAGS and
    # --foreground, --config, --help, --version).
    #
    # Flags work as `--flag VALUE` and `--flag=VALUE`, booleans also as
    # `--no-flag`, and must be typed in full: an abbreviation that works today
    # would break a script as soon as a new flag shares its beginning.
    module OptionParsing
      # Kinds whose value is text, given as it is.
      TEXT_KINDS = %i[name command path string signal].freeze
      # Kinds that take Ruby objects, which neither a shell nor YAML can give.
      RUBY_ONLY_KINDS = %i[callable ios logger].freeze
      # The longest line of a flag's help.
      HELP_WIDTH = 42

      # The tool's own switches without a value: the instance variable each
      # sets, and its help.
      TOOL_FLAGS = {
        "--verbose" => [:@verbose, "say what was done (start, stop, restart), and how status and pid " \
                                   "read the PID file"],
        "--quiet" => [:@quiet, "no status line on a terminal while start waits"],
        "--ok-if-running" => [:@ok_if_running, "start: exit 0 when the daemon already runs"],
        "--keep-on-interrupt" => [:@keep_on_interrupt, "start, restart: leave a half-started daemon " \
                                                       "running on Ctrl-C"],
        "--json" => [:@json, "status, pid: print one JSON object (running, pid, pid_file, uptime, command)"]
      }.freeze

      private

      # The options for DaemonController.new: the config file's, overridden
      # by the flags, checked for what `command` needs, with defaults filled
      # in.
      def controller_options(command)
        @config_sources = {}
        from_file = @config_path ? load_config(@config_path) : {}
        options = from_file.merge(@flags) do |name, file_value, flag_value|
          name == :env ? file_value.merge(flag_value) : flag_value
        end
        @sources = @config_sources.merge(@flag_sources)
        missing = command.requirements.call(options).reject { |name| options[name] }
        unless missing.empty?
          label = missing.size == 1 ? "missing option" : "missing options"
          raise UsageError, "#{label}: #{missing.map { |name| flag_name(name) }.join(", ")}"
        end

        options[:identifier] ||= options[:start_command] || options[:pid_file]
        stand_ins_for_stop.merge(options)
      end

      # The library insists on every mandatory option even for the commands
      # that never start the daemon; these stand in for the ones left out.
      def stand_ins_for_stop
        { start_command: "false", ping_command: "false", log_file: File::NULL }
      end

      # "--pid-file" for :pid_file.
      def flag_name(name)
        DaemonController::OPTIONS.fetch(name).fetch(:flag).split.first
      end

      def option_parser
        flagged = DaemonController::OPTIONS.select { |_, row| row[:flag] }
        required, others = flagged.partition { |name, _| CLI::START_REQUIREMENTS.include?(name) }
        timeouts, others = others.partition { |_, row| row[:kind] == :seconds }
        OptionParser.new do |opts|
          opts.program_name = PROGRAM
          opts.summary_indent = "  "
          opts.summary_width = 30

          opts.separator("Required by start and restart (stop, status, pid: only --pid-file):")
          required.each { |name, row| option_flag(opts, name, row) }
          opts.separator("")
          opts.separator("More about the daemon:")
          others.each { |name, row| option_flag(opts, name, row) }
          opts.on("--foreground", *wrap("for programs that stay in the foreground: detach them and write " \
                                        "their PID file (--daemonize-for-me, and make_pid_file)")) do
            @flags[:daemonize_for_me] = @flags[:make_pid_file] = true
            @flag_sources[:daemonize_for_me] = @flag_sources[:make_pid_file] = "--foreground"
          end
          opts.separator("")
          opts.separator("Timeouts, in seconds (0 means no limit):")
          timeouts.each { |name, row| option_flag(opts, name, row) }
          opts.separator("")
          opts.separator("The command line itself:")
          tool_flags(opts)
        end
      end

      def tool_flags(opts)
        opts.on("--config FILE", *wrap("read options from a YAML file (see \"Config file\" below)")) do |path|
          @config_path = non_empty(path, "--config")
        end
        TOOL_FLAGS.each do |flag, (variable, help)|
          opts.on(flag, *wrap(help)) { instance_variable_set(variable, true) }
        end
        opts.on("-h", "--help", "show this help") { @help = true }
        opts.on("--version", "print the version") { @version = true }
      end

      # Refuses a long flag not typed in full, before optparse, which would
      # complete it, sees it; suggests what may have been meant.
      def refuse_abbreviations(parser, argv)
        switches = long_switches(parser)
        words = argv.each
        loop do
          word = words.next
          break if word == "--"
          next unless word.start_with?("--")

          name, value = word.split("=", 2)
          switch = switches.fetch(name) { raise UsageError, unknown_flag(word, name, switches.keys) }
          # The value of `--flag VALUE` may itself start with "--".
          words.next if value.nil? && switch.is_a?(OptionParser::Switch::RequiredArgument)
        end
      end

      # Every long flag as typed ("--pid-file", "--no-daemonize-for-me"),
      # with its switch.
      def long_switches(parser)
        parser.top.list.grep(OptionParser::Switch).each_with_object({}) do |switch, switches|
          switch.long.each do |long|
            names = long.include?("[no-]") ? [long.sub("[no-]", ""), long.sub("[no-]", "no-")] : [long]
            names.each { |name| switches[name] = switch }
          end
        end
      end

      def unknown_flag(word, name, known)
        return "invalid option: #{word} (keep_ios takes Ruby IO objects: there is no flag for it)" \
          if name == "--keep-ios"

        completions = known.select { |flag| flag.start_with?(name) }
        return "invalid option: #{word} (flags are not abbreviated: #{completions.join(", ")})" if completions.any?

        guesses = DidYouMean::SpellChecker.new(dictionary: known).correct(name)
        guesses.empty? ? "invalid option: #{word}" : "invalid option: #{word} (did you mean #{guesses.join(", ")}?)"
      end

      # The flag of one option, reading its value as the option's kind says.
      def option_flag(opts, name, row)
        flag = row[:flag].split.first
        opts.on(row[:flag], *wrap(flag_help(row))) do |value|
          @flag_sources[name] = flag
          if row[:kind] == :env
            (@flags[:env] ||= {}).update(env_assignment(value, flag))
          else
            @flags[name] = option_value(row[:kind], value, flag)
          end
        end
      end

      def flag_help(row)
        default = row[:default]
        default.is_a?(Numeric) || default.is_a?(String) ? "#{row[:help]} (default: #{default})" : row[:help]
      end

      # Lines of at most `width` characters, broken between words.
      def wrap(text, width = HELP_WIDTH)
        text.scan(/\S.{0,#{width - 1}}(?=\s|\z)/)
      end

      # An option's value, given as a flag's text or a config file's value.
      def option_value(kind, value, source)
        case kind
        when *TEXT_KINDS then text(value, source)
        when :ping then parse_ping(text(value, source), source)
        when :seconds then seconds(value, source)
        when :boolean then boolean(value, source)
        when :env then env_mapping(value, source)
        end
      end

      def text(value, source)
        raise UsageError, "#{source}: must be a String, not #{value.inspect}" unless value.is_a?(String)

        non_empty(value, source)
      end

      def non_empty(text, source)
        raise UsageError, "#{source}: must not be empty" if text.strip.empty?

        text
      end

      # A timeout or interval: a number of seconds, 0 or more. A config file
      # may also give nil (~), which the library takes as "no limit".
      def seconds(value, source)
        return nil if value.nil?

        number = value.is_a?(String) ? Float(value, exception: false) : value
        return number if number.is_a?(Numeric) && number.finite? && number >= 0

        raise UsageError, "#{source}: #{value.inspect} is not a number of seconds (0 or more)"
      end

      def boolean(value, source)
        return value if [true, false].include?(value)

        raise UsageError, "#{source}: must be true or false, not #{value.inspect}"
      end

      # "tcp:HOST:PORT", "unix:PATH", "http(s)://...", "notify", or a shell
      # command: the ping_command forms of the library.
      def parse_ping(text, source)
        case text
        when /\Atcp:/
          match = text.match(/\Atcp:\[?(?<host>[^\[\]]+?)\]?:(?<port>\d+)\z/)
          port = match && Integer(match[:port], 10)
          unless port&.between?(1, 65_535)
            raise UsageError, "#{source}: #{text.inspect} is not tcp:HOST:PORT (a port from 1 to 65535)"
          end

          [:tcp, match[:host], port]
        when /\Aunix:/
          path = text.delete_prefix("unix:")
          raise UsageError, "#{source}: #{text.inspect} is not unix:PATH" if path.empty?

          [:unix, path]
        when %r{\Ahttps?://.}i then [:http, text]
        when "notify" then [:notify]
        else non_empty(text, source)
        end
      end

      # One --env NAME=VALUE, as a Hash.
      def env_assignment(text, source)
        name, value = text.split("=", 2)
        raise UsageError, "#{source}: #{text.inspect} is not NAME=VALUE" if value.nil? || name.empty?

        { name => value }
      end

      # A config file's env: values may be written as YAML numbers or
      # booleans (PORT: 8080); the environment only holds strings. nil unsets
      # the variable.
      def env_mapping(value, source)
        raise UsageError, "#{source}: must be a mapping of variable names to values" unless value.is_a?(Hash)

        value.to_h do |name, setting|
          name = name.to_s
          raise UsageError, "#{source}: #{name.inspect} is not a variable name" if name.empty? || name.include?("=")
          unless setting.nil? || [String, Numeric, TrueClass, FalseClass].any? { |kind| setting.is_a?(kind) }
            raise UsageError, "#{source}: the value of #{name} must be a String, not #{setting.inspect}"
          end

          [name, setting&.to_s]
        end
      end

      # ---- the config file ---------------------------------------------------

      # "unknown option (did you mean pid_file?)": a key written as a flag
      # (`ping`, `pid-file`) or misspelt.
      def unknown_key(key, source)
        config_keys = DaemonController::OPTIONS.reject { |_, row| RUBY_ONLY_KINDS.include?(row[:kind]) }
        spelt_as_flag = config_keys.find do |name, row|
          name.to_s == key.tr("-", "_") || row[:flag]&.split&.first&.sub("[no-]", "") == "--#{key}"
        end
        guesses = [spelt_as_flag&.first].compact
        guesses = DidYouMean::SpellChecker.new(dictionary: config_keys.keys).correct(key) if guesses.empty?
        guesses.empty? ? "#{source}: unknown option" : "#{source}: unknown option (did you mean #{guesses.join(", ")}?)"
      end

      def load_config(path)
        content = begin
          File.read(path)
        rescue SystemCallError => e
          raise UsageError, "--config: cannot read #{path}: #{e.message}"
        end
        data = begin
          YAML.safe_load(content, filename: path)
        rescue Psych::SyntaxError => e
          raise UsageError, "--config: #{path}:#{e.line}:#{e.column}: #{e.problem} #{e.context}".strip
        rescue Psych::Exception => e # an alias, or a tag or class that safe_load refuses
          raise UsageError, "--config: #{path}: #{e.message}"
        end
        return {} if data.nil?
        raise UsageError, "--config: #{path} must hold a mapping of option names to values" unless data.is_a?(Hash)

        data.each_with_object({}) do |(key, value), options|
          config_option(options, key.to_s, value, "#{path}: #{key}")
        end
      end

      # One key of the config file: an option's name, or `foreground`, which
      # does what --foreground does.
      def config_option(options, key, value, source)
        if key == "foreground"
          options[:daemonize_for_me] = options[:make_pid_file] = true unless value.nil? || !boolean(value, source)
          return
        end
        row = DaemonController::OPTIONS.fetch(key.to_sym) { raise UsageError, unknown_key(key, source) }
        @config_sources[key.to_sym] = source
        if RUBY_ONLY_KINDS.include?(row[:kind])
          raise UsageError, "#{source}: takes Ruby objects, which a config file cannot give"
        end
        # An empty value (`stop_command:`) is the same as leaving the key
        # out, except for timeouts, where the library takes nil as "no
        # limit".
        return if value.nil? && row[:kind] != :seconds

        options[key.to_sym] = option_value(row[:kind], value, source)
      end
    end
  end
end
