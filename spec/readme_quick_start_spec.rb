# frozen_string_literal: true

require_relative "spec_helper"
require_relative "support/cli"

# The README's quick start, run as written but for the port and the files,
# which get this example's own.
RSpec.describe "The README's quick start" do
  include CliSpecHelper

  before { skip "redis-server is not installed" unless system("command -v redis-server >/dev/null") }

  def with_own_port_and_files(text)
    text.gsub("6390", port.to_s).gsub("/tmp/redis-#{port}", File.join(tmpdir, "redis"))
  end

  it "starts, uses and stops Redis from Ruby in ten lines" do
    snippet = with_own_port_and_files(readme_block(/\Arequire "daemon_controller"\n\nredis = /))
    expect(snippet.lines.size).to be <= 11
    check = "\nputs TCPSocket.new('127.0.0.1', #{port}).tap { |s| s.write(\"PING\\r\\n\") }.gets"
    script = snippet.sub(/^redis\.stop\n/, "require 'socket'#{check}\nredis.stop\n")
    # Redis writes its dump into its working directory when it stops.
    output, status = Open3.capture2e(RbConfig.ruby, "-I#{File.join(CliSpecHelper::ROOT, "lib")}", "-e", script,
                                     chdir: tmpdir)
    expect(status.success?).to be(true), output
    expect(output).to eq("+PONG\r\n")
    expect(port_open?).to be(false)
  end

  it "runs the three command-line lines in a fresh directory" do
    lines = readme_block(/\Adaemon_controller start --foreground --start-command "redis-server/)
    expect(lines.lines.size).to eq(3)
    fresh = File.join(tmpdir, "fresh")
    Dir.mkdir(fresh)
    output, status = run_shell_with_tool("set -e\n#{with_own_port_and_files(lines)}", chdir: fresh)
    expect(status.success?).to be(true), output
    expect(output).to match(/\Arunning \(PID \d+\)\n\z/)
    expect(port_open?).to be(false)
  end
end
