"""A FAKE sysfs tree and a FAKE kernel for nodedevd's binding tests.

Detaching, resetting and mdev creation must never touch this machine's devices, so the
tests give nodedevd (VIRTSWARM_SYSFS_ROOT) a directory tree built here with the files
and symlinks the kernel provides: devices under devices/, bus/pci/devices and
bus/usb/devices links, drivers with bind/unbind files, driver_override, reset,
iommu_group links, mdev_supported_types with create files, class/net, class/scsi_host
and class/fc_host. PCI domain 0x00ff keeps every fake name off any real host.

`FakeKernel` plays the kernel's part: it watches the files nodedevd writes (unbind,
drivers_probe, reset, create, remove), records each write in `writes`, and changes the
tree as the kernel would (driver links, new mdev directories)."""

import os
import threading

DOMAIN = "00ff"
GPU = f"{DOMAIN}:00:02.0"      # i915 with an mdev type, resettable
NIC = f"{DOMAIN}:00:03.0"      # e1000e, net device eth9 on it
USBCTL = f"{DOMAIN}:00:14.0"   # xhci_hcd, USB device 1-1 and its interface
HBA = f"{DOMAIN}:00:17.0"      # a Fibre Channel HBA, scsi host0
MDEV_TYPE = "i915-GVTg_V5_4"
WWNN, WWPN = "20000000c9a1b2c3", "10000000c9a1b2c3"


def name_of(addr: str) -> str:
    return "pci_" + addr.replace(":", "_").replace(".", "_")


