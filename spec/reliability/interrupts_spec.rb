# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "support"

# Interrupting start and stop in each of their waits, and daemons that die at
# each stage.
RSpec.describe DaemonController, "interrupted, and when the daemon dies" do
  include ReliabilitySpecHelper

  # How long a wait runs before it is interrupted, and how soon the
  # interrupt must then arrive.
  def settle_time
    0.2
  end

  def prompt_limit
    1.0
  end

  # Timeout.timeout's limit: long enough to reach any phase and stay in it
  # for settle_time.
  def timeout_limit
    0.8
  end

  # Threads that ran an action, ended after each example even if it failed.
  def worker_thread(&body)
    thread = Thread.new(&body)
    (@workers ||= []) << thread
    thread
  end

  after do
    (@workers || []).each do |thread|
      thread.kill
      thread.join(5)
    end
  end

  def phase_options(phase)
    controller_options(phase[:flags], start_timeout: 30, stop_timeout: 30)
  end

  # Runs the phase's action, first making `entered` receive the time at
  # which the flow enters the phase's wait.
  def run_phase(controller, phase, entered)
    if phase[:seam]
      ReliabilityProbes.on_first_call(controller, phase[:seam]) { entered << monotonic }
    else
      entered << monotonic
    end
    controller.public_send(phase[:action])
  end

  def await_phase(entered)
    Timeout.timeout(10) { entered.pop }
    sleep settle_time
  end

  # Each interrupt_by_* method interrupts the phase's action once it is in
  # its wait, checks that the interrupt ended it, and returns the seconds
  # the interrupt took to arrive.

  def interrupt_by_sigint(phase)
    script = <<~RUBY
      $stdout.sync = true
      controller = DaemonController.new(**#{phase_options(phase).inspect})
      seam = #{phase[:seam].inspect}
      if seam
        ReliabilityProbes.on_first_call(controller, seam) { puts "entered" }
      else
        puts "entered"
      end
      begin
        controller.#{phase[:action]}
        puts "returned"
      rescue Interrupt
        puts "interrupted"
        $stdin.gets # the parent releases any lock it holds first
        puts "lock free: \#{ReliabilityProbes.lock_free?(#{lock_path.dump})}"
        puts "zombies: \#{ReliabilityProbes.lingering_zombies(3, settle: 0.1).inspect}"
        raise
      end
    RUBY
    child, input, output, errors = spawn_ruby_child(script)
    expect(output.next_line(10)).to eq("entered"), -> { File.read(errors) }
    sleep settle_time
    interrupted_at = monotonic
    DaemonControllerSpecHelper::REAL_KILL.call("INT", child)
    expect(output.next_line).to eq("interrupted"), -> { File.read(errors) }
    latency = monotonic - interrupted_at
    release_lock_holder(@lock_holder) if @lock_holder
    input.puts("check")
    expect(output.next_line).to eq("lock free: true")
    expect(output.next_line).to eq("zombies: []")
    # An Interrupt that nobody rescues ends Ruby by SIGINT.
    status = wait_for_children([child], 5).first
    expect(status.termsig).to eq(Signal.list.fetch("INT")), "exit status: #{status.inspect}"
    input.close
    output.close
    latency
  end

  def interrupt_by_thread_raise(phase)
    controller = DaemonController.new(**phase_options(phase))
    entered = Queue.new
    worker = worker_thread do
      run_phase(controller, phase, entered)
      [:returned, nil]
    rescue ReliabilitySpecHelper::Interruption => e
      [e, monotonic]
    end
    await_phase(entered)
    interrupted_at = monotonic
    worker.raise(ReliabilitySpecHelper::Interruption, "raised by the spec")
    expect(worker.join(5)).to be_truthy
    error, arrived_at = worker.value
    expect(error).to be_a(ReliabilitySpecHelper::Interruption)
    expect(error.message).to eq("raised by the spec")
    arrived_at - interrupted_at
  end

  def interrupt_by_thread_kill(phase)
    controller = DaemonController.new(**phase_options(phase))
    entered = Queue.new
    returned = false
    worker = worker_thread do
      run_phase(controller, phase, entered)
      returned = true
    end
    await_phase(entered)
    killed_at = monotonic
    worker.kill
    expect(worker.join(5)).to be_truthy
    latency = monotonic - killed_at
    expect(returned).to be(false)
    expect(worker.status).to be(false) # killed, not ended by an exception
    latency
  end

  def interrupt_by_timeout(phase)
    controller = DaemonController.new(**phase_options(phase))
    entered = Queue.new
    started = monotonic
    error = nil
    begin
      Timeout.timeout(timeout_limit) { run_phase(controller, phase, entered) }
    rescue Timeout::Error => e
      error = e
    end
    arrived_at = monotonic
    expect(error).to be_a(Timeout::Error)
    expect(entered).not_to be_empty
    expect(entered.pop).to be <= started + timeout_limit - settle_time
    arrived_at - (started + timeout_limit)
  end

  # No lock left, no zombie of ours, and a controller of the same daemon
  # (stopping with SIGINT, which even a daemon ignoring SIGTERM obeys) stops
  # whatever was left behind, starts it afresh and stops it again.
  def expect_clean_aftermath
    release_lock_holder(@lock_holder) if @lock_holder
    expect(lock_free?).to be(true)
    expect(ReliabilityProbes.lingering_zombies(3, known: @known_zombies)).to eq([])
    follow_up = new_controller(stop_graceful_signal: "INT")
    follow_up.stop
    expect(follow_up.start).to be(true)
    expect(echo("after the interrupt")).to eq("after the interrupt\n")
    follow_up.stop
    expect(follow_up.running?).to be_falsy
    # Again, for a child that was still dying at the first look.
    expect(ReliabilityProbes.lingering_zombies(3, known: @known_zombies)).to eq([])
  end

  phases = [
    { name: "the start command runs", action: :start, flags: %w[--sleep-before-fork 30], seam: :spawn_daemon },
    { name: "start waits for the PID file", action: :start, flags: %w[--wait-before-pid 30],
      seam: :pid_file_available? },
    { name: "start pings the daemon", action: :start, flags: %w[--wait-before-listen 30], seam: :run_ping_command },
    # The daemon ignores SIGTERM, so stop keeps waiting for it to exit.
    { name: "stop waits for the daemon to exit", action: :stop, flags: %w[--ignore-sigterm],
      seam: :daemon_is_running?, running: true },
    { name: "start waits for a lock another process holds", action: :start, flags: [], locked: true },
    { name: "stop waits for a lock another process holds", action: :stop, flags: [], locked: true, running: true }
  ]
  interrupts = {
    sigint: "raises Interrupt on SIGINT (Ctrl-C)",
    thread_raise: "raises the exception given to Thread#raise",
    thread_kill: "ends the thread on Thread#kill",
    timeout: "raises Timeout::Error from Timeout.timeout"
  }

  phases.each do |phase|
    context "while #{phase[:name]}" do
      before do
        new_controller(phase[:flags]).start if phase[:running]
        @lock_holder = spawn_lock_holder("-x", lock_path) if phase[:locked]
        @known_zombies = zombie_children
      end

      interrupts.each do |kind, behaviour|
        it "#{behaviour} promptly, leaving no lock, no zombie and a daemon that can be started and stopped" do
          latency = send(:"interrupt_by_#{kind}", phase)
          expect(latency).to be < prompt_limit
          expect_clean_aftermath
        end
      end
    end
  end

  describe "when the daemon dies" do
    before { @known_zombies = zombie_children }

    # After a start or stop that a dying daemon ended: no lock, no zombie of
    # ours, no daemon left, no stale PID file once running? has looked, and
    # a new start works.
    def expect_clean_after_death(controller)
      expect(lock_free?).to be(true)
      expect(ReliabilityProbes.lingering_zombies(3, known: @known_zombies)).to eq([])
      expect(live_test_daemons).to eq([])
      expect(controller.running?).to be_falsy
      expect(File.exist?(pid_file)).to be(false)
      healthy = new_controller
      expect(healthy.start).to be(true)
      expect(echo("healthy")).to eq("healthy\n")
      healthy.stop
      expect(ReliabilityProbes.lingering_zombies(3, known: @known_zombies)).to eq([])
    end

    {
      "exits before forking" => [%w[--exit-before-fork 3], DaemonController::StartError],
      "is killed by a signal before forking" => [%w[--signal-before-fork KILL], DaemonController::StartError],
      "crashes after writing its PID file" => [%w[--crash-before-listen], DaemonController::StartError],
      "is killed by a signal after writing its PID file" => [%w[--crash-before-listen --crash-signal KILL],
                                                             DaemonController::StartError],
      # Without a PID file nothing tells it died: the log falls silent.
      "crashes without ever writing its PID file" => [%w[--no-pid-file --crash-before-listen],
                                                      DaemonController::StartTimeout]
    }.each do |stage, (flags, error_class)|
      it "#{stage}: start raises #{error_class.name.split("::").last} and leaves nothing behind" do
        controller = new_controller(flags, log_file_activity_timeout: 0.5)
        expect { controller.start }.to raise_error(error_class)
        expect_clean_after_death(controller)
      end
    end

    it "is killed with SIGKILL after writing its PID file, before listening: start raises StartError promptly" do
      controller = new_controller(["--wait-before-listen", "30"])
      worker = worker_thread do
        controller.start
        [:returned, monotonic]
      rescue StandardError => e
        [e, monotonic]
      end
      daemon = eventually { read_pid_file }
      sleep settle_time
      killed_at = monotonic
      DaemonControllerSpecHelper::REAL_KILL.call("KILL", daemon)
      expect(worker.join(5)).to be_truthy
      error, ended_at = worker.value
      expect(error).to be_a(DaemonController::StartError)
      expect(ended_at - killed_at).to be < prompt_limit
      expect_clean_after_death(controller)
    end

    it "is killed with SIGKILL while stop waits for it: stop returns promptly and removes the stale PID file" do
      controller = new_controller(["--stop-time", "30"])
      controller.start
      daemon = read_pid_file
      worker = worker_thread do
        controller.stop
        monotonic
      end
      eventually { File.read(log_file).include?("received SIGTERM") }
      killed_at = monotonic
      DaemonControllerSpecHelper::REAL_KILL.call("KILL", daemon)
      expect(worker.join(5)).to be_truthy
      expect(worker.value - killed_at).to be < prompt_limit
      expect_clean_after_death(controller)
    end

    it "ignores SIGTERM: after StopTimeout and SIGKILL nothing is left behind" do
      controller = new_controller(["--ignore-sigterm"], stop_timeout: 0.3)
      controller.start
      expect { controller.stop }.to raise_error(DaemonController::StopTimeout)
      expect_clean_after_death(controller)
    end

    it "left a stale PID file behind: pid reads it, and connect starts a new daemon" do
      controller = new_controller
      controller.start
      daemon = read_pid_file
      DaemonControllerSpecHelper::REAL_KILL.call("KILL", daemon)
      eventually { exited_entirely?(daemon) }
      expect(controller.pid).to eq(daemon)
      socket = controller.connect { TCPSocket.new("127.0.0.1", port) }
      socket.puts("restarted")
      expect(socket.gets).to eq("restarted\n")
      socket.close
      expect(read_pid_file).not_to eq(daemon)
      expect(live_test_daemons).to eq([read_pid_file])
    end

    it "has exited only when its last thread has, even if its main thread went first: stop waits for that" do
      # On SIGTERM this daemon deletes its PID file and ends its main thread
      # (the thread group leader, which then shows as a zombie), while
      # another thread keeps the process, and its listening socket, alive
      # for 0.8 s more. (Named like the test daemon and recorded in the
      # track file, so that the suite's cleanup ends it whatever happens.)
      script = File.join(tmpdir, "test_daemon_whose_main_thread_exits_first.rb")
      File.write(script, <<~RUBY)
        require "fiddle"
        require "socket"
        File.open(#{track_file.dump}, "a") { |file| file.puts(Process.pid) }
        reader, writer = IO.pipe
        Signal.trap("TERM") { writer.write_nonblock(".") }
        server = TCPServer.new("127.0.0.1", #{port})
        File.write(#{pid_file.dump}, "\#{Process.pid}\\n")
        reader.read(1)
        File.unlink(#{pid_file.dump})
        Thread.new do
          sleep 0.8
          server.close
          exit!(0)
        end
        sleep 0.1 # lets that thread start
        pthread_exit = Fiddle::Function.new(Fiddle::Handle::DEFAULT["pthread_exit"],
                                            [Fiddle::TYPE_VOIDP], Fiddle::TYPE_VOID)
        pthread_exit.call(nil)
      RUBY
      controller = new_controller(start_command: [RbConfig.ruby, "--disable-gems", script].shelljoin,
                                  daemonize_for_me: true)
      controller.start
      daemon = read_pid_file
      took = elapsed { controller.stop }
      expect(port_open?).to be(false), "stop returned while the daemon still listens"
      expect(Dir.children("/proc/#{daemon}/task").size).to be <= 1 if File.exist?("/proc/#{daemon}")
      expect(took).to be >= 0.6
    end
  end
end
