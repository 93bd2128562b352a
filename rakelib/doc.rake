# frozen_string_literal: true

require "open3"

desc "Generate the API documentation into doc/api/ with YARD; fail on any YARD " \
     "warning or error, or on an undocumented object of the library"
task :doc do
  # Runs yard (Debian package `yard`; Markdown through ruby-redcarpet, which
  # apt-get installs with it) and returns its combined output. YARD exits 0
  # after most warnings, so its output is the verdict, not its exit status.
  yard = lambda do |*args|
    output, status = Open3.capture2e("yard", *args)
    problems = output.lines.grep(/\[(warn|error)\]/)
    abort "yard #{args.join(" ")} reported problems:\n#{output}" unless status.success? && problems.empty?
    output
  rescue Errno::ENOENT
    abort "yard is not installed: apt-get install yard (or gem install yard redcarpet)"
  end

  # The files `require "daemon_controller"` loads: lib/daemon_controller.rb
  # and what it requires from lib/, followed from file to file. Files only
  # the executables load (the command-line interface) are not the library.
  library = []
  pending = ["lib/daemon_controller.rb"]
  until pending.empty?
    file = pending.shift
    next if library.include?(file) || !File.file?(file)

    library << file
    File.read(file).scan(/^\s*require\s+["'](daemon_controller[^"']*)["']/) do |(feature)|
      pending << "lib/#{feature}.rb"
    end
  end

  puts yard.call("doc").lines.grep(/documented|^\w+:/).join
  stats = yard.call("stats", "--list-undoc")
  # "(in file: PATH)" heads each group of undocumented objects.
  undocumented = stats.split(/^\(in file: (.+?)\)$/).drop(1).each_slice(2).to_h
                      .transform_values { |objects| objects.split("\n").map(&:strip).reject(&:empty?) }
  in_library, elsewhere = undocumented.partition { |path, _| library.include?(path) }
  elsewhere.each do |path, objects|
    puts "note: undocumented in #{path} (not loaded by the library): #{objects.join(", ")}"
  end
  unless in_library.empty?
    listing = in_library.map { |path, objects| "  #{path}: #{objects.join(", ")}" }.join("\n")
    abort "undocumented library API:\n#{listing}"
  end
  puts "doc/api/: no YARD warnings; every object of #{library.join(", ")} is documented"
end