def _write(path: str, text: str = "") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _link(path: str, target: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(os.path.relpath(target, os.path.dirname(path)), path)


class FakeSysfs:
    def __init__(self, root: str):
        self.root = root
        self.default_driver = {GPU: "i915", NIC: "e1000e", USBCTL: "xhci_hcd", HBA: "lpfc"}
        for d in ["vfio-pci", "i915", "e1000e", "xhci_hcd", "lpfc"]:
            for f in ["bind", "unbind", "new_id"]:
                _write(self.p(f"bus/pci/drivers/{d}/{f}"))
        _write(self.p("bus/pci/drivers_probe"))
        os.makedirs(self.p("bus/mdev/devices"))
        ids = {GPU: ("0x8086", "0x5912", "0x030000", 7), NIC: ("0x8086", "0x15b8", "0x020000", 8),
               USBCTL: ("0x8086", "0xa2af", "0x0c0330", 9), HBA: ("0x10df", "0xe300", "0x0c0400", 10)}
        for addr, (vendor, device, cls, group) in ids.items():
            d = self.dev(addr)
            for attr, value in [("vendor", vendor), ("device", device), ("class", cls),
                                ("numa_node", "0"), ("driver_override", "(null)"),
                                ("modalias", "")]:
                _write(f"{d}/{attr}", value + "\n")
            _link(self.p(f"bus/pci/devices/{addr}"), d)
            _link(self.p(f"kernel/iommu_groups/{group}/devices/{addr}"), d)
            _link(f"{d}/iommu_group", self.p(f"kernel/iommu_groups/{group}"))
            self.bind(addr, self.default_driver[addr])
        _write(f"{self.dev(GPU)}/reset")
        t = f"{self.dev(GPU)}/mdev_supported_types/{MDEV_TYPE}"
        for attr, value in [("name", "GVTg_V5_4"), ("device_api", "vfio-pci"),
                            ("available_instances", "2"), ("create", "")]:
            _write(f"{t}/{attr}", value)
        # eth9 on the NIC.
        net = f"{self.dev(NIC)}/net/eth9"
        for attr, value in [("address", "52:54:00:aa:bb:cc"), ("operstate", "up"),
                            ("speed", "1000"), ("type", "1")]:
            _write(f"{net}/{attr}", value + "\n")
        _link(self.p("class/net/eth9"), net)
        # USB device 1-1 (a keyboard) with interface 1-1:1.0 behind the controller.
        usb = f"{self.dev(USBCTL)}/usb1/1-1"
        for attr, value in [("idVendor", "046d"), ("idProduct", "c31c"), ("busnum", "1"),
                            ("devnum", "2"), ("bDeviceClass", "00"), ("product", "Keyboard K120"),
                            ("manufacturer", "Logitech")]:
            _write(f"{usb}/{attr}", value + "\n")
        for attr, value in [("bInterfaceNumber", "00"), ("bInterfaceClass", "03"),
                            ("bInterfaceSubClass", "01"), ("bInterfaceProtocol", "01")]:
            _write(f"{usb}/1-1:1.0/{attr}", value + "\n")
        _link(self.p("bus/usb/devices/1-1"), usb)
        _link(self.p("bus/usb/devices/1-1:1.0"), f"{usb}/1-1:1.0")
        # scsi host0 on the HBA, a Fibre Channel host.
        host = f"{self.dev(HBA)}/host0"
        _write(f"{host}/scsi_host/host0/unique_id", "1\n")
        _link(self.p("class/scsi_host/host0"), f"{host}/scsi_host/host0")
        fc = f"{host}/fc_host/host0"
        for attr, value in [("node_name", "0x" + WWNN), ("port_name", "0x" + WWPN),
                            ("fabric_name", "0x2001000dec000001")]:
            _write(f"{fc}/{attr}", value + "\n")
        _link(self.p("class/fc_host/host0"), fc)

    def p(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def dev(self, addr: str) -> str:
        return self.p(f"devices/pci{DOMAIN}:00/{addr}")

    def driver(self, addr: str) -> str:
        link = f"{self.dev(addr)}/driver"
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else ""

    def bind(self, addr: str, driver: str) -> None:
        _link(f"{self.dev(addr)}/driver", self.p(f"bus/pci/drivers/{driver}"))

    def read(self, path: str) -> str:
        with open(path) as f:
            return f.read()

    def mdevs(self) -> list[str]:
        return sorted(os.listdir(self.p("bus/mdev/devices")))


class FakeKernel:
    """Reacts to nodedevd's writes as the kernel would, every 5 ms, in a thread."""

    def __init__(self, fs: FakeSysfs):
        self.fs = fs
        self.writes: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def writes_to(self, suffix: str) -> list[str]:
        with self._lock:
            return [v for f, v in self.writes if f.endswith(suffix)]

    def _take(self, path: str) -> str:
        """The value written to `path` since the last look (the file is emptied)."""
        try:
            text = self.fs.read(path)
        except OSError:
            return ""
        if text:
            with open(path, "w"):
                pass
            with self._lock:
                self.writes.append((os.path.relpath(path, self.fs.root), text))
        return text.strip()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self._step()

    def _step(self) -> None:
        fs = self.fs
        # nodedevd writes driver_override, then unbind, then drivers_probe: read them in
        # the reverse order, so a probe seen here comes with the writes made before it.
        probe = self._take(fs.p("bus/pci/drivers_probe"))
        unbinds = [(drv, self._take(fs.p(f"bus/pci/drivers/{drv}/unbind")))
                   for drv in os.listdir(fs.p("bus/pci/drivers"))]
        for addr in fs.default_driver:
            self._take(f"{fs.dev(addr)}/reset")
            override = f"{fs.dev(addr)}/driver_override"
            text = fs.read(override)
            # Empty: a write in progress. The kernel keeps the value with a newline, and
            # shows "(null)" for none.
            if text and (text != text.strip() + "\n" or text == "\n"):
                with self._lock:
                    self.writes.append((os.path.relpath(override, fs.root), text))
                _write(override, (text.strip() or "(null)") + "\n")
        for drv, addr in unbinds:
            if addr in fs.default_driver and fs.driver(addr) == drv:
                os.unlink(f"{fs.dev(addr)}/driver")
        if probe in fs.default_driver and not fs.driver(probe):
            override = fs.read(f"{fs.dev(probe)}/driver_override").strip()
            fs.bind(probe, fs.default_driver[probe] if override == "(null)" else override)
        self._mdev_step()

    def _mdev_step(self) -> None:
        fs = self.fs
        types = f"{fs.dev(GPU)}/mdev_supported_types/{MDEV_TYPE}"
        uuid = self._take(f"{types}/create")
        available = f"{types}/available_instances"
        if uuid:
            d = f"{fs.dev(GPU)}/{uuid}"
            _link(f"{d}/mdev_type", types)
            _link(f"{d}/iommu_group", fs.p("kernel/iommu_groups/7"))
            _write(f"{d}/remove")
            _link(fs.p(f"bus/mdev/devices/{uuid}"), d)
            _write(available, str(int(fs.read(available)) - 1))
        for uuid in fs.mdevs():
            d = f"{fs.dev(GPU)}/{uuid}"
            if self._take(f"{d}/remove") == "1":
                os.unlink(fs.p(f"bus/mdev/devices/{uuid}"))
                for f in ["mdev_type", "iommu_group", "remove"]:
                    os.unlink(f"{d}/{f}")
                os.rmdir(d)
                _write(available, str(int(fs.read(available)) + 1))
