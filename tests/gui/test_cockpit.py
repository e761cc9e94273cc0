"""GUI: Cockpit's Machines page manages a VM on virtswarm, unmodified.

The chain is the one a Debian 12 host with Cockpit uses: headless Chromium (driven by
Selenium) -> cockpit-ws (--local-session, so no login) -> cockpit-bridge -> the
libvirt-dbus service on the system bus, running as its own user `libvirtdbus` ->
libvirt's client library on qemu:///system -> virtswarm-proxyd. Only two things differ
from a real host, both because the test runs in a private world: the system bus is the
harness's private one, and /run/libvirt is a tmpfs in the harness's mount namespace whose
libvirt-sock leads to the bridge under test. polkit answers libvirt-dbus's user with
Debian's own packaged rule (org.libvirt.unix.manage), which the bridge honours as libvirtd
does. networkd runs with libvirt's `default` network, as installed, in the test's own
network namespace.

Screenshots of each step are saved under <build>/test-artifacts/gui/.
"""

import json
import os
import socket
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest

import netclient as nc
import storageclient as sc
import vsclient as vc
import vsharness as h
from conftest import artifacts_dir

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - the skip below says why
    webdriver = None

COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
LIBVIRT_DBUS = "/usr/sbin/libvirt-dbus"
NEEDED = [COCKPIT_WS, LIBVIRT_DBUS, "/usr/bin/chromium", "/usr/bin/chromedriver",
          "/usr/share/cockpit/machines/manifest.json"]

pytestmark = [
    pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus"),
    pytest.mark.skipif(webdriver is None or not all(os.path.exists(p) for p in NEEDED),
                       reason="needs cockpit-ws, cockpit-machines, libvirt-dbus, chromium, "
                              "chromium-driver and python3-selenium"),
]

WAIT = 90
VNC = "<graphics type='vnc' autoport='yes'/>"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def default_network():
    """networkd as installed: with libvirt's `default` NAT network, autostarted (in the
    test's own network namespace), which virt-install gives every new VM."""
    networkd = os.path.join(h.env("VS_BUILD_DIR"), "services", "networkd", "virtswarm-networkd")
    log = open(os.path.join(artifacts_dir(), "networkd.log"), "w")
    proc = subprocess.Popen([networkd, "--system"], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT,
                            env=dict(os.environ, VIRTSWARM_DEFAULT_NETWORK="yes"))
    try:
        h.wait_for_name(nc.BUS_NAME, timeout=30)
        path = str(nc.manager().LookupByName("default", timeout=vc.TIMEOUT))
        h.wait_until(lambda: bool(nc.props(path)["Active"]), 30, 0.1, "default to start")
        yield path
    finally:
        nc.cleanup_all()
        h.end_process(proc, 30)
        log.close()


# What Debian's libvirt-dbus package installs as /usr/share/polkit-1/rules.d/libvirt-dbus.rules
# (the harness hides the host's rule directories, so the test puts it in place itself).
LIBVIRT_DBUS_RULE = """polkit.addRule(function(action, subject) {
    if (action.id == "org.libvirt.unix.manage" && subject.user == "libvirtdbus") {
        return polkit.Result.YES;
    }
});
"""


