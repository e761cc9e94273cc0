"""An unprivileged client that tries to exhaust virtswarm-proxyd: run by
test_bridge_exhaustion.py as a test user (the attack needs the user's own uid on the
socket, and more descriptors than a default shell allows).

    bridge_hog.py idle SOCKET COUNT              COUNT connections that never send a byte
    bridge_hog.py partial SOCKET COUNT BYTES     each announces a 16 MiB frame and sends
                                                 BYTES of it, before CONNECT_OPEN
    bridge_hog.py partial-open SOCKET COUNT BYTES  the same after AUTH_LIST + CONNECT_OPEN
    bridge_hog.py fds-open SOCKET COUNT FDS      after CONNECT_OPEN, each sends FDS file
                                                 descriptors that no message announces

It prints "ready CONNECTED" once every connection was tried, then answers each line
"count" on stdin with "closed N": how many of its connections the server has closed.
It exits (closing everything) at the end of stdin.
"""

import os
import socket
import struct
import sys

from bridgewire import AUTH_LIST, CALL, OPEN, REMOTE, Conn, frame, opt_string, u32

FRAME_16_MIB = 16 * 1024 * 1024


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        return s
    except OSError:
        s.close()
        return None


def open_connection(sock):
    """AUTH_LIST + CONNECT_OPEN on a raw socket, as Conn.handshake does."""
    conn = Conn.__new__(Conn)
    conn.sock, conn.serial, conn.buf = sock, 0, b""
    conn.ok(AUTH_LIST)
    conn.ok(OPEN, opt_string("qemu:///system") + u32(0))


def send_partial_frame(sock, body_bytes):
    """The length word of a 16 MiB message, its header and body_bytes of its payload."""
    header = frame(REMOTE, 3, CALL, 99)[4:28]
    data = u32(FRAME_16_MIB) + header + b"\0" * body_bytes
    try:
        sock.sendall(data)
    except OSError:
        pass  # closed by the server: what a bounded server does


def send_unannounced_fds(sock, count):
    """count descriptors of /dev/null, 32 to a byte: the bytes begin a length word that
    never completes, so no message ever claims them."""
    null = os.open("/dev/null", os.O_RDONLY)
    try:
        while count > 0:
            batch = min(32, count)
            socket.send_fds(sock, [b"\0"], [null] * batch)
            count -= batch
    except OSError:
        pass  # closed by the server: what a bounded server does
    finally:
        os.close(null)


def is_closed(sock):
    # Non-blocking: with a timeout set, Python would wait for data first.
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def main():
    mode, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    body_bytes = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    sockets = []
    for _ in range(count):
        s = connect(path)
        if s is None:
            continue
        sockets.append(s)
        if mode in ("partial-open", "fds-open"):
            try:
                open_connection(s)
            except (OSError, AssertionError, struct.error):
                continue
        if mode in ("partial", "partial-open"):
            send_partial_frame(s, body_bytes)
        if mode == "fds-open":
            send_unannounced_fds(s, body_bytes)
    print(f"ready {len(sockets)}", flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(f"closed {sum(is_closed(s) for s in sockets)}", flush=True)
    for s in sockets:
        s.close()


if __name__ == "__main__":
    main()
