# frozen_string_literal: true

require_relative "../spec_helper"
require "json"
require "open3"
require "rubygems/package"

# Builds the precompiled platform gem (`rake native`) and the source gem
# (`rake gem`), then proves that the platform gem installs and works where
# no Rust toolchain is reachable. Run alone with:
#
#   rspec --tag packaging spec/packaging
RSpec.describe "Packaging", packaging: true do
  root = File.expand_path("../..", __dir__)
  ruby_minor = RUBY_VERSION[/\A\d+\.\d+/]
  library = "daemon_controller.#{RbConfig::CONFIG["DLEXT"]}"
  version = DaemonController::VERSION_STRING
  platform = Gem::Platform.local.to_s
  native_gem = File.join(root, "pkg", "daemon_controller-#{version}-#{platform}.gem")
  source_gem = File.join(root, "pkg", "daemon_controller-#{version}.gem")
  rust_file = %r{\.rs\z|(\A|/)Cargo\.(toml|lock)\z}

  # Runs a command, failing the example with its output unless it succeeds.
  def run!(*command, env: {}, chdir: Dir.pwd)
    output, status = Open3.capture2e(env, *command, chdir: chdir)
    raise "`#{command.join(" ")}` failed (#{status}):\n#{output}" unless status.success?

    output
  end

  def rake(task, root)
    run!(RbConfig.ruby, "-S", "rake", task, chdir: root)
  end

  # The environment of a machine without Rust: no directory holding cargo or
  # rustc on PATH, no cargo or rustup variables, and nothing that would point
  # Ruby at the source tree.
  def toolless_env
    path = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).reject do |dir|
      dir.include?("cargo") || %w[cargo rustc].any? { |tool| File.exist?(File.join(dir, tool)) }
    end
    unset = ENV.keys.grep(/\A(CARGO|RUSTUP|RUSTC|RUSTFLAGS|RUBYLIB\z|RUBYOPT\z|GEM_|BUNDLE)/)
    unset.to_h { |key| [key, nil] }.merge("PATH" => path.join(File::PATH_SEPARATOR))
  end

  def gem_command
    installed = File.join(RbConfig::CONFIG["bindir"], "gem")
    File.file?(installed) ? [RbConfig.ruby, installed] : %w[gem]
  end

  def gem_contents(path)
    Gem::Package.new(path).contents
  end

  describe "the platform gem (rake native)" do
    before(:all) do
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      @build_output = rake("native", root)
      @build_seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    end

    it "is built into pkg/ for this platform and this Ruby's minor version" do
      expect(File.file?(native_gem)).to be(true), "no #{native_gem}; rake native said:\n#{@build_output}"
      spec = Gem::Package.new(native_gem).spec
      expect(spec.platform.to_s).to eq(platform)
      expect(spec.required_ruby_version).to eq(Gem::Requirement.new("~> #{ruby_minor}.0"))
      expect(spec.extensions).to be_empty
      expect(@build_seconds).to be < 40
    end

    it "ships the library, the Ruby files, README and LICENSE, and no Rust sources, Cargo files or extconf" do
      contents = gem_contents(native_gem)
      expect(contents).to include("lib/daemon_controller/#{ruby_minor}/#{library}", "lib/daemon_controller.rb",
                                  "lib/daemon_controller/version.rb", "README.md", "LICENSE")
      expect(contents.grep(rust_file)).to be_empty
      expect(contents.grep(%r{\Aext/|extconf})).to be_empty
      expect(Gem::Package.new(native_gem).spec.files.grep(rust_file)).to be_empty
    end

    it "installs without cargo and loads its own library, which starts, pings and stops a real daemon" do
      env = toolless_env
      expect(system(env, "sh", "-c", "command -v cargo || command -v rustc", out: File::NULL)).to be(false)

      gem_home = File.join(tmpdir, "gem_home")
      run!(*gem_command, "install", "--local", "--no-document", "--install-dir", gem_home, native_gem,
           env: env, chdir: tmpdir)
      gem_dir = File.join(gem_home, "gems", "daemon_controller-#{version}-#{platform}")
      expect(File.file?(File.join(gem_dir, "lib", "daemon_controller", ruby_minor, library))).to be(true)
      # Nothing was compiled at install time.
      expect(Dir.glob(File.join(gem_home, "extensions", "**", library))).to be_empty

      script = <<~RUBY
        require "daemon_controller"
        require "json"
        require "socket"

        port = Integer(ARGV[0])
        controller = DaemonController.new(
          identifier: "packaged test daemon", start_command: ARGV[3],
          ping_command: [:tcp, "127.0.0.1", port], pid_file: ARGV[1], log_file: ARGV[2],
          start_timeout: 15, stop_timeout: 15
        )
        report = { "gem_dir" => Gem.loaded_specs["daemon_controller"]&.full_gem_path,
                   "features" => $LOADED_FEATURES.grep(/daemon_controller/),
                   "running_before" => controller.running? }
        report["started"] = controller.start
        report["running"] = controller.running?
        report["pid"] = controller.pid
        report["echo"] = controller.connect do
          socket = TCPSocket.new("127.0.0.1", port)
          socket.puts("from the installed gem")
          line = socket.gets
          socket.close
          line
        end
        controller.stop
        report["running_after"] = controller.running?
        puts JSON.generate(report)
      RUBY
      run_env = env.merge("GEM_HOME" => gem_home, "GEM_PATH" => gem_home)
      output = run!(RbConfig.ruby, "-e", script, port.to_s, pid_file, log_file, daemon_command(*standard_flags),
                    env: run_env, chdir: tmpdir)
      report = JSON.parse(output.lines.last)

      expect(File.realpath(report["gem_dir"])).to eq(File.realpath(gem_dir))
      gem_lib = File.join(File.realpath(gem_dir), "lib")
      expect(report["features"].map { |feature| File.realpath(feature) })
        .to contain_exactly(File.join(gem_lib, "daemon_controller.rb"),
                            *%w[version errors results hooks lock_file options api].map do |name|
                              File.join(gem_lib, "daemon_controller", "#{name}.rb")
                            end,
                            File.join(gem_lib, "daemon_controller", ruby_minor, library))
      expect(report).to include("running_before" => false, "running" => true,
                                "echo" => "from the installed gem\n", "running_after" => false)
      expect(report["pid"]).to be_a(Integer)
      expect(process_alive?(report["pid"])).to be(false)
    end
  end

  describe "the source gem (rake gem)" do
    it "still ships the Rust sources, the Cargo files and the extconf, and no library" do
      rake("gem", root)
      contents = gem_contents(source_gem)
      expected_sources = Dir.chdir(root) { Dir["ext/**/*.rs"] }
      expect(expected_sources).not_to be_empty
      expect(contents).to include(*expected_sources)
      expect(contents).to include("Cargo.toml", "Cargo.lock", "ext/daemon_controller/Cargo.toml",
                                  "ext/engine/Cargo.toml", "ext/daemon_controller/extconf.rb")
      expect(contents.grep(/\.#{RbConfig::CONFIG['DLEXT']}\z/)).to be_empty
      spec = Gem::Package.new(source_gem).spec
      expect(spec.platform.to_s).to eq("ruby")
      expect(spec.extensions).to eq(["ext/daemon_controller/extconf.rb"])
    end
  end
end
