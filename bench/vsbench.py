#!/usr/bin/python3
"""virtswarm vs libvirtd measurements. Driven by bench/run.sh; every subcommand measures
ONE side and appends JSON records (one a line) to --out.

    vsbench.py start20  --side libvirtd|virtswarm [--n 20] [--memory] --out F
    vsbench.py stuck    --side libvirtd|virtswarm [--n 4] [--bound 100] --out F
    vsbench.py many     --side libvirtd|virtswarm [--n 1000] [--reps 3] --out F
    vsbench.py scale    --side libvirtd|virtswarm [--n 10000] [--probes 200] --out F
    vsbench.py storage  --side libvirtd|virtswarm [--gib 1] [--reps 3] [--volumes 1000] --out F
    vsbench.py nwfilter --side libvirtd|virtswarm [--n 200] --out F
    vsbench.py cleanup  --side libvirtd|virtswarm

The libvirtd side talks to qemu:///system (the host's libvirtd, bench/setup-libvirtd.sh).
The virtswarm side must run inside tests/harness/with-test-bus (private system bus,
activation of the registry from the bench build tree).

A record: {"part", "side", "metric", "unit", "values": [...], "note"?, "text"?}.
Nothing here asserts timings: it only measures and records.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time

GUEST_CACHE = os.environ.get("VIRTSWARM_GUEST_DIR", "/var/cache/virtswarm/test-guest")
# libvirtd runs QEMU as libvirt-qemu and chowns kernel/initrd while a domain runs
# (dynamic_ownership): it gets its own copy, the shared cache stays untouched.
LIBVIRT_GUEST = "/var/lib/libvirt/images/virtswarm-bench"
LIBVIRT_URI = os.environ.get("VSBENCH_LIBVIRT_URI", "qemu:///system")
PREFIX = "vsbench"

BUS_NAME = "org.virtswarm.Hypervisor1"
ROOT = "/org/virtswarm/Hypervisor1"
MANAGER = "org.virtswarm.Hypervisor1.Manager"
DOMAIN = "org.virtswarm.Hypervisor1.Domain"
PROPS = "org.freedesktop.DBus.Properties"
OBJMGR = "org.freedesktop.DBus.ObjectManager"
CALL_TIMEOUT = 300  # seconds, for D-Bus calls that may wait on 20 TCG boots


# ------------------------------------------------------------------ helpers
class Recorder:
    def __init__(self, path: str, part: str, side: str):
        self.path, self.part, self.side = path, part, side

    def add(self, metric: str, values, unit: str, note: str = "", text: str = "",
            key: str = "") -> None:
        """key: what the two sides' records are compared by (the labels differ)."""
        if not isinstance(values, list):
            values = [values]
        rec = {"part": self.part, "side": self.side, "key": key or metric, "metric": metric,
               "unit": unit, "values": values}
        if note:
            rec["note"] = note
        if text:
            rec["text"] = text
        line = json.dumps(rec)
        print("  " + line, flush=True)
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")


