# frozen_string_literal: true

require_relative "spec_helper"

RSpec.describe DaemonController, "identity records" do
  def boot_id
    File.read("/proc/sys/kernel/random/boot_id").strip
  end

  [["a minute", 60], ["a year", 365 * 24 * 3600]].each do |label, age|
    it "still sees, stops and never duplicates a live daemon whose PID file was set back #{label}" do
      new_controller.start
      daemon = read_pid_file
      past = Time.now - age
      File.utime(past, past, pid_file)
      # A controller of its own: nothing remembered from the start.
      controller = new_controller
      expect(controller.running?).to be(true)
      expect(File.exist?(pid_file)).to be(true)
      expect { controller.start }.to raise_error(DaemonController::AlreadyStarted)
      expect(live_test_daemons).to eq([daemon])
      controller.stop
      expect(process_alive?(daemon)).to be(false)
      expect(controller.running?).to be_falsy
    end
  end

  it "keeps seeing a daemon first confirmed by running? after its PID file was set back", :process_table do
    sleeper = spawn_sleeper
    write_pid_file(sleeper)
    expect(new_controller.running?).to be(true)
    past = Time.now - 3600
    File.utime(past, past, pid_file)
    expect(new_controller.running?).to be(true)
  end

  it "takes a PID whose record names an earlier process of that PID for reused, and never signals it",
     :process_table do
    sleeper = spawn_sleeper
    write_pid_file(sleeper)
    write_identity_record("v1 #{sleeper} #{boot_id} #{start_ticks(sleeper) - 1}")
    record_process_kills
    controller = new_controller
    expect(controller.running?).to be(false)
    expect(File.exist?(pid_file)).to be(false)
    write_pid_file(sleeper)
    write_identity_record("v1 #{sleeper} #{boot_id} #{start_ticks(sleeper) - 1}")
    controller.stop
    expect(kills_of(sleeper)).to be_empty
    expect(process_alive?(sleeper)).to be(true)
  end

  it "ignores a record from another boot or for another PID (the mtime decides)" do
    sleeper = spawn_sleeper
    write_pid_file(sleeper)
    write_identity_record("v1 #{sleeper} another-boot 1")
    expect(new_controller.running?).to be(true)
    write_identity_record("v1 #{sleeper + 1} #{boot_id} 1")
    expect(new_controller.running?).to be(true)
  end
end
