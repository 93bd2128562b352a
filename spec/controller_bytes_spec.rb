# frozen_string_literal: true

require "spec_helper"

# Commands and environment values are bytes on Unix: binary Strings that
# are not UTF-8 reach the commands unchanged.
RSpec.describe DaemonController, "binary commands and environment values" do
  def marker(name)
    File.join(tmpdir, name)
  end

  # A shell command that records `text` (a binary String) in the marker file
  # `name`, then runs `rest`.
  def recording(name, text, rest = "true")
    "printf '%s' '".b + text + "' > #{marker(name)}; #{rest}".b
  end

  it "passes start, ping, stop and restart commands and env values through as bytes" do
    started = "start \xE9".b
    env_value = "\xFF\xFE".b
    record_env = "printf '%s' \"$DC_BYTES\" > #{marker("env")}"
    start = recording("start", started, "#{record_env}; #{daemon_command(*standard_flags)}")
    controller = new_controller(start_command: start, env: { "DC_BYTES" => env_value },
                                ping_command: recording("ping", "ping \xE9".b, "test -s #{pid_file}"),
                                stop_command: recording("stop", "stop \xE9".b, "kill $(cat #{pid_file})"),
                                restart_command: recording("restart", "restart \xE9".b))
    expect(controller.start).to be(true)
    expect(controller.restart).to be_a(DaemonController::InternalCommandOkResult)
    controller.stop
    expect(%w[start env ping stop restart].to_h { |name| [name, File.binread(marker(name))] })
      .to eq("start" => started, "env" => env_value, "ping" => "ping \xE9".b, "stop" => "stop \xE9".b,
             "restart" => "restart \xE9".b)
  end

  it "still rejects a null byte in an env value, naming the variable" do
    expect { new_controller(env: { "DC_BYTES" => "a\0\xFF".b }) }
      .to raise_error(ArgumentError, "option :env: the value of DC_BYTES contains a null byte")
  end
end
