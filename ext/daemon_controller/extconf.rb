# frozen_string_literal: true

# Builds the native extension. With the rb_sys gem (as on most users'
# machines) its mkmf helper writes the Makefile; without it, a Makefile of
# our own runs cargo and installs the library where RubyGems expects it.

require_relative "../../lib/daemon_controller/version"

# Before anything else: on an older Ruby the build would fail later with
# errors from deep inside the Ruby bindings.
if Gem::Version.new(RUBY_VERSION) < Gem::Version.new(DaemonController::MINIMUM_RUBY_VERSION)
  abort "daemon_controller #{DaemonController::VERSION_STRING} needs Ruby " \
        "#{DaemonController::MINIMUM_RUBY_VERSION} or later; this is Ruby #{RUBY_VERSION}. " \
        "Its Rust extension does not build for older Rubies."
end

require "mkmf"
require "rbconfig"
require "securerandom"
require "tmpdir"

TARGET = "daemon_controller/daemon_controller"
MINIMUM_RUST = "1.89"

# Without a Rust toolchain the build would stop deep inside make with
# "cargo: not found": say what is needed, and that a precompiled gem exists.
cargo_version = begin
  IO.popen([ENV.fetch("CARGO", "cargo"), "--version"], err: File::NULL, &:read)[/\d+\.\d+(\.\d+)?/]
rescue SystemCallError
  nil
end
if cargo_version.nil? || Gem::Version.new(cargo_version) < Gem::Version.new(MINIMUM_RUST)
  found = cargo_version ? "cargo #{cargo_version} is older than #{MINIMUM_RUST}" : "cargo is not on the PATH"
  abort <<~MESSAGE
    daemon_controller: building the native extension needs Rust, and
    #{found}.
    Install Rust #{MINIMUM_RUST} or newer through rustup (https://rustup.rs;
    `rustup update` for a newer one) and libclang (Debian, Ubuntu: apt-get
    install libclang-dev; Fedora: dnf install clang-devel), then install the
    gem again.
    Or install a precompiled platform gem, which needs neither: RubyGems
    chooses one instead of this source gem where one exists for the platform
    and Ruby (see "Installing" in the README: x86_64-linux, aarch64-linux).
  MESSAGE
end

# A musl Rust target links statically by default, which makes no shared
# library: the extension must link the C library dynamically, as Ruby does.
RUSTFLAGS = RbConfig::CONFIG["target_os"].to_s.include?("musl") ? ["-C", "target-feature=-crt-static"] : []

begin
  require "rb_sys/mkmf"
rescue LoadError
  workspace = File.expand_path("../..", __dir__)
  # Ruby's name for an extension (.so, or .bundle on macOS) and cargo's name
  # for a shared library of the platform (lib*.so, or lib*.dylib on macOS).
  library = "daemon_controller.#{RbConfig::CONFIG["DLEXT"]}"
  cargo_library = "libdaemon_controller.#{RbConfig::CONFIG["SOEXT"]}"
  rustflags = RUSTFLAGS.empty? ? "" : "RUSTFLAGS=\"$(RUSTFLAGS) #{RUSTFLAGS.join(" ")}\" "
  # A checkout keeps cargo's target/ for the next build; an installed gem
  # builds in a temporary directory, removed once the library is copied
  # (and by `make clean`), so that no target/ is left in the gem.
  scratch = File.join(Dir.tmpdir, "daemon_controller-cargo-#{SecureRandom.hex(8)}")
  target_dir = File.exist?(File.join(workspace, ".git")) ? "$(WORKSPACE)/target" : "$(BUILD_SCRATCH)"
  File.write("Makefile", <<~MAKEFILE)
    CARGO ?= cargo
    RUBY = #{RbConfig.ruby}
    WORKSPACE = #{workspace}
    BUILD_SCRATCH = #{scratch}
    CARGO_TARGET_DIR ?= #{target_dir}
    sitearchdir ?= #{RbConfig::CONFIG["sitearchdir"]}
    DESTDIR ?=

    all: #{library}

    #{library}: FORCE
    \t#{rustflags}RUBY=$(RUBY) $(CARGO) build --release --locked --manifest-path $(WORKSPACE)/Cargo.toml -p daemon_controller --target-dir $(CARGO_TARGET_DIR)
    \tcp $(CARGO_TARGET_DIR)/release/#{cargo_library} #{library}
    \trm -rf $(BUILD_SCRATCH)

    # Copied beside, then renamed into place: processes that have the old
    # library loaded keep their mapping instead of seeing it rewritten.
    install: #{library}
    \tmkdir -p $(DESTDIR)$(sitearchdir)/daemon_controller
    \tcp #{library} $(DESTDIR)$(sitearchdir)/daemon_controller/#{library}.new
    \tmv -f $(DESTDIR)$(sitearchdir)/daemon_controller/#{library}.new $(DESTDIR)$(sitearchdir)/daemon_controller/#{library}

    clean:
    \trm -f #{library}
    \trm -rf $(BUILD_SCRATCH)

    distclean: clean
    \trm -f Makefile

    FORCE:

    .PHONY: all install clean distclean FORCE
  MAKEFILE
else
  create_rust_makefile(TARGET) do |build|
    build.extra_rustflags = RUSTFLAGS
  end
end
