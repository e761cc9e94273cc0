"""What the GUI tests see of an X display and of a guest's own screen.

An X screen is read with `xwd -root`; the guest's frame over a socket of
Domain.OpenGraphics (RFB). Both become lines of text (bands of bright rows), so a client
that scales the guest's display can be compared with it: the same spacing, indentation
and lengths at some scale.
"""

import socket
import struct
import subprocess
import zlib

import dbus

import rfbclient as rfb
import vsclient as vc
import vsharness as h


class Screen:
    """An X screen as 32-bit B, G, R, X pixels, read from `xwd -root`."""

    def __init__(self, display):
        data = subprocess.run(["xwd", "-root", "-silent", "-display", display],
                              capture_output=True, check=True, timeout=60).stdout
        fields = struct.unpack(">25I", data[:100])
        header_size, width, height = fields[0], fields[4], fields[5]
        byte_order, bytes_per_line, ncolors = fields[7], fields[12], fields[19]
        # A 24-bit screen keeps 4 bytes a pixel, least significant first (xwd reports 24 or
        # 32 bits per pixel, depending on the visual it picks).
        assert byte_order == 0 and bytes_per_line == 4 * width, fields
        start = header_size + 12 * ncolors
        self.width, self.height, self.stride = width, height, bytes_per_line
        self.pixels = data[start:start + bytes_per_line * height]

    def row(self, y):
        return self.pixels[y * self.stride:y * self.stride + self.width * 4]

    def save_png(self, path):
        raw = b"".join(b"\x00" + bytes(p for i in range(0, len(r), 4) for p in
                                       (r[i + 2], r[i + 1], r[i]))
                       for r in (self.row(y) for y in range(self.height)))

        def chunk(kind, body):
            return (struct.pack(">I", len(body)) + kind + body +
                    struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" +
                    chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0,
                                               0, 0)) +
                    chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))



# A pixel is "ink" when a colour channel is this bright: the firmware's grey text on black
# is, the black around it and the dark window decorations are not.
INK = bytes(1 if b >= 96 else 0 for b in range(256))


def text_lines(image):
    """The lines of text an image shows: (top, left, right) of each band of rows with ink
    that is at least 4 pixels high (a blinking cursor is less)."""
    lines, top, left, right = [], None, None, None
    for y in range(image.height + 1):
        ink = bytearray(image.row(y).translate(INK) if y < image.height else b"")
        ink[3::4] = bytes(len(ink[3::4]))  # the fourth byte of a pixel is padding
        first = ink.find(1)
        if first >= 0:
            x0, x1 = first // 4, ink.rfind(1) // 4
            top = y if top is None else top
            left = x0 if left is None else min(left, x0)
            right = x1 if right is None else max(right, x1)
        elif top is not None:
            if y - top >= 4:
                lines.append((top, left, right))
            top, left, right = None, None, None
    return lines


def shows(screen_lines, guest_lines):
    """Whether the screen shows the guest's lines of text at some scale (virt-viewer scales
    the display to its window, not always keeping its aspect): the same spacing,
    indentation and lengths."""
    if len(guest_lines) < 2:
        return False  # the guest has yet to write: read again (wait_until_shown)
    g0, g1 = guest_lines[0], guest_lines[1]

    def near(got, want):
        return abs(got - want) <= 3 + 0.03 * abs(want)
    for i in range(len(screen_lines) - 1):
        s0, s1 = screen_lines[i], screen_lines[i + 1]
        y_scale = (s1[0] - s0[0]) / (g1[0] - g0[0])
        x_scale = (s0[2] - s0[1]) / max(1, g0[2] - g0[1])
        if y_scale <= 0 or x_scale <= 0:
            continue
        if all(any(near(s[0] - s0[0], y_scale * (g[0] - g0[0])) and
                   near(s[1] - s0[1], x_scale * (g[1] - g0[1])) and
                   near(s[2] - s[1], x_scale * (g[2] - g[1])) for s in screen_lines[i:])
               for g in guest_lines):
            return True
    return False


def guest_frame(path):
    skip = dbus.Dictionary({"skip-auth": True}, signature="sv")
    fd = vc.domain(path).OpenGraphics(dbus.UInt32(0), skip, timeout=vc.TIMEOUT).take()
    with socket.socket(fileno=fd) as s:
        return rfb.frame(s)


def wait_until_shown(display, domain_path, client, png_path, timeout=90):
    """Waits until the X display shows the guest's lines of text (read afresh from the
    guest while waiting: it may write more) while `client` runs; saves the last screen to
    png_path. Returns the guest's lines it found."""
    guest = text_lines(guest_frame(domain_path))
    screens = []

    def shown():
        nonlocal guest
        assert client.poll() is None, f"{client.args[0]} exited"
        screens[:] = [Screen(display)]
        if shows(text_lines(screens[0]), guest):
            return True
        guest = text_lines(guest_frame(domain_path))
        return False
    try:
        h.wait_until(shown, timeout, 1.0,
                     f"{client.args[0]} showing the guest's text (at least two lines)")
    finally:
        if screens:
            screens[0].save_png(png_path)
    return guest
