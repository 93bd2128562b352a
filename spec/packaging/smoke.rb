# frozen_string_literal: true

# Run by spec/packaging with an installed gem and no source tree on the load
# path: starts the specs' test daemon through DaemonController, pings it,
# talks to it through `connect`, stops it, and prints what it saw as one
# JSON line.
#
#   ruby spec/packaging/smoke.rb WORK_DIR

require "daemon_controller"
require "json"
require "rbconfig"
require "shellwords"
require "socket"

work_dir = ARGV.fetch(0)
port = TCPServer.open("127.0.0.1", 0) { |server| server.addr[1] }
pid_file = File.join(work_dir, "daemon.pid")
log_file = File.join(work_dir, "daemon.log")
daemon = [RbConfig.ruby, File.expand_path("../support/test_daemon.rb", __dir__),
          "--port", port.to_s, "--pid-file", pid_file, "--log-file", log_file]
controller = DaemonController.new(
  identifier: "packaged test daemon", start_command: daemon.shelljoin,
  ping_command: [:tcp, "127.0.0.1", port], pid_file: pid_file, log_file: log_file,
  start_timeout: 15, stop_timeout: 15
)

gem_dir = Gem.loaded_specs["daemon_controller"]&.full_gem_path
native = $LOADED_FEATURES.grep(/daemon_controller\.#{RbConfig::CONFIG["DLEXT"]}\z/o)
report = {
  "ruby" => RUBY_VERSION,
  "gem_dir" => gem_dir,
  "native" => native.map { |path| gem_dir && path.delete_prefix("#{File.realpath(gem_dir)}/") },
  "running_before" => controller.running?
}
report["started"] = controller.start
report["running"] = controller.running?
report["pid"] = controller.pid
report["echo"] = controller.connect do
  TCPSocket.open("127.0.0.1", port) do |socket|
    socket.puts("from the installed gem")
    socket.gets
  end
end
controller.stop
report["running_after"] = controller.running?
puts JSON.generate(report)
