#!/usr/bin/python3
"""A fake, hostile "QEMU" for the isolation tests.

The shim runs it as the domain's emulator (``<devices><emulator>/abs/path/hostile_qemu.py
</emulator>``) with the argv it would give QEMU. What matters here:

* ``-chardev socket,id=monitor,fd=N,server=on,wait=off``: fd N is a LISTENING unix
  socket bound by the shim; we accept() the shim's connection on it and speak (or abuse)
  QMP there.
* ``-append <kernel cmdline>``: selects the behaviour with ``hostile=<mode>`` (no
  environment is needed, the switch travels inside the domain XML's <cmdline>).

Modes:

* ``good``       greeting, handshake, answers every command like a tiny QEMU (``cont``,
                 ``stop``, ``query-status``, ``system_powerdown``, ``quit``, ...). Proves
                 the fake itself works, so a failure in a hostile mode means something.
                 (In every mode a ``migrate`` — a managed save — streams forever, 1 MiB of
                 a 128 MiB guest per ``query-migrate``, until ``migrate_cancel``.)
* ``garbage``    greeting, then random bytes (never answers ``qmp_capabilities``).
* ``hugeline``   behaves until the guest runs (``cont`` answered), then writes a 100 MB
                 line without a newline, in chunks.
* ``flood``      behaves until the guest runs, then floods valid events as fast as it can
                 for ~10 s while still answering commands, then behaves again.
* ``earlyclose`` closes the monitor right after accept() and lingers (a QEMU whose
                 monitor died).
* ``noreply``    greeting, then never answers ``qmp_capabilities`` (reads and ignores).
* ``slowchardev`` like ``good``, but answers ``query-chardev`` only after 2 s (as a
                 loaded host might), reporting a real pty as serial0 on which it writes
                 ``FAKE-CONSOLE`` lines.

Every mode writes a line ``hostile_qemu: <what>`` to stderr (the domain's QEMU log) so a
test can see how far it got. The process exits on SIGTERM/SIGKILL like QEMU, and on
``quit``. Behaviour after the monitor is gone: it lingers (sleeps) so that the shim has
to kill it, as it would have to kill a real QEMU whose monitor broke.
"""

import json
import os
import re
import select
import signal
import socket
import sys
import time
import tty

GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7},
                                "package": "hostile-fake"},
                    "capabilities": ["oob"]}}
FLOOD_SECONDS = 10.0
HUGE_LINE_BYTES = 100 * 1024 * 1024
CHUNK = 64 * 1024


MIB = 1024 * 1024
FAKE_RAM = 128 * MIB   # what query-migrate says the guest's RAM is


def say(msg: str) -> None:
    sys.stderr.write(f"hostile_qemu[{os.getpid()}]: {msg}\n")
    sys.stderr.flush()


def parse_argv(argv):
    monitor_fd = None
    append = ""
    name = ""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if arg == "-chardev" and value.startswith("socket,") and "id=monitor" in value:
            m = re.search(r"(?:^|,)fd=(\d+)", value)
            if m:
                monitor_fd = int(m.group(1))
        elif arg == "-append":
            append = value
        elif arg == "-name":
            m = re.search(r"guest=([^,]*)", value)
            name = m.group(1) if m else value
    m = re.search(r"hostile=(\w+)", append)
    mode = m.group(1) if m else "good"
    return monitor_fd, mode, name


def linger() -> None:
    """A QEMU that lost its monitor keeps running until somebody kills it."""
    say("lingering")
    while True:
        time.sleep(3600)


def now_ts():
    t = time.time()
    return {"seconds": int(t), "microseconds": int((t % 1) * 1e6)}


