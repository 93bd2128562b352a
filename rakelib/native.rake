# frozen_string_literal: true

require "fileutils"
require "rubygems/package"
require_relative "native_gem"

namespace :native do
  all_platforms = NativeGem::PLATFORMS.merge(NativeGem::MUSL.name => NativeGem::MUSL)

  desc "Install cargo-zigbuild and Zig (from PyPI) into tmp/tools/, unless they are there"
  task :tools do
    next if File.executable?(File.join(NativeGem::ZIGBUILD, "bin", "cargo-zigbuild"))

    sh "python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location",
       "--target", NativeGem::ZIGBUILD, *NativeGem::ZIGBUILD_PACKAGES
  end

  desc "Add the Rust standard library of every platform gem's target (rustup), unless it is there"
  task :rust_targets do
    installed = `rustup target list --installed`.split
    missing = all_platforms.each_value.map(&:rust_target) - installed
    sh "rustup", "target", "add", *missing unless missing.empty?
  end

  desc "Extract Debian 12's arm64 Ruby 3.1 into tmp/cross/ (debootstrap --foreign: nothing is installed or run)"
  task :arm64_root do
    root = NativeGem::ARM64_ROOT
    unless File.exist?(File.join(root, ".extracted"))
      rm_rf root
      mkdir_p File.dirname(root)
      log = "#{root}.debootstrap.log"
      # The first stage only downloads and unpacks the base system, and
      # downloads the packages named by --include; those are unpacked here.
      ok = system("debootstrap", "--foreign", "--arch=arm64", "--variant=minbase",
                  "--include=#{NativeGem::ARM64_PACKAGES.join(",")}", "bookworm", root,
                  ENV.fetch("DEBIAN_MIRROR", "http://deb.debian.org/debian"), out: log, err: log)
      abort "debootstrap of the arm64 files failed; see #{log}" unless ok
      Dir[File.join(root, "var/cache/apt/archives/*.deb")].each { |deb| sh "dpkg-deb", "-x", deb, root, verbose: false }
      touch File.join(root, ".extracted")
    end

    rbconfig = Dir[File.join(root, "usr/lib/aarch64-linux-gnu/ruby/*/rbconfig.rb")].first
    abort "no arm64 rbconfig.rb under #{root}" unless rbconfig
    # A directory holding only a rbconfig.rb that loads the arm64 one (whose
    # paths follow from where it lies), put in front of the load path.
    shim = File.join(File.dirname(NativeGem::ARM64_RUBY), "arm64-rbconfig")
    mkdir_p shim
    File.write(File.join(shim, "rbconfig.rb"), "load #{rbconfig.dump}\n")
    File.write(NativeGem::ARM64_RUBY, "#!/bin/sh\nexec #{RbConfig.ruby} -I#{shim} \"$@\"\n")
    chmod 0o755, NativeGem::ARM64_RUBY
  end

  desc "Build the library for PLATFORM and this Ruby (glibc: against #{NativeGem::GLIBC_BASELINE}) into tmp/native/"
  task :library, [:platform] => %i[tools rust_targets] do |_task, args|
    platform = all_platforms.fetch(args.fetch(:platform))
    minor = NativeGem.ruby_minor
    Rake::Task["native:arm64_root"].invoke if platform.build_ruby == NativeGem::ARM64_RUBY
    sh NativeGem.cross_env(platform, platform.cargo_target_dir(minor)), *NativeGem.zigbuild_command(platform)
    library = platform.library(minor)
    mkdir_p File.dirname(library)
    # Zig links release libraries stripped already: shipped as they are.
    cp platform.cargo_output(minor), library
    problems = NativeGem.load_problems(platform, library)
    abort "#{library} would not load on #{platform.built_for}:\n  #{problems.join("\n  ")}" if problems.any?
    puts "#{platform.name}, Ruby #{minor}: #{NativeGem.size(library)}, fits #{platform.built_for}"
  end

  all_platforms.each_value do |platform|
    desc "Build the #{platform.name} gem, with the library for Ruby #{platform.rubies.keys.join(" and ")}, into pkg/"
    task platform.name => :tools do
      mkdir_p NativeGem::STAGE
      # Concurrent builds would share the staging directories: one at a time.
      File.open(File.join(NativeGem::STAGE, ".lock"), File::RDWR | File::CREAT, 0o644) do |lock|
        lock.flock(File::LOCK_EX)
        platform.rubies.each do |minor, prefix|
          rake = prefix.empty? ? [RbConfig.ruby, "-S", "rake"] : [*prefix, "rake"]
          sh(*rake, "native:library[#{platform.name}]")
          abort "no library for Ruby #{minor} in #{platform.library(minor)}" unless File.file?(platform.library(minor))
        end
        NativeGem.package(platform)
      end
    end
  end
end

desc "Build the precompiled gems (#{NativeGem::PLATFORMS.keys.join(", ")}) into pkg/"
task native: NativeGem::PLATFORMS.keys.map { |name| "native:#{name}" }