def log(msg: str) -> None:
    print(f"[vsbench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(values, p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _cpu_ticks() -> dict:
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        out[int(p)] = (name, int(fields[11]) + int(fields[12]))
    return out


def load_snapshot(interval: float = 0.5) -> str:
    """Load average and the processes that used the most CPU over the last `interval`."""
    with open("/proc/loadavg") as f:
        la = " ".join(f.read().split()[:3])
    a = _cpu_ticks()
    time.sleep(interval)
    b = _cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    use: dict = {}
    for pid, (name, t) in b.items():
        if pid in a:
            use[name] = use.get(name, 0) + (t - a[pid][1])
    top = sorted(use.items(), key=lambda kv: -kv[1])[:5]
    return f"loadavg {la}; busiest over {interval}s: " + ", ".join(
        f"{n} {100 * t / hz / interval:.0f}%" for n, t in top if t > 0)


def domain_xml(name: str, kernel_dir: str, uuid: str | None = None, disk: str = "") -> str:
    uuid_el = f"<uuid>{uuid}</uuid>" if uuid else ""
    disk_el = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
               f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>" if disk else "")
    return f"""<domain type='qemu'>
  <name>{name}</name>
  {uuid_el}
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel_dir}/vmlinuz</kernel>
    <initrd>{kernel_dir}/initramfs.img</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <serial type='pty'/>
    {disk_el}
  </devices>
</domain>
"""


def make_disk(directory: str, name: str) -> str:
    """A 1 MiB raw image: with a disk, per-domain statistics need QEMU's monitor
    (query-blockstats) on both sides, so a frozen QEMU shows in them."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.img")
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    return path


def smaps(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def pids_named(name: str) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and comm(int(p)) == name[:15]:
            out.append(int(p))
    return out


def timed_run(cmd: list[str], timeout: float | None = None) -> tuple[float, int, str]:
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        rc, text = p.returncode, (p.stdout + p.stderr).strip()
    except subprocess.TimeoutExpired as e:
        rc = 124
        text = ((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes)
                else (e.stdout or "")) + " [timed out]"
    return time.monotonic() - t0, rc, text


# ------------------------------------------------------------ libvirtd side
class Libvirt:
    def __init__(self, uri: str = LIBVIRT_URI):
        import libvirt  # python3-libvirt
        self.lv = libvirt
        # Errors are exceptions; keep libvirt from printing them to stderr too.
        libvirt.registerErrorHandler(lambda ctx, err: None, None)
        self.uri = uri
        self.conn = libvirt.open(uri)

    def names(self, prefix: str = PREFIX) -> list[str]:
        return [d.name() for d in self.conn.listAllDomains() if d.name().startswith(prefix)]

    def define(self, names: list[str], disks: bool = False) -> None:
        for n in names:
            self.conn.defineXML(domain_xml(n, LIBVIRT_GUEST, disk=make_disk(LIBVIRT_GUEST, n) if disks else ""))

    def cleanup(self, prefix: str = PREFIX) -> None:
        for d in self.conn.listAllDomains():
            if not d.name().startswith(prefix):
                continue
            try:
                if d.isActive():
                    d.destroy()
            except self.lv.libvirtError as e:
                log(f"destroy {d.name()}: {e}")
            try:
                d.undefine()
            except self.lv.libvirtError as e:
                log(f"undefine {d.name()}: {e}")
        # The disks made for (b); the guest copy itself stays (setup-libvirtd.sh makes it).
        if os.path.isdir(LIBVIRT_GUEST):
            for f in os.listdir(LIBVIRT_GUEST):
                if f.startswith(prefix) and f.endswith(".img"):
                    os.unlink(os.path.join(LIBVIRT_GUEST, f))

    def qemu_pid(self, name: str) -> int:
        with open(f"/run/libvirt/qemu/{name}.pid") as f:
            return int(f.read().strip())

    def virsh(self, *args: str) -> list[str]:
        return ["virsh", "-q", "-c", self.uri, *args]

    def daemon_pids(self) -> dict[str, list[int]]:
        return {"libvirtd": pids_named("libvirtd"), "virtlogd": pids_named("virtlogd")}


# ----------------------------------------------------------- virtswarm side
class Swarm:
    def __init__(self):
        if "DBUS_SYSTEM_BUS_ADDRESS" not in os.environ or "VIRTSWARM_RUNTIME_DIR" not in os.environ:
            sys.exit("the virtswarm side must run inside tests/harness/with-test-bus")
        import dbus
        import dbus.mainloop.glib
        from gi.repository import GLib
        dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
        self.dbus, self.GLib = dbus, GLib
        self.bus = dbus.SystemBus()
        self.mgr = dbus.Interface(self.bus.get_object(BUS_NAME, ROOT, introspect=False), MANAGER)
        self.opts = dbus.Dictionary({}, signature="sv")

    def obj(self, path: str):
        return self.bus.get_object(BUS_NAME, path, introspect=False)

    def dom(self, path: str):
        return self.dbus.Interface(self.obj(path), DOMAIN)

    def props(self, path: str):
        return self.dbus.Interface(self.obj(path), PROPS)

    def state(self, path: str) -> str:
        return str(self.props(path).Get(DOMAIN, "State", timeout=CALL_TIMEOUT))

    def define(self, names: list[str], disks: bool = False) -> list[str]:
        ddir = os.path.join(os.environ["VS_TEST_ROOT"], "disks")
        return [str(self.mgr.DefineXML(
            domain_xml(n, GUEST_CACHE, disk=make_disk(ddir, n) if disks else ""), self.opts,
            timeout=CALL_TIMEOUT)) for n in names]

    def all_paths(self) -> list[str]:
        return [str(p) for p in self.mgr.ListDomains(self.opts, timeout=CALL_TIMEOUT)]

    def concurrently(self, calls: dict, timeout: float = CALL_TIMEOUT) -> dict:
        """calls: key -> (bound dbus method, args). Issues all at once on one connection;
        returns key -> (seconds from the first call to the reply, error name or None)."""
        loop = self.GLib.MainLoop()
        results: dict = {}
        t0 = time.monotonic()

        def finish(key, err):
            results[key] = (time.monotonic() - t0, err)
            if len(results) == len(calls):
                loop.quit()

        for key, (method, args) in calls.items():
            method(*args,
                   reply_handler=lambda *a, key=key: finish(key, None),
                   error_handler=lambda e, key=key: finish(key, e.get_dbus_name()),
                   timeout=timeout)
        if calls:
            loop.run()
        return results

    def windowed(self, items: list, call, window: int = 64,
                 timeout: float = CALL_TIMEOUT) -> tuple[float, list[str]]:
        """Issues call(item, reply_handler=, error_handler=, timeout=) for every item on one
        connection, `window` calls in flight at all times until the items run out; returns
        (seconds until the last reply, error names)."""
        loop = self.GLib.MainLoop()
        pending = iter(items)
        state = {"in_flight": 0, "errors": []}

        def issue_next() -> None:
            try:
                item = next(pending)
            except StopIteration:
                if state["in_flight"] == 0:
                    loop.quit()
                return
            state["in_flight"] += 1
            call(item, reply_handler=lambda *a: answered(None),
                 error_handler=lambda e: answered(e.get_dbus_name()), timeout=timeout)

        def answered(err) -> None:
            state["in_flight"] -= 1
            if err:
                state["errors"].append(err)
            issue_next()

        t0 = time.monotonic()
        for _ in range(window):
            issue_next()
        if state["in_flight"]:
            loop.run()
        return time.monotonic() - t0, state["errors"]

    def cleanup(self) -> None:
        paths = self.all_paths()
        active = [p for p in paths if self.state(p) != "shutoff"]
        res = self.concurrently({p: (self.dom(p).Destroy, (self.opts,)) for p in active})
        for p, (_, err) in res.items():
            if err:
                log(f"destroy {p}: {err}")
        for p in self.all_paths():
            try:
                if bool(self.props(p).Get(DOMAIN, "Persistent")):
                    self.dom(p).Undefine(self.opts, timeout=CALL_TIMEOUT)
            except self.dbus.exceptions.DBusException as e:
                log(f"undefine {p}: {e.get_dbus_name()}")

    def runtime_dir(self, path: str) -> str:
        return os.path.join(os.environ["VIRTSWARM_RUNTIME_DIR"], "hypervisor", "domains",
                            path.rsplit("_", 1)[1])

    def qemu_pid(self, path: str) -> int:
        with open(os.path.join(self.runtime_dir(path), "qemu.pid")) as f:
            return int(f.read())

    def registry_pid(self) -> int:
        d = self.dbus.Interface(self.bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus"),
                                "org.freedesktop.DBus")
        return int(d.GetConnectionUnixProcessID(BUS_NAME))

    def daemon_pids(self) -> dict[str, list[int]]:
        return {"virtswarm-hypervisord": [self.registry_pid()],
                "virtswarm-shim": pids_named("virtswarm-shim"),
                "virtswarm-logd": pids_named("virtswarm-logd")}


# ------------------------------------------------------------------- memory
def record_memory(rec: Recorder, groups: dict[str, list[int]], n_running: int) -> None:
    total_pss = 0
    detail = []
    for name, pids in groups.items():
        pss = sum(smaps(p).get("Pss", 0) for p in pids)
        rss = sum(smaps(p).get("Rss", 0) for p in pids)
        total_pss += pss
        if pids:
            detail.append(f"{name}: {len(pids)} proc, PSS {pss / 1024:.1f} MiB, RSS {rss / 1024:.1f} MiB")
    rec.add(f"management processes, PSS total, {n_running} running", round(total_pss / 1024, 2),
            "MiB", text="; ".join(detail), key="c.pss")
    shim_pids = groups.get("virtswarm-shim", [])
    if shim_pids:
        uss = [(smaps(p).get("Private_Clean", 0) + smaps(p).get("Private_Dirty", 0)) / 1024
               for p in shim_pids]
        pss = [smaps(p).get("Pss", 0) / 1024 for p in shim_pids]
        rec.add("per-shim USS (Private_Clean+Private_Dirty)", [round(u, 3) for u in uss], "MiB",
                key="c.shim_uss")
        rec.add("per-shim PSS", [round(u, 3) for u in pss], "MiB", key="c.shim_pss")
    for name in ("virtswarm-hypervisord", "libvirtd"):
        for p in groups.get(name, []):
            m = smaps(p)
            rec.add(f"{name} PSS", round(m.get("Pss", 0) / 1024, 2), "MiB", key="c.main_pss")
            rec.add(f"{name} USS", round((m.get("Private_Clean", 0) + m.get("Private_Dirty", 0)) / 1024, 2),
                    "MiB", key="c.main_uss")


# -------------------------------------------------------------- (a) and (c)
def cmd_start20(args) -> None:
    rec = Recorder(args.out, "c" if args.memory_only else "a", args.side)
    names = [f"{PREFIX}-a{i:02d}" for i in range(args.n)]
    log(f"{args.side}: start {args.n} concurrently; {load_snapshot()}")
    if args.side == "libvirtd":
        lv = Libvirt()
        lv.cleanup()
        lv.define(names)
        log(f"defined {len(names)}")
        t0 = time.monotonic()
        procs = [subprocess.Popen(lv.virsh("start", n), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for n in names]
        errors = []
        for n, p in zip(names, procs):
            _, err = p.communicate()
            if p.returncode != 0:
                errors.append(f"{n}: {err.strip()}")
        # virsh start returns once the domain runs; confirm all of them report it.
        while True:
            states = [lv.conn.lookupByName(n).state()[0] for n in names]
            if all(s == lv.lv.VIR_DOMAIN_RUNNING for s in states) or errors:
                break
            if time.monotonic() - t0 > CALL_TIMEOUT:
                errors.append("not all running after timeout")
                break
            time.sleep(0.02)
        wall = time.monotonic() - t0
        running = sum(1 for n in names if lv.conn.lookupByName(n).state()[0] == lv.lv.VIR_DOMAIN_RUNNING)
        groups = lv.daemon_pids
    else:
        sw = Swarm()
        sw.cleanup()
        paths = sw.define(names)
        res = sw.concurrently({p: (sw.dom(p).Start, (sw.opts,)) for p in paths})
        wall = max(t for t, _ in res.values())
        errors = [f"{p}: {e}" for p, (_, e) in res.items() if e]
        states = [sw.state(p) for p in paths]
        running = states.count("running")
        groups = sw.daemon_pids
        lv = sw
    log(f"{running}/{args.n} running after {wall:.2f} s")
    if not args.memory_only:
        rec.add(f"start {args.n} concurrently until all running", round(wall, 3), "s", key="a.start",
                note=f"{running}/{args.n} running" + (f"; errors: {errors[:3]}" if errors else ""))
    else:
        log(f"all running after {wall:.2f} s ({running}/{args.n})")
    if args.memory or args.memory_only:
        time.sleep(args.settle)
        record_memory(rec, groups(), running)
    log(f"{args.side}: cleaning up; {load_snapshot()}")
    lv.cleanup()


# ------------------------------------------------------------------ (b) stuck
def latencies_ms(fn, targets, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = targets[i % len(targets)]
        t0 = time.perf_counter()
        fn(t)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def add_latency(rec: Recorder, key: str, metric: str, lat: list[float]) -> None:
    rec.add(metric + " p50", round(percentile(lat, 50), 3), "ms", note=f"n={len(lat)}",
            key=key + ".p50")
    rec.add(metric + " p99", round(percentile(lat, 99), 3), "ms", note=f"n={len(lat)}",
            key=key + ".p99")


def cmd_stuck(args) -> None:
    rec = Recorder(args.out, "b", args.side)
    names = [f"{PREFIX}-b{i}" for i in range(args.n)]
    log(f"{args.side}: {args.n} domains, one frozen; {load_snapshot()}")
    if args.side == "libvirtd":
        lv = Libvirt()
        lv.cleanup()
        lv.define(names, disks=True)
        doms = [lv.conn.lookupByName(n) for n in names]
        for d in doms:
            d.create()
        time.sleep(args.settle)  # let the guests finish booting: less CPU noise
        stuck, healthy = doms[0], doms[1:]
        # The reference for "unchanged": the same reads while every QEMU still answers.
        add_latency(rec, "b.statebefore", "state of a healthy domain, before the freeze",
                    latencies_ms(lambda d: d.state(), healthy, args.iterations))
        add_latency(rec, "b.stats1before", "stats of a healthy domain, before the freeze",
                    latencies_ms(lambda d: lv.conn.domainListGetStats([d]), healthy,
                                 args.iterations // 3))
        pid = lv.qemu_pid(stuck.name())
        os.kill(pid, signal.SIGSTOP)
        try:
            add_latency(rec, "b.state", "state of a healthy domain (python-libvirt state())",
                        latencies_ms(lambda d: d.state(), healthy, args.iterations))
            add_latency(rec, "b.stats1", "stats of a healthy domain (domainListGetStats([dom]))",
                        latencies_ms(lambda d: lv.conn.domainListGetStats([d]), healthy,
                                     args.iterations // 3))
            add_latency(rec, "b.stateproc", "`virsh domstate <healthy>` process",
                        latencies_ms(lambda d: subprocess.run(lv.virsh("domstate", d.name()),
                                                              capture_output=True), healthy, 20))
            wall, rc, text = timed_run(lv.virsh("domstats"), timeout=args.bound)
            rec.add("all-domains stats (`virsh domstats`)", round(wall, 2), "s", key="b.allstats",
                    note=("timed out: > %d s" % args.bound) if rc == 124 else f"rc={rc}",
                    text=text[-200:])
            wall, rc, text = timed_run(lv.virsh("suspend", stuck.name()), timeout=args.bound)
            rec.add("call on the frozen domain (`virsh suspend`)", round(wall, 2), "s", key="b.stuck",
                    note=("timed out: > %d s" % args.bound) if rc == 124 else f"rc={rc}",
                    text=text[-200:])
            add_latency(rec, "b.stateafter", "state of a healthy domain, after the above",
                        latencies_ms(lambda d: d.state(), healthy, args.iterations))
        finally:
            os.kill(pid, signal.SIGCONT)
        log(f"libvirtd: cleaning up; {load_snapshot()}")
        lv.cleanup()
        return

    sw = Swarm()
    sw.cleanup()
    paths = sw.define(names, disks=True)
    res = sw.concurrently({p: (sw.dom(p).Start, (sw.opts,)) for p in paths})
    errs = [e for _, e in res.values() if e]
    if errs:
        log(f"start errors: {errs}")
    time.sleep(args.settle)
    stuck, healthy = paths[0], paths[1:]
    props = {p: sw.props(p) for p in healthy}
    doms = {p: sw.dom(p) for p in healthy}
    add_latency(rec, "b.statebefore", "state of a healthy domain, before the freeze",
                latencies_ms(lambda p: props[p].Get(DOMAIN, "State"), healthy, args.iterations))
    add_latency(rec, "b.stats1before", "stats of a healthy domain, before the freeze",
                latencies_ms(lambda p: doms[p].GetStats(sw.opts), healthy, args.iterations // 3))
    pid = sw.qemu_pid(stuck)
    os.kill(pid, signal.SIGSTOP)
    try:
        add_latency(rec, "b.state", "state of a healthy domain (Properties.Get State)",
                    latencies_ms(lambda p: props[p].Get(DOMAIN, "State"), healthy, args.iterations))
        add_latency(rec, "b.stats1", "stats of a healthy domain (Domain.GetStats)",
                    latencies_ms(lambda p: doms[p].GetStats(sw.opts), healthy, args.iterations // 3))
        add_latency(rec, "b.stateproc", "`busctl get-property <healthy> State` process",
                    latencies_ms(lambda p: subprocess.run(
                        ["busctl", "--system", "get-property", BUS_NAME, p, DOMAIN, "State"],
                        capture_output=True), healthy, 20))
        timeout_opts = sw.dbus.Dictionary({"timeout": sw.dbus.UInt32(1000)}, signature="sv")
        walls, unavailable = [], []
        for _ in range(args.reps):
            t0 = time.monotonic()
            stats = sw.mgr.GetAllStats(timeout_opts, timeout=CALL_TIMEOUT)
            walls.append(round(time.monotonic() - t0, 3))
            s = stats.get(sw.dbus.ObjectPath(stuck), {})
            unavailable.append(bool(s.get("unavailable", False)))
            healthy_ok = all(not bool(stats.get(sw.dbus.ObjectPath(p), {}).get("unavailable", False))
                             and len(stats.get(sw.dbus.ObjectPath(p), {})) > 2 for p in healthy)
        rec.add("all-domains stats (Manager.GetAllStats {timeout: 1000})", walls, "s", key="b.allstats",
                note=f"frozen domain reported unavailable: {all(unavailable)}; "
                     f"healthy domains with full stats: {healthy_ok}",
                text=str({str(k): v for k, v in stats.get(sw.dbus.ObjectPath(stuck), {}).items()}))
        t0 = time.monotonic()
        try:
            sw.dom(stuck).Suspend(sw.opts, timeout=CALL_TIMEOUT)
            err, msg = "none (succeeded)", ""
        except sw.dbus.exceptions.DBusException as e:
            err, msg = e.get_dbus_name(), e.get_dbus_message()
        rec.add("call on the frozen domain (Domain.Suspend)", round(time.monotonic() - t0, 2), "s",
                key="b.stuck",
                note=f"error {err}", text=msg)
        add_latency(rec, "b.stateafter", "state of a healthy domain, after the above",
                    latencies_ms(lambda p: props[p].Get(DOMAIN, "State"), healthy, args.iterations))
    finally:
        os.kill(pid, signal.SIGCONT)
    log(f"virtswarm: cleaning up; {load_snapshot()}")
    sw.cleanup()


# --------------------------------------------------------------- (d) many
def start_proxyd(build: str) -> tuple[subprocess.Popen | None, str]:
    exe = os.path.join(build, "bridge-libvirt", "virtswarm-proxyd")
    if not os.access(exe, os.X_OK):
        return None, ""
    d = os.path.join(os.environ["VS_TEST_ROOT"], "proxyd")
    os.makedirs(d, exist_ok=True)
    sock = os.path.join(d, "libvirt-sock")
    logf = open(os.path.join(d, "proxyd.log"), "w")
    p = subprocess.Popen([exe, "--system", "--socket", sock, "--socket-ro", sock + "-ro"],
                         stdout=logf, stderr=subprocess.STDOUT)
    for _ in range(500):
        if os.path.exists(sock) or p.poll() is not None:
            break
        time.sleep(0.01)
    if p.poll() is not None or not os.path.exists(sock):
        log(f"virtswarm-proxyd did not come up (rc={p.poll()})")
        return None, ""
    return p, f"qemu+unix:///system?socket={sock}"


def stop_proxyd(proxyd: subprocess.Popen | None) -> None:
    if proxyd is None:
        return
    proxyd.terminate()
    try:
        proxyd.wait(10)
    except subprocess.TimeoutExpired:
        proxyd.kill()


def cpu_seconds(before: dict, after: dict, only: set[str] | None = None) -> dict[str, float]:
    """CPU time (user+system) each process name used between two _cpu_ticks() samples."""
    hz = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for pid, (name, t) in after.items():
        if only is not None and name not in only:
            continue
        used = t - (before[pid][1] if pid in before and before[pid][0] == name else 0)
        if used > 0:
            out[name] = out.get(name, 0) + used / hz
    return out


def cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{n} {s:.2f} s" for n, s in sorted(cpu.items(), key=lambda kv: -kv[1]))


# Processes whose CPU time is counted during the define loop: on the libvirtd side the
# host's (only these names); on the virtswarm side everything in the harness's PID namespace.
LIBVIRT_CPU_NAMES = {"libvirtd", "virtlogd", "python3"}


def own_cpu_seconds() -> float:
    """CPU time of this (client) process so far, all threads."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def many_libvirt_api(rec: Recorder, lv: Libvirt, names: list[str], reps: int, label: str) -> bool:
    define_t, undefine_t, per_call = [], [], []
    # The client's own CPU floor and the server's share above it (wall - client CPU).
    define_server, undefine_server, client_cpu = [], [], []
    cpu = ""
    for r in range(reps):
        ticks = _cpu_ticks()
        each = []
        own0 = own_cpu_seconds()
        t0 = time.monotonic()
        try:
            for n in names:
                t1 = time.perf_counter()
                lv.conn.defineXML(domain_xml(n, LIBVIRT_GUEST if label == "libvirtd" else GUEST_CACHE))
                each.append((time.perf_counter() - t1) * 1000)
        except lv.lv.libvirtError as e:
            rec.add(f"define {len(names)} on one connection (python-libvirt)", [], "s",
                    note=f"failed: {e}", key="d.define")
            lv.cleanup()
            return False
        define_t.append(round(time.monotonic() - t0, 3))
        client_cpu.append(round(own_cpu_seconds() - own0, 3))
        define_server.append(round(define_t[-1] - client_cpu[-1], 3))
        cpu = cpu_text(cpu_seconds(ticks, _cpu_ticks(),
                                   LIBVIRT_CPU_NAMES if label == "libvirtd" else None))
        per_call.append(f"p50 {percentile(each, 50):.2f} / p99 {percentile(each, 99):.2f} / "
                        f"max {max(each):.1f} ms")
        if r == reps - 1:
            break
        own0 = own_cpu_seconds()
        t0 = time.monotonic()
        for n in names:
            lv.conn.lookupByName(n).undefine()
        undefine_t.append(round(time.monotonic() - t0, 3))
        undefine_server.append(round(undefine_t[-1] - (own_cpu_seconds() - own0), 3))
    rec.add(f"define {len(names)} on one connection (python-libvirt)", define_t, "s",
            key="d.define", text=f"one define, per loop: {'; '.join(per_call)}. "
                                f"CPU time during the last loop: {cpu}")
    rec.add(f"define {len(names)}: the python-libvirt client's own CPU", client_cpu, "s",
            key="d.define_client")
    rec.add(f"define {len(names)}: server share (wall - client CPU)", define_server, "s",
            key="d.define_server")
    if undefine_t:
        rec.add(f"undefine {len(names)} on one connection (python-libvirt)", undefine_t, "s",
                key="d.undefine")
        rec.add(f"undefine {len(names)}: server share (wall - client CPU)", undefine_server,
                "s", key="d.undefine_server")
    return True


def run_rusage(cmd: list[str]) -> tuple[float, float, int, str]:
    """(wall s, the process's own CPU s, rc, output): how much of a virsh call is virsh."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, p.returncode, out.decode(errors="replace")


def record_virsh(rec: Recorder, key: str, what: str, runs: list[tuple[float, float]], bad: int,
                 bad_text: str) -> None:
    """runs: (wall s, the virsh process's own CPU s) per call. Records the wall time, the
    client's CPU floor and the server's share above it (wall - client CPU) in ms."""
    walls = [round(w * 1000, 1) for w, _ in runs]
    rec.add(what, walls, "ms", key=key, note=f"{bad} bad answers" if bad else "",
            text=bad_text if bad else "")
    rec.add(f"{what}: the virsh process's own CPU", [round(c * 1000, 1) for _, c in runs],
            "ms", key=key + "_client")
    rec.add(f"{what}: server share (wall - virsh CPU)",
            [round((w - c) * 1000, 1) for w, c in runs], "ms", key=key + "_server")


def virsh_list_all(rec: Recorder, lv: Libvirt, n_defined: int, reps: int, key: str) -> None:
    runs, bad, bad_text = [], 0, ""
    for _ in range(reps):
        w, cpu, rc, text = run_rusage(lv.virsh("list", "--all"))
        runs.append((w, cpu))
        listed = sum(1 for line in text.splitlines() if PREFIX in line)
        if rc != 0 or listed != n_defined:
            bad += 1
            bad_text = text[-300:]
    record_virsh(rec, key, f"`virsh list --all`, {n_defined} defined", runs, bad, bad_text)


def many_virsh(rec: Recorder, lv: Libvirt, names: list[str], reps: int) -> None:
    virsh_list_all(rec, lv, len(names), reps, "d.list")
    runs, bad, bad_text = [], 0, ""
    rnd = random.Random(1)
    for _ in range(reps):
        n = rnd.choice(names)
        w, cpu, rc, text = run_rusage(lv.virsh("dominfo", n))
        runs.append((w, cpu))
        if rc != 0 or n not in text:
            bad += 1
            bad_text = text[-300:]
    record_virsh(rec, "d.dominfo", f"`virsh dominfo <name>`, {len(names)} defined", runs, bad,
                 bad_text)


def fsync_probe(directory: str, n: int = 200) -> str:
    """What storage costs right now: p50 of fsync of a small new file and of its directory
    after a rename, the pattern of an atomic definition write (both sides write one file
    per define on the same filesystem; libvirtd fsyncs the file, virtswarm file + dir)."""
    d = os.path.join(directory, "fsync-probe")
    os.makedirs(d, exist_ok=True)
    f_lat, d_lat = [], []
    for i in range(n):
        p = os.path.join(d, f"f{i}.xml")
        fd = os.open(p + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"x" * 1500)
        t = time.perf_counter()
        os.fsync(fd)
        f_lat.append((time.perf_counter() - t) * 1000)
        os.close(fd)
        os.rename(p + ".tmp", p)
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        t = time.perf_counter()
        os.fsync(dfd)
        d_lat.append((time.perf_counter() - t) * 1000)
        os.close(dfd)
    for i in range(n):
        os.unlink(os.path.join(d, f"f{i}.xml"))
    os.rmdir(d)
    return (f"file fsync p50 {percentile(f_lat, 50):.2f} ms (p99 {percentile(f_lat, 99):.2f}), "
            f"directory fsync p50 {percentile(d_lat, 50):.2f} ms (p99 {percentile(d_lat, 99):.2f})")


def cmd_many(args) -> None:
    rec = Recorder(args.out, "d", args.side)
    names = [f"{PREFIX}-d{i:04d}" for i in range(args.n)]
    log(f"{args.side}: {args.n} defined domains; {load_snapshot()}")
    probe_dir = "/etc/libvirt/qemu" if args.side == "libvirtd" else os.environ["VIRTSWARM_CONFIG_DIR"]
    rec.add("storage before the define loop", [], "", key="d.fsync", text=fsync_probe(probe_dir))
    if args.side == "libvirtd":
        lv = Libvirt()
        lv.cleanup()
        if many_libvirt_api(rec, lv, names, args.reps, "libvirtd"):
            many_virsh(rec, lv, names, args.virsh_reps)
        t0 = time.monotonic()
        lv.cleanup()
        log(f"libvirtd: cleanup of {args.n} took {time.monotonic() - t0:.2f} s")
        return

    sw = Swarm()
    sw.cleanup()
    proxyd, uri = start_proxyd(args.build)
    try:
        proxy_ok = False
        if proxyd is not None:
            try:
                lv = Libvirt(uri)
                proxy_ok = many_libvirt_api(rec, lv, names, args.reps, "virtswarm")
            except Exception as e:  # noqa: BLE001 - the bridge is work in progress
                rec.add(f"define {args.n} on one connection (python-libvirt)", [], "s",
                        note=f"virtswarm-proxyd failed: {e}", key="d.define")
        else:
            rec.add(f"define {args.n} on one connection (python-libvirt)", [], "s",
                    note="virtswarm-proxyd not built or did not start", key="d.define")
        if not proxy_ok:
            # Native D-Bus define instead, so GetManagedObjects still sees N domains.
            sw.cleanup()
            t0 = time.monotonic()
            sw.define(names)
            rec.add(f"define {args.n} over D-Bus (DefineXML, sequential, python3-dbus)",
                    round(time.monotonic() - t0, 3), "s", key="d.define_dbus")
        else:
            many_virsh(rec, lv, names, args.virsh_reps)
        # GetManagedObjects, from python3-dbus: the call including unmarshalling into
        # Python objects, and the bare round trip (byte_arrays, no introspection).
        om = sw.dbus.Interface(sw.obj(ROOT), OBJMGR)
        walls, count = [], 0
        for _ in range(args.gmo_reps):
            t0 = time.perf_counter()
            objs = om.GetManagedObjects(timeout=CALL_TIMEOUT)
            walls.append(round((time.perf_counter() - t0) * 1000, 2))
            count = len(objs)
        rec.add(f"GetManagedObjects, {args.n} defined (python3-dbus)", walls, "ms",
                note=f"{count} objects", key="d.gmo")
        walls = []
        for _ in range(args.gmo_reps):
            w, rc, text = timed_run(["busctl", "--system", "--json=short", "call", BUS_NAME, ROOT,
                                     OBJMGR, "GetManagedObjects"], timeout=60)
            walls.append(round(w * 1000, 1))
        rec.add(f"GetManagedObjects, {args.n} defined (`busctl call` process)", walls, "ms",
                key="d.gmo_proc")
        # The registry alone, without the bridge: the same work over D-Bus.
        t0 = time.monotonic()
        for p in sw.all_paths():
            sw.dom(p).Undefine(sw.opts, timeout=CALL_TIMEOUT)
        rec.add(f"undefine {args.n} over D-Bus (Undefine, sequential, python3-dbus)",
                round(time.monotonic() - t0, 3), "s", key="d.undefine_dbus")
        native_defines(rec, sw, names, args.window)
    finally:
        t0 = time.monotonic()
        sw.cleanup()
        log(f"virtswarm: cleanup took {time.monotonic() - t0:.2f} s")
        stop_proxyd(proxyd)


def process_cpu_seconds(pid: int) -> float:
    """CPU time of one process so far, all its threads: the scheduler's nanosecond
    count (/proc/<pid>/task/*/schedstat), since /proc/<pid>/stat's clock ticks (10 ms)
    are too coarse for a per-call figure of ~0.1 ms over a few hundred calls."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            continue  # the thread ended meanwhile
    return total / 1e9


def native_defines(rec: Recorder, sw: "Swarm", names: list[str], window: int) -> None:
    """The registry alone over D-Bus: a synchronous define loop (with the registry's CPU
    per define), then undefine and define again with `window` calls in flight on one
    connection (group commit shares the syncs of concurrent calls)."""
    n = len(names)
    xmls = [domain_xml(name, GUEST_CACHE) for name in names]
    registry = sw.registry_pid()
    cpu0 = process_cpu_seconds(registry)
    t0 = time.monotonic()
    for xml in xmls:
        sw.mgr.DefineXML(xml, sw.opts, timeout=CALL_TIMEOUT)
    rec.add(f"define {n} over D-Bus (DefineXML, sequential, python3-dbus)",
            round(time.monotonic() - t0, 3), "s", key="d.define_dbus")
    rec.add(f"registry CPU per define, sequential, up to {n} defined",
            round((process_cpu_seconds(registry) - cpu0) * 1000 / n, 3), "ms",
            key="d.registry_cpu")
    paths = sw.all_paths()
    secs, errors = sw.windowed(paths, lambda p, **kw: sw.dom(p).Undefine(sw.opts, **kw), window)
    rec.add(f"undefine {n} over D-Bus, {window} in flight (python3-dbus)", round(secs, 3), "s",
            note=f"{len(errors)} errors {sorted(set(errors))}" if errors else "",
            key="d.undefine_dbus_async")
    cpu0 = process_cpu_seconds(registry)
    secs, errors = sw.windowed(xmls, lambda x, **kw: sw.mgr.DefineXML(x, sw.opts, **kw), window)
    rec.add(f"define {n} over D-Bus, {window} in flight (python3-dbus)", round(secs, 3), "s",
            note=f"{len(errors)} errors {sorted(set(errors))}" if errors else "",
            key="d.define_dbus_async")
    rec.add(f"registry CPU per define, {window} in flight",
            round((process_cpu_seconds(registry) - cpu0) * 1000 / n, 3), "ms",
            key="d.registry_cpu_async")


# -------------------------------------------------------------- (e) scale
def vm_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


class ScaleSide:
    """What part (e) needs of one side: fill (fast, not measured), define/undefine one
    synchronously (measured), the server process whose CPU counts."""

    def __init__(self, side: str):
        self.side = side
        if side == "libvirtd":
            self.lv = Libvirt()
            self.lv.cleanup()
        else:
            self.sw = Swarm()
            self.sw.cleanup()
            self.paths: dict[str, str] = {}

    def server_pid(self) -> int:
        if self.side == "libvirtd":
            return pids_named("libvirtd")[0]
        return self.sw.registry_pid()

    def xml(self, name: str) -> str:
        return domain_xml(name, LIBVIRT_GUEST if self.side == "libvirtd" else GUEST_CACHE)

    def fill(self, names: list[str]) -> None:
        if self.side == "libvirtd":
            for n in names:
                self.lv.conn.defineXML(self.xml(n))
            return
        _, errors = self.sw.windowed([self.xml(n) for n in names],
                                     lambda x, **kw: self.sw.mgr.DefineXML(x, self.sw.opts, **kw))
        if errors:
            raise RuntimeError(f"{len(errors)} defines failed: {sorted(set(errors))}")

    def define_sync(self, name: str) -> None:
        if self.side == "libvirtd":
            self.lv.conn.defineXML(self.xml(name))
        else:
            self.paths[name] = str(self.sw.mgr.DefineXML(self.xml(name), self.sw.opts,
                                                         timeout=CALL_TIMEOUT))

    def undefine_sync(self, name: str) -> None:
        if self.side == "libvirtd":
            self.lv.conn.lookupByName(name).undefine()
        else:
            self.sw.dom(self.paths.pop(name)).Undefine(self.sw.opts, timeout=CALL_TIMEOUT)

    def cleanup(self) -> None:
        if self.side == "libvirtd":
            self.lv.cleanup()
            return
        _, errors = self.sw.windowed(self.sw.all_paths(),
                                     lambda p, **kw: self.sw.dom(p).Undefine(self.sw.opts, **kw))
        if errors:
            log(f"virtswarm: {len(errors)} undefines failed: {sorted(set(errors))}")


def scale_cpu_per_define(rec: Recorder, side: ScaleSide, defined: int, probes: list[str]) -> None:
    """The server's CPU for `len(probes)` synchronous defines (and then undefines) made
    while `defined` domains exist: flat if nothing in the path grows with the count."""
    pid = side.server_pid()
    cpu0 = process_cpu_seconds(pid)
    for n in probes:
        side.define_sync(n)
    per_define = (process_cpu_seconds(pid) - cpu0) * 1000 / len(probes)
    cpu0 = process_cpu_seconds(pid)
    for n in probes:
        side.undefine_sync(n)
    per_undefine = (process_cpu_seconds(pid) - cpu0) * 1000 / len(probes)
    who = "libvirtd" if side.side == "libvirtd" else "registry"
    rec.add(f"daemon CPU per define with {defined} defined (libvirtd / registry)",
            round(per_define, 3), "ms", key=f"e.cpu_{defined}",
            note=f"{len(probes)} sequential defines; {who} CPU per undefine {per_undefine:.3f} ms")


def registry_startup(rec: Recorder, sw: "Swarm", n_defined: int, reps: int) -> None:
    """Stop the registry, then time the first call that activates it again: its reply
    comes once every definition is loaded and the name is taken."""
    walls = []
    peer = "org.freedesktop.DBus.Peer"
    for _ in range(reps):
        pid = sw.registry_pid()
        os.kill(pid, signal.SIGTERM)
        for _ in range(3000):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.01)
        t0 = time.perf_counter()
        sw.bus.get_object(BUS_NAME, ROOT, introspect=False).Ping(dbus_interface=peer,
                                                                 timeout=CALL_TIMEOUT)
        walls.append(round(time.perf_counter() - t0, 3))
    # python-dbus proxies stay bound to the unique name of the registry they first reached.
    sw.mgr = sw.dbus.Interface(sw.obj(ROOT), MANAGER)
    count = len(sw.all_paths())
    rec.add(f"registry start-up with {n_defined} defined (activation until the first reply)",
            walls, "s", key="e.startup",
            note="" if count == n_defined else f"{count} domains served after restart")


def cmd_scale(args) -> None:
    rec = Recorder(args.out, "e", args.side)
    log(f"{args.side}: scale to {args.n} defined domains; {load_snapshot()}")
    side = ScaleSide(args.side)
    fill = [f"{PREFIX}-e{i:05d}" for i in range(args.n)]
    probes = [f"{PREFIX}-p{i:04d}" for i in range(args.probes)]
    stages = sorted({s for s in (100, 1000, args.n) if s <= args.n})
    proxyd = None
    try:
        defined = 0
        for stage in stages:
            t0 = time.monotonic()
            side.fill(fill[defined:stage])
            log(f"{args.side}: {stage} defined (fill took {time.monotonic() - t0:.1f} s)")
            defined = stage
            scale_cpu_per_define(rec, side, defined, probes)
        if args.side == "libvirtd":
            rec.add(f"main daemon RSS, {defined} defined (libvirtd / registry)",
                    vm_rss_mib(side.server_pid()), "MiB", key="e.daemon_rss")
            virsh_list_all(rec, side.lv, defined, args.virsh_reps, "e.list")
            return
        sw = side.sw
        om = sw.dbus.Interface(sw.obj(ROOT), OBJMGR)
        walls, count = [], 0
        for _ in range(args.gmo_reps):
            t0 = time.perf_counter()
            count = len(om.GetManagedObjects(timeout=CALL_TIMEOUT))
            walls.append(round((time.perf_counter() - t0) * 1000, 1))
        rec.add(f"GetManagedObjects, {defined} defined (python3-dbus)", walls, "ms",
                note=f"{count} objects", key="e.gmo")
        proxyd, uri = start_proxyd(args.build)
        if proxyd is not None:
            virsh_list_all(rec, Libvirt(uri), defined, args.virsh_reps, "e.list")
            rec.add(f"virtswarm-proxyd RSS, {defined} defined, after the lists",
                    vm_rss_mib(proxyd.pid), "MiB", key="e.proxyd_rss")
            proxyd.terminate()
            proxyd.wait(10)
            proxyd = None
        rec.add(f"main daemon RSS, {defined} defined (libvirtd / registry)",
                vm_rss_mib(side.server_pid()), "MiB", key="e.daemon_rss")
        registry_startup(rec, sw, defined, args.startup_reps)
    finally:
        if proxyd is not None:
            proxyd.kill()
        t0 = time.monotonic()
        side.cleanup()
        log(f"{args.side}: cleanup took {time.monotonic() - t0:.1f} s")


def cmd_load(args) -> None:
    Recorder(args.out, args.part, "host").add("load", [], "", text=load_snapshot(1.0), key="load")


def cmd_cleanup(args) -> None:
    if args.side == "libvirtd":
        Libvirt().cleanup()
    else:
        Swarm().cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("start20", "stuck", "many", "scale", "storage", "nwfilter", "cleanup", "load"):
        p = sub.add_parser(name)
        p.add_argument("--side", choices=["libvirtd", "virtswarm"], required=name != "load")
        p.add_argument("--part", default="")
        p.add_argument("--out", default="")
        p.add_argument("--build", default=os.environ.get("VS_BUILD_DIR", ""))
        if name == "start20":
            p.add_argument("--n", type=int, default=20)
            p.add_argument("--memory", action="store_true", help="also measure memory")
            p.add_argument("--memory-only", action="store_true",
                           help="part (c): record memory, not the start time")
            p.add_argument("--settle", type=float, default=3.0)
        if name == "stuck":
            p.add_argument("--n", type=int, default=4)
            p.add_argument("--bound", type=float, default=100.0)
            p.add_argument("--settle", type=float, default=10.0)
            p.add_argument("--iterations", type=int, default=300)
            p.add_argument("--reps", type=int, default=5)
        if name == "many":
            p.add_argument("--n", type=int, default=1000)
            p.add_argument("--reps", type=int, default=3)
            p.add_argument("--virsh-reps", type=int, default=10)
            p.add_argument("--gmo-reps", type=int, default=10)
            p.add_argument("--window", type=int, default=64,
                           help="calls in flight in the async native define/undefine")
        if name == "scale":
            p.add_argument("--n", type=int, default=10000)
            p.add_argument("--probes", type=int, default=200,
                           help="synchronous defines measured at each stage (100, 1000, n)")
            p.add_argument("--virsh-reps", type=int, default=3)
            p.add_argument("--gmo-reps", type=int, default=5)
            p.add_argument("--startup-reps", type=int, default=3)
        if name == "storage":
            p.add_argument("--gib", type=int, default=1, help="size of the cloned images")
            p.add_argument("--reps", type=int, default=3)
            p.add_argument("--volumes", type=int, default=1000,
                           help="volumes in the refreshed pool")
        if name == "nwfilter":
            p.add_argument("--n", type=int, default=200, help="interfaces bound")
    args = ap.parse_args()
    if args.cmd == "storage":
        from vsbench_storage import cmd_storage  # (f) lives in its own file
        cmd_storage(args)
        return
    if args.cmd == "nwfilter":
        from vsbench_nwfilter import cmd_nwfilter  # (g) too
        cmd_nwfilter(args)
        return
    {"start20": cmd_start20, "stuck": cmd_stuck, "many": cmd_many, "scale": cmd_scale,
     "cleanup": cmd_cleanup, "load": cmd_load}[args.cmd](args)


if __name__ == "__main__":
    main()
