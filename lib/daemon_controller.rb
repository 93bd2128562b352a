# frozen_string_literal: true

require "rbconfig"
require "daemon_controller/version"

# DaemonController starts a daemon and returns once it answers pings, stops
# it with a timeout, and serializes both across processes with a lock file.
# The class, its exceptions, its result structs and DaemonController::LockFile
# are defined by the native extension loaded below.
class DaemonController
  # A platform gem ships a library per Ruby version beside this file; a
  # source build installs one into the gem's extension directory.
  precompiled = File.join(__dir__, "daemon_controller", RUBY_VERSION[/\A\d+\.\d+/],
                          "daemon_controller.#{RbConfig::CONFIG['DLEXT']}")
  if File.exist?(precompiled)
    require precompiled
  else
    begin
      require "daemon_controller/daemon_controller"
    rescue LoadError => e
      raise LoadError, "daemon_controller's native extension is not built (#{e.message}); " \
                       "run `rake compile` in the gem's directory, or reinstall the gem"
    end
  end
end
