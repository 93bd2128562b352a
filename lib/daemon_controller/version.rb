# frozen_string_literal: true

class DaemonController
  MAJOR = 3
  MINOR = 1
  TINY = 0
  VERSION_STRING = "#{MAJOR}.#{MINOR}.#{TINY}"
end
