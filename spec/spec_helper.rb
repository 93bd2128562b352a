# frozen_string_literal: true

lib = File.expand_path("../lib", __dir__)
$LOAD_PATH.unshift(lib) unless $LOAD_PATH.include?(lib)

require "daemon_controller"
require "etc"
require "fileutils"
require "rbconfig"
require "shellwords"
require "socket"
require "stringio"
require "timeout"
require "tmpdir"

# The helpers every example can call, one file per topic in spec/support/.
%w[processes files descriptors ports timing controllers].each do |topic|
  require_relative "support/#{topic}"
end

RSpec.configure do |config|
  config.include DaemonControllerSpecHelper

  config.expect_with :rspec do |c|
    c.syntax = :expect
  end
  config.mock_with :rspec do |c|
    c.syntax = :expect
    c.verify_partial_doubles = true
  end

  config.disable_monkey_patching!
  config.order = :defined

  # Examples of what only a process table tells (start times, kernel
  # threads), which the portable platform layer does without.
  config.before(:each, :process_table) do
    if ENV["DAEMON_CONTROLLER_PLATFORM"] == "fallback"
      skip "the fallback platform layer reads no process table: no start time, no kernel-thread flag"
    end
  end

  config.after do
    kill_leftovers
    FileUtils.rm_rf(@tmpdir) if @tmpdir
  end
end
