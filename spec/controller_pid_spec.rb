# frozen_string_literal: true

require_relative "spec_helper"
require "logger"

RSpec.describe DaemonController, "#pid and #running?" do
  let(:controller) do
    described_class.new(identifier: "pid test", start_command: "true",
                        ping_command: [:tcp, "127.0.0.1", port],
                        pid_file: pid_file, log_file: log_file)
  end

  # Another process holds the controller's lock file with `flock MODE`.
  def hold_lock_elsewhere(mode)
    spawn_lock_holder(mode, "#{pid_file}.lock")
  end

  describe "#pid" do
    it "returns the PID file's digits as an Integer" do
      File.write(pid_file, "1234")
      expect(controller.pid).to eq(1234)
    end

    it "strips surrounding whitespace" do
      File.write(pid_file, "  5678 \n\n")
      expect(controller.pid).to eq(5678)
    end

    it "returns nil for garbage" do
      File.write(pid_file, "hello\n")
      expect(controller.pid).to be_nil
    end

    it "returns nil, and running? is falsy, for content longer than 128 bytes, " \
       "however large (a 1 GB sparse file, a link to /dev/zero)" do
      File.write(pid_file, "#{" " * 123}4321\n")
      expect(controller.pid).to eq(4321)
      File.write(pid_file, "#{" " * 124}4321\n")
      expect(controller.pid).to be_nil
      File.open(pid_file, "w") { |f| f.truncate(1 << 30) }
      expect(controller.pid).to be_nil
      expect(controller.running?).to be_falsy
      File.delete(pid_file)
      File.symlink("/dev/zero", pid_file)
      expect(controller.pid).to be_nil
      expect(controller.running?).to be_falsy
      controller.stop
    end

    it "returns nil for digits mixed with garbage" do
      File.write(pid_file, "12abc\n")
      expect(controller.pid).to be_nil
      File.write(pid_file, "-12\n")
      expect(controller.pid).to be_nil
      File.write(pid_file, "1 2\n")
      expect(controller.pid).to be_nil
    end

    it "returns nil for an empty PID file" do
      File.write(pid_file, "")
      expect(controller.pid).to be_nil
    end

    it "returns nil for a whitespace-only PID file" do
      File.write(pid_file, " \n")
      expect(controller.pid).to be_nil
    end

    it "returns nil when the PID file is missing" do
      expect(controller.pid).to be_nil
    end

    it "raises Errno::EISDIR when the PID file is a directory" do
      Dir.mkdir(pid_file)
      expect { controller.pid }.to raise_error(Errno::EISDIR)
    end

    it "raises Errno::EACCES when the PID file may not be read" do
      path = File.join(open_dir, "daemon.pid")
      File.write(path, "123\n")
      File.chmod(0o600, path)
      c = described_class.new(identifier: "eacces", start_command: "true", ping_command: [:tcp, "127.0.0.1", port],
                              pid_file: path, log_file: log_file)
      result = in_unprivileged_child { c.pid }
      expect(result[0..1]).to eq([:error, "Errno::EACCES"])
    end

    it "reads the PID file under a shared lock (waits while another process holds it exclusively)" do
      File.write(pid_file, "42")
      hold_lock_elsewhere("-x")
      expect { Timeout.timeout(0.3) { controller.pid } }.to raise_error(Timeout::Error)
    end

    it "does not wait while another process holds a shared lock" do
      File.write(pid_file, "42")
      hold_lock_elsewhere("-s")
      expect(Timeout.timeout(3) { controller.pid }).to eq(42)
    end
  end

  describe "#running?" do
    it "is nil without a PID file" do
      expect(controller.running?).to be_nil
    end

    it "is nil with an invalid PID file, which it leaves alone" do
      File.write(pid_file, "garbage")
      expect(controller.running?).to be_nil
      expect(File.read(pid_file)).to eq("garbage")
    end

    it "is true for a live process named in the PID file, and keeps the file" do
      sleeper = spawn_sleeper
      write_pid_file(sleeper)
      expect(controller.running?).to be(true)
      expect(File.exist?(pid_file)).to be(true)
    end

    it "is falsy for PID 1, the controller's own process and its process group leader, " \
       "leaves the file alone and says why in a debug line" do
      io = StringIO.new
      controller = new_controller(logger: Logger.new(io))
      # A child in a process group of its own, which it leads: the PID file
      # names the child, then the group's leader from a second child.
      reader, writer = IO.pipe
      leader = fork do
        reader.close
        Process.setpgid(0, 0)
        write_pid_file(Process.pid)
        own = controller.running?
        member = fork { exit!(controller.running? ? 1 : 0) }
        Process.wait(member)
        writer.write(Marshal.dump([own, $?.exitstatus]))
        exit!(0)
      end
      writer.close
      own, member_status = Marshal.load(reader.read) # rubocop:disable Security/MarshalLoad -- from our own child
      Process.wait(leader)
      expect(own).to be_falsy
      expect(member_status).to eq(0)
      write_pid_file(1)
      expect(controller.running?).to be_falsy
      expect(File.exist?(pid_file)).to be(true)
      expect(io.string).to include("The PID file names PID 1, the init process (PID 1): invalid, nothing is signalled")
    end

    it "is false for a PID that no process has, and deletes the stale PID file" do
      write_pid_file(unused_pid)
      expect(controller.running?).to be(false)
      expect(File.exist?(pid_file)).to be(false)
    end

    it "treats a zombie (exited, not yet reaped) as not running, and deletes the PID file" do
      zombie = zombie_pid
      expect(File.read("/proc/#{zombie}/stat")).to match(/\) Z /)
      write_pid_file(zombie)
      expect(controller.running?).to be(false)
      expect(File.exist?(pid_file)).to be(false)
    end

    it "is false, without raising, for a huge PID" do
      File.write(pid_file, "99999999\n")
      expect(controller.running?).to be(false)
      expect(File.exist?(pid_file)).to be(false)
    end

    it "is false, without raising, for a PID beyond the range of pid_t (not truncated to 1)" do
      File.write(pid_file, "#{(2**32) + 1}\n")
      expect { expect(controller.running?).to be_falsy }.not_to raise_error
    end

    it "counts a process that it may not signal (EPERM) as running" do
      sleeper = spawn_sleeper
      path = File.join(open_dir, "daemon.pid")
      File.write(path, "#{sleeper}\n")
      File.chmod(0o644, path)
      c = described_class.new(identifier: "eperm", start_command: "true", ping_command: [:tcp, "127.0.0.1", port],
                              pid_file: path, log_file: log_file)
      result = in_unprivileged_child do
        begin
          Process.kill(0, sleeper)
          raise "could not set up EPERM: the child may signal the sleeper"
        rescue Errno::EPERM
          nil
        end
        c.running?
      end
      expect(result).to eq([:ok, true])
      expect(File.exist?(path)).to be(true)
    end

    describe "PID reuse" do
      it "is false when the process started long after the PID file was written " \
         "(the file is removed and the process not signalled)", :process_table do
        sleeper = pid_file_naming_a_reused_pid
        allow(Process).to receive(:kill).and_call_original
        expect(controller.running?).to be(false)
        expect(File.exist?(pid_file)).to be(false)
        expect(Process).not_to have_received(:kill).with(anything, sleeper)
        expect(process_alive?(sleeper)).to be(true)
      end

      it "still counts the process as running when the PID file is only slightly (< 5 s) older than the process" do
        sleeper = spawn_sleeper
        write_pid_file(sleeper)
        slightly = process_start_time(sleeper) - 2
        File.utime(slightly, slightly, pid_file)
        expect(controller.running?).to be(true)
        expect(File.exist?(pid_file)).to be(true)
      end

      it "never takes a kernel thread for the daemon (a PID file naming one is stale; stop signals nothing)",
         :process_table do
        kernel_thread = Dir.children("/proc").grep(/\A\d+\z/).map(&:to_i).find do |pid|
          stat = File.read("/proc/#{pid}/stat") rescue nil # rubocop:disable Style/RescueModifier
          stat && stat[(stat.rindex(")") + 2)..].split[6].to_i & 0x200000 != 0
        end
        skip "no kernel thread is visible in this PID namespace" unless kernel_thread
        write_pid_file(kernel_thread)
        allow(Process).to receive(:kill).and_call_original
        expect(controller.running?).to be(false)
        expect(File.exist?(pid_file)).to be(false)
        write_pid_file(kernel_thread)
        controller.stop
        expect(Process).not_to have_received(:kill).with(anything, kernel_thread)
      end

      it "counts a PID file written after the process started as running" do
        sleeper = spawn_sleeper
        sleep 0.05
        write_pid_file(sleeper)
        future = Time.now + 60
        File.utime(future, future, pid_file)
        expect(controller.running?).to be(true)
      end
    end

    it "goes through the daemon_is_running? seam" do
      expect(controller).to receive(:daemon_is_running?).and_return(true)
      expect(controller.running?).to be(true)
    end

    it "asks under a shared lock (waits while another process holds the lock exclusively)" do
      write_pid_file(Process.pid)
      hold_lock_elsewhere("-x")
      expect { Timeout.timeout(0.3) { controller.running? } }.to raise_error(Timeout::Error)
    end

    it "reflects a real daemon's life cycle" do
      c = new_controller
      expect(c.running?).to be_falsy
      c.start
      expect(c.running?).to be(true)
      expect(c.pid).to eq(read_pid_file)
      c.stop
      expect(c.running?).to be_falsy
      expect(c.pid).to be_nil
    end
  end
end
