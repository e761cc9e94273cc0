"""Issue 8, item 7: one user's flood of calls costs that user, not root.

vstest floods the registry from several connections with calls polkit denies (Start,
Suspend, Resume, Shutdown on a running domain). Each used to cost the registry a pending
polkit check on the connection it also uses to call shims; dbus-daemon bounds the replies a
connection may await (max_replies_per_connection, compiled in and not changed by Debian's
system.conf nor by the test bus, which copies it), so root's concurrent GetStats failed
with "maximum number of pending replies per connection has been reached". Now every one of
root's calls succeeds, and the flooder hears AccessDenied, InteractiveAuthorizationRequired
or LimitsExceeded.
"""

import json
import subprocess

import dbus
import dbus.lowlevel

import vsclient as vc
import vsharness as h

CONNECTIONS = 8
CALLS_PER_CONNECTION = 125
REFUSALS = {"org.freedesktop.DBus.Error.AccessDenied",
            "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
            "org.virtswarm.Error.LimitsExceeded"}

# Runs as the flooder: sends every call before waiting for any reply, says "sent", then
# collects the replies and prints how many ended with which error.
FLOODER = r"""
import collections, json, sys, dbus, dbus.lowlevel
dest, path, iface = sys.argv[1:4]
connections, per_connection = int(sys.argv[4]), int(sys.argv[5])
methods = ["Start", "Suspend", "Resume", "Shutdown"]
replies, pending, buses = [], [], []
for c in range(connections):
    bus = dbus.SystemBus(private=True)
    buses.append(bus)
    for i in range(per_connection):
        m = dbus.lowlevel.MethodCallMessage(dest, path, iface, methods[i % len(methods)])
        m.append(dbus.Dictionary({}, signature="sv"), signature="a{sv}")
        pending.append(bus.send_message_with_reply(m, replies.append, 120,
                                                   require_main_loop=False))
    bus.flush()
print("sent", flush=True)
for p in pending:
    p.block()
outcomes = collections.Counter(
    r.get_error_name() if isinstance(r, dbus.lowlevel.ErrorMessage) else "ok" for r in replies)
print(json.dumps(dict(outcomes)), flush=True)
"""


def concurrent_calls(path, methods):
    """Sends a call of every method in `methods` at once on one connection of root's;
    returns the replies' error names (None for a success) once all have answered."""
    bus = dbus.SystemBus(private=True)
    replies, pending = [], []
    for method in methods:
        m = dbus.lowlevel.MethodCallMessage(vc.BUS_NAME, path, vc.DOMAIN, method)
        m.append(dbus.Dictionary({}, signature="sv"), signature="a{sv}")
        pending.append(bus.send_message_with_reply(m, replies.append, 60,
                                                   require_main_loop=False))
    bus.flush()
    for p in pending:
        p.block()
    bus.close()
    return [r.get_error_name() + ": " + str(r.get_args_list())
            if isinstance(r, dbus.lowlevel.ErrorMessage) else None for r in replies]


def test_root_is_served_while_a_user_floods():
    path = vc.define(vc.domain_xml(vc.unique("flood")))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    flooder = subprocess.Popen(
        h.as_user_argv(h.test_user(), ["/usr/bin/python3", "-c", FLOODER, vc.BUS_NAME, path,
                                       vc.DOMAIN, str(CONNECTIONS),
                                       str(CALLS_PER_CONNECTION)]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert flooder.stdout.readline().strip() == "sent"
        # Root asks while the flood is being handled, a few rounds.
        failures = []
        for _ in range(3):
            outcomes = concurrent_calls(path, ["GetStats"] * 20 + ["GetXML"] * 20)
            failures += [o for o in outcomes if o is not None]
        out, err = flooder.communicate(timeout=300)
    finally:
        if flooder.poll() is None:
            flooder.kill()
            flooder.wait()
    assert failures == [], f"root's calls failed during the flood: {failures[:5]}"
    assert flooder.returncode == 0, err
    outcomes = json.loads(out.strip().splitlines()[-1])
    assert set(outcomes) <= REFUSALS, outcomes
    assert sum(outcomes.values()) == CONNECTIONS * CALLS_PER_CONNECTION
    assert outcomes.get("org.virtswarm.Error.LimitsExceeded", 0) > 0, outcomes
    # The flooder's bounds are given back: once it is done, it is merely denied again.
    r = vc.call_as(h.test_user(), path, vc.DOMAIN + ".Suspend", {})
    assert r.returncode != 0 and "LimitsExceeded" not in r.stderr, r.stderr
    assert vc.state(path)[0] == "running"
