"""Part (g) of the bench: network filter bindings on 200 interfaces, one side at a time,
through python-libvirt on both (libvirtd's nwfilter driver with ebtables/iptables at
qemu:///system; virtswarm-nwfilterd with nftables through virtswarm-proxyd).

    vsbench.py nwfilter --side libvirtd|virtswarm [--n 200] --out F

Each side gets N TAP devices (`ip tuntap`, up), binds libvirt's clean-traffic filter with
an IP address to each (`virNWFilterBindingCreateXML`, what `virsh nwfilter-binding-create`
calls, sequentially on one connection), counts the firewall rules that made, and deletes
the bindings again. The virtswarm side runs in the harness's private network namespace
(run.sh starts it with --netns), so its nftables table never touches the host's; the
libvirtd side works on the host's ebtables/iptables, on its own TAPs only. Nothing here
asserts timings.
"""

from __future__ import annotations

import json
import subprocess
import time

from vsbench import Libvirt, Recorder, log, start_proxyd, stop_proxyd

PORT_PREFIX = "vsbnf"


def binding_xml(i: int) -> str:
    return (f"<filterbinding><owner><name>vsbench-nf{i}</name>"
            f"<uuid>d217f2d7-5a04-0e01-8b98-{i:012x}</uuid></owner>"
            f"<portdev name='{PORT_PREFIX}{i}'/><mac address='52:54:00:0f:{i >> 8:02x}:{i & 255:02x}'/>"
            f"<filterref filter='clean-traffic'>"
            f"<parameter name='IP' value='10.{i >> 8}.{i & 255}.2'/></filterref></filterbinding>")


def make_taps(n: int) -> None:
    for i in range(n):
        subprocess.run(["ip", "tuntap", "add", f"{PORT_PREFIX}{i}", "mode", "tap"], check=True)
        subprocess.run(["ip", "link", "set", f"{PORT_PREFIX}{i}", "up"], check=True)


def remove_taps(n: int) -> None:
    for i in range(n):
        subprocess.run(["ip", "link", "del", f"{PORT_PREFIX}{i}"], stderr=subprocess.DEVNULL,
                       check=False)


def rule_count(side: str) -> tuple[int, str]:
    """The firewall rules on the machine (this namespace), and how they were counted."""
    if side == "libvirtd":
        counts = {}
        for tool, tables in (("ebtables", ["nat", "filter"]), ("iptables", ["filter"]),
                             ("ip6tables", ["filter"])):
            n = 0
            for table in tables:
                out = subprocess.run([tool, "-t", table, "-S"] if tool != "ebtables"
                                     else [tool, "-t", table, "-L"],
                                     capture_output=True, text=True).stdout
                n += sum(1 for line in out.splitlines()
                         if line.startswith("-A") or (tool == "ebtables" and line.startswith("-")))
            counts[tool] = n
        return sum(counts.values()), ", ".join(f"{k} {v}" for k, v in counts.items())
    out = subprocess.run(["nft", "--json", "list", "ruleset"], capture_output=True,
                         text=True).stdout
    items = json.loads(out).get("nftables", []) if out.strip() else []
    n = sum(1 for item in items if "rule" in item)
    return n, f"nftables rules {n}"


def cmd_nwfilter(args) -> None:
    rec = Recorder(args.out, "g", args.side)
    proxyd, uri = None, None
    if args.side == "virtswarm":
        proxyd, uri = start_proxyd(args.build)
        if proxyd is None:
            rec.add(f"bind clean-traffic on {args.n} interfaces", [], "s", key="g.bind",
                    note="virtswarm-proxyd not built or did not start")
            return
    lv = Libvirt(uri) if uri else Libvirt()
    remove_taps(args.n)
    make_taps(args.n)
    try:
        rules_before, _ = rule_count(args.side)
        t0 = time.monotonic()
        made, failure = 0, ""
        try:
            for i in range(args.n):
                lv.conn.nwfilterBindingCreateXML(binding_xml(i), 0)
                made += 1
        except lv.lv.libvirtError as e:
            failure = str(e)
        bind = round(time.monotonic() - t0, 3)
        rules, how = rule_count(args.side)
        note = f"failed after {made}: {failure}" if failure else ""
        rec.add(f"bind clean-traffic on {args.n} interfaces (one connection)",
                [bind] if not failure else [], "s", key="g.bind", note=note)
        rec.add(f"firewall rules for {made} bindings", [rules - rules_before], "rules",
                key="g.rules", text=how)
        log(f"{args.side}: {made} bindings in {bind} s, {rules - rules_before} rules ({how})")
        t0 = time.monotonic()
        for binding in lv.conn.listAllNWFilterBindings(0):
            if binding.portDev().startswith(PORT_PREFIX):
                binding.delete()
        rec.add(f"unbind {made} interfaces (one connection)",
                [round(time.monotonic() - t0, 3)], "s", key="g.unbind")
        left, _ = rule_count(args.side)
        if left != rules_before:
            rec.add("rules left after unbinding", [left - rules_before], "rules",
                    key="g.rules_left")
    finally:
        for binding in lv.conn.listAllNWFilterBindings(0):
            if binding.portDev().startswith(PORT_PREFIX):
                try:
                    binding.delete()
                except lv.lv.libvirtError:
                    pass
        lv.conn.close()
        remove_taps(args.n)
        stop_proxyd(proxyd)
