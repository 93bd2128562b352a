# frozen_string_literal: true

require "open3"
require "rbconfig"
require "tmpdir"

# The extension's extconf.rb as `gem install` runs it, in a scratch
# directory, with Makefile writing (rb_sys is not installed by bin/setup, so
# the extconf writes its own Makefile).
RSpec.describe "ext/daemon_controller/extconf.rb" do
  extconf = File.expand_path("../ext/daemon_controller/extconf.rb", __dir__)

  # Runs the extconf in `dir` with `env`; returns its output and status.
  def run_extconf(extconf, dir, env = {})
    Open3.capture2e(env, RbConfig.ruby, extconf, chdir: dir)
  end

  # A directory holding a stand-in `cargo` that reports `version` and, asked
  # to build, writes an empty library into its --target-dir.
  def fake_cargo(dir, version)
    bin = File.join(dir, "bin")
    Dir.mkdir(bin)
    File.write(File.join(bin, "cargo"), <<~SH)
      #!/bin/sh
      [ "$1" = --version ] && { echo "cargo #{version} (fake)"; exit 0; }
      while [ "$1" != --target-dir ]; do shift; done
      mkdir -p "$2/release" && : > "$2/release/libdaemon_controller.so"
    SH
    File.chmod(0o755, File.join(bin, "cargo"))
    { "PATH" => "#{bin}:/usr/bin:/bin", "CARGO" => nil, "CARGO_TARGET_DIR" => nil }
  end

  it "stops before writing a Makefile when cargo is missing, saying what to install and that a platform gem exists" do
    Dir.mktmpdir("dc-extconf-") do |dir|
      output, status = run_extconf(extconf, dir, "PATH" => "/usr/bin:/bin", "CARGO" => File.join(dir, "no-cargo"))
      expect(status.success?).to be(false)
      expect(output).to include("building the native extension needs Rust, and\ncargo is not on the PATH.",
                                "Rust 1.89 or newer through rustup", "libclang", "precompiled platform gem")
      expect(File.exist?(File.join(dir, "Makefile"))).to be(false)
    end
  end

  it "stops when cargo is older than 1.89" do
    Dir.mktmpdir("dc-extconf-") do |dir|
      output, status = run_extconf(extconf, dir, fake_cargo(dir, "1.80.1"))
      expect(status.success?).to be(false)
      expect(output).to include("cargo 1.80.1 is older than 1.89")
    end
  end

  it "builds outside the gem, in a temporary directory that the build and `make clean` remove" do
    Dir.mktmpdir("dc-extconf-") do |dir|
      env = fake_cargo(dir, "1.95.0")
      output, status = run_extconf(extconf, dir, env)
      expect(status.success?).to be(true), output
      makefile = File.read(File.join(dir, "Makefile"))
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
