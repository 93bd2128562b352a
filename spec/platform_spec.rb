# frozen_string_literal: true

require "open3"
require "spec_helper"

RSpec.describe DaemonController, "without /proc" do
  # Runs `script` in a child whose /proc is an empty tmpfs, in a mount
  # namespace of its own that ends with it (nothing to unmount afterwards).
  # Only /proc is made private there, first, so the tmpfs cannot propagate
  # out; the whole tree could not be inside a chroot, whose root is no mount
  # point. Returns what the script printed and its status.
  def run_without_proc(script)
    unshare = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |dir| File.join(dir, "unshare") }
                 .find { |path| File.executable?(path) }
    skip "needs root and unshare(1) to hide /proc in a private mount namespace" unless Process.uid.zero? && unshare
    lib = File.expand_path("../lib", __dir__)
    inner = "mount --make-private /proc && mount -t tmpfs none /proc && " \
            "exec #{[RbConfig.ruby, "-I", lib, "-e", script].shelljoin}"
    Open3.capture2e(unshare, "--mount", "--propagation", "unchanged", "--", "sh", "-c", inner)
  end

  it "takes a live daemon for live, and stops it" do
    options = controller_options(start_command: "sleep 30", daemonize_for_me: true, make_pid_file: true)
              .except(:ping_command)
    script = <<~RUBY
      require "daemon_controller"
      puts "proc entries: \#{Dir.children("/proc").size}"
      controller = DaemonController.new(**#{options.inspect}, ping_command: -> { true })
      controller.start
      pid = controller.pid
      begin
        puts "running: \#{controller.running?}, PID file kept: \#{File.exist?(#{pid_file.inspect})}"
        controller.stop
        puts "after stop: running \#{controller.running?.inspect}, process \#{Process.kill(0, pid) rescue "gone"}"
      ensure
        Process.kill("KILL", pid) rescue nil
      end
    RUBY
    output, status = run_without_proc(script)
    expect(status).to be_success, output
    expect(output.lines).to eq(["proc entries: 0\n", "running: true, PID file kept: true\n",
                                "after stop: running nil, process gone\n"])
  end
end
