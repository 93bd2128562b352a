# frozen_string_literal: true

require "open3"
require "rbconfig"
require "rubygems"

# What `rake native` builds and checks (rakelib/native.rake uses it, and so
# does spec/packaging): one precompiled gem per platform that holds the
# extension for several Ruby minor versions, linked against an old glibc so
# that it loads on the Linux machines people deploy to.
module NativeGem
  ROOT = File.expand_path("..", __dir__)
  STAGE = File.join(ROOT, "tmp", "native")
  PKG_DIR = File.join(ROOT, "pkg")
  LIBRARY = "daemon_controller.#{RbConfig::CONFIG["DLEXT"]}"
  # The Ruby minor versions the gem holds a library for, each with the
  # command prefix that runs a program with that Ruby: the host's own, and
  # Ruby 3.3 in the Debian 13 root of bin/ruby3.3.
  RUBIES = { "3.1" => [], "3.3" => [File.join(ROOT, "bin", "ruby3.3")] }.freeze
  PLATFORM = "x86_64-linux"
  RUST_TARGET = "x86_64-unknown-linux-gnu"
  # The oldest glibc the gem loads with: 2.28 is Debian 10, Ubuntu 18.10 and
  # RHEL 8. (The engine calls getrandom(3), which glibc 2.25 introduced, so
  # no baseline older than that can hold.)
  GLIBC_BASELINE = "2.28"
  # Where the gem says what it was built for; the LoadError for a Ruby or C
  # library it does not fit quotes it.
  BUILT_FOR = "lib/daemon_controller/built-for.txt"
  # cargo-zigbuild links against the baseline's glibc with Zig, both from
  # PyPI, installed here rather than system-wide.
  TOOLS = File.join(ROOT, "tmp", "tools")
  ZIGBUILD = File.join(TOOLS, "zigbuild")
  ZIGBUILD_PACKAGES = %w[ziglang==0.15.2 cargo-zigbuild==0.24.1].freeze
  OPTIONAL_FILES = %w[CHANGELOG.md].freeze

  module_function

  def ruby_minor
    RUBY_VERSION[/\A\d+\.\d+/]
  end

  # The stripped library for a Ruby minor version, as the gem ships it.
  def library(minor)
    File.join(STAGE, minor, LIBRARY)
  end

  def library_in_gem(minor)
    File.join("lib", "daemon_controller", minor, LIBRARY)
  end

  def cargo_target_dir(minor)
    File.join(STAGE, "target-#{minor}")
  end

  def built_for
    "#{PLATFORM} with glibc #{GLIBC_BASELINE} or later"
  end

  # What the next minor version after the newest Ruby is: the gem's upper
  # bound, so that RubyGems installs the source gem there instead.
  def next_ruby_minor
    major, minor = RUBIES.keys.max_by { |version| Gem::Version.new(version) }.split(".").map(&:to_i)
    "#{major}.#{minor + 1}"
  end

  # The environment of `cargo zigbuild`: the tools on PATH, their caches in
  # tmp/tools, and the C headers for rb-sys' bindgen (cargo-zigbuild points
  # bindgen at Zig's own headers, which lack clang's and Ruby's includes).
  def zigbuild_env
    clang_includes = Dir["/usr/lib/llvm-*/lib/clang/*/include"].max_by do |dir|
      dir[%r{llvm-(\d+)/}, 1].to_i
    end
    includes = [clang_includes, "/usr/include", "/usr/include/#{RUST_TARGET.sub("-unknown", "")}"].compact
    {
      "PATH" => [File.join(ZIGBUILD, "ziglang"), File.join(ZIGBUILD, "bin"), ENV.fetch("PATH", "")].join(":"),
      "XDG_CACHE_HOME" => File.join(TOOLS, "cache"),
      "RUBY" => RbConfig.ruby,
      "CARGO_TARGET_DIR" => cargo_target_dir(ruby_minor),
      "BINDGEN_EXTRA_CLANG_ARGS_#{RUST_TARGET}" => includes.map { |dir| "-I#{dir}" }.join(" ")
    }
  end

  def zigbuild_command
    ["cargo", "zigbuild", "--release", "--locked", "-p", "daemon_controller",
     "--target", "#{RUST_TARGET}.#{GLIBC_BASELINE}"]
  end

  def cargo_output(minor)
    File.join(cargo_target_dir(minor), RUST_TARGET, "release", "libdaemon_controller.#{RbConfig::CONFIG["SOEXT"]}")
  end

  # One entry of `objdump -T`: the symbol's name, whether the library
  # imports it, whether the reference is weak (null where nothing defines
  # it), and its version (nil when it has none).
  Symbol = Struct.new(:name, :imported, :weak, :version)

  def dynamic_symbols(path)
    output, status = Open3.capture2e("objdump", "-T", path)
    raise "objdump -T #{path} failed: #{output}" unless status.success?

    output.lines.filter_map do |line|
      # address, flags, section, size or alignment, then an optional version
      # ("GLIBC_2.2.5", "(GLIBC_2.2.5)" for a hidden one, or "Base"), then the name.
      fields = line.split
      section_at = fields.index { |field| field == "*UND*" || field.start_with?(".") }
      next unless section_at && fields.length >= section_at + 3

      version = fields[-2][/\A\(?(GLIBC_[\d.]+)\)?\z/, 1]
      Symbol.new(fields.last, fields[section_at] == "*UND*", fields[1...section_at].include?("w"), version)
    end
  end

  # Why a library would not load with glibc `baseline`: symbol versions
  # newer than it, and functions of the C library imported without any
  # version and not weakly (those resolve only on a glibc that has them, at
  # their first call). `libc` is the build machine's C library, which names
  # them.
  def glibc_problems(path, baseline: GLIBC_BASELINE, libc: "/lib/#{RUST_TARGET.sub("-unknown", "")}/libc.so.6")
    symbols = dynamic_symbols(path)
    newest = Gem::Version.new(baseline)
    newer = symbols.select { |symbol| symbol.version && Gem::Version.new(symbol.version[/[\d.]+/]) > newest }
    libc_functions = dynamic_symbols(libc).reject(&:imported).map(&:name)
    unversioned = symbols.select do |symbol|
      symbol.imported && !symbol.weak && !symbol.version && libc_functions.include?(symbol.name)
    end
    newer.map { |symbol| "#{symbol.name} needs #{symbol.version}, newer than glibc #{baseline}" } +
      unversioned.map { |symbol| "#{symbol.name} is imported from the C library without a version" }
  end

  def size(path)
    "#{File.size(path)} bytes (#{(File.size(path) / 1024.0).round} KiB)"
  end
end
