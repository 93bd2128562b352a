# frozen_string_literal: true

require "open3"
require "rbconfig"
require "fileutils"
require "rubygems"
require "rubygems/package"

# What `rake native` builds and checks (rakelib/native.rake uses it, and so
# does spec/packaging): one precompiled gem per platform that holds the
# extension for several Ruby minor versions, linked against an old glibc so
# that it loads on the Linux machines people deploy to.
module NativeGem
  ROOT = File.expand_path("..", __dir__)
  STAGE = File.join(ROOT, "tmp", "native")
  PKG_DIR = File.join(ROOT, "pkg")
  LIBRARY = "daemon_controller.#{RbConfig::CONFIG["DLEXT"]}"
  # The oldest glibc the gems load with: 2.28 is Debian 10, Ubuntu 18.10 and
  # RHEL 8. (The engine calls getrandom(3), which glibc 2.25 introduced, so
  # no baseline older than that can hold.)
  GLIBC_BASELINE = "2.28"
  # Where a gem says what it was built for; the LoadError for a Ruby or C
  # library it does not fit quotes it.
  BUILT_FOR = "lib/daemon_controller/built-for.txt"
  # cargo-zigbuild links against the baseline's glibc with Zig, for any
  # target, both from PyPI, installed here rather than system-wide.
  TOOLS = File.join(ROOT, "tmp", "tools")
  ZIGBUILD = File.join(TOOLS, "zigbuild")
  ZIGBUILD_PACKAGES = %w[ziglang==0.15.2 cargo-zigbuild==0.24.1].freeze
  OPTIONAL_FILES = %w[CHANGELOG.md].freeze

  # Debian 12's arm64 files (Ruby 3.1 with its headers and rbconfig.rb, and
  # the libraries it runs with), extracted from Debian's packages without
  # installing anything: cross builds read them, qemu-user runs them.
  ARM64_ROOT = File.join(ROOT, "tmp", "cross", "arm64-bookworm")
  ARM64_PACKAGES = %w[libruby3.1 ruby3.1 ruby3.1-dev].freeze
  # rb-sys learns the target Ruby's configuration by running RUBY: this runs
  # the host's Ruby 3.1 with the arm64 rbconfig.rb loaded in its place.
  ARM64_RUBY = File.join(ROOT, "tmp", "cross", "arm64-ruby")
  ARM64_RUBY_BINARY = File.join(ARM64_ROOT, "usr", "bin", "ruby3.1")

  # A platform gem: its RubyGems platform, its Rust target, the Rubies it
  # holds a library for (minor version => the command prefix that runs
  # `rake` with that Ruby; empty for the host's), the Ruby whose
  # configuration rb-sys reads (nil: the one running the build), the C
  # headers bindgen needs besides Ruby's, and the glibc it links with (nil
  # for musl).
  Platform = Struct.new(:name, :rust_target, :rubies, :build_ruby, :includes, :libc, keyword_init: true) do
    def built_for
      libc ? "#{name} with glibc #{GLIBC_BASELINE} or later" : "#{name} (musl)"
    end

    # cargo-zigbuild's target: glibc ones name the baseline's version.
    def zig_target
      libc ? "#{rust_target}.#{GLIBC_BASELINE}" : rust_target
    end

    # A Rust musl target links statically unless told otherwise, and a
    # static C library makes no shared library.
    def rustflags
      libc ? nil : "-C target-feature=-crt-static"
    end

    # The stripped library for a Ruby minor version, as the gem ships it.
    def library(minor)
      File.join(STAGE, name, minor, LIBRARY)
    end

    def cargo_target_dir(minor)
      File.join(STAGE, name, "target-#{minor}")
    end

    def cargo_output(minor)
      File.join(cargo_target_dir(minor), rust_target, "release", "libdaemon_controller.#{RbConfig::CONFIG["SOEXT"]}")
    end

    def gem_path(version)
      File.join(PKG_DIR, "daemon_controller-#{version}-#{name}.gem")
    end

    # What the next minor version after the newest Ruby is: the gem's upper
    # bound, so that RubyGems installs the source gem there instead.
    def next_ruby_minor
      major, minor = rubies.keys.max_by { |version| Gem::Version.new(version) }.split(".").map(&:to_i)
      "#{major}.#{minor + 1}"
    end
  end

  PLATFORMS = [
    # Ruby 3.1 on the host, Ruby 3.3 in the Debian 13 root of bin/ruby3.3.
    Platform.new(name: "x86_64-linux", rust_target: "x86_64-unknown-linux-gnu",
                 rubies: { "3.1" => [], "3.3" => [File.join(ROOT, "bin", "ruby3.3")] },
                 build_ruby: nil, includes: ["/usr/include", "/usr/include/x86_64-linux-gnu"],
                 libc: "/lib/x86_64-linux-gnu/libc.so.6"),
    # Cross-built on the host from Debian's arm64 Ruby 3.1 and the
    # libc6-dev-arm64-cross headers.
    Platform.new(name: "aarch64-linux", rust_target: "aarch64-unknown-linux-gnu",
                 rubies: { "3.1" => [] }, build_ruby: ARM64_RUBY, includes: ["/usr/aarch64-linux-gnu/include"],
                 libc: "/usr/aarch64-linux-gnu/lib/libc.so.6")
  ].to_h { |platform| [platform.name, platform] }.freeze

  # Built and linked, never loaded: no musl Ruby can be had here (Debian
  # builds none), so `rake native` leaves it out and nothing ships it. The
  # host's Ruby 3.1 headers stand in for a musl Ruby's.
  MUSL = Platform.new(name: "x86_64-linux-musl", rust_target: "x86_64-unknown-linux-musl",
                      rubies: { "3.1" => [] }, build_ruby: nil,
                      includes: ["/usr/include", "/usr/include/x86_64-linux-gnu"], libc: nil)

  module_function

  def ruby_minor
    RUBY_VERSION[/\A\d+\.\d+/]
  end

  def library_in_gem(minor)
    File.join("lib", "daemon_controller", minor, LIBRARY)
  end

  # clang's own headers (stdarg.h and the like), which bindgen needs once
  # cargo-zigbuild has pointed it away from the system's.
  def clang_includes
    Dir["/usr/lib/llvm-*/lib/clang/*/include"].max_by { |dir| dir[%r{llvm-(\d+)/}, 1].to_i }
  end

  # The environment that builds or checks the bindings for a platform: the
  # tools on PATH, their caches in tmp/tools, the Ruby rb-sys reads and the
  # C headers for bindgen.
  def cross_env(platform, target_dir)
    {
      "PATH" => [File.join(ZIGBUILD, "ziglang"), File.join(ZIGBUILD, "bin"), ENV.fetch("PATH", "")].join(":"),
      "XDG_CACHE_HOME" => File.join(TOOLS, "cache"),
      "RUBY" => platform.build_ruby || RbConfig.ruby,
      "CARGO_TARGET_DIR" => target_dir,
      "BINDGEN_EXTRA_CLANG_ARGS_#{platform.rust_target}" =>
        [clang_includes, *platform.includes].compact.map { |dir| "-I#{dir}" }.join(" "),
      "RUSTFLAGS" => [ENV.fetch("RUSTFLAGS", nil), platform.rustflags].compact.join(" ")
    }
  end

  def zigbuild_command(platform)
    ["cargo", "zigbuild", "--release", "--locked", "-p", "daemon_controller", "--target", platform.zig_target]
  end

  # Why a library built for a platform would not load where the gem says
  # it does: for glibc, what #glibc_problems finds; for musl, being static
  # or needing glibc.
  def load_problems(platform, path)
    return glibc_problems(path, libc: platform.libc) if platform.libc

    needed, = Open3.capture2e("readelf", "-d", path)
    libraries = needed.scan(/\(NEEDED\)\s+Shared library: \[(.+?)\]/).flatten
    problems = libraries.grep(/\Alibc\.so\.6\z|\Ald-linux/).map { |library| "needs glibc's #{library}" }
    problems << "links no C library dynamically" unless libraries.include?("libc.so")
    problems
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
  def glibc_problems(path, libc:, baseline: GLIBC_BASELINE)
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

  # Builds the platform's gem into pkg/ from the libraries built for it:
  # the source gem's files without the Rust sources and the extension, a
  # library per Ruby, and what the gem was built for.
  def package(platform)
    gem_root = File.join(STAGE, platform.name, "gem")
    FileUtils.rm_rf(gem_root)
    # A copy: RubyGems caches what it loads, and this one is changed below.
    spec = Dir.chdir(ROOT) { Gem::Specification.load("daemon_controller.gemspec") }.dup
    sources = spec.files.reject do |file|
      file.start_with?("ext/") || File.basename(file).start_with?("Cargo") || file.end_with?(".rs")
    end
    sources += OPTIONAL_FILES.select { |file| File.file?(File.join(ROOT, file)) }
    copies = sources.to_h { |file| [File.join(ROOT, file), file] }
    platform.rubies.each_key { |minor| copies[platform.library(minor)] = library_in_gem(minor) }
    copies.each do |from, to|
      FileUtils.mkdir_p(File.join(gem_root, File.dirname(to)))
      FileUtils.cp(from, File.join(gem_root, to))
    end
    File.write(File.join(gem_root, BUILT_FOR), "#{platform.built_for}\n")

    spec.platform = Gem::Platform.new(platform.name)
    spec.files = copies.values + [BUILT_FOR]
    spec.extensions = []
    spec.required_ruby_version = [">= #{platform.rubies.keys.min}", "< #{platform.next_ruby_minor}.dev"]
    file_name = Dir.chdir(gem_root) { Gem::Package.build(spec) }
    FileUtils.mkdir_p(PKG_DIR)
    FileUtils.mv(File.join(gem_root, file_name), PKG_DIR)
    puts "gem: pkg/#{file_name}, #{size(File.join(PKG_DIR, file_name))}, " \
         "for Ruby #{platform.rubies.keys.join(", ")} on #{platform.built_for}"
  end

  def size(path)
    "#{File.size(path)} bytes (#{(File.size(path) / 1024.0).round} KiB)"
  end
end
