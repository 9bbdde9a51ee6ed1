# Peer for send_fd_test.ts: Ruby's own UNIXSocket#recv_io and #send_io
# against fdpass's sendFd and receiveFd.
#
# Usage: ruby ruby_io.rb PATH
# Connects to PATH, takes a pipe's write end with recv_io and writes
# "from ruby" through it, then sends the read end of its own pipe (holding
# "to fdpass") with send_io. Prints "done".
require "socket"

sock = UNIXSocket.new(ARGV.fetch(0))
io = sock.recv_io
io.write("from ruby")
io.close
r, w = IO.pipe
w.write("to fdpass")
w.close
sock.send_io(r)
r.close
sock.close
puts "done"