@pytest.fixture(scope="module")
def libvirt_dbus(default_network, bridge_at_libvirt_paths):
    """Debian's libvirt-dbus on the system bus, as its own user, as its unit runs it."""
    # default_network comes first: networkd must be the one with `default` before the
    # bridge asks the bus for it.
    h.write_rule("50-libvirt-dbus.rules", LIBVIRT_DBUS_RULE)
    log = open(os.path.join(artifacts_dir(), "libvirt-dbus.log"), "w")
    proc = subprocess.Popen(h.as_user_argv("libvirtdbus", [LIBVIRT_DBUS, "--system"]),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        h.wait_until(lambda: h.name_has_owner("org.libvirt") or proc.poll() is not None,
                     30, what="libvirt-dbus on the bus")
        assert proc.poll() is None, "libvirt-dbus exited at start-up"
        yield proc
    finally:
        h.end_process(proc)
        log.close()


@pytest.fixture(scope="module")
def cockpit(libvirt_dbus):
    """cockpit-ws with a local session: its bridge runs as root without a login."""
    port = free_port()
    home = tempfile.mkdtemp(dir=h.env("VS_TEST_ROOT"))
    log = open(os.path.join(artifacts_dir(), "cockpit-ws.log"), "w")
    # Debian's own python3 first: Cockpit runs its OS-list and install scripts with the
    # python3 it finds, and they need Debian's python3-gi and libosinfo.
    env = dict(os.environ, HOME=home, XDG_RUNTIME_DIR=home, LANG="C.UTF-8",
               PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    proc = subprocess.Popen([COCKPIT_WS, "--no-tls", "-a", "127.0.0.1", "-p", str(port),
                             "--local-session=cockpit-bridge"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)

    def listening():
        assert proc.poll() is None, "cockpit-ws exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    try:
        h.wait_until(listening, 30, 0.2, "cockpit-ws listening")
        yield f"http://127.0.0.1:{port}"
    finally:
        h.end_process(proc)
        log.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1400,1000",
                f"--user-data-dir={tempfile.mkdtemp(dir=h.env('VS_TEST_ROOT'))}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.chrome.service.Service(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The Machines page, with a screenshot for every step taken."""

    def __init__(self, driver, base, name):
        self.driver = driver
        self.base = base
        self.name = name
        self.step = 0

    def open(self, fragment=""):
        self.driver.get(f"{self.base}/cockpit/@localhost/machines/index.html{fragment}")
        # The guests run under TCG: virt-host-validate finds no VT-x/AMD-V here, and the
        # page says so until the user chooses to go on (it remembers that choice).
        self.driver.execute_script(
            "localStorage.setItem('virtualization-disabled-ignored', 'true')")
        self.driver.refresh()

    def shot(self, what):
        self.step += 1
        self.driver.save_screenshot(
            os.path.join(artifacts_dir(), f"{self.name}-{self.step}-{what}.png"))

    def find(self, css, timeout=WAIT):
        return WebDriverWait(self.driver, timeout).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, css)))

    def click(self, css, timeout=WAIT):
        WebDriverWait(self.driver, timeout).until(
            EC.element_to_be_clickable((By.CSS_SELECTOR, css))).click()

    def click_xpath(self, xpath, timeout=WAIT):
        WebDriverWait(self.driver, timeout).until(
            EC.element_to_be_clickable((By.XPATH, xpath))).click()

    def wait_text(self, css, text, timeout=WAIT):
        WebDriverWait(self.driver, timeout).until(
            EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

    def gone(self, css, timeout=WAIT):
        WebDriverWait(self.driver, timeout).until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, css))

    def alerts(self):
        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, ".pf-c-alert")]

    def save_console_log(self):
        """What the page logged (errors of its own included), kept beside the shots."""
        try:
            entries = self.driver.get_log("browser")
        except WebDriverException:
            entries = []
        with open(os.path.join(artifacts_dir(), f"{self.name}-browser-console.log"), "w") as f:
            for entry in entries:
                f.write(f"{entry.get('level')} {entry.get('message')}\n")


def console_colours(driver):
    """How many distinct colours a sample of the largest canvas (noVNC's) has: 1 when it is
    blank, two (VGA text mode: grey on black) or more once it shows
    something."""
    return driver.execute_script("""
        const canvases = Array.from(document.querySelectorAll('canvas'))
            .filter(c => c.width && c.height)
            .sort((a, b) => b.width * b.height - a.width * a.height);
        if (!canvases.length) return 0;
        const c = canvases[0];
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]);
        return seen.size;""")


