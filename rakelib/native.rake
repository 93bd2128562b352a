# frozen_string_literal: true

require "fileutils"
require "rbconfig"
require "rubygems/package"

# A precompiled gem for this platform and this Ruby's minor version: the
# library the extconf's Makefile builds (cargo, release mode), stripped, at
# lib/daemon_controller/<major.minor>/, beside the Ruby files. Its spec is the
# gemspec's, minus the Rust sources and the extension.
module NativeGem
  ROOT = File.expand_path("..", __dir__)
  STAGE = File.join(ROOT, "tmp", "native")
  BUILD_DIR = File.join(STAGE, "build")
  GEM_ROOT = File.join(STAGE, "gem")
  PKG_DIR = File.join(ROOT, "pkg")
  RUBY_MINOR = RUBY_VERSION[/\A\d+\.\d+/]
  LIBRARY = "daemon_controller.#{RbConfig::CONFIG["DLEXT"]}"
  LIBRARY_PATH = File.join("lib", "daemon_controller", RUBY_MINOR, LIBRARY)
  OPTIONAL_FILES = %w[CHANGELOG.md].freeze

  module_function

  def source_spec
    Dir.chdir(ROOT) { Gem::Specification.load(File.join(ROOT, "daemon_controller.gemspec")) }
  end

  # What the platform gem ships of the source gem's files.
  def shipped?(file)
    !file.start_with?("ext/") && !File.basename(file).start_with?("Cargo") && !file.end_with?(".rs")
  end

  def spec
    spec = source_spec.dup
    spec.platform = Gem::Platform.local
    spec.files = spec.files.select { |file| shipped?(file) } +
                 OPTIONAL_FILES.select { |file| File.file?(File.join(ROOT, file)) } +
                 [LIBRARY_PATH]
    spec.extensions = []
    spec.required_ruby_version = "~> #{RUBY_MINOR}.0"
    spec
  end

  def gem_path
    File.join(PKG_DIR, spec.file_name)
  end

  def size(path)
    "#{File.size(path)} bytes (#{(File.size(path) / 1024.0).round} KiB)"
  end
end

desc "Build a precompiled gem for #{Gem::Platform.local} and Ruby #{NativeGem::RUBY_MINOR} into pkg/"
task :native do
  mkdir_p NativeGem::STAGE
  # Concurrent builds would share the staging directories: one at a time.
  File.open(File.join(NativeGem::STAGE, ".lock"), File::RDWR | File::CREAT, 0o644) do |lock|
    lock.flock(File::LOCK_EX)

    # The extconf's own Makefile, as `rake compile` runs it, but in a build
    # directory of ours and without `make install`: the library in lib/ is
    # left alone.
    mkdir_p NativeGem::BUILD_DIR
    Dir.chdir(NativeGem::BUILD_DIR) do
      ruby File.join(NativeGem::ROOT, "ext/daemon_controller/extconf.rb")
      sh "make"
    end
    built = File.join(NativeGem::BUILD_DIR, NativeGem::LIBRARY)
    abort "make did not produce #{built}" unless File.file?(built)

    spec = NativeGem.spec
    rm_rf NativeGem::GEM_ROOT
    (spec.files - [NativeGem::LIBRARY_PATH]).each do |file|
      mkdir_p File.join(NativeGem::GEM_ROOT, File.dirname(file)), verbose: false
      cp File.join(NativeGem::ROOT, file), File.join(NativeGem::GEM_ROOT, file), verbose: false
    end
    library = File.join(NativeGem::GEM_ROOT, NativeGem::LIBRARY_PATH)
    mkdir_p File.dirname(library)
    unless system("strip", "--strip-unneeded", "-o", library, built)
      warn "strip failed or is missing: shipping the library unstripped"
      cp built, library
    end

    file_name = Dir.chdir(NativeGem::GEM_ROOT) { Gem::Package.build(spec) }
    mkdir_p NativeGem::PKG_DIR
    mv File.join(NativeGem::GEM_ROOT, file_name), NativeGem::PKG_DIR
    puts "library:  #{NativeGem.size(built)}, stripped #{NativeGem.size(library)}"
    puts "gem:      pkg/#{file_name}, #{NativeGem.size(File.join(NativeGem::PKG_DIR, file_name))}"
  end
end
