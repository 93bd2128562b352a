# frozen_string_literal: true

# Controllers of the test daemon, with the options most examples use.
module DaemonControllerSpecHelper
  def ruby_command
    [RbConfig.ruby, "--disable-gems", TEST_DAEMON]
  end

  # The test daemon command line (a String without shell metacharacters, so
  # that it is exec'd directly), always with --track-file.
  def daemon_command(*flags)
    (ruby_command + ["--track-file", track_file] + flags.flatten.map(&:to_s)).shelljoin
  end

  # The standard flags for the test daemon of this example.
  def standard_flags
    ["--port", port, "--pid-file", pid_file, "--log-file", log_file]
  end

  # Options for a controller of the test daemon; `flags` are extra daemon
  # flags; `options` override or add controller options.
  def controller_options(flags = [], **options)
    {
      identifier: "test daemon",
      start_command: daemon_command(*standard_flags, *flags),
      ping_command: [:tcp, "127.0.0.1", port],
      pid_file: pid_file,
      log_file: log_file,
      start_timeout: 10,
      stop_timeout: 10,
      log_file_activity_timeout: 10,
      start_abort_timeout: 3
    }.merge(options)
  end

  def new_controller(flags = [], **options)
    DaemonController.new(**controller_options(flags, **options))
  end

  # Stubs a hook with a body that outlasts the start deadline: start must
  # still raise StartTimeout, and only after the hook has finished.
  def expect_hook_not_interrupted(controller, hook)
    finished = false
    allow(controller).to receive(hook) do
      sleep 0.6
      finished = true
    end
    expect { controller.start }.to raise_error(DaemonController::StartTimeout)
    expect(finished).to be(true)
  end
end
