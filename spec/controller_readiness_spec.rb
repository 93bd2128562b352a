# frozen_string_literal: true

require "spec_helper"

RSpec.describe DaemonController, "readiness pings" do
  def readiness_controller(flags, ping_command:, **options)
    program = File.expand_path("support/readiness_daemon.rb", __dir__)
    command = [RbConfig.ruby, "--disable-gems", program, *flags.map(&:to_s)].shelljoin
    DaemonController.new(**controller_options(start_command: command, ping_command: ping_command,
                                              daemonize_for_me: true, make_pid_file: true, **options))
  end

  def timed
    started = monotonic
    yield
    monotonic - started
  end

  describe "[:notify]" do
    it "starts once the program sends READY=1, not before" do
      controller = readiness_controller(["--ready-after", "0.4"], ping_command: [:notify])
      expect(timed { controller.start }).to be >= 0.4
      expect(controller.running?).to be(true)
      expect(File.read(log_file)).to match(%r{notify socket: /\S+})
      controller.stop
    end

    it "never counts as ready without READY=1, and lists the STATUS= lines in the report" do
      controller = readiness_controller(["--status", "loading 10%", "--status", "cannot open data dir"],
                                        ping_command: [:notify], start_timeout: 0.6)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout) { |error|
        expect(error.message).to include("status: loading 10%\nstatus: cannot open data dir")
        expect(error.message).to end_with("timed out)")
      }
    end

    it "reports a program that exits before it is ready as a StartError, with its STATUS= and ERRNO=" do
      controller = readiness_controller(["--status", "bad config", "--errno", "98", "--exit-after", "0.1"],
                                        ping_command: [:notify])
      expect { controller.start }.to raise_error(DaemonController::StartError,
                                                 /status: bad config\nstatus: errno 98, Address already in use/)
    end

    it "gives the socket to the start command only, and removes it afterwards" do
      stop_command = "echo stop sees ${NOTIFY_SOCKET:-nothing}; kill $(cat #{pid_file})"
      controller = readiness_controller(["--ready-after", "0"], ping_command: [:notify], stop_command: stop_command)
      controller.start
      socket = File.read(log_file)[%r{notify socket: (/\S+)}, 1]
      expect(File.exist?(socket)).to be(false)
      expect(controller.send(:run_ping_command)).to be(false)
      controller.stop
    end

    it "binds a socket path that fits every platform's socket address (103 bytes) under a long TMPDIR" do
      long_tmpdir = File.join(tmpdir, "a-temporary-directory-as-long-as-some-systems-give" * 2)
      Dir.mkdir(long_tmpdir)
      controller = readiness_controller(["--ready-after", "0"], ping_command: [:notify])
      original = ENV.fetch("TMPDIR", nil)
      begin
        ENV["TMPDIR"] = long_tmpdir
        controller.start
      ensure
        ENV["TMPDIR"] = original
      end
      socket = File.read(log_file)[%r{notify socket: (/\S+)}, 1]
      expect(socket.bytesize).to be <= 103
      expect(socket).to start_with("/tmp/")
      expect(File.exist?(socket)).to be(false)
      expect(Dir.children(long_tmpdir)).to eq([])
      controller.stop
    end

    it "rejects arguments" do
      expect { DaemonController.new(**controller_options(ping_command: [:notify, "x"])) }
        .to raise_error(ArgumentError, /\[:notify\]/)
    end
  end

  describe "[:http, url]" do
    let(:url) { "http://127.0.0.1:#{port}/health" }

    it "starts once the URL answers 2xx, not while the port is closed" do
      controller = readiness_controller(["--http-port", port, "--http-after", "0.3"], ping_command: [:http, url])
      expect(timed { controller.start }).to be >= 0.3
      controller.stop
    end

    it "counts a redirect as up" do
      controller = readiness_controller(["--http-port", port, "--http-status", 302], ping_command: [:http, url])
      expect(controller.start).to be(true)
      controller.stop
    end

    it "keeps to ping_interval when every failed ping makes the daemon log a line", :file_events do
      controller = readiness_controller(["--http-port", port, "--http-status", 404, "--log-requests"],
                                        ping_command: [:http, url], ping_interval: 0.25, start_timeout: 1.5,
                                        log_file_activity_timeout: nil)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
      requests = File.read(log_file).scan(/^request: /).size
      # 1.5 s of pings backing off from 1 ms to 0.25 s: about a dozen.
      expect(requests).to be_between(3, 30)
    end

    it "counts an error status as down" do
      controller = readiness_controller(["--http-port", port, "--http-status", 503], ping_command: [:http, url],
                                                                                     start_timeout: 0.6)
      expect { controller.start }.to raise_error(DaemonController::StartTimeout)
    end

    it "rejects URLs it cannot ping, naming the problem" do
      expect { DaemonController.new(**controller_options(ping_command: [:http, "https://example.com/"])) }
        .to raise_error(ArgumentError, %r{only http:// URLs can be pinged})
      expect { DaemonController.new(**controller_options(ping_command: [:http, 8080])) }
        .to raise_error(ArgumentError, /ping_command/)
    end
  end
end
