# frozen_string_literal: true

require "fileutils"
require "rubygems/package"
require_relative "native_gem"

namespace :native do
  desc "Install cargo-zigbuild and Zig (from PyPI) into tmp/tools/, unless they are there"
  task :tools do
    next if File.executable?(File.join(NativeGem::ZIGBUILD, "bin", "cargo-zigbuild"))

    sh "python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location",
       "--target", NativeGem::ZIGBUILD, *NativeGem::ZIGBUILD_PACKAGES
  end

  desc "Build the library for this Ruby against glibc #{NativeGem::GLIBC_BASELINE} into tmp/native/<ruby minor>/"
  task library: :tools do
    minor = NativeGem.ruby_minor
    sh NativeGem.zigbuild_env, *NativeGem.zigbuild_command
    library = NativeGem.library(minor)
    mkdir_p File.dirname(library)
    sh "strip", "--strip-unneeded", "-o", library, NativeGem.cargo_output(minor)
    problems = NativeGem.glibc_problems(library)
    if problems.any?
      abort "#{library} would not load with glibc #{NativeGem::GLIBC_BASELINE}:\n  #{problems.join("\n  ")}"
    end
    puts "Ruby #{minor}: #{NativeGem.size(library)}, no symbol newer than glibc #{NativeGem::GLIBC_BASELINE}"
  end
end

desc "Build one precompiled #{NativeGem::PLATFORM} gem holding the library for Ruby " \
     "#{NativeGem::RUBIES.keys.join(" and ")} (linked for glibc #{NativeGem::GLIBC_BASELINE}) into pkg/"
task native: "native:tools" do
  mkdir_p NativeGem::STAGE
  # Concurrent builds would share the staging directories: one at a time.
  File.open(File.join(NativeGem::STAGE, ".lock"), File::RDWR | File::CREAT, 0o644) do |lock|
    lock.flock(File::LOCK_EX)

    NativeGem::RUBIES.each do |minor, prefix|
      rake = prefix.empty? ? [RbConfig.ruby, "-S", "rake"] : [*prefix, "rake"]
      sh(*rake, "native:library")
      abort "no library for Ruby #{minor} in #{NativeGem.library(minor)}" unless File.file?(NativeGem.library(minor))
    end

    gem_root = File.join(NativeGem::STAGE, "gem")
    rm_rf gem_root
    spec = Dir.chdir(NativeGem::ROOT) { Gem::Specification.load("daemon_controller.gemspec") }
    sources = spec.files.reject do |file|
      file.start_with?("ext/") || File.basename(file).start_with?("Cargo") || file.end_with?(".rs")
    end
    sources += NativeGem::OPTIONAL_FILES.select { |file| File.file?(File.join(NativeGem::ROOT, file)) }
    sources.each do |file|
      mkdir_p File.join(gem_root, File.dirname(file)), verbose: false
      cp File.join(NativeGem::ROOT, file), File.join(gem_root, file), verbose: false
    end
    libraries = NativeGem::RUBIES.keys.map do |minor|
      mkdir_p File.join(gem_root, File.dirname(NativeGem.library_in_gem(minor)))
      cp NativeGem.library(minor), File.join(gem_root, NativeGem.library_in_gem(minor))
      NativeGem.library_in_gem(minor)
    end
    File.write(File.join(gem_root, NativeGem::BUILT_FOR), "#{NativeGem.built_for}\n")

    spec.platform = Gem::Platform.new(NativeGem::PLATFORM)
    spec.files = sources + libraries + [NativeGem::BUILT_FOR]
    spec.extensions = []
    spec.required_ruby_version = [">= #{NativeGem::RUBIES.keys.min}", "< #{NativeGem.next_ruby_minor}.dev"]
    file_name = Dir.chdir(gem_root) { Gem::Package.build(spec) }
    mkdir_p NativeGem::PKG_DIR
    mv File.join(gem_root, file_name), NativeGem::PKG_DIR
    puts "gem: pkg/#{file_name}, #{NativeGem.size(File.join(NativeGem::PKG_DIR, file_name))}, " \
         "for Ruby #{NativeGem::RUBIES.keys.join(", ")} on #{NativeGem.built_for}"
  end
end