def serial_text(driver):
    """What xterm.js shows of the serial console (its screen-reader mirror of the rows)."""
    return driver.execute_script(
        "const a = document.querySelector('.xterm-accessibility'); return a ? a.innerText : ''")


def test_cockpit_machines_manages_a_vm(cockpit, browser):
    name = vc.unique("cockpit")
    # ticks: the guest writes a line to its serial port every second.
    path = vc.define(vc.domain_xml(name, extra_devices=VNC, ticks=True))
    page = Page(browser, cockpit, "cockpit")
    row = f"tr[data-row-id=vm-{name}-system]"
    state = f"#vm-{name}-system-state"
    try:
        page.open()
        try:
            page.find(row)
        finally:
            page.shot("list")
        # No "Failed to fetch some resources", no other error.
        assert page.alerts() == [], page.alerts()
        page.wait_text(state, "Shut off")

        page.click(f"#vm-{name}-system-run")
        page.wait_text(state, "Running")
        vc.wait_state(path, "running")
        page.shot("running")

        # The VM's own page opens on its VNC console (noVNC through cockpit-ws to the
        # port the live XML names): it shows the guest's screen.
        page.open(f"#vm?name={name}&connection=system")
        page.find(state)
        try:
            h.wait_until(lambda: console_colours(browser) >= 2, WAIT, 1.0,
                         "the VNC console showing the guest")
        finally:
            page.shot("vnc-console")

        # The serial console: `virsh console` run by cockpit-bridge, through the bridge.
        page.click("#pf-c-console__type-selector")
        page.click("li#SerialConsole button")
        try:
            h.wait_until(lambda: "VIRTSWARM-TICK" in serial_text(browser), WAIT, 1.0,
                         "the serial console showing the guest's lines")
        finally:
            page.shot("serial-console")

        # Shut down: the guest's ACPI power button (its ticks run once it watches it).
        page.click(f"#vm-{name}-system-shutdown-button")
        page.wait_text(state, "Shut off")
        assert vc.wait_state(path, "shutoff") == ("shutoff", "shutdown")
        page.shot("shut-down")

        # Run again, then Force off from the actions menu.
        page.click(f"#vm-{name}-system-run")
        page.wait_text(state, "Running")
        page.click(f"#vm-{name}-system-action-kebab button")
        page.click(f"#vm-{name}-system-forceOff")
        page.wait_text(state, "Shut off")
        assert vc.wait_state(path, "shutoff") == ("shutoff", "destroyed")
        page.shot("forced-off")

        # Delete, confirmed in its dialog: gone from virtswarm and from the list.
        page.click(f"#vm-{name}-system-action-kebab button")
        page.click(f"#vm-{name}-system-delete")
        page.click_xpath(f"//*[@id='vm-{name}-delete-modal-dialog']//button[text()='Delete']")
        page.gone(f"#vm-{name}-delete-modal-dialog")
        h.wait_until(lambda: path not in vc.list_domains(), WAIT, 0.5, "the domain gone")
        page.open()
        page.gone(row)
        page.shot("deleted")
        assert page.alerts() == [], page.alerts()
    finally:
        page.save_console_log()
        vc.cleanup_all()


