"""Resource accounting through the bridge, read by real virsh and python3-libvirt from a
running TCG guest: CPU time that rises, per-vCPU time and placement, the balloon and QEMU's
RSS, a disk's counters and sizes, all from where libvirt takes them (/proc, QMP).

Run through tests/harness/with-test-bus (ctest -R e2e-test_accounting_bridge).
"""

import json
import os
import re
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import pytest

import bridgeclient as bc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

NAME = "vs-acct"
MIB = 1024 * 1024
DISK_SIZE = 16 * MIB


@pytest.fixture(scope="module")
def bridge():
    proxyd = bc.Bridge("bridge-accounting")
    yield {"rw": proxyd.rw_uri, "root": proxyd.root, "home": bc.virsh_home(proxyd.root)}
    proxyd.stop()


def virsh(bridge, *args, check=True):
    return bc.virsh(bridge["home"], bridge["rw"], *args, check=check)


@pytest.fixture
def running(bridge):
    """A running 2-vCPU guest with a raw 16 MiB virtio disk and a virtio balloon, booted up
    to its ready marker."""
    root = bridge["root"]
    console = os.path.join(root, f"{NAME}.serial")
    image = os.path.join(root, f"{NAME}.img")
    with open(image, "wb") as f:
        f.truncate(DISK_SIZE)
    os.chmod(image, 0o666)
    devices = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
               f"<source file='{image}'/><target dev='vda' bus='virtio'/></disk>"
               "<memballoon model='virtio'/>")
    path = os.path.join(root, f"{NAME}.xml")
    with open(path, "w") as f:
        f.write(vc.domain_xml(NAME, serial=console, memory_mib=160, extra_devices=devices,
                              vcpus=2))
    virsh(bridge, "define", path)
    virsh(bridge, "start", NAME)
    vc.wait_file_contains(console, "VIRTSWARM-GUEST-READY")
    yield {"image": image}


def fields(text):
    return {k.strip(): v.strip() for k, v in
            (line.split(":", 1) for line in text.splitlines() if ":" in line)}


def cpu_time(bridge):
    value = fields(virsh(bridge, "dominfo", NAME).stdout)["CPU time"]
    assert value.endswith("s"), value
    return float(value[:-1])


def domstats(bridge, *groups):
    out = virsh(bridge, "domstats", *groups, NAME).stdout
    return dict(line.strip().split("=", 1) for line in out.splitlines() if "=" in line)


