# frozen_string_literal: true

# Builds the native extension. With the rb_sys gem (as on most users'
# machines) its mkmf helper writes the Makefile; without it, a Makefile of
# our own runs cargo and installs the library where RubyGems expects it.

require "mkmf"
require "rbconfig"

TARGET = "daemon_controller/daemon_controller"

begin
  require "rb_sys/mkmf"
rescue LoadError
  workspace = File.expand_path("../..", __dir__)
  library = "daemon_controller.#{RbConfig::CONFIG["DLEXT"]}"
  File.write("Makefile", <<~MAKEFILE)
    CARGO ?= cargo
    RUBY = #{RbConfig.ruby}
    WORKSPACE = #{workspace}
    CARGO_TARGET_DIR ?= $(WORKSPACE)/target
    sitearchdir ?= #{RbConfig::CONFIG["sitearchdir"]}
    DESTDIR ?=

    all: #{library}

    #{library}: FORCE
    \tRUBY=$(RUBY) $(CARGO) build --release --locked --manifest-path $(WORKSPACE)/Cargo.toml -p daemon_controller --target-dir $(CARGO_TARGET_DIR)
    \tcp $(CARGO_TARGET_DIR)/release/libdaemon_controller.so #{library}

    # Copied beside, then renamed into place: processes that have the old
    # library loaded keep their mapping instead of seeing it rewritten.
    install: #{library}
    \tmkdir -p $(DESTDIR)$(sitearchdir)/daemon_controller
    \tcp #{library} $(DESTDIR)$(sitearchdir)/daemon_controller/#{library}.new
    \tmv -f $(DESTDIR)$(sitearchdir)/daemon_controller/#{library}.new $(DESTDIR)$(sitearchdir)/daemon_controller/#{library}

    clean:
    \trm -f #{library}

    distclean: clean
    \trm -f Makefile

    FORCE:

    .PHONY: all install clean distclean FORCE
  MAKEFILE
else
  create_rust_makefile(TARGET)
end