def test_cockpit_creates_a_vm_with_a_new_volume(cockpit, browser):
    """Create VM: virt-install, run by Cockpit, makes the disk in the `default` pool
    (storaged), defines and starts the VM; Delete removes the VM and its volume."""
    name = vc.unique("created")
    media = os.path.join(h.env("VS_TEST_ROOT"), "media")
    os.makedirs(media, exist_ok=True)
    iso = os.path.join(media, "install.iso")
    with open(iso, "wb") as f:  # no OS on it: the guest waits at its firmware
        f.truncate(1 << 20)
    page = Page(browser, cockpit, "cockpit-create")
    state = f"#vm-{name}-system-state"
    try:
        page.open()
        page.click("#create-new-vm")
        page.find("#create-vm-dialog")
        page.find("#vm-name").send_keys(name)
        Select(page.find("#source-type")).select_by_value("file")
        source = page.find("#create-vm-dialog input[placeholder^='Path to ISO']")
        source.send_keys(iso)
        page.click_xpath("//*[@id='create-vm-dialog']//li//button[contains(., 'install.iso')]")
        os_input = page.find("#os-select-group input")
        os_input.send_keys("Generic Linux 2022")
        page.click_xpath("//*[@id='os-select']//li//button[contains(., 'Generic Linux 2022')]")
        Select(page.find("#storage-pool-select")).select_by_value("NewVolume")
        Select(page.find("#storage-limit-unit-select")).select_by_value("MiB")
        set_text(page.find("#storage-limit"), "64")
        Select(page.find("#memory-size-unit-select")).select_by_value("MiB")
        set_text(page.find("#memory-size"), "128")
        page.shot("create-dialog")
        page.click("#create-and-run")
        try:
            page.gone("#create-vm-dialog")
            page.wait_text(state, "Running")
        finally:
            page.shot("running")
        assert page.alerts() == [], page.alerts()

        # Its disk: a new qcow2 volume of 64 MiB in the default pool, made by storaged.
        path = str(vc.manager().LookupByName(name, timeout=vc.TIMEOUT))
        assert vc.state(path)[0] == "running"
        live = ET.fromstring(str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT)))
        volume = live.find("./devices/disk[@device='disk']/source").get("file")
        pool = str(sc.manager().LookupByName("default", timeout=vc.TIMEOUT))
        assert os.path.dirname(volume) == str(sc.props(pool, sc.POOL)["Path"]), volume
        info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", volume],
                                         capture_output=True, check=True).stdout)
        assert (info["format"], info["virtual-size"]) == ("qcow2", 64 << 20)

        # The "installation" ends with the guest off (forced, as this medium has no OS):
        # virt-install, which waited for that, finishes without an error, and Cockpit
        # shows the VM as it now is.
        page.click(f"#vm-{name}-system-action-kebab button")
        page.click(f"#vm-{name}-system-forceOff")
        h.wait_until(lambda: not installer_running(name), WAIT, 0.5, "virt-install to finish")
        shown = {"running": "Running", "shutoff": "Shut off"}[vc.state(path)[0]]
        page.wait_text(state, shown)
        page.shot("installed")
        assert page.alerts() == [], page.alerts()

        # Delete with its storage (the dialog's default for a volume): the VM is undefined,
        # the volume deleted; the install medium stays.
        page.click(f"#vm-{name}-system-action-kebab button")
        page.click(f"#vm-{name}-system-delete")
        page.find(f"#vm-{name}-delete-modal-dialog")
        page.shot("delete-with-storage")
        page.click_xpath(f"//*[@id='vm-{name}-delete-modal-dialog']//button[text()='Delete']")
        page.gone(f"#vm-{name}-delete-modal-dialog")
        h.wait_until(lambda: path not in vc.list_domains(), WAIT, 0.5, "the domain gone")
        h.wait_until(lambda: not os.path.exists(volume), WAIT, 0.5, "the volume deleted")
        assert os.path.exists(iso)
        page.shot("deleted")
        assert page.alerts() == [], page.alerts()
    finally:
        page.save_console_log()
        # What virt-install made of it, as the page read it.
        for path in vc.list_domains():
            with open(os.path.join(artifacts_dir(), "cockpit-created-domain.xml"), "w") as f:
                f.write(str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT)))
        vc.cleanup_all()


def installer_running(name):
    """Whether Cockpit's virt-install for `name` still runs (it waits for the guest's
    installation to end)."""
    return subprocess.run(["pgrep", "-f", f"virt-install .*--name {name} "],
                          capture_output=True).returncode == 0


def set_text(element, text):
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(text)