def test_virsh_reads_the_guests_accounting(bridge, running):
    # dominfo: QEMU's CPU time (utime + stime of its process) rises while the guest runs.
    first = cpu_time(bridge)
    assert first > 0
    h.wait_until(lambda: cpu_time(bridge) > first, 60, 0.5, what="CPU time to rise")
    info = fields(virsh(bridge, "dominfo", NAME).stdout)
    assert info["CPU(s)"] == "2"
    assert info["Used memory"] == f"{160 * 1024} KiB"

    # domstats: libvirt's vcpu, balloon and block keys, nothing of the swarm's own.
    stats = domstats(bridge)
    assert stats["vcpu.current"] == "2" and stats["vcpu.maximum"] == "2"
    for n in ("0", "1"):
        assert stats[f"vcpu.{n}.state"] == "1"
        assert int(stats[f"vcpu.{n}.time"]) > 0
        assert f"vcpu.{n}.delay" in stats
    assert int(stats["cpu.time"]) >= int(stats["cpu.user"])
    assert stats["balloon.current"] == str(160 * 1024)
    assert stats["balloon.maximum"] == str(160 * 1024)
    # RSS: QEMU touched guest memory while booting, but a TCG guest does not map it all.
    assert 10 * 1024 < int(stats["balloon.rss"]) < 2 * 1024 * 1024
    assert stats["block.count"] == "1" and stats["block.0.name"] == "vda"
    assert stats["block.0.path"] == running["image"]
    assert stats["block.0.capacity"] == str(DISK_SIZE)
    assert stats["block.0.physical"] == str(DISK_SIZE)
    assert int(stats["block.0.allocation"]) < DISK_SIZE        # sparse: little on disk
    for key in ("rd.reqs", "rd.bytes", "rd.times", "wr.reqs", "wr.bytes", "fl.reqs"):
        assert f"block.0.{key}" in stats
    assert not [k for k in stats if k.startswith("vcpuhost") or k.startswith("unavailable")]
    only_vcpu = domstats(bridge, "--vcpu")
    assert only_vcpu and all(k.startswith("vcpu.") for k in only_vcpu), only_vcpu

    # vcpuinfo: each vCPU thread's time, host CPU and affinity.
    vcpus = virsh(bridge, "vcpuinfo", NAME).stdout
    blocks = [fields(b) for b in vcpus.strip().split("\n\n")]
    assert [b["VCPU"] for b in blocks] == ["0", "1"]
    ncpu = os.cpu_count()
    for b in blocks:
        assert b["State"] == "running"
        assert float(b["CPU time"][:-1]) > 0
        assert 0 <= int(b["CPU"]) < ncpu
        assert b["CPU Affinity"] == "y" * ncpu, vcpus

    # cpu-stats --total: cpu_time, user_time, system_time of the whole QEMU process.
    total = virsh(bridge, "cpu-stats", "--total", NAME).stdout
    for field in ("cpu_time", "user_time", "system_time"):
        assert re.search(rf"^\s*{field}\s+\d+\.\d+ seconds", total, re.M), total

    # dommemstat: the balloon's actual size and QEMU's RSS.
    mem = dict(line.split() for line in virsh(bridge, "dommemstat", NAME).stdout.splitlines()
               if line.strip())
    assert mem["actual"] == str(160 * 1024)
    assert int(mem["rss"]) > 10 * 1024

    # domblkstat, by target and by source path; domblkinfo.
    blk = virsh(bridge, "domblkstat", NAME, "vda").stdout
    for field in ("rd_req", "rd_bytes", "wr_req", "wr_bytes", "flush_operations",
                  "rd_total_times", "wr_total_times", "flush_total_times"):
        assert re.search(rf"^vda {field} \d+$", blk, re.M), blk
    assert "rd_req" in virsh(bridge, "domblkstat", NAME, running["image"]).stdout
    binfo = fields(virsh(bridge, "domblkinfo", NAME, "vda").stdout)
    assert binfo["Capacity"] == str(DISK_SIZE) and binfo["Physical"] == str(DISK_SIZE)
    assert int(binfo["Allocation"]) < DISK_SIZE

    # Errors as libvirt's: an unknown disk or interface is an invalid argument.
    r = virsh(bridge, "domblkstat", NAME, "vdz", check=False)
    assert r.returncode == 1 and "invalid path: vdz" in r.stderr, r.stderr
    r = virsh(bridge, "domifstat", NAME, "vnet99", check=False)
    assert r.returncode == 1 and "vnet99" in r.stderr, r.stderr


