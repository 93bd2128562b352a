# frozen_string_literal: true

require_relative "lib/daemon_controller/version"

Gem::Specification.new do |spec|
  spec.name = "daemon_controller"
  spec.version = DaemonController::VERSION_STRING
  spec.summary = "Start a daemon on demand, wait until it answers, and stop it reliably"
  spec.description = "DaemonController starts a daemon and returns only once it answers pings, " \
                     "reports start-up failures from the daemon's output and log file, serializes " \
                     "concurrent starts and stops across processes with a lock file, and stops " \
                     "daemons with a timeout and SIGKILL escalation. Implemented in Rust."
  spec.license = "MIT"
  spec.authors = ["The daemon_controller authors"]
  spec.homepage = "https://github.com/daemon-controller/daemon_controller"
  # One constant, read by the extconf too. (RuboCop still parses for the
  # older Ruby that its TargetRubyVersion names.)
  spec.required_ruby_version = ">= #{DaemonController::MINIMUM_RUBY_VERSION}" # rubocop:disable Gemspec/RequiredRubyVersion
  spec.files = Dir["lib/**/*.rb", "exe/*", "ext/**/{*.rb,*.rs,Cargo.toml}", "Cargo.toml", "Cargo.lock",
                   "sig/**/*.rbs", "README.md", "CHANGELOG.md", "doc/*.md", "LICENSE"]
  spec.bindir = "exe"
  spec.executables = ["daemon_controller"]
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/daemon_controller/extconf.rb"]
  spec.metadata["rubygems_mfa_required"] = "true"
end
