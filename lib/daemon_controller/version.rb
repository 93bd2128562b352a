# frozen_string_literal: true

class DaemonController
  # The major version number.
  MAJOR = 3
  # The minor version number.
  MINOR = 1
  # The patch level.
  TINY = 0
  # The gem's version, "MAJOR.MINOR.TINY".
  VERSION_STRING = "#{MAJOR}.#{MINOR}.#{TINY}"
  # The oldest Ruby the extension is built and tested with: the Ruby
  # bindings do not compile for older ones.
  MINIMUM_RUBY_VERSION = "3.1"
end
