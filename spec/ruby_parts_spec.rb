# frozen_string_literal: true

require_relative "spec_helper"
require "daemon_controller/version"
require "open3"

# What lib/daemon_controller/*.rb defines in Ruby before the extension
# loads, and what the extension checks of it when it loads.
RSpec.describe "The Ruby side of DaemonController" do
  # Runs Ruby code in a fresh process with lib/ on the load path; returns
  # [combined output, success?].
  def fresh_ruby(code)
    lib = File.expand_path("../lib", __dir__)
    output, status = Open3.capture2e(RbConfig.ruby, "-I", lib, "-e", code)
    [output, status.success?]
  end

  it "defines with require \"daemon_controller\" the original's constants, plus OPTIONS, and no version" do
    output, ok = fresh_ruby('require "daemon_controller"; puts DaemonController.constants.sort')
    expect(ok).to be(true), output
    expect(output.split).to eq(%w[ALLOWED_CONNECT_EXCEPTIONS AlreadyStarted ConnectError Error
                                  InternalCommandErrorResult InternalCommandOkResult InternalCommandTimeoutResult
                                  LockFile OPTIONS StartError StartTimeout StopError StopTimeout TimeoutError])
    output, ok = fresh_ruby('require "daemon_controller/version"; require "daemon_controller"; ' \
                            "puts DaemonController::VERSION_STRING")
    expect([output, ok]).to eq(["#{DaemonController::VERSION_STRING}\n", true])
  end

  it "gives the hooks the original gem's arity" do
    arities = %i[daemon_spawned start_timed_out daemonization_timed_out].map do |hook|
      DaemonController.instance_method(hook).arity
    end
    expect(arities).to eq([0, 1, 1])
    expect(DaemonController.private_instance_methods(false)).to include(:daemon_spawned, :start_timed_out)
  end

  it "keeps ALLOWED_CONNECT_EXCEPTIONS open for callers to add to" do
    expect(DaemonController::ALLOWED_CONNECT_EXCEPTIONS).not_to be_frozen
    expect(DaemonController::ALLOWED_CONNECT_EXCEPTIONS).to include(Errno::ECONNREFUSED, Errno::EADDRNOTAVAIL)
  end

  # Where `rake compile` installs the library for this Ruby.
  def compiled_extension
    File.expand_path("../lib/daemon_controller/#{RUBY_VERSION[/\A\d+\.\d+/]}/daemon_controller", __dir__)
  end

  it "says where to run `rake compile` in a checkout (a Bundler path: source, say) that has not built the extension" do
    Dir.mktmpdir("dc-checkout-") do |checkout|
      FileUtils.cp_r(File.expand_path("../lib", __dir__), checkout)
      FileUtils.rm(Dir[File.join(checkout, "lib", "**", "*.#{RbConfig::CONFIG["DLEXT"]}")])
      FileUtils.touch(File.join(checkout, "Rakefile"))
      output, status = Open3.capture2e(RbConfig.ruby, "-I", File.join(checkout, "lib"), "-e",
                                       'require "daemon_controller"')
      expect(status.success?).to be(false)
      expect(output).to include("LoadError", "run `rake compile` in #{checkout} (with Bundler: " \
                                             "`bundle exec rake compile`; a `path:` source")
    end
  end

  it "refuses to load the extension alone, naming what Ruby should have defined" do
    output, success = fresh_ruby("require #{compiled_extension.dump}")
    expect(success).to be(false)
    expect(output).to include("NameError", "DaemonController::")
  end

  it "refuses to load the extension when OPTIONS lacks an option it reads" do
    code = <<~RUBY
      %w[version errors results hooks lock_file options].each { |file| require "daemon_controller/\#{file}" }
      DaemonController.send(:remove_const, :OPTIONS)
      DaemonController::OPTIONS = { identifier: { kind: :name, mandatory: true, default: nil, flag: nil, help: "" } }.freeze
      require #{compiled_extension.dump}
    RUBY
    output, success = fresh_ruby(code)
    expect(success).to be(false)
    expect(output).to include("DaemonController::OPTIONS has no row for :start_command")
  end
end
