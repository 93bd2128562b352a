# frozen_string_literal: true

require_relative "spec_helper"

RSpec.describe DaemonController::LockFile do
  let(:lock_path) { File.join(tmpdir, "test.lock") }
  let(:lock_file) { described_class.new(lock_path) }

  # Takes the lock `kind` in a forked child that holds it until killed, or
  # for `hold` seconds at most (so that a wrongly blocking implementation
  # fails an example instead of hanging the suite). Returns the child's PID
  # once the lock is held.
  def hold_in_child(kind, hold = 30)
    path = lock_path # evaluate (and create the temp dir) before forking
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      described_class.new(path).public_send(kind) do
        writer.write("L")
        writer.close
        sleep hold
      end
      exit!(0)
    end
    track_pid(pid)
    writer.close
    expect(reader.read(1)).to eq("L")
    reader.close
    pid
  end

  def release_child(pid)
    DaemonControllerSpecHelper::REAL_KILL.call("KILL", pid)
    Process.wait(pid)
  end

  # Holds `flock -x lock_path sleep SECS` (util-linux) and waits until it
  # holds the lock. Returns its PID (the leader of its own process group).
  def hold_with_flock_command(seconds)
    spawn_lock_holder("-x", lock_path, seconds)
  end

  # Is the lock free, as seen from another process?
  def lock_free_elsewhere?
    system("flock", "-n", "-x", lock_path, "true")
  end

  describe "the class" do
    it "has AlreadyLocked < StandardError" do
      expect(described_class::AlreadyLocked.ancestors).to include(StandardError)
      expect(described_class::AlreadyLocked.superclass).to eq(StandardError)
    end
  end

  describe "block values" do
    it "returns the block's value from exclusive_lock" do
      expect(lock_file.exclusive_lock { 42 }).to eq(42)
    end

    it "returns the block's value from shared_lock" do
      expect(lock_file.shared_lock { :shared }).to eq(:shared)
    end

    it "returns the block's value from try_exclusive_lock" do
      obj = Object.new
      expect(lock_file.try_exclusive_lock { obj }).to equal(obj)
    end

    it "returns the block's value from try_shared_lock" do
      expect(lock_file.try_shared_lock { [1, 2] }).to eq([1, 2])
    end

    it "returns nil when the block returns nil" do
      expect(lock_file.exclusive_lock { nil }).to be_nil
    end

    it "yields nothing, so a lambda without parameters works as the block" do
      %i[exclusive_lock shared_lock try_exclusive_lock try_shared_lock].each do |kind|
        expect(lock_file.public_send(kind, &-> { kind })).to eq(kind)
        expect(lock_file.public_send(kind) { |*args| args }).to eq([])
      end
    end

    it "creates the lock file if it is missing" do
      expect(File.exist?(lock_path)).to be(false)
      lock_file.exclusive_lock { nil }
      expect(File.exist?(lock_path)).to be(true)
    end

    it "holds a real flock on the named file while the block runs" do
      during = lock_file.exclusive_lock { lock_free_elsewhere? }
      expect(during).to be(false)
      expect(lock_free_elsewhere?).to be(true)
    end

    it "holds a shared flock during shared_lock (a shared flock from elsewhere succeeds, an exclusive one does not)" do
      shared_ok, exclusive_ok = lock_file.shared_lock do
        [system("flock", "-n", "-s", lock_path, "true"), lock_free_elsewhere?]
      end
      expect(shared_ok).to be(true)
      expect(exclusive_ok).to be(false)
    end
  end

  describe "exceptions" do
    %i[exclusive_lock shared_lock try_exclusive_lock try_shared_lock].each do |kind|
      it "propagates an exception from the #{kind} block and releases the lock" do
        error = Class.new(StandardError)
        expect { lock_file.public_send(kind) { raise error, "boom" } }.to raise_error(error, "boom")
        expect(lock_free_elsewhere?).to be(true)
        expect(lock_file.try_exclusive_lock { :again }).to eq(:again)
      end
    end

    it "releases the lock when the block throws" do
      result = catch(:out) { lock_file.exclusive_lock { throw :out, :thrown } }
      expect(result).to eq(:thrown)
      expect(lock_free_elsewhere?).to be(true)
    end

    it "releases the lock when the block breaks out" do
      [1].each { lock_file.exclusive_lock { break } }
      expect(lock_free_elsewhere?).to be(true)
    end
  end

  describe "against a lock held by another process" do
    {
      %i[exclusive_lock try_exclusive_lock] => true,
      %i[exclusive_lock try_shared_lock] => true,
      %i[shared_lock try_exclusive_lock] => true,
      %i[shared_lock try_shared_lock] => false
    }.each do |(held, attempt), raises|
      if raises
        it "#{attempt} raises AlreadyLocked while a child holds #{held}, without running the block" do
          child = hold_in_child(held)
          ran = false
          expect { lock_file.public_send(attempt) { ran = true } }.to raise_error(described_class::AlreadyLocked)
          expect(ran).to be(false)
          release_child(child)
          expect(lock_file.public_send(attempt) { :now }).to eq(:now)
        end
      else
        it "#{attempt} succeeds while a child holds #{held}" do
          child = hold_in_child(held)
          expect(lock_file.public_send(attempt) { :both }).to eq(:both)
          release_child(child)
        end
      end
    end

    it "lets two shared locks coexist (shared_lock does not block on another process's shared lock)" do
      child = hold_in_child(:shared_lock)
      value = Timeout.timeout(3) { lock_file.shared_lock { :coexist } }
      expect(value).to eq(:coexist)
      release_child(child)
    end

    it "blocks exclusive_lock until the other process releases its lock" do
      child = hold_in_child(:shared_lock)
      acquired_at = nil
      thread = Thread.new { lock_file.exclusive_lock { acquired_at = monotonic } }
      sleep 0.3
      expect(acquired_at).to be_nil
      released_at = monotonic
      release_child(child)
      expect(thread.join(5)).to be_truthy
      expect(acquired_at).to be >= released_at
    end

    it "is blocked by `flock -x FILE sleep` and gets the lock after it releases" do
      hold_with_flock_command(0.6)
      started = monotonic
      value = lock_file.exclusive_lock { monotonic - started }
      expect(value).to be >= 0.3
      expect(value).to be < 5
    end

    it "locks a lock file renamed away and replaced at its new inode, excluding another process there" do
      lock_file.exclusive_lock { nil } # leaves a spare descriptor on the old file
      File.rename(lock_path, "#{lock_path}.old")
      File.write(lock_path, "")
      pid = hold_with_flock_command(30)
      expect { lock_file.try_exclusive_lock { nil } }.to raise_error(described_class::AlreadyLocked)
      kill_group(pid)
      lock_file.exclusive_lock { expect(lock_free_elsewhere?).to be(false) }
    end

    it "makes try_shared_lock raise AlreadyLocked while `flock -x` holds the file" do
      pid = hold_with_flock_command(30)
      expect { lock_file.try_shared_lock { nil } }.to raise_error(described_class::AlreadyLocked)
      kill_group(pid)
      # The killed `sleep` releases the lock when it is gone, a moment later.
      value = eventually(3) do
        lock_file.try_shared_lock { :released }
      rescue described_class::AlreadyLocked
        nil
      end
      expect(value).to eq(:released)
    end
  end

  describe "within one process" do
    # Four threads each take the exclusive lock `rounds` times from the
    # LockFile the block gives them; returns how many were inside at once.
    def most_threads_inside(rounds)
      inside = 0
      most = 0
      mutex = Mutex.new
      threads = Array.new(4) do
        Thread.new do
          rounds.times do
            yield.exclusive_lock do
              mutex.synchronize do
                inside += 1
                most = [most, inside].max
              end
              sleep 0.02
              mutex.synchronize { inside -= 1 }
            end
          end
        end
      end
      threads.each { |t| expect(t.join(10)).to be_truthy }
      most
    end

    it "serializes threads using separate LockFile objects" do
      expect(most_threads_inside(2) { described_class.new(lock_path) }).to eq(1)
    end

    it "serializes threads sharing one LockFile object" do
      lock_file.shared_lock { nil } # leaves a descriptor ready for reuse
      expect(most_threads_inside(3) { lock_file }).to eq(1)
    end

    it "keeps a shared lock of one thread from an exclusive try of another on the same object" do
      lock_file.exclusive_lock { nil }
      lock_file.shared_lock do
        other = Thread.new do
          lock_file.try_exclusive_lock { :locked }
        rescue described_class::AlreadyLocked
          :refused
        end
        expect(other.value).to eq(:refused)
      end
      expect(lock_file.try_exclusive_lock { :locked }).to eq(:locked)
    end

    it "excludes a child forked after the lock was used from the parent's lock, on the same object" do
      lock_file.shared_lock { nil } # the parent has used (and may keep) a descriptor
      reader, writer = IO.pipe
      pid = fork do
        reader.close
        lock_file.exclusive_lock do
          writer.write("L")
          writer.close
          sleep 30
        end
        exit!(0)
      end
      track_pid(pid)
      writer.close
      expect(reader.read(1)).to eq("L")
      expect { lock_file.try_shared_lock { nil } }.to raise_error(described_class::AlreadyLocked)
      expect { lock_file.try_exclusive_lock { nil } }.to raise_error(described_class::AlreadyLocked)
      release_child(pid)
      expect(lock_file.try_exclusive_lock { :free }).to eq(:free)
    end

    it "raises AlreadyLocked from try_exclusive_lock while another thread holds the lock" do
      holding = Queue.new
      release = Queue.new
      thread = Thread.new do
        described_class.new(lock_path).exclusive_lock do
          holding << true
          release.pop
        end
      end
      holding.pop
      expect { lock_file.try_exclusive_lock { nil } }.to raise_error(described_class::AlreadyLocked)
      release << true
      thread.join
    end
  end

  describe "the GVL and interrupts" do
    it "lets other threads run while waiting for a blocked lock" do
      child = hold_in_child(:exclusive_lock, 3)
      waiter = Thread.new { lock_file.exclusive_lock { :got_it } }
      # If the waiter held the GVL, this thread could not wake up before the
      # child gives the lock up after 3 seconds.
      expect(elapsed { sleep 0.1 }).to be < 1
      counter = 0
      deadline = monotonic + 0.3
      counter += 1 while monotonic < deadline
      expect(counter).to be > 1000
      expect(waiter).to be_alive
      release_child(child)
      expect(waiter.value).to eq(:got_it)
    end

    it "lets another thread make progress with sleeps while we wait" do
      child = hold_in_child(:exclusive_lock, 3)
      ticks = 0
      ticker = Thread.new do
        20.times do
          sleep 0.01
          ticks += 1
        end
      end
      waiter = Thread.new { lock_file.shared_lock { :got_it } }
      expect(ticker.join(3)).to be_truthy
      expect(ticks).to eq(20)
      release_child(child)
      expect(waiter.value).to eq(:got_it)
    end

    it "is interrupted by Thread#raise within half a second and leaves the lock free" do
      child = hold_in_child(:exclusive_lock, 3)
      error_class = Class.new(StandardError)
      caught = Queue.new
      waiter = Thread.new do
        lock_file.exclusive_lock { :never }
      rescue error_class => e
        caught << [e, monotonic]
      end
      sleep 0.2
      expect(waiter).to be_alive
      raised_at = monotonic
      waiter.raise(error_class, "interrupted")
      expect(waiter.join(2)).to be_truthy
      error, when_caught = caught.pop
      expect(error).to be_a(error_class)
      expect(when_caught - raised_at).to be < 0.5
      release_child(child)
      # Our side holds nothing: another process can take the lock at once.
      expect(lock_free_elsewhere?).to be(true)
      expect(lock_file.try_exclusive_lock { :free }).to eq(:free)
    end

    it "is interrupted by Timeout.timeout(0.3) within half a second and leaves the lock free" do
      child = hold_in_child(:exclusive_lock, 3)
      took = elapsed do
        expect { Timeout.timeout(0.3) { lock_file.exclusive_lock { :never } } }.to raise_error(Timeout::Error)
      end
      expect(took).to be < 0.8
      release_child(child)
      expect(lock_free_elsewhere?).to be(true)
    end

    it "is interrupted by Thread#kill" do
      child = hold_in_child(:shared_lock, 3)
      waiter = Thread.new { lock_file.exclusive_lock { :never } }
      sleep 0.2
      waiter.kill
      expect(waiter.join(1)).to be_truthy
      release_child(child)
      expect(lock_free_elsewhere?).to be(true)
    end

    it "does not leave the lock to a waiter that was interrupted (it does not get it later)" do
      child = hold_in_child(:exclusive_lock, 3)
      expect { Timeout.timeout(0.2) { lock_file.exclusive_lock { :never } } }.to raise_error(Timeout::Error)
      release_child(child)
      sleep 0.1
      # If a background waiter had acquired the lock after the timeout, the
      # file would still be locked here.
      expect(lock_free_elsewhere?).to be(true)
    end
  end

  describe "descriptor inheritance" do
    it "does not pass the lock descriptor to spawned programs" do
      out = File.join(tmpdir, "fds")
      lock_file.exclusive_lock do
        # `sh -c` lists the descriptors open in a spawned program, and says
        # which files they name.
        pid = Process.spawn("sh", "-c", "for f in /proc/$$/fd/*; do readlink \"$f\"; done > #{out.shellescape}",
                            close_others: false)
        Process.wait(pid)
      end
      expect(File.read(out)).not_to include(lock_path)
    end

    it "does not keep the lock held through a spawned program that outlives the block" do
      pid = nil
      lock_file.exclusive_lock do
        pid = Process.spawn("sleep", "30", close_others: false)
        track_pid(pid)
      end
      expect(process_alive?(pid)).to be(true)
      expect(lock_free_elsewhere?).to be(true)
    end
  end

  describe "errors opening the lock file" do
    it "raises Errno::ENOENT for a lock file in a missing directory" do
      lock = described_class.new(File.join(tmpdir, "missing", "dir", "x.lock"))
      expect { lock.exclusive_lock { nil } }.to raise_error(Errno::ENOENT)
      expect { lock.try_shared_lock { nil } }.to raise_error(Errno::ENOENT)
    end

    it "raises Errno::ENOTDIR for a lock file under a regular file" do
      file = File.join(tmpdir, "plain")
      File.write(file, "")
      lock = described_class.new(File.join(file, "x.lock"))
      expect { lock.shared_lock { nil } }.to raise_error(Errno::ENOTDIR)
    end

    it "raises the matching Errno exception (EACCES/EROFS/EPERM) for a path it may not create" do
      # /proc refuses new files even to root.
      lock = described_class.new("/proc/daemon_controller_spec.lock")
      expect { lock.exclusive_lock { nil } }.to raise_error(SystemCallError) { |e|
        expect([Errno::EACCES, Errno::EROFS, Errno::EPERM, Errno::ENOENT]).to include(e.class)
      }
    end

    it "raises Errno::EACCES when the process may not open the file" do
      File.write(lock_path, "")
      File.chmod(0o000, lock_path)
      # Root may open anything: an unprivileged child tries.
      result = in_unprivileged_child { described_class.new(lock_path).exclusive_lock { nil } }
      expect(result.first(2)).to eq([:error, "Errno::EACCES"])
    end

    it "does not run the block when opening fails" do
      ran = false
      lock = described_class.new(File.join(tmpdir, "missing", "x.lock"))
      expect { lock.exclusive_lock { ran = true } }.to raise_error(Errno::ENOENT)
      expect(ran).to be(false)
    end
  end
end
