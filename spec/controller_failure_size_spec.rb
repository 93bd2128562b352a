# frozen_string_literal: true

require "spec_helper"
require "json"
require "open3"

RSpec.describe DaemonController, "a failed start's message" do
  # Runs in a child process so that its peak memory is its own.
  def child_script
    <<~'RUBY'
      require "daemon_controller"
      require "json"
      peak_kb = -> { File.read("/proc/self/status")[/VmHWM:\s+(\d+)/, 1].to_i }
      command, pid_file, log_file = ARGV
      controller = DaemonController.new(identifier: "noisy", start_command: command, ping_command: "true",
                                        pid_file: pid_file, log_file: log_file, start_timeout: 60)
      before = peak_kb.call
      begin
        controller.start
      rescue DaemonController::StartError => e
        puts JSON.generate(growth_kb: peak_kb.call - before, message: e.message, output: e.output, logs: e.logs)
      end
    RUBY
  end

  it "keeps the last part of a huge output and log, with what was left out, in bounded memory" do
    noisy = "head -c 20000000 /dev/zero | tr '\\0' o; echo; echo 'output ends here'; " \
            "{ head -c 100000000 /dev/zero | tr '\\0' l; echo; echo 'log ends here'; } >> #{log_file}; exit 1"
    stdout, status = Open3.capture2(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", child_script,
                                    noisy, pid_file, log_file)
    expect(status).to be_success
    report = JSON.parse(stdout)
    kept = 64 * 1024
    expect(report["output"]).to end_with("o\noutput ends here").and start_with("[")
    expect(report["output"].lines.first).to match(/\A\[\d+ earlier bytes left out\]\n\z/)
    expect(report["logs"]).to end_with("l\nlog ends here")
    expect(report["logs"].lines.first).to eq("[#{100_000_001 + 14 - kept} earlier bytes left out]\n")
    expect(report["message"].bytesize).to be < (2 * kept) + 1024
    expect(report["growth_kb"]).to be < 4 * 1024
  end
end
