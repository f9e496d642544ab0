#!/usr/bin/env python3
"""A NOTIFY_SOCKET for tests: binds a Unix datagram socket, prints every sd_notify message as one
line on stdout (newlines inside a message become '|'), and closes any file descriptors passed
with it (systemd-notify waits on a BARRIER=1 message carrying an fd until it is closed)."""
import array, os, socket, sys

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
print("LISTENING", flush=True)
fds = array.array("i")
while True:
    msg, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            got = array.array("i")
            got.frombytes(data[: len(data) - (len(data) % got.itemsize)])
            for fd in got:
                os.close(fd)
    print(msg.decode("utf-8", "replace").replace("\n", "|"), flush=True)