def test_python_libvirt_reads_the_guests_accounting(bridge, running):
    script = f"""
import json, libvirt
c = libvirt.open({bridge['rw']!r})
d = c.lookupByName({NAME!r})
info = d.info()
vcpus, maps = d.vcpus()
print(json.dumps({{
    "info": info,
    "vcpus": vcpus,
    "maps": [list(m) for m in maps],
    "mem": d.memoryStats(),
    "blk": list(d.blockStats("vda")),
    "blkinfo": list(d.blockInfo("vda")),
    "cpu": d.getCPUStats(True)[0],
}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    state, max_mem, mem, nvcpu, cpu_ns = r["info"]
    assert (state, max_mem, mem, nvcpu) == (1, 160 * 1024, 160 * 1024, 2)
    assert cpu_ns > 0
    assert [v[0] for v in r["vcpus"]] == [0, 1] and all(v[2] > 0 for v in r["vcpus"])
    assert all(all(m) for m in r["maps"])
    assert r["mem"]["actual"] == 160 * 1024 and r["mem"]["rss"] > 0
    assert len(r["blk"]) == 5 and r["blk"][4] == -1          # QEMU counts no errors
    assert r["blkinfo"][0] == DISK_SIZE and r["blkinfo"][2] == DISK_SIZE
    assert r["cpu"]["cpu_time"] >= r["cpu"]["user_time"] > 0


def console_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def test_live_tuning_and_guest_input(bridge, running):
    """virsh setmem/setmaxmem/setvcpus --live, send-key, inject-nmi and desc --live on the
    running guest: what libvirt accepts goes to QEMU, what it refuses is refused with its
    errors, and the guest's kernel shows that the keys and the NMI arrived."""
    console = os.path.join(bridge["root"], f"{NAME}.serial")
    # The balloon's target (QMP balloon). The test guest loads no balloon driver, so the
    # guest keeps its memory; libvirt's live XML follows only what the balloon reaches.
    virsh(bridge, "setmem", NAME, "131072", "--live")
    r = virsh(bridge, "setmem", NAME, "200M", "--live", check=False)
    assert r.returncode == 1 and "cannot set memory higher than max memory" in r.stderr, r.stderr
    r = virsh(bridge, "setmaxmem", NAME, "200M", "--live", check=False)
    assert r.returncode == 1 and "maximum memory on an active domain" in r.stderr, r.stderr
    # Both at once: the definition changes only after the live change succeeded.
    virsh(bridge, "setmem", NAME, "144M", "--live", "--config")
    assert ET.fromstring(virsh(bridge, "dumpxml", "--inactive", NAME).stdout).find(
        "currentMemory").text == str(144 * 1024)

    # vCPUs: the count the guest has is accepted live; the CPUs QEMU booted with cannot be
    # unplugged (test_vcpu_hotplug adds and removes others).
    virsh(bridge, "setvcpus", NAME, "2", "--live")
    assert "current      live           2" in virsh(bridge, "vcpucount", NAME).stdout
    r = virsh(bridge, "setvcpus", NAME, "1", "--live", check=False)
    assert r.returncode == 1 and "can't be hot-unplugged" in r.stderr, r.stderr
    r = virsh(bridge, "setvcpus", NAME, "3", "--live", check=False)
    assert r.returncode == 1 and "greater than max allowable" in r.stderr, r.stderr
    virsh(bridge, "setvcpus", NAME, "1", "--config")
    counts = virsh(bridge, "vcpucount", NAME).stdout
    assert "current      config         1" in counts and "current      live           2" in counts

    # Alt+SysRq+H on the PS/2 keyboard (linux keycodes, as virsh send-key names them): the
    # guest kernel's magic SysRq answers on its serial console.
    virsh(bridge, "send-key", NAME, "--codeset", "linux", "--holdtime", "200",
          "KEY_LEFTALT", "KEY_SYSRQ", "KEY_H")
    h.wait_until(lambda: "sysrq: HELP" in console_text(console), 60, 0.2,
                 what="the guest's SysRq help after send-key")
    r = virsh(bridge, "send-key", NAME, *(["KEY_A"] * 17), check=False)
    assert r.returncode == 1, r.stdout
    # An NMI: the guest kernel reports one it did not expect.
    virsh(bridge, "inject-nmi", NAME)
    h.wait_until(lambda: "NMI received" in console_text(console), 60, 0.2,
                 what="the guest to report the NMI")
    assert virsh(bridge, "domstate", NAME).stdout.strip() == "running"

    # A live title shows in the live XML only; the definition keeps none.
    virsh(bridge, "desc", NAME, "--live", "--title", "live title")
    assert ET.fromstring(virsh(bridge, "dumpxml", NAME).stdout).find("title").text == "live title"
    assert virsh(bridge, "desc", NAME, "--live", "--title").stdout.strip() == "live title"
    assert ET.fromstring(virsh(bridge, "dumpxml", "--inactive", NAME).stdout).find(
        "title") is None


def vcpus_of(bridge, name):
    """QEMU's vCPUs, as virsh vcpuinfo lists them (query-cpus-fast)."""
    return virsh(bridge, "vcpuinfo", name).stdout.count("VCPU:")


