# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "input_support"
require "logger"
require "pathname"

# Settings of the fuzz run below, and what each kind of call may raise.
module OptionFuzz
  # Raised by a watchdog when one call takes far longer than it may. Not a
  # StandardError, so that nothing on the way can mistake it for its own.
  class CallHung < Exception; end # rubocop:disable Lint/InheritException

  ITERATIONS = 1000
  # Every LIFECYCLE_EVERY-th iteration also starts and stops what it built.
  LIFECYCLE_EVERY = 50
  CALL_LIMIT = 10 # seconds; far more than any call here needs

  # What each kind of call may raise, per the contract.
  ALLOWED = {
    construction: [ArgumentError, TypeError],
    query: [SystemCallError], # pid, running?: an unreadable PID or lock file
    lifecycle: [DaemonController::Error, SystemCallError]
  }.freeze

  MANDATORY = DaemonController::OPTIONS.select { |_, row| row[:mandatory] }.keys.freeze
end

# Random option sets, valid and invalid values mixed, against the
# constructor and then the methods of whatever it builds. Only the
# exceptions the contract documents may come out, and a rejected option set
# must be told which option is wrong. The seed is printed; FUZZ_SEED=<seed>
# repeats a run.
RSpec.describe DaemonController, "with randomly generated options" do
  include BadInputSupport

  let(:seed) { Integer(ENV.fetch("FUZZ_SEED", Random.new_seed % (2**32))) }
  let(:rng) { Random.new(seed) }
  let(:failures) { [] }

  # A callable that is not a Proc: the original gem's own tests pass one.
  def always_up
    true
  end

  # PIDs that no process has (taken once; a PID file naming one is stale).
  def unused_pids
    @unused_pids ||= Array.new(3) { unused_pid }
  end

  # Candidate values per option of DaemonController::OPTIONS, by its kind
  # (a few options have their own): [validity, builder]. :either marks
  # values the contract leaves open (accepted or rejected, but never a
  # crash).
  def candidates
    @candidates ||= begin
      dir = tmpdir
      directory = File.join(dir, "a-directory")
      Dir.mkdir(directory)
      open_writer = IO.pipe.last
      closed_io = IO.pipe.last.tap(&:close)
      paths = [
        [:valid, -> { File.join(dir, "fuzz-#{rng.rand(5)}.pidfile") }],
        [:valid, -> { "relative-#{rng.rand(5)}.pidfile" }],
        [:valid, -> { Pathname.new(File.join(dir, "as-pathname.pidfile")) }],
        [:valid, -> { File.join(dir, "missing", "in-missing-dir.pidfile") }],
        [:valid, -> { directory }],
        [:invalid, -> { 42 }], [:invalid, -> { :path }], [:invalid, -> { [] }], [:invalid, -> { {} }],
        [:invalid, -> { 1.5 }], [:invalid, -> { "#{dir}/nul\0byte" }]
      ]
      commands = [
        [:valid, -> { "true" }], [:valid, -> { "false" }], [:valid, -> { "/nonexistent/fuzz-program --flag" }],
        [:valid, -> { "exit 3" }],
        [:invalid, -> { 42 }], [:invalid, -> { :run }], [:invalid, -> { ["true"] }], [:invalid, -> { {} }]
      ]
      seconds = [
        [:valid, -> { 0 }], [:valid, -> { 1 }], [:valid, -> { 0.25 }], [:valid, -> { Rational(1, 3) }],
        [:valid, -> { 2**70 }], [:valid, -> { Float::INFINITY }],
        [:invalid, -> { "1" }], [:invalid, -> { -1 }], [:invalid, -> { -0.001 }], [:invalid, -> { Float::NAN }],
        [:invalid, -> { Complex(1, 1) }], [:invalid, -> { [] }], [:invalid, -> { true }], [:invalid, -> { :soon }]
      ]
      by_kind = {
        name: [
          [:valid, -> { "fuzzed daemon #{rng.rand(100)}" }], [:valid, -> { "" }], [:either, -> { :daemon }],
          [:invalid, -> { 42 }], [:invalid, -> { [] }], [:invalid, -> { {} }], [:invalid, -> { 1.5 }]
        ],
        command: commands + [[:valid, -> { -> { "true" } }]],
        ping: [
          [:valid, -> { [:tcp, "127.0.0.1", port] }], [:valid, -> { [:tcp, "localhost", port.to_s] }],
          [:valid, -> { [:unix, File.join(dir, "none.sock")] }], [:valid, -> { "true" }], [:valid, -> { "false" }],
          [:valid, -> { -> { false } }], [:valid, -> { method(:always_up) }],
          [:invalid, -> { 42 }], [:invalid, -> { :tcp }], [:invalid, -> { [:tcp] }],
          [:invalid, -> { [:tcp, "127.0.0.1", 70_000] }], [:invalid, -> { [:udp, "127.0.0.1", 53] }],
          [:invalid, -> { {} }], [:invalid, -> { [:unix, 42] }]
        ],
        path: paths,
        string: commands,
        callable: [
          [:valid, -> { -> {} }], [:valid, -> { proc { :ignored } }], [:valid, -> { method(:always_up) }],
          [:invalid, -> { "not callable" }], [:invalid, -> { 42 }], [:invalid, -> { :sym }], [:invalid, -> { [] }]
        ],
        seconds: seconds,
        signal: [
          [:valid, -> { "TERM" }], [:valid, -> { "SIGTERM" }], [:valid, -> { "INT" }], [:valid, -> { :TERM }],
          [:either, -> { 15 }],
          [:invalid, -> { "NOT_A_SIGNAL" }], [:invalid, -> { "" }], [:invalid, -> { [] }], [:invalid, -> { {} }]
        ],
        # Ruby truthiness: any value will do.
        boolean: [[:valid, -> { true }], [:valid, -> { false }], [:valid, -> { "yes" }], [:valid, -> { 0 }]],
        ios: [
          [:valid, -> { [] }], [:valid, -> { [$stderr] }], [:valid, -> { [open_writer] }],
          [:either, -> { [closed_io] }],
          [:invalid, -> { "not an array" }], [:invalid, -> { [42] }], [:invalid, -> { {} }], [:invalid, -> { $stdout }],
          [:invalid, -> { [nil] }]
        ],
        env: [
          [:valid, -> { {} }], [:valid, -> { { "FUZZ_VAR" => "value" } }], [:valid, -> { { "FUZZ_VAR" => nil } }],
          [:valid, -> { { "PATH" => ENV.fetch("PATH", "/usr/bin:/bin") } }], [:either, -> { { "FUZZ_VAR" => "a\0b" } }],
          [:invalid, -> { { "FUZZ_VAR" => 1 } }], [:invalid, -> { { FUZZ_VAR: "value" } }], [:invalid, -> { "A=b" }],
          [:invalid, -> { { "" => "x" } }], [:invalid, -> { { "A=B" => "x" } }], [:invalid, -> { [%w[A b]] }]
        ],
        logger: [
          [:valid, -> { Logger.new(StringIO.new) }], [:valid, -> { Object.new.tap { |o| def o.debug(*); end } }],
          [:invalid, -> { 42 }], [:invalid, -> { "logger" }], [:invalid, -> { Object.new }]
        ]
      }
      by_name = {
        log_file: paths + [[:valid, -> { File::NULL }]],
        # On without daemonize_for_me is an ArgumentError naming both.
        make_pid_file: [[:valid, -> { false }], [:either, -> { true }]]
      }
      DaemonController::OPTIONS.to_h { |name, row| [name, by_name.fetch(name) { by_kind.fetch(row[:kind]) }] }
    end
  end

  # One random option set: the options, the names given an invalid value
  # (or left out, for a mandatory one), and those given an :either value.
  def random_option_set
    options = {}
    invalid = []
    undecided = []
    candidates.each do |name, pool|
      if OptionFuzz::MANDATORY.include?(name)
        roll = rng.rand
        if roll < 0.02
          invalid << name
          next
        elsif roll < 0.03
          options[name] = nil
          invalid << name
          next
        end
      elsif rng.rand < 0.5
        next
      end
      wanted = rng.rand < 0.06 ? :invalid : :fine
      choices = pool.select { |validity, _| (validity == :invalid) == (wanted == :invalid) }
      validity, build = (choices.empty? ? pool : choices).sample(random: rng)
      options[name] = build.call
      invalid << name if validity == :invalid
      undecided << name if validity == :either
    end
    options[:timeout] = 25 if rng.rand < 0.05 # an unknown option, as Passenger passes
    [options, invalid, undecided]
  end

  # The options for a failure report, each value cut short.
  def describe_options(options)
    parts = options.map do |name, value|
      text = value.inspect
      "#{name}: #{text.length > 60 ? "#{text[0, 57]}..." : text}"
    end
    "{#{parts.join(", ")}}"
  end

  # Calls the block under a watchdog; returns [:returned, value] or
  # [:raised, exception]. A call still running after CALL_LIMIT is a failure.
  def attempt(label, context, &block)
    [:returned, Timeout.timeout(OptionFuzz::CALL_LIMIT, OptionFuzz::CallHung, &block)]
  rescue OptionFuzz::CallHung
    failures << "#{label} did not return within #{OptionFuzz::CALL_LIMIT} s; #{context}"
    [:hung, nil]
  rescue Exception => e # rubocop:disable Lint/RescueException
    [:raised, e]
  end

  def allowed?(kind, error)
    OptionFuzz::ALLOWED.fetch(kind).any? { |klass| error.is_a?(klass) }
  end

  def note_unexpected(label, error, context)
    failures << "#{label} raised #{error.class}: #{error.message.lines.first&.strip}; #{context}"
  end

  # Constructs with keywords or a positional Hash (1.x), capturing warnings.
  def construct(options)
    positional = rng.rand < 0.3
    warnings = StringIO.new
    saved = $stderr
    $stderr = warnings
    begin
      outcome = attempt("new", "") { positional ? described_class.new(options) : described_class.new(**options) }
    ensure
      $stderr = saved
    end
    [outcome, warnings.string]
  end

  def check_construction(outcome, warnings, options, invalid, undecided, context)
    kind, value = outcome
    suspects = invalid + undecided
    if kind == :raised
      if !allowed?(:construction, value)
        note_unexpected("new", value, context)
      elsif suspects.empty?
        failures << "new rejected valid options (#{value.class}: #{value.message}); #{context}"
      elsif suspects.none? { |name| value.message.match?(/\b#{name}\b/) }
        failures << "new raised #{value.class} naming none of #{suspects.inspect}: #{value.message}; #{context}"
      end
      return nil
    end
    return nil if kind == :hung

    failures << "new accepted invalid #{invalid.inspect}; #{context}" unless invalid.empty?
    failures << "no warning naming :timeout; #{context}" if options.key?(:timeout) && !warnings.include?("timeout")
    value
  end

  # Content for a PID file that never names a process we may not disturb.
  def random_pid_file_content
    ["", "garbage\n", "-5\n", "12 34\n", "99999999999999999999\n", "0\n", "\xFF\xFE junk\x00".b,
     "#{Process.pid}\n", "#{unused_pids.sample(random: rng)}\n"].sample(random: rng)
  end

  def exercise_queries(controller, options, context)
    path = options[:pid_file]
    if path.is_a?(String) || path.is_a?(Pathname)
      begin
        File.binwrite(path, random_pid_file_content)
      rescue SystemCallError
        nil # a directory, or in a missing one: the controller must cope
      end
    end
    check_query("pid", controller, context) { |pid| pid.nil? || pid.is_a?(Integer) }
    check_query("running?", controller, context) { |answer| [true, false, nil].include?(answer) }
  end

  def check_query(method, controller, context)
    kind, value = attempt(method, context) { controller.public_send(method) }
    if kind == :raised
      note_unexpected(method, value, context) unless allowed?(:query, value)
    elsif kind == :returned && !yield(value)
      failures << "#{method} answered #{value.inspect}; #{context}"
    end
  end

  # Valid options with short timeouts, for a start and a stop that finish
  # quickly whatever the command; random where the choice is harmless.
  def lifecycle_options(index)
    @port = free_port
    @pid_file = File.join(tmpdir, "life-#{index}.pid")
    @log_file = File.join(tmpdir, "life-#{index}.log")
    daemon = daemon_command(*standard_flags)
    {
      identifier: "lifecycle #{index}",
      start_command: ["true", "false", "/nonexistent/fuzz-program", daemon, daemon, -> { daemon }].sample(random: rng),
      ping_command: [[:tcp, "127.0.0.1", port], [:tcp, "127.0.0.1", port], "true", "false",
                     -> { TCPSocket.new("127.0.0.1", port) }].sample(random: rng),
      pid_file: pid_file, log_file: log_file,
      start_timeout: 0.5, start_abort_timeout: 0.5, stop_timeout: 1,
      log_file_activity_timeout: [nil, 0.3, 5].sample(random: rng),
      ping_interval: [nil, 0.01, 0.2].sample(random: rng),
      stop_graceful_signal: ["TERM", "SIGTERM", "INT", :TERM].sample(random: rng),
      stop_command: [nil, nil, nil, "true", "false"].sample(random: rng),
      before_start: [nil, -> {}].sample(random: rng),
      dont_stop_if_pid_file_invalid: [true, false].sample(random: rng),
      daemonize_for_me: [true, false, false].sample(random: rng),
      keep_ios: [nil, [$stderr]].sample(random: rng),
      env: [nil, {}, { "FUZZ_VAR" => "value" }].sample(random: rng),
      logger: [nil, Logger.new(StringIO.new)].sample(random: rng)
    }
  end

  def exercise_lifecycle(index)
    options = lifecycle_options(index)
    context = "seed #{seed}, iteration #{index}, options #{describe_options(options)}"
    kind, controller = construct(options).first
    return note_unexpected("new", controller, context) unless kind == :returned

    stopped = false
    named = false
    %i[start running? pid stop].each do |method|
      allowed_kind = %i[start stop].include?(method) ? :lifecycle : :query
      # A start that gave up before the daemon wrote its PID file leaves a
      # daemon that no PID file names yet: stop then has nothing to end.
      named = File.exist?(pid_file) if method == :stop
      kind, value = attempt(method, context) { controller.public_send(method) }
      note_unexpected(method.to_s, value, context) if kind == :raised && !allowed?(allowed_kind, value)
      stopped = kind == :returned if method == :stop
    end
    # Without a stop command, a stop that returned has ended the daemon its
    # PID file named.
    if stopped && named && options[:stop_command].nil? && !live_test_daemons.empty?
      failures << "stop returned but the daemon still runs; #{context}"
    end
    kill_test_daemons
  end

  it "raises only documented exceptions, naming the culprit, for #{OptionFuzz::ITERATIONS} random option sets" do
    RSpec.configuration.reporter.message("fuzz seed #{seed} (repeat with FUZZ_SEED=#{seed})")
    children = child_pids
    Dir.chdir(tmpdir) do # relative paths land in the example's directory
      OptionFuzz::ITERATIONS.times do |index|
        if (index % OptionFuzz::LIFECYCLE_EVERY) == OptionFuzz::LIFECYCLE_EVERY / 2
          exercise_lifecycle(index)
          next
        end
        options, invalid, undecided = random_option_set
        context = "seed #{seed}, iteration #{index}, options #{describe_options(options)}"
        outcome, warnings = construct(options)
        controller = check_construction(outcome, warnings, options, invalid, undecided, context)
        exercise_queries(controller, options, context) if controller
      end
    end
    kill_test_daemons
    expect(new_children_since(children)).to be_empty, "children left unreaped"
    summary = failures.group_by { |line| line[/\A\S+ \S+ \S+/] }.map { |kind, lines| "#{lines.size} x #{kind}" }
    expect(failures).to be_empty,
                        "seed #{seed}: #{failures.size} failures (#{summary.join(", ")}); first ones:\n" +
                        failures.first(8).join("\n")
  end
end
