# frozen_string_literal: true

# Benchmark of the hot paths, readiness latency, stop latency and ping
# counts. Each implementation runs in a worker process of its own
# (bench/worker.rb); rounds alternate between implementations so that all
# see the same machine. Prints the median with min and max of each figure.
# Linux only (it uses prctl(2) and /proc/self/status).
#
#   rake bench                                  (this gem, from lib/)
#   rake bench ORIGINAL=/path/to/original/lib   (both, with ratios)
#
# BENCH_ROUNDS (default 7) sets the rounds; BENCH_PING_ROUNDS (default 3)
# those of the 5-second ping-count case.

require "json"
require "rbconfig"

module Bench
  WORKER = File.expand_path("worker.rb", __dir__)
  LIB = File.expand_path("../lib", __dir__)
  SILENT_DELAYS = [0.02, 0.05, 0.11].freeze
  # A silent daemon must be noticed within this share of the time already
  # waited, plus NOTICE_SLACK_MS.
  NOTICE_SHARE = 0.05
  NOTICE_SLACK_MS = 0.5

  # A worker process with one implementation loaded.
  class Worker
    attr_reader :label, :implementation

    def initialize(label, lib)
      @label = label
      @io = IO.popen([RbConfig.ruby, "-I", lib, WORKER], "r+")
      @implementation = receive.fetch("implementation")
    end

    def measure(name)
      @io.puts(name)
      receive
    end

    def close
      @io.close_write
      @io.read
      @io.close
    end

    private

    def receive
      line = @io.gets or abort "bench: the #{@label} worker died"
      JSON.parse(line)
    end
  end

  module_function

  def median(values)
    values.sort[values.size / 2]
  end

  # Runs `names` once per round on every worker, the workers' order
  # alternating between rounds. Returns {label => {figure => [values]}}.
  def collect(workers, names, rounds)
    results = Hash.new { |by_label, label| by_label[label] = Hash.new { |figures, name| figures[name] = [] } }
    rounds.times do |round|
      ordered = round.even? ? workers : workers.reverse
      names.each do |name|
        ordered.each do |worker|
          worker.measure(name).each { |figure, value| results[worker.label][figure_name(name, figure)] << value }
        end
      end
    end
    results
  end

  def figure_name(measurement, figure)
    case measurement
    when /\Aready:(\w+):([\d.]+)\z/
      "readiness #{Regexp.last_match(1)} #{(Float(Regexp.last_match(2)) * 1000).round} ms: #{figure}"
    when "ping_runs" then "slow ping command, ready at 4.5 s, ping_interval 5: #{figure}"
    else figure
    end
  end

  def format_values(values)
    return "" unless values

    format("%10.3f (%.3f..%.3f)", median(values), values.min, values.max)
  end

  def ratio(ours, theirs)
    return "-" unless ours && theirs && median(theirs).nonzero?

    format("%.2f", median(ours) / median(theirs))
  end

  def report(results, labels)
    figures = results.values.flat_map(&:keys).uniq
    header = format("%-72s", "figure (median, min..max)") + labels.map { |label| format("  %-32s", label) }.join
    header += "  ratio" if labels.size == 2
    puts header
    figures.each do |figure|
      columns = labels.map { |label| results[label][figure] }
      line = format("%-72s", figure) + columns.map { |values| format("  %-32s", format_values(values)) }.join
      line += "  #{ratio(*columns)}" if labels.size == 2
      puts line
    end
  end

  # The silent daemon's notice latency against its bound.
  def report_notice_bound(figures)
    SILENT_DELAYS.each do |delay|
      prefix = "readiness silent #{(delay * 1000).round} ms: "
      latency = median(figures.fetch("#{prefix}latency_ms"))
      waited = median(figures.fetch("#{prefix}waited_ms"))
      bound = (waited * NOTICE_SHARE) + NOTICE_SLACK_MS
      verdict = latency <= bound ? "within" : "OVER"
      puts format("silent daemon listening %3d ms after its PID file: noticed %.3f ms late after %.1f ms; " \
                  "bound %.3f ms: %s", (delay * 1000).round, latency, waited, bound, verdict)
    end
  end

  def run
    rounds = Integer(ENV.fetch("BENCH_ROUNDS", "7"))
    ping_rounds = Integer(ENV.fetch("BENCH_PING_ROUNDS", "3"))
    workers = [Worker.new("this gem", LIB)]
    workers << Worker.new("original", ENV.fetch("ORIGINAL")) if ENV["ORIGINAL"]
    puts "daemon_controller benchmark (#{RUBY_DESCRIPTION}), #{rounds} rounds"
    workers.each { |worker| puts "#{worker.label}: #{worker.implementation}" }

    per_round = ["hot", "start_stop", "ready:exit:0.03", "ready:log:0.03",
                 *SILENT_DELAYS.map { |delay| "ready:silent:#{delay}" }, "lazy_stop"]
    results = collect(workers, per_round, rounds)
    collect(workers, ["ping_runs"], ping_rounds).each { |label, figures| results[label].merge!(figures) }
    collect(workers, ["memory"], 1).each { |label, figures| results[label].merge!(figures) }

    puts
    report(results, workers.map(&:label))
    puts
    report_notice_bound(results.fetch("this gem"))
  ensure
    workers&.each(&:close)
  end
end

Bench.run
