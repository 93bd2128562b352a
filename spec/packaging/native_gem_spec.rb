# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../../rakelib/native_gem"
require "fileutils"
require "json"
require "open3"
require "rubygems/package"
require "tmpdir"

# Builds the precompiled platform gem (`rake native`: one x86_64-linux gem
# with the library for Ruby 3.1 and 3.3, linked for an old glibc) and the
# source gem (`rake gem`), then proves that the platform gem installs and
# works where no Rust toolchain is reachable, in each Ruby available here:
# the host's, and Ruby 3.3 in the Debian 13 root of bin/ruby3.3. Run alone
# with:
#
#   rspec --tag packaging spec/packaging
RSpec.describe "Packaging", packaging: true do
  root = NativeGem::ROOT
  version = DaemonController::VERSION_STRING
  platform = NativeGem::PLATFORM
  native_gem = File.join(root, "pkg", "daemon_controller-#{version}-#{platform}.gem")
  source_gem = File.join(root, "pkg", "daemon_controller-#{version}.gem")
  rubies = NativeGem::RUBIES.keys
  rust_file = %r{\.rs\z|(\A|/)Cargo\.(toml|lock)\z}

  # Runs a command, failing the example with its output unless it succeeds.
  def run!(*command, env: {}, chdir: NativeGem::ROOT)
    output, status = Open3.capture2e(env, *command, chdir: chdir)
    raise "`#{command.join(" ")}` failed (#{status}):\n#{output}" unless status.success?

    output
  end

  def rake(task)
    run!(RbConfig.ruby, "-S", "rake", task)
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

  # A directory under the project's tmp/, which the Debian root sees too.
  def work_dir
    @work_dir ||= Dir.mktmpdir("packaging-", File.join(NativeGem::ROOT, "tmp"))
  end

  after { FileUtils.rm_rf(@work_dir) if @work_dir }

  # The command, run with the given Ruby minor version and no Rust toolchain:
  # the host's Ruby, or another in its Debian root (bin/ruby3.3 --no-rust
  # mounts no toolchain, and the root has none). Paths are relative to the
  # checkout, which is the working directory on both sides.
  def toolless(minor, script, *args)
    prefix = NativeGem::RUBIES.fetch(minor)
    if prefix.empty?
      run!("sh", "-ec", script, "sh", *args, env: toolless_env)
    else
      run!(*prefix, "--no-rust", "sh", "-ec", script, "sh", *args)
    end
  end

  # Installs the platform gem into a fresh GEM_HOME with that Ruby, without
  # cargo (checked), and returns the GEM_HOME relative to the checkout.
  def install_platform_gem(minor, gem_path)
    gem_home = File.join(work_dir, "gems-#{minor}").delete_prefix("#{NativeGem::ROOT}/")
    toolless(minor, <<~SH, gem_home, gem_path.delete_prefix("#{NativeGem::ROOT}/"))
      if command -v cargo || command -v rustc; then echo "a Rust toolchain is reachable" >&2; exit 1; fi
      gem install --local --no-document --install-dir "$1" "$2"
    SH
    gem_home
  end

  # What `rake compile` built, linked against this machine's glibc.
  def compiled_library
    File.join(NativeGem::ROOT, "lib", "daemon_controller", NativeGem.ruby_minor, NativeGem::LIBRARY)
  end

  describe "the platform gem (rake native)" do
    before(:all) do
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      @build_output = rake("native")
      @build_seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    end

    it "is one #{platform} gem for Ruby #{rubies.join(" and ")}, with no extension to build" do
      expect(File.file?(native_gem)).to be(true), "no #{native_gem}; rake native said:\n#{@build_output}"
      puts "\n    rake native: #{@build_seconds.round(1)} s"
      spec = Gem::Package.new(native_gem).spec
      expect(spec.platform.to_s).to eq(platform)
      expect(spec.required_ruby_version).to eq(Gem::Requirement.new(">= 3.1", "< 3.4.dev"))
      expect(spec.extensions).to be_empty
    end

    it "ships a library per Ruby, what it was built for, the Ruby files, README and LICENSE, and no Rust sources" do
      contents = Gem::Package.new(native_gem).contents
      expect(contents).to include(*rubies.map { |minor| NativeGem.library_in_gem(minor) })
      expect(contents).to include(NativeGem::BUILT_FOR, "lib/daemon_controller.rb", "lib/daemon_controller/version.rb",
                                  "README.md", "LICENSE")
      expect(contents.grep(rust_file)).to be_empty
      expect(contents.grep(%r{\Aext/|extconf})).to be_empty
      expect(Gem::Package.new(native_gem).spec.files.grep(rust_file)).to be_empty
    end

    it "links every library for glibc #{NativeGem::GLIBC_BASELINE}: no newer symbol version, no unversioned C call" do
      Gem::Package.new(native_gem).extract_files(work_dir)
      rubies.each do |minor|
        library = File.join(work_dir, NativeGem.library_in_gem(minor))
        expect(NativeGem.glibc_problems(library)).to eq([]), "Ruby #{minor}'s library"
      end
      expect(File.read(File.join(work_dir, NativeGem::BUILT_FOR)))
        .to eq("#{platform} with glibc #{NativeGem::GLIBC_BASELINE} or later\n")
    end

    it "would notice a library that needs a newer glibc (the one `rake compile` links against the build machine's)" do
      expect(NativeGem.glibc_problems(compiled_library, baseline: "2.17")).to include(/newer than glibc 2\.17/)
    end

    it "loads its libraries' glibc symbol versions with Debian 11's glibc 2.31, which rejects `rake compile`'s" do
      Gem::Package.new(native_gem).extract_files(work_dir)
      shipped = rubies.map { |minor| File.join(work_dir, NativeGem.library_in_gem(minor)) }
      # ldd runs Debian 11's dynamic loader over each library, which names
      # every symbol version its glibc lacks. (Debian 11's Ruby is 2.7, too
      # old for the gem, so loading stops at the C library.)
      report = lambda do |library|
        output, = Open3.capture2e(File.join(NativeGem::ROOT, "bin", "debian-root"), "--no-rust",
                                  "bullseye-glibc", "bullseye", "libc-bin", "--",
                                  "ldd", library.delete_prefix("#{NativeGem::ROOT}/"), chdir: NativeGem::ROOT)
        output
      end
      shipped.each do |library|
        output = report.call(library)
        expect(output).to match(%r{libc\.so\.6 => /lib/x86_64-linux-gnu/libc\.so\.6})
        expect(output).not_to include("not found")
      end
      expect(report.call(compiled_library)).to match(/version `GLIBC_2\.3[2-9]' not found/)
    end

    rubies.each do |minor|
      it "installs without cargo into Ruby #{minor} and loads its library, which starts, pings and stops a daemon" do
        gem_home = install_platform_gem(minor, native_gem)
        output = toolless(minor, 'GEM_HOME="$1" GEM_PATH="$1" ruby spec/packaging/smoke.rb "$2"',
                          gem_home, work_dir.delete_prefix("#{NativeGem::ROOT}/"))
        report = JSON.parse(output.lines.last)

        expect(report["ruby"]).to start_with("#{minor}.")
        expect(report["gem_dir"]).to end_with("#{gem_home}/gems/daemon_controller-#{version}-#{platform}")
        expect(report["native"]).to eq([NativeGem.library_in_gem(minor)])
        expect(report).to include("running_before" => false, "started" => true, "running" => true,
                                  "echo" => "from the installed gem\n", "running_after" => false)
        expect(report["pid"]).to be_a(Integer)
        expect(process_alive?(report["pid"])).to be(false)
      end
    end

    it "raises a LoadError naming the Rubies and platform it holds, and the source gem, in a Ruby it lacks" do
      gem_home = install_platform_gem(NativeGem.ruby_minor, native_gem)
      gem_dir = File.join(NativeGem::ROOT, gem_home, "gems", "daemon_controller-#{version}-#{platform}")
      # This Ruby's library taken away: the gem is now one built for other Rubies only.
      FileUtils.rm_r(File.join(gem_dir, "lib", "daemon_controller", NativeGem.ruby_minor))
      others = rubies - [NativeGem.ruby_minor]

      output, status = Open3.capture2e(toolless_env.merge("GEM_HOME" => gem_home, "GEM_PATH" => gem_home),
                                       RbConfig.ruby, "-e", 'require "daemon_controller"', chdir: NativeGem::ROOT)
      expect(status.success?).to be(false)
      expect(output).to include("LoadError")
      expect(output).to include("precompiled for Ruby #{others.join(", ")} on #{NativeGem.built_for}")
      expect(output).to include("cannot load in Ruby #{RUBY_VERSION}")
      expect(output).to include("gem install daemon_controller --platform ruby")
      expect(output).not_to include("rake compile")
    end
  end

  describe "the source gem (rake gem)" do
    it "still ships the Rust sources, the Cargo files and the extconf, and no library" do
      rake("gem")
      contents = Gem::Package.new(source_gem).contents
      expected_sources = Dir.chdir(root) { Dir["ext/**/*.rs"] }
      expect(expected_sources).not_to be_empty
      expect(contents).to include(*expected_sources)
      expect(contents).to include("Cargo.toml", "Cargo.lock", "ext/daemon_controller/Cargo.toml",
                                  "ext/engine/Cargo.toml", "ext/daemon_controller/extconf.rb")
      expect(contents.grep(/\.#{RbConfig::CONFIG['DLEXT']}\z/)).to be_empty
      spec = Gem::Package.new(source_gem).spec
      expect(spec.platform.to_s).to eq("ruby")
      expect(spec.extensions).to eq(["ext/daemon_controller/extconf.rb"])
      expect(spec.required_ruby_version).to eq(Gem::Requirement.new(">= #{DaemonController::MINIMUM_RUBY_VERSION}"))
    end
  end
end
