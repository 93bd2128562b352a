# frozen_string_literal: true

require "fileutils"
require "open3"
require "rbconfig"
require "tmpdir"

# The extension's extconf.rb as `gem install` runs it, in a scratch
# directory, with Makefile writing (rb_sys is not installed by bin/setup, so
# the extconf writes its own Makefile).
RSpec.describe "ext/daemon_controller/extconf.rb" do
  extconf = File.expand_path("../ext/daemon_controller/extconf.rb", __dir__)

  # Runs the extconf after `prelude`, with `env`, in `dir` (a scratch
  # directory of its own when nil); returns its output, its status and the
  # Makefile it wrote (nil for none).
  def run_extconf(extconf, prelude = "", env: {}, dir: nil)
    return Dir.mktmpdir("dc-extconf-") { |scratch| run_extconf(extconf, prelude, env: env, dir: scratch) } unless dir

    output, status = Open3.capture2e(env, RbConfig.ruby, "-e", "#{prelude}\nload ARGV[0]", extconf, chdir: dir)
    makefile = File.join(dir, "Makefile")
    [output, status, File.exist?(makefile) ? File.read(makefile) : nil]
  end

  # A directory holding a stand-in `cargo` that reports `version` and, asked
  # to build, writes an empty library into its --target-dir; returns the
  # environment that finds it.
  def fake_cargo(dir, version)
    bin = File.join(dir, "bin")
    Dir.mkdir(bin)
    File.write(File.join(bin, "cargo"), <<~SH)
      #!/bin/sh
      [ "$1" = --version ] && { echo "cargo #{version} (fake)"; exit 0; }
      while [ "$1" != --target-dir ]; do shift; done
      mkdir -p "$2/release" && : > "$2/release/libdaemon_controller.#{RbConfig::CONFIG["SOEXT"]}"
    SH
    File.chmod(0o755, File.join(bin, "cargo"))
    { "PATH" => "#{bin}:/usr/bin:/bin", "CARGO" => nil, "CARGO_TARGET_DIR" => nil }
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

  it "stops before writing a Makefile when cargo is missing, saying what to install and that a platform gem exists" do
    output, status, makefile = run_extconf(extconf, env: { "PATH" => "/usr/bin:/bin", "CARGO" => "/nonexistent/cargo" })
    expect(status.success?).to be(false)
    expect(output).to include("building the native extension needs Rust, and\ncargo is not on the PATH.",
                              "Rust 1.89 or newer through rustup", "libclang", "precompiled platform gem")
    expect(output).not_to include("not found")
    expect(makefile).to be_nil
  end

  it "stops when cargo is older than 1.89" do
    Dir.mktmpdir("dc-extconf-") do |dir|
      output, status, = run_extconf(extconf, env: fake_cargo(dir, "1.80.1"), dir: dir)
      expect(status.success?).to be(false)
      expect(output).to include("cargo 1.80.1 is older than 1.89")
    end
  end

  it "builds outside the gem, in a temporary directory that the build and `make clean` remove" do
    Dir.mktmpdir("dc-extconf-") do |dir|
      env = fake_cargo(dir, "1.95.0")
      output, status, makefile = run_extconf(extconf, env: env, dir: dir)
      expect(status.success?).to be(true), output
      scratch = makefile[/^BUILD_SCRATCH = (.*)$/, 1]
      expect(scratch).to start_with(File.join(Dir.tmpdir, "daemon_controller-cargo-"))
      # A checkout keeps its target/; an installed gem (no .git) uses the scratch directory.
      expect(makefile).to include("CARGO_TARGET_DIR ?= $(WORKSPACE)/target")

      make_env = env.merge("CARGO_TARGET_DIR" => scratch)
      expect(system(make_env, "make", "-s", chdir: dir, out: File::NULL)).to be(true)
      expect(File.exist?(File.join(dir, "daemon_controller.#{RbConfig::CONFIG["DLEXT"]}"))).to be(true)
      expect(File.exist?(scratch)).to be(false)

      Dir.mkdir(scratch)
      expect(system(env, "make", "-s", "clean", chdir: dir)).to be(true)
      expect(File.exist?(scratch)).to be(false)
    ensure
      FileUtils.rm_rf(scratch) if scratch
    end
  end
end