def test_vcpu_hotplug(bridge):
    """virsh setvcpus --live on a guest booted with 1 of 3 vCPUs: QEMU gets CPU devices in
    its free slots and the live XML follows; the guest releases the ones removed."""
    name = "vs-hotplug-cpu"
    console = os.path.join(bridge["root"], f"{name}.serial")
    path = os.path.join(bridge["root"], f"{name}.xml")
    with open(path, "w") as f:
        f.write(vc.domain_xml(name, serial=console, vcpus=3).replace(
            "<vcpu>3</vcpu>", "<vcpu current='1'>3</vcpu>"))
    virsh(bridge, "create", path)
    try:
        vc.wait_file_contains(console, "VIRTSWARM-GUEST-READY")
        assert vcpus_of(bridge, name) == 1
        virsh(bridge, "setvcpus", name, "2", "--live")
        assert vcpus_of(bridge, name) == 2
        assert "current      live           2" in virsh(bridge, "vcpucount", name).stdout
        vcpu = ET.fromstring(virsh(bridge, "dumpxml", name).stdout).find("vcpu")
        assert (vcpu.get("current"), vcpu.text) == ("2", "3")
        virsh(bridge, "setvcpus", name, "3", "--live")
        assert vcpus_of(bridge, name) == 3
        r = virsh(bridge, "setvcpus", name, "4", "--live", check=False)
        assert r.returncode == 1 and "greater than max allowable" in r.stderr, r.stderr
        r = virsh(bridge, "setvcpus", name, "0", "--live", check=False)
        assert r.returncode == 1, r.stdout
        assert vcpus_of(bridge, name) == 3
        # Down again: the guest releases the added CPUs (ACPI eject), newest first, and
        # the shim waits for each, as for a device detach; each release is libvirt's
        # DEVICE_REMOVED event naming the vCPU's alias.
        watcher = f"""
import libvirt
libvirt.virEventRegisterDefaultImpl()
c = libvirt.open({bridge['rw']!r})
c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                         lambda _c, d, dev, _o: print("removed", dev, flush=True), None)
print("ready", flush=True)
while True:
    libvirt.virEventRunDefaultImpl()
"""
        events = subprocess.Popen([sys.executable, "-c", watcher], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        seen = []
        reader = threading.Thread(target=lambda: seen.extend(l.strip() for l in events.stdout),
                                  daemon=True)
        reader.start()
        try:
            h.wait_until(lambda: "ready" in seen, vc.TIMEOUT, 0.1, "the event watcher")
            virsh(bridge, "setvcpus", name, "1", "--live")
            assert vcpus_of(bridge, name) == 1
            h.wait_until(lambda: len(seen) >= 3, vc.TIMEOUT, 0.1, f"two events: {seen}")
        finally:
            events.kill()
            events.wait()
        assert seen[1:] == ["removed vcpu2", "removed vcpu1"], seen
        assert "current      live           1" in virsh(bridge, "vcpucount", name).stdout
        # No vCPU at all is refused (the boot CPU's refusal: test_live_tuning...).
        r = virsh(bridge, "setvcpus", name, "0", "--live", check=False)
        assert r.returncode == 1, r.stdout
        assert virsh(bridge, "domstate", name).stdout.strip() == "running"
    finally:
        virsh(bridge, "destroy", name, check=False)


def test_a_stopped_domain_has_no_live_accounting(bridge, running):
    virsh(bridge, "destroy", NAME)
    info = fields(virsh(bridge, "dominfo", NAME).stdout)
    # virsh prints CPU time only when there is some.
    assert info["State"] == "shut off" and "CPU time" not in info, info
    for cmd in (["dommemstat", NAME], ["domblkstat", NAME, "vda"], ["cpu-stats", "--total", NAME]):
        r = virsh(bridge, *cmd, check=False)
        assert r.returncode == 1 and "not running" in r.stderr, (cmd, r.stderr)


def meminfo():
    with open("/proc/meminfo") as f:
        return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f)}


