# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "support"

# Many callers at once, fork, and other programs sharing the lock and PID
# files.
RSpec.describe DaemonController, "under concurrency" do
  include ReliabilitySpecHelper

  def starts_file
    File.join(tmpdir, "starts")
  end

  # Controller options whose before_start appends the caller's PID to a
  # file (under a lock of its own), so that starts can be counted across
  # processes.
  def counting_options(flags = [], **options)
    starts = starts_file
    count_start = lambda do
      File.open(starts, "a") do |file|
        file.flock(File::LOCK_EX)
        file.puts(Process.pid)
      end
    end
    controller_options(flags, before_start: count_start, **options)
  end

  def start_count
    File.exist?(starts_file) ? File.readlines(starts_file).size : 0
  end

  # Gets a connection through connect and echoes `line` over it.
  def echo_through_connect(controller, line)
    socket = controller.connect { TCPSocket.new("127.0.0.1", port) }
    socket.puts(line)
    socket.gets
  ensure
    socket&.close
  end

  def report_of(path)
    File.exist?(path) ? File.read(path) : "(no report)"
  end

  describe "connect from many callers at once" do
    it "starts a stopped daemon exactly once for 16 processes, and connects every one" do
      options = counting_options
      results = Array.new(16) { |index| File.join(tmpdir, "result-#{index}") }
      callers = fork_together(16, reports: results.method(:fetch)) do |index|
        line = echo_through_connect(DaemonController.new(**options), "caller #{index}")
        File.write(results[index], line)
      end
      statuses = wait_for_children(callers, 30)
      statuses.each_with_index do |status, index|
        expect(status).to be_success, "caller #{index} failed: #{report_of(results[index])}"
      end
      expect(results.map { |path| File.read(path) }).to eq(Array.new(16) { |index| "caller #{index}\n" })
      expect(start_count).to eq(1)
      # One start command and the one daemon it forked.
      expect(File.read(track_file).split.size).to eq(2)
      expect(live_test_daemons).to eq([read_pid_file])
    end

    it "starts it exactly once for 16 threads, sharing one controller or using their own" do
      options = counting_options
      shared = DaemonController.new(**options)
      gate = Queue.new
      threads = Array.new(16) do |index|
        controller = index.even? ? shared : DaemonController.new(**options)
        Thread.new do
          gate.pop
          echo_through_connect(controller, "thread #{index}")
        end
      end
      eventually { threads.all? { |thread| thread.status == "sleep" } } # all at the gate
      16.times { gate << :go }
      expect(threads.map { |thread| thread.join(30)&.value }).to eq(Array.new(16) { |index| "thread #{index}\n" })
      expect(start_count).to eq(1)
      expect(live_test_daemons).to eq([read_pid_file])
    end
  end

  describe "start racing stop" do
    # Either running, with a PID file naming the one live test daemon, which
    # answers; or stopped, with no PID file and no daemon left.
    def expect_consistent_state(controller, round)
      daemons = live_test_daemons
      if (daemon = read_pid_file)
        expect(daemons).to eq([daemon]), "round #{round}: PID file names #{daemon}, live daemons #{daemons}"
        expect(controller.running?).to be(true)
        expect(echo("round #{round}")).to eq("round #{round}\n")
      else
        expect(File.exist?(pid_file)).to be(false), "round #{round}: invalid PID file left"
        expect(daemons).to eq([]), "round #{round}: no PID file, but daemons #{daemons} live"
        expect(port_open?).to be(false)
      end
    end

    it "leaves a consistent state, round after round, whichever wins" do
      # A daemon slow to listen leaves a window in which a stop that does
      # not wait for the start's lock would kill it before it answers.
      options = controller_options(["--wait-before-listen", "0.1", "--stop-time", "0.02"])
      controller = DaemonController.new(**options)
      8.times do |round|
        already_running = round.odd?
        # Each round gives one of them a head start, so that the other
        # comes in at a different point of its flow.
        late = (round / 2).odd? ? :start : :stop
        delay = 0.03 * (1 + (round / 4))
        controller.start if already_running
        reports = { start: File.join(tmpdir, "start-#{round}"), stop: File.join(tmpdir, "stop-#{round}") }
        actions = reports.keys
        racers = fork_together(2, reports: ->(index) { reports[actions[index]] }) do |index|
          action = actions[index]
          sleep delay if action == late
          outcome = begin
            DaemonController.new(**options).public_send(action).inspect
          rescue DaemonController::AlreadyStarted
            "already started"
          end
          File.write(reports[action], outcome)
        end
        statuses = wait_for_children(racers)
        outcomes = actions.to_h { |action| [action, report_of(reports[action])] }
        expect(statuses).to all(be_success), "round #{round}: #{outcomes}"
        expect(outcomes[:stop]).to eq("nil")
        # Only a daemon that was already running makes a start redundant.
        expect(outcomes[:start]).to eq("true") unless already_running
        expect(outcomes[:start]).to eq("true").or eq("already started")
        expect_consistent_state(controller, round)
        controller.stop
      end
    end
  end

  describe "after fork" do
    it "lets a child start and stop with a controller made and used in the parent, which still works after" do
      controller = new_controller
      controller.start
      controller.stop
      report = File.join(tmpdir, "child-report")
      child = fork_child(report: report) do
        raise "start did not return true" unless controller.start == true
        raise "the daemon does not answer" unless echo("from the child") == "from the child\n"

        controller.stop
        raise "still running after stop" if controller.running?
      end
      expect(wait_for_children([child]).first).to be_success, report_of(report)
      expect(live_test_daemons).to eq([])
      expect(controller.running?).to be_falsy
      expect(controller.start).to be(true)
      expect(echo("parent again")).to eq("parent again\n")
    end

    it "keeps the parent's and the child's locks exclusive, both ways, on the very same objects" do
      hold = nil # set separately in each process
      controller = new_controller(before_start: -> { hold&.call })
      lock_file = DaemonController::LockFile.new(lock_path)
      # Both used before the fork, so that each may keep an open descriptor.
      controller.running?
      lock_file.exclusive_lock { nil }
      to_child_reader, to_child = IO.pipe
      from_child, to_parent = IO.pipe
      holders = {
        controller: lambda do |&block|
          hold = block
          controller.start
        end,
        lock_file: ->(&block) { lock_file.exclusive_lock(&block) }
      }
      report = File.join(tmpdir, "child-report")
      child = fork_child(report: report) do
        to_child.close
        from_child.close
        to_parent.sync = true
        # First the child holds the lock, through each object in turn.
        holders.each_value do |holder|
          holder.call do
            to_parent.puts("holding")
            to_child_reader.gets # until the parent says so
          end
          # flock(2) is not fair: lock again only once the parent's waiting
          # probe has had its turn.
          to_child_reader.gets
        end
        # Then the parent holds it: both objects must wait here.
        holders.each_key do
          to_child_reader.gets
          started = monotonic
          refused = begin
            lock_file.try_shared_lock { false }
          rescue DaemonController::LockFile::AlreadyLocked
            true
          end
          controller.running?
          to_parent.puts("#{refused} #{monotonic - started}")
        end
      end
      to_child_reader.close
      to_parent.close
      to_child.sync = true
      lines = line_reader(from_child)

      holders.each_key do |holder|
        expect(lines.next_line).to eq("holding"), "child holding through its #{holder}: #{report_of(report)}"
        expect { lock_file.try_shared_lock { nil } }.to raise_error(DaemonController::LockFile::AlreadyLocked)
        probe = Thread.new do
          controller.running?
          monotonic
        end
        sleep 0.3
        expect(probe).to be_alive, "the parent's running? did not wait for the child's #{holder}"
        released_at = monotonic
        to_child.puts("release")
        expect(probe.join(5)).to be_truthy
        expect(probe.value).to be >= released_at
        to_child.puts("next")
      end

      controller.stop # the child's start left the daemon running
      holders.each do |holder_name, holder|
        holder.call do
          to_child.puts("held")
          sleep 0.5
        end
        refused, waited = lines.next_line.split
        expect(refused).to eq("true"), "the child got a lock while the parent's #{holder_name} held it"
        expect(waited.to_f).to be >= 0.3
      end
      expect(wait_for_children([child]).first).to be_success, report_of(report)
      lines.close
      to_child.close
    end
  end

  describe "alongside other programs" do
    { start: true, stop: nil, running?: true }.each do |action, result|
      it "waits for `flock -x` held by another program before #{action}, then does it" do
        controller = new_controller
        controller.start unless action == :start
        holder = spawn_lock_holder("-x", lock_path, 0.8)
        value = nil
        took = elapsed { value = controller.public_send(action) }
        # flock(1) keeps the lock until it exits, after its command.
        expect(live_group_members(holder)).to eq([])
        expect(value).to eq(result)
        expect(took).to be >= 0.2
        expect(took).to be < 5
        expect(port_open?).to be(action != :stop)
      end
    end

    it "honours a PID file that another program wrote (pid, running?, stop)" do
      # A shell starts a process that is not our child and writes its PID as
      # plain text, the way init scripts do.
      system("sh", "-c", "sleep 30 </dev/null >/dev/null 2>&1 & echo $! > #{pid_file.shellescape}")
      other = read_pid_file
      track_pid(other)
      expect(File.read(pid_file)).to eq("#{other}\n")
      controller = new_controller
      expect(controller.pid).to eq(other)
      expect(controller.running?).to be(true)
      took = elapsed { controller.stop }
      expect(took).to be < 5
      expect(process_alive?(other)).to be(false)
      expect(File.exist?(pid_file)).to be(false)
      expect(controller.running?).to be_falsy
    end
  end
end
