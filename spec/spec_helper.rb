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

  # Examples of what the portable platform layer does without: a process
  # table (start times, kernel threads) and file events.
  {
    process_table: "the fallback platform layer reads no process table: no start time, no kernel-thread flag",
    file_events: "the fallback platform layer has no file events: nothing brings a ping forward"
  }.each do |tag, reason|
    config.before(:each, tag) { skip reason if ENV["DAEMON_CONTROLLER_PLATFORM"] == "fallback" }
  end

  config.after do
    kill_leftovers
    FileUtils.rm_rf(@tmpdir) if @tmpdir
  end
end
