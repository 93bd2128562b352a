# frozen_string_literal: true

desc "Validate the RBS signatures in sig/ (rbs -I sig validate)"
task :rbs do
  # Ruby bundles the rbs gem, but Debian installs no `rbs` executable for
  # it, so the gem's executable is loaded by a plain `ruby`. rbs exits
  # non-zero when a file does not parse or names a type or an interface
  # that does not exist, and `ruby` then fails the task.
  ruby "-e", 'load Gem.bin_path("rbs", "rbs")', "--", "-I", "sig", "validate", "--silent"
  puts "sig/: signatures valid"
end
