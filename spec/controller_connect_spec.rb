# frozen_string_literal: true

require_relative "spec_helper"

RSpec.describe DaemonController, "#connect" do
  def connect_to_daemon
    TCPSocket.new("127.0.0.1", port)
  end

  def lock_held_elsewhere?(mode)
    !system("flock", "-n", mode, "#{pid_file}.lock", "true")
  end

  it "starts the daemon when it is not running and returns the block's value" do
    controller = new_controller
    socket = Timeout.timeout(20) { controller.connect { connect_to_daemon } }
    expect(socket).to be_a(TCPSocket)
    socket.puts("through connect")
    expect(socket.gets).to eq("through connect\n")
    socket.close
    expect(controller.running?).to be(true)
  end

  it "does not go through the public start (which would wait for the lock connect holds)" do
    controller = new_controller
    expect(controller).not_to receive(:start)
    value = Timeout.timeout(20) { controller.connect { port_open? ? :connected : nil } }
    expect(value).to eq(:connected)
  end

  it "returns the block's value at once when the daemon answers, calling the block once" do
    controller = new_controller
    controller.start
    daemon = read_pid_file
    calls = 0
    expect(controller).not_to receive(:spawn_daemon)
    value = controller.connect do
      calls += 1
      :first_try
    end
    expect(value).to eq(:first_try)
    expect(calls).to eq(1)
    expect(read_pid_file).to eq(daemon)
  end

  it "returns false from the block as a value (only nil means failure)" do
    controller = new_controller
    controller.start
    calls = 0
    value = controller.connect do
      calls += 1
      false
    end
    expect(value).to be(false)
    expect(calls).to eq(1)
  end

  it "counts an ALLOWED_CONNECT_EXCEPTIONS raise as nil, starts the daemon and calls the block again" do
    controller = new_controller
    calls = 0
    value = controller.connect do
      calls += 1
      raise Errno::ECONNREFUSED if calls == 1

      :second_try
    end
    expect(value).to eq(:second_try)
    expect(calls).to eq(2)
    expect(port_open?).to be(true)
  end

  DaemonController::ALLOWED_CONNECT_EXCEPTIONS.dup.each do |error_class|
    it "treats #{error_class} from the block as a failed attempt" do
      controller = new_controller
      calls = 0
      value = controller.connect do
        calls += 1
        raise error_class if calls == 1

        :ok
      end
      expect(value).to eq(:ok)
      expect(calls).to eq(2)
    end
  end

  it "reads ALLOWED_CONNECT_EXCEPTIONS afresh (a class added by the caller counts)" do
    custom = Class.new(StandardError)
    DaemonController::ALLOWED_CONNECT_EXCEPTIONS << custom
    begin
      controller = new_controller
      calls = 0
      value = controller.connect do
        calls += 1
        raise custom, "not yet" if calls == 1

        :custom_ok
      end
      expect(value).to eq(:custom_ok)
    ensure
      DaemonController::ALLOWED_CONNECT_EXCEPTIONS.delete(custom)
    end
  end

  it "raises ConnectError 'Cannot connect to the daemon' when the block returns nil twice" do
    controller = new_controller
    calls = 0
    expect do
      controller.connect do
        calls += 1
        nil
      end
    end.to raise_error(DaemonController::ConnectError, "Cannot connect to the daemon")
    expect(calls).to eq(2)
    # The daemon was started in between.
    expect(port_open?).to be(true)
  end

  it "appends ': <message> (<class>)' when the block raised an allowed exception both times" do
    controller = new_controller
    error = Errno::ECONNREFUSED.new("to the daemon")
    expect { controller.connect { raise error } }
      .to raise_error(DaemonController::ConnectError,
                      "Cannot connect to the daemon: #{error.message} (Errno::ECONNREFUSED)")
  end

  it "reports the second attempt's exception" do
    controller = new_controller
    calls = 0
    expect do
      controller.connect do
        calls += 1
        raise Errno::ECONNRESET if calls == 1

        raise Errno::ETIMEDOUT
      end
    end.to raise_error(DaemonController::ConnectError, /\ACannot connect to the daemon: .* \(Errno::ETIMEDOUT\)\z/)
  end

  it "propagates other exceptions from the block without starting the daemon" do
    controller = new_controller
    expect(controller).not_to receive(:spawn_daemon)
    expect { controller.connect { raise ArgumentError, "not a connect error" } }
      .to raise_error(ArgumentError, "not a connect error")
    expect(port_open?).to be(false)
  end

  it "propagates a start failure" do
    controller = new_controller(start_command: daemon_command("--exit-before-fork", "1"))
    expect { controller.connect { nil } }.to raise_error(DaemonController::StartError)
  end

  it "calls the block first under a shared lock, then under the exclusive lock" do
    controller = new_controller
    held = []
    controller.connect do
      held << [lock_held_elsewhere?("-x"), lock_held_elsewhere?("-s")]
      held.size == 1 ? nil : :done
    end
    # First call: shared (an exclusive flock fails, a shared one succeeds).
    expect(held[0]).to eq([true, false])
    # Second call: exclusive (both fail).
    expect(held[1]).to eq([true, true])
  end

  it "does not start the daemon again when it is already running but the block failed" do
    controller = new_controller
    controller.start
    daemon = read_pid_file
    expect(controller).not_to receive(:spawn_daemon)
    expect { controller.connect { nil } }.to raise_error(DaemonController::ConnectError)
    expect(read_pid_file).to eq(daemon)
  end

  it "leaves no lock held afterwards" do
    controller = new_controller
    controller.connect { connect_to_daemon }.close
    expect(lock_held_elsewhere?("-x")).to be(false)
  end

  it "serializes concurrent connects from several threads (one start)" do
    controller = new_controller
    allow(controller).to receive(:spawn_daemon).and_call_original
    threads = Array.new(3) do
      Thread.new { controller.connect { port_open? ? :up : nil } }
    end
    expect(threads.map { |t| t.join(20)&.value }).to eq(%i[up up up])
    expect(controller).to have_received(:spawn_daemon).once
  end
end
