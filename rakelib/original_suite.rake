# frozen_string_literal: true

require "tmpdir"

desc "Run another daemon_controller checkout's own RSpec suite against this gem (ORIGINAL=/path/to/checkout)"
task original_suite: :compile do
  original = ENV.fetch("ORIGINAL") { abort "original_suite: set ORIGINAL to a checkout of the pure-Ruby gem" }
  specs = File.join(original, "spec")
  abort "original_suite: #{specs} is not a directory" unless File.directory?(specs)
  # Its specs with this gem's lib/ beside them, where they expect their
  # own: the suite chdirs to its root and loads "daemon_controller".
  Dir.mktmpdir("dc-original-suite") do |root|
    cp_r specs, root
    ln_s File.expand_path("../lib", __dir__), File.join(root, "lib")
    Dir.chdir(root) { sh "rspec", "-r", "bundler", "spec" }
  end
end
