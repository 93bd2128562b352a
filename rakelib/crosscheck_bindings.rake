# frozen_string_literal: true

require_relative "native_gem"

namespace :crosscheck do
  desc "Type-check and lint the Ruby bindings for aarch64 Linux, against Debian's arm64 Ruby 3.1 " \
       "headers and the libc6-dev-arm64-cross headers"
  task bindings_aarch64: %w[native:arm64_root native:rust_targets] do
    platform = NativeGem::PLATFORMS.fetch("aarch64-linux")
    unless platform.includes.all? { |dir| File.directory?(dir) }
      abort "#{platform.includes.join(", ")} missing: apt-get install libc6-dev-arm64-cross (bin/setup does)"
    end
    sh NativeGem.cross_env(platform, File.join(NativeGem::ROOT, "tmp", "cross", "target")),
       "cargo", "clippy", "--locked", "-p", "daemon_controller", "--target", platform.rust_target,
       "--", "-D", "warnings"
  end
end

# The engine's checks are in crosscheck.rake.
task crosscheck: "crosscheck:bindings_aarch64"