class Monitor:
    """The minimal well-behaved QMP server side, with a few hooks for the modes."""

    def __init__(self, conn: socket.socket, mode: str):
        self.conn = conn
        self.mode = mode
        self.inbuf = b""
        self.outbuf = b""
        self.running = False
        self.guest_runs = False      # cont answered once: the domain is "booted"
        self.flood_until = None
        self.flood_chunk = b""
        self.delayed = []            # (due, message) replies held back
        self.pty = None              # (master, slave path) in slowchardev mode
        self.migration = None        # None, "active" or "cancelled"
        self.migrated = 0            # bytes "sent" so far

    def send(self, obj) -> None:
        self.outbuf += json.dumps(obj).encode() + b"\n"

    def event(self, name: str, data=None) -> None:
        msg = {"event": name, "timestamp": now_ts()}
        if data is not None:
            msg["data"] = data
        self.send(msg)

    def handle(self, msg) -> None:
        cmd = msg.get("execute")
        mid = msg.get("id")

        def ok(ret=None):
            reply = {"return": {} if ret is None else ret}
            if mid is not None:
                reply["id"] = mid
            self.send(reply)

        if cmd == "qmp_capabilities":
            if self.mode == "noreply":
                say("ignoring qmp_capabilities")
                return
            ok()
        elif cmd == "cont":
            ok()
            if not self.running:
                self.running = True
                self.event("RESUME")
            if not self.guest_runs:
                self.guest_runs = True
                say("guest runs")
        elif cmd == "stop":
            ok()
            if self.running:
                self.running = False
                self.event("STOP")
                say("paused; STOP event queued")
        elif cmd == "query-status":
            ok({"status": "running" if self.running else "paused",
                "running": self.running, "singlestep": False})
        elif cmd in ("system_powerdown",):
            ok()
            self.event("POWERDOWN")
            self.event("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
        elif cmd == "system_reset":
            ok()
            self.event("RESET", {"guest": False, "reason": "host-qmp-system-reset"})
        elif cmd == "quit":
            ok()
            self.flush_blocking()
            say("quit")
            os._exit(0)
        elif cmd == "query-chardev" and self.mode == "slowchardev":
            if self.pty is None:
                master, slave = os.openpty()
                tty.setraw(slave)
                os.set_blocking(master, False)   # nobody may be reading
                self.pty = (master, os.ttyname(slave), slave)
            reply = {"return": [{"label": "serial0", "filename": f"pty:{self.pty[1]}",
                                 "frontend-open": True}], "id": mid}
            self.delayed.append((time.monotonic() + 2.0, reply))
            say(f"query-chardev answered in 2 s: serial0 on {self.pty[1]}")
        elif cmd == "migrate":
            # A save that streams forever (1 MiB per query-migrate): a job to watch and
            # abort, never done.
            ok()
            self.migration, self.migrated = "active", 0
            say("migration started")
        elif cmd == "query-migrate":
            if self.migration == "active":
                self.migrated = min(self.migrated + MIB, FAKE_RAM - MIB)
                ok({"status": "active", "ram": {"total": FAKE_RAM, "transferred": self.migrated,
                                                 "remaining": FAKE_RAM - self.migrated}})
            elif self.migration == "cancelled":
                ok({"status": "cancelled"})
            else:
                ok({})
        elif cmd == "migrate_cancel":
            ok()
            if self.migration == "active":
                self.migration = "cancelled"
                say("migration cancelled")
        elif cmd in ("query-chardev", "query-blockstats", "query-block", "query-pci"):
            ok([])
        else:
            ok()

    def flush_blocking(self) -> None:
        try:
            self.conn.setblocking(True)
            self.conn.sendall(self.outbuf)
        except OSError:
            pass
        self.outbuf = b""

    def serve(self) -> None:
        """Answers commands; in flood mode also writes events whenever possible."""
        self.conn.setblocking(False)
        self.send(GREETING)
        hugeline_sent = 0
        while True:
            flooding = self.flood_until is not None and time.monotonic() < self.flood_until
            if self.flood_until is not None and not flooding and self.flood_chunk:
                say("flood over")
                self.flood_chunk = b""
            want_write = bool(self.outbuf) or flooding or (
                self.mode == "hugeline" and self.guest_runs)
            now = time.monotonic()
            for item in [d for d in self.delayed if d[0] <= now]:
                self.delayed.remove(item)
                self.send(item[1])
                want_write = True
            if self.pty is not None and now >= getattr(self, "_console_due", 0):
                self._console_due = now + 0.2
                try:
                    os.write(self.pty[0], b"FAKE-CONSOLE\r\n")
                except OSError:
                    pass
            timeout = 0.1 if (self.delayed or self.pty) else 0.5
            r, w, _ = select.select([self.conn], [self.conn] if want_write else [], [], timeout)
            if r:
                try:
                    data = self.conn.recv(CHUNK)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    say("monitor closed by the shim")
                    return
                if data and self.mode == "hugeline" and self.guest_runs:
                    pass  # the line must never end: no replies interleaved from now on
                elif data:
                    self.inbuf += data
                    while b"\n" in self.inbuf:
                        line, self.inbuf = self.inbuf.split(b"\n", 1)
                        if not line.strip():
                            continue
                        try:
                            msg = json.loads(line)
                        except ValueError:
                            continue
                        if isinstance(msg, dict):
                            self.handle(msg)
            if self.mode == "flood" and self.guest_runs and self.flood_until is None:
                say("flooding events")
                self.flood_until = time.monotonic() + FLOOD_SECONDS
                line = json.dumps({"event": "RTC_CHANGE", "data": {"offset": 0},
                                   "timestamp": now_ts()}).encode() + b"\n"
                self.flood_chunk = line * (CHUNK // len(line))
            if w:
                # Replies first; the flood fills whatever room is left.
                if self.outbuf:
                    try:
                        n = self.conn.send(self.outbuf)
                        self.outbuf = self.outbuf[n:]
                    except BlockingIOError:
                        pass
                    except OSError:
                        say("monitor write failed")
                        return
                elif flooding:
                    try:
                        self.conn.send(self.flood_chunk)
                    except BlockingIOError:
                        pass
                    except OSError:
                        say("monitor write failed during flood")
                        return
                elif self.mode == "hugeline" and self.guest_runs:
                    if hugeline_sent == 0:
                        say("writing a 100 MB line")
                        # Let Start's reply reach the client before the line arrives.
                        time.sleep(1.0)
                    if hugeline_sent >= HUGE_LINE_BYTES:
                        say("huge line written without newline")
                        self.mode = "hugeline-done"
                        continue
                    try:
                        n = self.conn.send(b"x" * CHUNK)
                        hugeline_sent += n
                    except BlockingIOError:
                        pass
                    except OSError:
                        say(f"monitor write failed after {hugeline_sent} bytes of the line")
                        return


def garbage(conn: socket.socket) -> None:
    conn.sendall(json.dumps(GREETING).encode() + b"\n")
    say("sending garbage")
    deadline = time.monotonic() + 30
    sent = 0
    try:
        while time.monotonic() < deadline:
            sent += conn.send(os.urandom(CHUNK))
    except OSError as e:
        say(f"garbage stopped after {sent} bytes: {e}")


def main() -> int:
    # SIGTERM ends us like QEMU; SIGPIPE must not (write errors are handled).
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    monitor_fd, mode, name = parse_argv(sys.argv[1:])
    say(f"mode {mode} for guest '{name}', monitor fd {monitor_fd}")
    if monitor_fd is None:
        say("no -chardev socket,id=monitor,fd=N in argv")
        return 1
    listener = socket.socket(fileno=monitor_fd)
    conn, _ = listener.accept()
    listener.close()
    say("accepted the monitor connection")
    if mode == "earlyclose":
        conn.close()
        linger()
    if mode == "garbage":
        garbage(conn)
        linger()
    Monitor(conn, mode).serve()
    linger()
    return 0


if __name__ == "__main__":
    sys.exit(main())
