"""A test user's own session bus, activating virtswarm's session daemons from the build
tree, for tests of session mode (a user's registry, shims and QEMUs under their uid)."""

import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

import vsharness as h


@contextmanager
def user_session():
    """Yields (user, home, env): env reaches the user's session bus (VS_DBUS_BUS=session for
    dbus_call.py) and the system bus of the harness. Everything the user started goes at
    the end."""
    user = h.test_user()
    pw = pwd.getpwnam(user)
    home = tempfile.mkdtemp(prefix="vs-session-")
    os.chmod(home, 0o755)
    for sub in ("run", "config", "data", "state"):
        os.makedirs(os.path.join(home, sub), mode=0o700)
    for root, dirs, _ in os.walk(home):
        for d in [root] + [os.path.join(root, x) for x in dirs]:
            os.chown(d, pw.pw_uid, pw.pw_gid)
    build = h.env("VS_BUILD_DIR")
    conf = os.path.join(home, "session.conf")
    with open(conf, "w") as f:
        f.write(f"""<busconfig>
  <type>session</type>
  <listen>unix:path={home}/run/bus</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{build}/dbus-policy/session-services-build</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTSWARM_")}
    env.update(HOME=home, XDG_RUNTIME_DIR=f"{home}/run", XDG_CONFIG_HOME=f"{home}/config",
               XDG_DATA_HOME=f"{home}/data", XDG_STATE_HOME=f"{home}/state", USER=user,
               VIRTSWARM_SHIM_PATH=os.environ["VIRTSWARM_SHIM_PATH"])
    bus = subprocess.Popen(h.as_user_argv(user, ["dbus-daemon", f"--config-file={conf}",
                                                 "--nofork", "--nosyslog"]),
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={home}/run/bus"
    env["VS_DBUS_BUS"] = "session"
    h.wait_until(lambda: os.path.exists(f"{home}/run/bus"), 10, 0.05, "the session bus")
    try:
        yield user, home, env
    finally:
        # Everything the user started (registry, shim, QEMU) goes with the test.
        subprocess.run(["pkill", "-KILL", "-u", user], check=False)
        bus.wait(10)
        shutil.rmtree(home, ignore_errors=True)
