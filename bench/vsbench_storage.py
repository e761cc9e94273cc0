"""Part (f) of the bench: storage, one side at a time, through python-libvirt on both
(libvirtd's storage driver at qemu:///system; virtswarm-storaged through virtswarm-proxyd).

    vsbench.py storage --side libvirtd|virtswarm [--gib 1] [--reps 3] [--volumes 1000] --out F

- clone of a 1 GiB raw and a 1 GiB qcow2 volume full of data (`virStorageVolCreateXMLFrom`,
  what `virsh vol-clone` calls), into the same pool and format;
- `virStoragePoolRefresh` of a pool of 1,000 volumes (half raw, half qcow2), and listing
  them (`virStoragePoolListAllVolumes`);
- latency of other storage calls on another connection while a clone runs (the pool's
  info, its volume list, the list of pools), and the same calls idle for comparison.

Both sides work in directories on the same filesystem (/var/lib/vsbench-storage/<side>),
made anew each run. Nothing here asserts timings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

from vsbench import Libvirt, Recorder, log, percentile, start_proxyd, stop_proxyd

WORK = "/var/lib/vsbench-storage"
CLONE_POOL = "vsbench-clone"
REFRESH_POOL = "vsbench-refresh"
MIB = 1 << 20


def pool_xml(name: str, path: str) -> str:
    return (f"<pool type='dir'><name>{name}</name>"
            f"<target><path>{path}</path></target></pool>")


def volume_xml(name: str, capacity: int, fmt: str) -> str:
    return (f"<volume><name>{name}</name><capacity>{capacity}</capacity>"
            f"<target><format type='{fmt}'/></target></volume>")


def fill_raw(path: str, size: int) -> None:
    """A raw image with data in every block (no zeros a copy could skip)."""
    chunk = os.urandom(MIB)
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(chunk)


def make_images(clone_dir: str, refresh_dir: str, size: int, volumes: int) -> None:
    os.makedirs(clone_dir)
    os.makedirs(refresh_dir)
    raw = os.path.join(clone_dir, "source.img")
    fill_raw(raw, size)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw,
                    os.path.join(clone_dir, "source.qcow2")], check=True)
    template = os.path.join(WORK, "template.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", template, "64M"], check=True)
    for i in range(volumes):
        path = os.path.join(refresh_dir, f"vol{i:04d}")
        if i % 2:
            shutil.copyfile(template, path + ".qcow2")
        else:
            with open(path + ".img", "wb") as f:
                f.truncate(64 * MIB)
    os.unlink(template)
    os.sync()


def start_pool(conn, name: str, path: str):
    pool = conn.storagePoolDefineXML(pool_xml(name, path), 0)
    pool.create(0)
    return pool


def remove_pool(lv: Libvirt, name: str) -> None:
    try:
        pool = lv.conn.storagePoolLookupByName(name)
    except lv.lv.libvirtError:
        return
    try:
        if pool.isActive():
            pool.destroy()
        pool.undefine()
    except lv.lv.libvirtError as e:
        log(f"removing pool {name}: {e}")


def timed_clones(rec: Recorder, lv: Libvirt, pool, fmt: str, reps: int, size: int) -> None:
    source = pool.storageVolLookupByName("source.img" if fmt == "raw" else "source.qcow2")
    name = "clone.img" if fmt == "raw" else "clone.qcow2"
    walls, bad = [], ""
    for _ in range(reps):
        os.sync()
        t0 = time.monotonic()
        try:
            vol = pool.createXMLFrom(volume_xml(name, size, fmt), source, 0)
        except lv.lv.libvirtError as e:
            bad = str(e)
            break
        walls.append(round(time.monotonic() - t0, 3))
        vol.delete(0)
    rec.add(f"clone a {size // (1 << 30)} GiB {fmt} volume (vol-clone)", walls, "s",
            key=f"f.clone_{fmt}", note=f"failed: {bad}" if bad else "")


def timed_refresh(rec: Recorder, lv: Libvirt, pool, volumes: int, reps: int) -> None:
    walls, lists, listed = [], [], 0
    for _ in range(reps):
        t0 = time.perf_counter()
        pool.refresh(0)
        walls.append(round((time.perf_counter() - t0) * 1000, 1))
        t0 = time.perf_counter()
        listed = len(pool.listAllVolumes(0))
        lists.append(round((time.perf_counter() - t0) * 1000, 1))
    note = "" if listed == volumes else f"{listed} of {volumes} volumes listed"
    rec.add(f"pool-refresh, {volumes} volumes", walls, "ms", key="f.refresh", note=note)
    rec.add(f"list the {volumes} volumes (listAllVolumes)", lists, "ms", key="f.list")


PROBES = {
    "poolinfo": ("the pool's info", lambda conn: conn.storagePoolLookupByName(CLONE_POOL).info()),
    "vollist": ("the pool's volumes",
                lambda conn: conn.storagePoolLookupByName(CLONE_POOL).listAllVolumes(0)),
    "pools": ("the list of pools", lambda conn: conn.listAllStoragePools(0)),
}


def probe_until(conn, done: threading.Event, min_rounds: int) -> dict[str, list[float]]:
    """Each probe call in turn, 5 ms apart, until `done` (and at least `min_rounds`)."""
    lat: dict[str, list[float]] = {k: [] for k in PROBES}
    rounds = 0
    while not done.is_set() or rounds < min_rounds:
        for key, (_, call) in PROBES.items():
            t0 = time.perf_counter()
            call(conn)
            lat[key].append((time.perf_counter() - t0) * 1000)
            time.sleep(0.005)
        rounds += 1
    return lat


def record_probes(rec: Recorder, lat: dict[str, list[float]], busy: bool) -> None:
    when = "while a clone runs" if busy else "idle"
    for key, (what, _) in PROBES.items():
        values = lat[key]
        prefix = f"f.{'busy' if busy else 'idle'}.{key}"
        rec.add(f"{what} {when}, p50", [round(percentile(values, 50), 2)], "ms",
                key=prefix + ".p50", note=f"n={len(values)}")
        rec.add(f"{what} {when}, p99", [round(percentile(values, 99), 2)], "ms",
                key=prefix + ".p99", text=f"max {max(values):.1f} ms")


def latency_during_clone(rec: Recorder, lv: Libvirt, uri: str, pool, size: int) -> None:
    prober = Libvirt(uri)
    try:
        idle = threading.Event()
        idle.set()
        record_probes(rec, probe_until(prober.conn, idle, 100), busy=False)

        cloner = Libvirt(uri)
        source = pool.storageVolLookupByName("source.img")
        done = threading.Event()
        failure: list[str] = []

        def clone() -> None:
            try:
                p = cloner.conn.storagePoolLookupByName(CLONE_POOL)
                p.createXMLFrom(volume_xml("busy.img", size, "raw"),
                                cloner.conn.storageVolLookupByKey(source.key()), 0)
            except cloner.lv.libvirtError as e:
                failure.append(str(e))
            finally:
                done.set()

        os.sync()
        worker = threading.Thread(target=clone)
        worker.start()
        lat = probe_until(prober.conn, done, 20)
        worker.join()
        cloner.conn.close()
        if failure:
            rec.add("the pool's info while a clone runs, p99", [], "ms",
                    key="f.busy.poolinfo.p99", note=f"clone failed: {failure[0]}")
            return
        record_probes(rec, lat, busy=True)
        pool.refresh(0)
        pool.storageVolLookupByName("busy.img").delete(0)
    finally:
        prober.conn.close()


def cmd_storage(args) -> None:
    rec = Recorder(args.out, "f", args.side)
    size = args.gib << 30
    top = os.path.join(WORK, args.side)
    shutil.rmtree(top, ignore_errors=True)
    clone_dir, refresh_dir = os.path.join(top, "clone"), os.path.join(top, "refresh")
    log(f"{args.side}: making a {args.gib} GiB raw and qcow2 image and {args.volumes} volumes")
    make_images(clone_dir, refresh_dir, size, args.volumes)

    proxyd, uri = None, None
    if args.side == "virtswarm":
        proxyd, uri = start_proxyd(args.build)
        if proxyd is None:
            rec.add("clone a raw volume (vol-clone)", [], "s", key="f.clone_raw",
                    note="virtswarm-proxyd not built or did not start")
            return
    lv = Libvirt(uri) if uri else Libvirt()
    uri = uri or lv.uri
    try:
        for name in (CLONE_POOL, REFRESH_POOL):
            remove_pool(lv, name)
        clone_pool = start_pool(lv.conn, CLONE_POOL, clone_dir)
        timed_clones(rec, lv, clone_pool, "raw", args.reps, size)
        timed_clones(rec, lv, clone_pool, "qcow2", args.reps, size)
        latency_during_clone(rec, lv, uri, clone_pool, size)
        t0 = time.monotonic()
        refresh_pool = start_pool(lv.conn, REFRESH_POOL, refresh_dir)
        log(f"{args.side}: starting a pool of {args.volumes} volumes took "
            f"{time.monotonic() - t0:.2f} s")
        timed_refresh(rec, lv, refresh_pool, args.volumes, args.reps + 2)
    finally:
        for name in (CLONE_POOL, REFRESH_POOL):
            remove_pool(lv, name)
        lv.conn.close()
        stop_proxyd(proxyd)
        shutil.rmtree(top, ignore_errors=True)
