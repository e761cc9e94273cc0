"""A minimal VNC (RFB 3.8) client for the tests: the handshake, and one whole frame.

Enough to see what a guest shows on a socket QEMU's VNC server serves, without a viewer:
security type None (a socket opened with skip-auth), raw encoding, 32-bit pixels stored
as B, G, R, X bytes (what an X server's 24-bit screen stores too).
"""

from __future__ import annotations

import re
import struct

NONE, VNC_AUTH = 1, 2
DESKTOP_SIZE = -223  # a pseudo-encoding: the framebuffer changed size


def recv_exact(sock, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"the VNC server closed after {len(data)} of {count} bytes")
        data += chunk
    return bytes(data)


def security_types(sock) -> list[int]:
    """The handshake up to the security types the server offers."""
    sock.settimeout(30)
    version = recv_exact(sock, 12)
    if not re.fullmatch(rb"RFB 003\.00\d\n", version):
        raise ConnectionError(f"not an RFB server: {version!r}")
    sock.sendall(b"RFB 003.008\n")
    count = recv_exact(sock, 1)[0]
    if count == 0:
        raise ConnectionError("the server refused the connection")
    return list(recv_exact(sock, count))


class Frame:
    def __init__(self, width: int, height: int, pixels: bytearray):
        self.width, self.height, self.pixels = width, height, pixels

    def row(self, y: int) -> bytes:
        return bytes(self.pixels[y * self.width * 4:(y + 1) * self.width * 4])

    def colours(self) -> int:
        return len({bytes(self.pixels[i:i + 3]) for i in range(0, len(self.pixels), 4)})


def frame(sock) -> Frame:
    """Logs in with security type None and reads one full, raw framebuffer update."""
    offered = security_types(sock)
    if NONE not in offered:
        raise ConnectionError(f"the server asks for authentication ({offered})")
    sock.sendall(bytes([NONE]))
    if struct.unpack(">I", recv_exact(sock, 4))[0] != 0:
        raise ConnectionError("security handshake failed")
    sock.sendall(b"\x01")  # ClientInit: shared
    width, height = struct.unpack(">HH", recv_exact(sock, 4))
    recv_exact(sock, 16)  # the server's pixel format
    recv_exact(sock, struct.unpack(">I", recv_exact(sock, 4))[0])  # desktop name
    # SetPixelFormat: 32 bpp, depth 24, little endian, true colour, 8 bits each at 16/8/0.
    sock.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
    # SetEncodings: raw, and DesktopSize, so a guest that changed its mode since the
    # connection (the firmware's text mode) says so instead of sending a smaller frame.
    sock.sendall(struct.pack(">BxHii", 2, 2, 0, DESKTOP_SIZE))
    result = Frame(width, height, bytearray(width * height * 4))
    covered = 0
    sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))  # a full update
    while covered < result.width * result.height:
        kind = recv_exact(sock, 1)[0]
        if kind == 2:  # Bell
            continue
        if kind == 3:  # ServerCutText
            recv_exact(sock, 3)
            recv_exact(sock, struct.unpack(">I", recv_exact(sock, 4))[0])
            continue
        if kind != 0:
            raise ConnectionError(f"unexpected server message {kind}")
        recv_exact(sock, 1)
        for _ in range(struct.unpack(">H", recv_exact(sock, 2))[0]):
            x, y, w, h, encoding = struct.unpack(">HHHHi", recv_exact(sock, 12))
            if encoding == DESKTOP_SIZE:
                result = Frame(w, h, bytearray(w * h * 4))
                covered = 0
                sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, w, h))
                continue
            if encoding != 0:
                raise ConnectionError(f"unexpected encoding {encoding}")
            data = recv_exact(sock, w * h * 4)
            for row in range(h):
                start = ((y + row) * result.width + x) * 4
                result.pixels[start:start + w * 4] = data[row * w * 4:(row + 1) * w * 4]
            covered += w * h
    return result
