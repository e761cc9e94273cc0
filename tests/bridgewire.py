"""The libvirt RPC wire format for tests that talk to virtswarm-proxyd byte by byte: XDR
helpers, frames and a raw protocol connection (Conn)."""

import socket
import struct

REMOTE = 0x20008086
KEEPALIVE = 0x6B656570
CALL, REPLY, MESSAGE, STREAM = 0, 1, 2, 3
OK, ERROR = 0, 1

# procedures
OPEN, CLOSE, GET_TYPE, GET_VERSION = 1, 2, 3, 4
DEFINE_XML, LOOKUP_BY_NAME, SUSPEND, UNDEFINE = 11, 23, 34, 35
GET_LIB_VERSION, SUPPORTS_FEATURE, AUTH_LIST = 157, 60, 66
LIST_ALL_DOMAINS, LIST_ALL_STORAGE_POOLS = 273, 281
EVENT_REGISTER, EVENT_DEREGISTER, EVENT_LIFECYCLE = 316, 317, 318


# ---------------------------------------------------------------- XDR
def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def i32(v):
    return struct.pack(">i", v)


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return u32(len(b)) + b + b"\0" * (-len(b) % 4)


def opt_string(s):
    return u32(0) if s is None else u32(1) + string(s)


class Unpacker:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def u32(self):
        v = struct.unpack_from(">I", self.data, self.pos)[0]
        self.pos += 4
        return v

    def i32(self):
        v = struct.unpack_from(">i", self.data, self.pos)[0]
        self.pos += 4
        return v

    def u64(self):
        v = struct.unpack_from(">Q", self.data, self.pos)[0]
        self.pos += 8
        return v

    def string(self):
        n = self.u32()
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n + (-n % 4)
        return s

    def opt_string(self):
        return self.string() if self.u32() else None

    def domain(self):
        name = self.string()
        uuid = self.data[self.pos:self.pos + 16]
        self.pos += 16
        return name, uuid, self.i32()

    def error(self):
        code, dom = self.i32(), self.i32()
        return code, dom, self.opt_string()


def frame(prog, proc, typ, serial, status=OK, payload=b"", vers=1):
    body = struct.pack(">IIiIII", prog, vers, proc, typ, serial, status) + payload
    return u32(len(body) + 4) + body


class Conn:
    """One raw protocol connection with a reassembling reader."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.serial = 0
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_call(self, proc, payload=b"", prog=REMOTE, vers=1, typ=CALL):
        serial = self.serial
        self.serial += 1
        self.send_raw(frame(prog, proc, typ, serial, OK, payload, vers))
        return serial

    def recv_message(self):
        """(prog, vers, proc, type, serial, status, payload), or None at EOF."""
        while True:
            if len(self.buf) >= 4:
                (length,) = struct.unpack_from(">I", self.buf)
                if len(self.buf) >= length:
                    msg, self.buf = self.buf[:length], self.buf[length:]
                    return struct.unpack_from(">IIiIII", msg, 4) + (msg[28:],)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def reply_to(self, serial):
        """The reply with this serial, skipping events."""
        while True:
            m = self.recv_message()
            assert m is not None, "connection closed while waiting for a reply"
            if m[3] == REPLY and m[4] == serial:
                return m

    def call(self, proc, payload=b"", **kw):
        m = self.reply_to(self.send_call(proc, payload, **kw))
        assert m[2] == proc
        return m[5], Unpacker(m[6])

    def ok(self, proc, payload=b""):
        status, u = self.call(proc, payload)
        assert status == OK, f"procedure {proc} failed: {u.error()}"
        return u

    def err(self, proc, payload=b"", **kw):
        status, u = self.call(proc, payload, **kw)
        assert status == ERROR, f"procedure {proc} unexpectedly succeeded"
        return u.error()

    def handshake(self, uri="qemu:///system", flags=0):
        types = self.ok(AUTH_LIST)
        assert types.u32() == 1 and types.i32() == 0
        self.ok(OPEN, opt_string(uri) + u32(flags))
        return self

    def is_closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
