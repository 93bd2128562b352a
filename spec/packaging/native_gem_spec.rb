# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../../rakelib/native_gem"
require "daemon_controller/version"
require "fileutils"
require "json"
require "open3"
require "rubygems/package"
require "tmpdir"

# Builds the precompiled platform gems (`rake native`: one x86_64-linux gem
# with the library for Ruby 3.1 and 3.3, one aarch64-linux gem for Ruby
# 3.1, all linked for an old glibc) and the source gem (`rake gem`), then
# proves that each platform gem installs and works where no Rust toolchain
# is reachable, in each Ruby available here: the host's, Ruby 3.3 in the
# Debian 13 root of bin/ruby3.3, and Debian's arm64 Ruby 3.1 under
# qemu-user. Run alone with:
#
#   rspec --tag packaging spec/packaging
RSpec.describe "Packaging", packaging: true do
  version = DaemonController::VERSION_STRING
  source_gem = File.join(NativeGem::PKG_DIR, "daemon_controller-#{version}.gem")
  rust_file = %r{\.rs\z|(\A|/)Cargo\.(toml|lock)\z}
  host = NativeGem::PLATFORMS.fetch("x86_64-linux")

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

  # A directory under the project's tmp/, which the Debian root sees too
  # (paths are given relative to the checkout, the working directory of
  # every command here).
  def work_dir
    @work_dir ||= Dir.mktmpdir("packaging-", File.join(NativeGem::ROOT, "tmp")).delete_prefix("#{NativeGem::ROOT}/")
  end

  after { FileUtils.rm_rf(File.join(NativeGem::ROOT, @work_dir)) if @work_dir }

  def relative(path)
    path.delete_prefix("#{NativeGem::ROOT}/")
  end

  # How to run a Ruby of a platform gem with GEM_HOME and no Rust toolchain,
  # as [environment, command]: the host's Ruby with cargo off PATH; Ruby
  # 3.3 in its Debian root (bin/ruby3.3 --no-rust mounts no toolchain, and
  # the root has none); arm64 Ruby under qemu-user, its files found through
  # QEMU_LD_PREFIX (the programs it starts are the host's).
  def ruby_command(platform, minor, gem_home)
    gems = { "GEM_HOME" => gem_home, "GEM_PATH" => gem_home }
    if platform.build_ruby == NativeGem::ARM64_RUBY
      [toolless_env.merge(gems, "QEMU_LD_PREFIX" => NativeGem::ARM64_ROOT),
       ["qemu-aarch64", NativeGem::ARM64_RUBY_BINARY]]
    elsif platform.rubies.fetch(minor).empty?
      [toolless_env.merge(gems), [RbConfig.ruby]]
    else
      [{}, [*platform.rubies.fetch(minor), "--no-rust", "env", *gems.map { |pair| pair.join("=") }, "ruby"]]
    end
  end

  # Installs a platform gem into a fresh GEM_HOME with that Ruby, with no
  # cargo reachable (checked); returns the GEM_HOME.
  def install_platform_gem(platform, minor)
    gem_home = File.join(work_dir, "gems-#{platform.name}-#{minor}")
    env, ruby = ruby_command(platform, minor, gem_home)
    run!(*ruby, "-e", 'abort "cargo is reachable" if ENV["PATH"].split(":").any? { |dir| File.exist?(dir + "/cargo") }',
         env: env)
    run!(*ruby, "-S", "gem", "install", "--local", "--no-document", "--install-dir", gem_home,
         relative(platform.gem_path(DaemonController::VERSION_STRING)), env: env)
    gem_home
  end

  # What `rake compile` built, linked against this machine's glibc.
  def compiled_library
    File.join(NativeGem::ROOT, "lib", "daemon_controller", NativeGem.ruby_minor, NativeGem::LIBRARY)
  end

  describe "the platform gems (rake native)" do
    before(:all) do
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      @build_output = rake("native")
      puts "\n    rake native: #{(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).round(1)} s"
    end

    NativeGem::PLATFORMS.each_value do |platform|
      rubies = platform.rubies.keys
      gem_path = platform.gem_path(version)

      describe "for #{platform.name}" do
        it "is one gem for Ruby #{rubies.join(" and ")}, with no extension to build" do
          expect(File.file?(gem_path)).to be(true), "no #{gem_path}; rake native said:\n#{@build_output}"
          spec = Gem::Package.new(gem_path).spec
          expect(spec.platform.to_s).to eq(platform.name)
          expect(spec.required_ruby_version)
            .to eq(Gem::Requirement.new(">= #{rubies.min}", "< #{platform.next_ruby_minor}.dev"))
          expect(spec.extensions).to be_empty
        end

        it "ships a library per Ruby, what it was built for, the Ruby files, README and LICENSE, and no Rust sources" do
          contents = Gem::Package.new(gem_path).contents
          expect(contents).to include(*rubies.map { |minor| NativeGem.library_in_gem(minor) })
          expect(contents).to include(NativeGem::BUILT_FOR, "lib/daemon_controller.rb",
                                      "lib/daemon_controller/version.rb", "README.md", "LICENSE")
          expect(contents.grep(rust_file)).to be_empty
          expect(contents.grep(%r{\Aext/|extconf})).to be_empty
          expect(Gem::Package.new(gem_path).spec.files.grep(rust_file)).to be_empty
        end

        it "links each library for glibc #{NativeGem::GLIBC_BASELINE}: no newer symbol version or unversioned C call" do
          Gem::Package.new(gem_path).extract_files(work_dir)
          rubies.each do |minor|
            library = File.join(work_dir, NativeGem.library_in_gem(minor))
            expect(NativeGem.glibc_problems(library, libc: platform.libc)).to eq([]), "Ruby #{minor}'s library"
          end
          expect(File.read(File.join(work_dir, NativeGem::BUILT_FOR)))
            .to eq("#{platform.name} with glibc #{NativeGem::GLIBC_BASELINE} or later\n")
        end

        rubies.each do |minor|
          it "installs without cargo into Ruby #{minor}, whose library starts, pings and stops a daemon" do
            gem_home = install_platform_gem(platform, minor)
            env, ruby = ruby_command(platform, minor, gem_home)
            report = JSON.parse(run!(*ruby, "spec/packaging/smoke.rb", work_dir, env: env).lines.last)

            expect(report["ruby"]).to start_with("#{minor}.")
            expect(report["gem_dir"]).to end_with("#{gem_home}/gems/daemon_controller-#{version}-#{platform.name}")
            expect(report["native"]).to eq([NativeGem.library_in_gem(minor)])
            expect(report).to include("running_before" => nil, "started" => true, "running" => true,
                                      "echo" => "from the installed gem\n", "running_after" => nil)
            expect(report["pid"]).to be_a(Integer)
            expect(process_alive?(report["pid"])).to be(false)
          end
        end
      end
    end

    it "would notice a library that needs a newer glibc (the one `rake compile` links against the build machine's)" do
      expect(NativeGem.glibc_problems(compiled_library, libc: host.libc, baseline: "2.17"))
        .to include(/newer than glibc 2\.17/)
    end

    it "satisfies Debian 11's glibc 2.31 with the #{host.name} libraries, which rejects `rake compile`'s" do
      Gem::Package.new(host.gem_path(version)).extract_files(work_dir)
      # ldd runs Debian 11's dynamic loader over each library, which names
      # every symbol version its glibc lacks. (Debian 11's Ruby is 2.7, too
      # old for the gem, so loading stops at the C library.)
      report = lambda do |library|
        output, = Open3.capture2e(File.join(NativeGem::ROOT, "bin", "debian-root"), "--no-rust",
                                  "bullseye-glibc", "bullseye", "libc-bin", "--", "ldd", library,
                                  chdir: NativeGem::ROOT)
        output
      end
      host.rubies.each_key do |minor|
        output = report.call(File.join(work_dir, NativeGem.library_in_gem(minor)))
        expect(output).to match(%r{libc\.so\.6 => /lib/x86_64-linux-gnu/libc\.so\.6})
        expect(output).not_to include("not found")
      end
      expect(report.call(relative(compiled_library))).to match(/version `GLIBC_2\.3[2-9]' not found/)
    end

    it "raises a LoadError naming the Rubies and platform it holds, and the source gem, in a Ruby it lacks" do
      gem_home = install_platform_gem(host, NativeGem.ruby_minor)
      gem_dir = File.join(gem_home, "gems", "daemon_controller-#{version}-#{host.name}")
      # This Ruby's library taken away: the gem is now one built for other Rubies only.
      FileUtils.rm_r(File.join(NativeGem::ROOT, gem_dir, "lib", "daemon_controller", NativeGem.ruby_minor))
      others = host.rubies.keys - [NativeGem.ruby_minor]

      env, ruby = ruby_command(host, NativeGem.ruby_minor, gem_home)
      output, status = Open3.capture2e(env, *ruby, "-e", 'require "daemon_controller"', chdir: NativeGem::ROOT)
      expect(status.success?).to be(false)
      expect(output).to include("LoadError")
      expect(output).to include("precompiled for Ruby #{others.join(", ")} on #{host.built_for}")
      expect(output).to include("cannot load in Ruby #{RUBY_VERSION}")
      expect(output).to include("gem install daemon_controller --platform ruby")
      expect(output).not_to include("rake compile")
    end
  end

  describe "the musl gem (rake native:x86_64-linux-musl), built but never loaded: no musl Ruby here" do
    musl = NativeGem::MUSL

    it "holds a library that links the C library dynamically and needs nothing from glibc" do
      rake("native:#{musl.name}")
      Gem::Package.new(musl.gem_path(version)).extract_files(work_dir)
      library = File.join(work_dir, NativeGem.library_in_gem("3.1"))
      expect(NativeGem.load_problems(musl, library)).to eq([])
      expect(File.read(File.join(work_dir, NativeGem::BUILT_FOR))).to eq("x86_64-linux-musl (musl)\n")
    end

    it "would notice a library linked for glibc" do
      expect(NativeGem.load_problems(musl, compiled_library))
        .to include("needs glibc's libc.so.6", "links no C library dynamically")
    end
  end

  describe "the source gem (rake gem)" do
    it "still ships the Rust sources, the Cargo files and the extconf, and no library" do
      rake("gem")
      contents = Gem::Package.new(source_gem).contents
      expected_sources = Dir.chdir(NativeGem::ROOT) { Dir["ext/**/*.rs"] }
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

    # gem install, as a user runs it: from the packed gem, into a GEM_HOME.
    def install_gem(gem, gem_home, env)
      Open3.capture2e(env, RbConfig.ruby, "-S", "gem", "install", "--local", "--no-document",
                      "--install-dir", gem_home, relative(gem), chdir: NativeGem::ROOT)
    end

    it "stops early without cargo, saying what is needed and that a platform gem exists" do
      rake("gem")
      output, status = install_gem(source_gem, File.join(work_dir, "gems-no-rust"), toolless_env)
      expect(status.success?).to be(false)
      expect(output).to include("building the native extension needs Rust", "Rust 1.89 or newer through rustup",
                                "libclang", "precompiled platform gem")
      expect(output).not_to include("cargo: not found")
    end

    it "builds in a temporary directory, leaving no Cargo target/ in the installed gem, which loads" do
      rake("gem")
      scratch_dirs = -> { Dir[File.join(Dir.tmpdir, "daemon_controller-cargo-*")] }
      before = scratch_dirs.call
      gem_home = File.join(work_dir, "gems-source")
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      output, status = install_gem(source_gem, gem_home, "CARGO_TARGET_DIR" => nil)
      puts "\n    gem install (source gem): #{(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).round(1)} s"
      expect(status.success?).to be(true), output
      installed = File.join(NativeGem::ROOT, gem_home)
      expect(Dir[File.join(installed, "**", "target")]).to be_empty
      expect(scratch_dirs.call - before).to be_empty
      gems = { "GEM_HOME" => gem_home, "GEM_PATH" => gem_home, "RUBYLIB" => nil, "RUBYOPT" => nil }
      loaded = run!(RbConfig.ruby, "-e", 'require "daemon_controller"; print DaemonController.can_ping_unix_sockets?',
                    env: gems)
      expect(loaded).to eq("true")
    end
  end
end