def test_host_calls(bridge):
    """The node calls virt-manager, Cockpit and virsh make, against the kernel's own figures
    (memory within what can change between two reads)."""
    script = f"""
import json, libvirt
c = libvirt.open({bridge['rw']!r})
print(json.dumps({{
    "free": c.getFreeMemory(),
    "cells": c.getCellsFreeMemory(0, 8),
    "cpumap": c.getCPUMap(),
    "cpustats": c.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS),
    "cpu0": c.getCPUStats(0),
    "memstats": c.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS),
    "sysinfo": c.getSysinfo(),
    "models": c.getCPUModelNames("x86_64"),
    "version": c.getVersion(),
}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    host = meminfo()
    slack = 256 * 1024  # KiB
    assert abs(r["free"] // 1024 - host["MemFree"]) < slack
    assert len(r["cells"]) >= 1 and abs(sum(r["cells"]) // 1024 - host["MemFree"]) < slack
    ncpu, online_map, online = r["cpumap"]
    assert ncpu == os.cpu_count() and online == os.cpu_count() and all(online_map)
    assert set(r["cpustats"]) == {"kernel", "user", "idle", "iowait"}
    assert r["cpustats"]["user"] > r["cpu0"]["user"] > 0
    assert r["memstats"]["total"] == host["MemTotal"]
    assert abs(r["memstats"]["free"] - host["MemFree"]) < slack
    assert set(r["memstats"]) == {"total", "free", "buffers", "cached"}
    assert r["sysinfo"].startswith("<sysinfo type='smbios'>")
    # The CPU models the installed QEMU offers, under libvirt's names.
    assert {"qemu64", "Skylake-Client", "EPYC"} <= set(r["models"])
    assert not [m for m in r["models"] if re.search(r"-v\d+$", m) or m in ("host", "max")]
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True,
                          check=True).stdout.split("version ", 1)[1].split()[0].split(".")
    assert r["version"] == int(qemu[0]) * 1000000 + int(qemu[1]) * 1000 + int(qemu[2])

    # virsh's spelling of the same calls; out-of-range cells and CPUs are invalid arguments.
    assert "Total:" in virsh(bridge, "freecell", "--all").stdout
    cpumap = virsh(bridge, "nodecpumap").stdout
    assert re.search(rf"^CPUs present:\s+{os.cpu_count()}$", cpumap, re.M), cpumap
    assert re.search(rf"^CPU map:\s+{'y' * os.cpu_count()}$", cpumap, re.M), cpumap
    assert re.search(r"^idle:\s+\d+", virsh(bridge, "nodecpustats").stdout, re.M)
    assert re.search(r"^total\s*:\s+\d+ KiB", virsh(bridge, "nodememstats").stdout, re.M)
    r = virsh(bridge, "freecell", "--cellno", "999", check=False)
    assert r.returncode == 1 and "out of range" in r.stderr, r.stderr
    r = virsh(bridge, "nodecpustats", "--cpu", "999", check=False)
    assert r.returncode == 1 and "Invalid cpuNum" in r.stderr, r.stderr


def test_capabilities_describe_the_host_cpu_and_security_models(bridge):
    caps = ET.fromstring(virsh(bridge, "capabilities").stdout)
    with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    vendor = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}[
        re.search(r"^vendor_id\s*:\s*(\S+)", cpuinfo, re.M).group(1)]
    assert caps.find("host/cpu/vendor").text == vendor
    family = re.search(r"^cpu family\s*:\s*(\d+)", cpuinfo, re.M).group(1)
    assert caps.find("host/cpu/signature").get("family") == family
    features = {f.get("name") for f in caps.findall("host/cpu/feature")}
    assert "sse2" in features and "lm" in features and "constant_tsc" not in features
    assert caps.find("host/cpu/pages").get("size") == "4"
    models = [m.find("model").text for m in caps.findall("host/secmodel")]
    assert models == ["none", "dac"]
    label = caps.find("host/secmodel[2]/baselabel[@type='qemu']").text
    assert re.fullmatch(r"\+\d+:\+\d+", label)
