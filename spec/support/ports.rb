# frozen_string_literal: true

# Ports on the loopback interface, and talking to the test daemon through them.
module DaemonControllerSpecHelper
  # A TCP port on 127.0.0.1 that nothing listens on right now. Ports handed
  # out in this process are never handed out twice.
  def free_port
    DaemonControllerSpecHelper.free_port
  end

  @used_ports = {}
  @port_mutex = Mutex.new

  def self.free_port
    @port_mutex.synchronize do
      loop do
        server = TCPServer.new("127.0.0.1", 0)
        port = server.addr[1]
        server.close
        next if @used_ports[port]

        @used_ports[port] = true
        return port
      end
    end
  end

  def port
    @port ||= free_port
  end

  # True when something accepts TCP connections on 127.0.0.1:port.
  def port_open?(the_port = port)
    TCPSocket.new("127.0.0.1", the_port).close
    true
  rescue SystemCallError
    false
  end

  # Sends a line to the test daemon and returns the echoed line.
  def echo(line, the_port = port)
    socket = TCPSocket.new("127.0.0.1", the_port)
    socket.puts(line)
    socket.gets
  ensure
    socket&.close
  end
end
