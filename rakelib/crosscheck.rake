# frozen_string_literal: true

require "open3"

# The platforms users run besides this machine's: the engine must build and
# lint clean for each, although its tests only run here. illumos stands for
# the systems of no known family (the engine's sys/native.rs).
CROSSCHECK_TARGETS = %w[
  x86_64-apple-darwin
  aarch64-apple-darwin
  x86_64-unknown-freebsd
  x86_64-unknown-linux-musl
  aarch64-unknown-linux-gnu
  x86_64-unknown-illumos
].freeze

namespace :crosscheck do
  desc "Add the rustup targets the cross checks need; fails if one cannot be had"
  task :targets do
    installed, status = Open3.capture2("rustup", "target", "list", "--installed")
    abort "crosscheck: `rustup target list --installed` failed" unless status.success?
    missing = CROSSCHECK_TARGETS - installed.split
    sh "rustup", "target", "add", *missing unless missing.empty?
  end

  desc "cargo check and clippy -D warnings of the engine (library and tests) for every cross target"
  task engine: :targets do
    CROSSCHECK_TARGETS.each do |target|
      { "check" => [], "clippy" => %w[-- -D warnings] }.each do |tool, lints|
        sh "cargo", tool, "--locked", "-p", "daemon_controller_engine", "--all-targets", "--target", target, *lints
      end
    end
  end
end

desc "Type-check and lint for macOS, FreeBSD, musl and arm64 Linux, illumos (#{CROSSCHECK_TARGETS.join(", ")})"
task crosscheck: %i[crosscheck:engine]
