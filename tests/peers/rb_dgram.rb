# Ruby peer for dgram_address_test.ts: Socket#sendmsg to an address and
# Socket#recvmsg reporting the sender, with descriptors, on one bound
# datagram socket, as Ruby programs answer datagram clients.
#
# Usage: ruby rb_dgram.rb SERVER OWN, where SERVER is the parent's bound
# datagram socket and OWN the path this peer binds (an abstract name
# "\0name" arrives as "@name": argv cannot hold NUL).
#
# 1. Binds OWN and sends "ruby" with the read end of a pipe holding
#    "from ruby" to SERVER.
# 2. Receives the parent's answer: its data, the text read from the
#    descriptor that came with it, and who sent it.
# 3. Receives one message with descriptors from the parent's (autobound)
#    client and sends "echo:" + data and the same descriptors back to the
#    sender's address.
# Prints one JSON object with what it saw; an abstract address is "\0...".
require "json"
require "socket"

def name(arg) = arg.start_with?("@") ? "\0" + arg[1..] : arg

def rights(controls) = controls.flat_map { |c| c.unix_rights || [] }

server, own = ARGV.map { |arg| name(arg) }
sock = Socket.new(:UNIX, :DGRAM)
sock.bind(Addrinfo.unix(own))
r, w = IO.pipe
w.write("from ruby")
w.close
sock.sendmsg("ruby", 0, Addrinfo.unix(server), Socket::AncillaryData.unix_rights(r))
r.close

reply, sender, _flags, *controls = sock.recvmsg(256, 0, nil, scm_rights: true)
ios = rights(controls)
reply_fds = ios.length
text = ios.map(&:read).join
ios.each(&:close)

asked, asker, _flags, *controls = sock.recvmsg(256, 0, nil, scm_rights: true)
ios = rights(controls)
sock.sendmsg("echo:" + asked, 0, asker, Socket::AncillaryData.unix_rights(*ios))
ios.each(&:close)
sock.close
puts JSON.generate(
  "reply" => reply,
  "replyFds" => reply_fds,
  "replyText" => text,
  "replyFrom" => sender.unix_path,
  "asker" => asker.unix_path,
  "askerFds" => ios.length,
)
