# frozen_string_literal: true

# Runs a command as a child subreaper (Linux's PR_SET_CHILD_SUBREAPER) that
# reaps orphaned descendants at once, as the init of most systems does, and
# exits as the command did.
#
# The suite's fallback run needs it: without a process table, a daemon that
# exited and is not the controller's child cannot be told from a live one
# until its parent reaps it, and a container's PID 1 may reap orphans
# seconds late (this is what the fallback mode documents; the run tests the
# controller, not the container's init).
#
#   ruby spec/support/subreaper.rb rspec ...
#
# Elsewhere (no prctl) it runs the command as it is.

exec(*ARGV) unless RUBY_PLATFORM.include?("linux")

require "fiddle"

PR_SET_CHILD_SUBREAPER = 36

prctl = Fiddle::Function.new(Fiddle::Handle::DEFAULT["prctl"], [Fiddle::TYPE_INT] + ([Fiddle::TYPE_LONG] * 4),
                             Fiddle::TYPE_INT)
abort "subreaper: prctl(PR_SET_CHILD_SUBREAPER) failed" unless prctl.call(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0).zero?

command = Process.spawn(*ARGV)
%w[INT TERM HUP].each { |signal| trap(signal) { Process.kill(signal, command) } }
loop do
  pid, status = Process.wait2(-1)
  next unless pid == command

  exit(status.exitstatus || (128 + status.termsig))
end
