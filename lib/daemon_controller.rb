# frozen_string_literal: true

require "rbconfig"
# What Ruby can define itself, before the extension that looks it up.
require "daemon_controller/errors"
require "daemon_controller/results"
require "daemon_controller/hooks"
require "daemon_controller/lock_file"
require "daemon_controller/options"

# DaemonController starts a daemon and returns once it answers pings, stops
# it with a timeout, and serializes both across processes with a lock file.
# The exceptions, the result structs, the hooks and the option table are
# Ruby (errors.rb, results.rb, hooks.rb, lock_file.rb, options.rb); the
# methods that do the work are native.
#
# One controller manages one daemon: create it with the daemon's commands
# and files (see {#initialize} for every option), then call {#start},
# {#stop}, {#restart}, {#connect}, {#pid} or {#running?}. Starts and stops
# hold an exclusive lock on a lock file, so threads and processes that
# control the same daemon take turns. A start or stop that fails raises a
# subclass of {Error}; when a command failed, the message holds what it
# printed and, for a start, what the daemon logged meanwhile.
#
# The steps of a start and a stop go through private methods called by
# ordinary method dispatch (`spawn_daemon`, `run_command`,
# `run_ping_command`, `daemon_is_running?` and others), so tests can stub
# them; `yard doc --private` documents them too.
#
# @example Start a server on first use, talk to it, stop it
#   require "daemon_controller"
#   require "socket"
#
#   server = DaemonController.new(
#     identifier: "echo server",
#     start_command: "echo-server --daemonize --port 4000 --pid-file /tmp/echo.pid --log /tmp/echo.log",
#     ping_command: [:tcp, "127.0.0.1", 4000],
#     pid_file: "/tmp/echo.pid",
#     log_file: "/tmp/echo.log"
#   )
#   socket = server.connect { TCPSocket.new("127.0.0.1", 4000) } # starts it if needed
#   socket.puts("hello")
#   socket.close
#   server.stop
class DaemonController
  # A platform gem ships a library per Ruby minor version beside this file
  # (so does `rake compile` in a checkout); a source gem builds one into its
  # extension directory, reached through the load path.
  ruby_minor = RUBY_VERSION[/\A\d+\.\d+/]
  library = "daemon_controller.#{RbConfig::CONFIG["DLEXT"]}"
  precompiled = File.join(__dir__, "daemon_controller", ruby_minor, library)
  failures = []
  [precompiled, "daemon_controller/daemon_controller"].each do |candidate|
    next if candidate == precompiled && !File.exist?(candidate)

    begin
      require candidate
      failures = nil
      break
    rescue LoadError => e
      failures << e.message
    end
  end

  if failures
    running = "Ruby #{RUBY_VERSION} on #{RUBY_PLATFORM}"
    shipped = Dir[File.join(__dir__, "daemon_controller", "*", library)].map { |path| path.split("/")[-2] }
    built_for = File.join(__dir__, "daemon_controller", "built-for.txt")
    reason = failures.join("; ")
    message =
      if File.exist?(File.join(__dir__, "..", "Rakefile"))
        # A checkout: a clone, or a Bundler `path:` source, which Bundler
        # does not compile.
        "daemon_controller's native extension is not built for #{running} (#{reason}); run `rake compile` " \
          "in #{File.expand_path("..", __dir__)} (with Bundler: `bundle exec rake compile`; a `path:` source " \
          "is not compiled by `bundle install`), which needs Rust 1.89+ and libclang"
      elsif !shipped.empty?
        platform = File.exist?(built_for) ? File.read(built_for).strip : "another platform"
        "this daemon_controller gem is precompiled for Ruby #{shipped.sort.join(", ")} on #{platform}, " \
          "and cannot load in #{running} (#{reason}). Install the source gem instead, which builds " \
          "the extension with Rust's cargo and libclang: `gem install daemon_controller --platform ruby` " \
          "(with Bundler: `bundle config set force_ruby_platform true`, then `bundle install`)"
      else
        "daemon_controller's native extension is missing for #{running} (#{reason}). Reinstall the gem " \
          "so that it is built: `gem pristine daemon_controller`, which needs Rust's cargo and libclang"
      end
    raise LoadError, message
  end
end

# Documentation only: directive comments for the native methods.
require "daemon_controller/api"
