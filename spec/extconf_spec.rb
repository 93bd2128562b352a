# frozen_string_literal: true

require "open3"
require "rbconfig"
require "tmpdir"

# The extension's extconf.rb as `gem install` runs it, in a scratch
# directory, with Makefile writing (rb_sys is not installed by bin/setup, so
# the extconf writes its own Makefile).
RSpec.describe "ext/daemon_controller/extconf.rb" do
  extconf = File.expand_path("../ext/daemon_controller/extconf.rb", __dir__)

  # Runs the extconf after `prelude`; returns its output, its status and the
  # Makefile it wrote (nil for none).
  def run_extconf(extconf, prelude = "")
    Dir.mktmpdir("dc-extconf-") do |dir|
      output, status = Open3.capture2e(RbConfig.ruby, "-e", "#{prelude}\nload ARGV[0]", extconf, chdir: dir)
      makefile = File.join(dir, "Makefile")
      [output, status, File.exist?(makefile) ? File.read(makefile) : nil]
    end
  end

  it "stops with a plain message on a Ruby older than 3.1, before writing a Makefile" do
    output, status, makefile = run_extconf(extconf, <<~RUBY)
      Object.send(:remove_const, :RUBY_VERSION)
      RUBY_VERSION = "2.7.8"
    RUBY
    expect(status.success?).to be(false)
    expect(output).to include("needs Ruby 3.1 or later; this is Ruby 2.7.8")
    expect(makefile).to be_nil
  end

  it "names cargo's library and Ruby's extension after this Ruby's configuration" do
    output, status, makefile = run_extconf(extconf)
    expect(status.success?).to be(true), output
    expect(makefile).to include("/release/libdaemon_controller.#{RbConfig::CONFIG["SOEXT"]} " \
                                "daemon_controller.#{RbConfig::CONFIG["DLEXT"]}")
    expect(makefile).not_to include("crt-static")
  end

  it "names a macOS Ruby's: a .dylib from cargo, a .bundle for Ruby" do
    _, _, makefile = run_extconf(extconf, <<~RUBY)
      require "rbconfig"
      RbConfig::CONFIG.update("SOEXT" => "dylib", "DLEXT" => "bundle")
    RUBY
    expect(makefile).to include("/release/libdaemon_controller.dylib daemon_controller.bundle")
  end

  it "links the C library dynamically on musl, where Rust would link it statically" do
    _, _, makefile = run_extconf(extconf, <<~RUBY)
      require "rbconfig"
      RbConfig::CONFIG["target_os"] = "linux-musl"
    RUBY
    expect(makefile).to include('RUSTFLAGS="$(RUSTFLAGS) -C target-feature=-crt-static" ')
  end
end
