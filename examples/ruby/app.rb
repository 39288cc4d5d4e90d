# A hello-world web server on the standard library's TCPServer: one greeting for every request.
require "socket"

GREETING = "Hello from Ruby!\n"
port = Integer(ENV.fetch("PORT", "5000"))
server = TCPServer.new("0.0.0.0", port)
$stdout.sync = true
puts "listening on :#{port} (ruby #{RUBY_VERSION})"

loop do
  client = server.accept
  # Read the request line and headers; the answer is the same whatever was asked.
  while (line = client.gets) && line != "\r\n"
  end
  client.write "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: #{GREETING.bytesize}\r\n" \
               "Connection: close\r\n\r\n#{GREETING}"
  client.close
rescue Errno::EPIPE, Errno::ECONNRESET
  client&.close
end
