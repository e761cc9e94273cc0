"""Authorization with the real polkitd: an unprivileged user may read but not act,
unless a rule says so; root is allowed without asking."""

import vsclient as vc
import vsharness as h

DEFINE_FAILS = ("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
                "org.freedesktop.DBus.Error.AccessDenied")


def as_user(path, method, *args):
    return vc.call_as(h.test_user(), path, method, *args)


def test_unprivileged_user_can_list_and_read():
    name = vc.unique("read")
    path = vc.define(vc.domain_xml(name))
    r = as_user(vc.ROOT, vc.MANAGER + ".ListDomains", {})
    assert r.returncode == 0, r.stderr
    assert path in r.stdout
    r = as_user(vc.ROOT, vc.MANAGER + ".LookupByName", name)
    assert r.returncode == 0 and path in r.stdout, r.stderr
    r = as_user(path, vc.DOMAIN + ".GetXML", {})
    assert r.returncode == 0 and f"<name>{name}</name>" in r.stdout, r.stderr
    r = as_user(path, vc.PROPS + ".Get", vc.DOMAIN, "State")
    assert r.returncode == 0 and "shutoff" in r.stdout, r.stderr


def test_unprivileged_user_is_denied_changes_by_default():
    path = vc.define(vc.domain_xml(vc.unique("deny")))
    # auth_admin_keep without an agent: polkit would need to ask, so it is a challenge.
    r = as_user(path, vc.DOMAIN + ".Start", {})
    assert r.returncode != 0
    assert "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" in r.stderr
    r = as_user(vc.ROOT, vc.MANAGER + ".DefineXML",
                vc.domain_xml(vc.unique('sneaky')), {})
    assert r.returncode != 0 and any(e in r.stderr for e in DEFINE_FAILS)
    r = as_user(path, vc.DOMAIN + ".Undefine", {})
    assert r.returncode != 0
    assert vc.state(path)[0] == "shutoff"
    assert len(vc.list_domains()) == 1


def test_a_rule_saying_no_gives_access_denied():
    path = vc.define(vc.domain_xml(vc.unique("no")))
    with h.polkit_rule("60-vs-no.rules",
                       h.allow_rule_js("org.virtswarm.domain.start", h.test_user(), "NO")):
        r = as_user(path, vc.DOMAIN + ".Start", {})
    assert r.returncode != 0
    assert "org.freedesktop.DBus.Error.AccessDenied" in r.stderr
    assert vc.state(path)[0] == "shutoff"


def test_a_rule_granting_start_lets_the_user_start_with_details():
    name = vc.unique("lab")
    path = vc.define(vc.domain_xml(name))
    other = vc.define(vc.domain_xml(vc.unique("prod")))
    # The rule sees the domain's details: only this domain's name is granted.
    rule = ("polkit.addRule(function(action, subject) {\n"
            '  if (action.id == "org.virtswarm.domain.start" &&\n'
            f'      subject.user == "{h.test_user()}" &&\n'
            f'      action.lookup("domain_name") == "{name}" &&\n'
            f'      action.lookup("domain_uuid") == "{vc.prop(path, "UUID")}")\n'
            "    return polkit.Result.YES;\n"
            "});\n")
    with h.polkit_rule("60-vs-lab.rules", rule):
        r = as_user(path, vc.DOMAIN + ".Start", {})
        assert r.returncode == 0, r.stderr
        assert vc.state(path)[0] == "running"
        r = as_user(other, vc.DOMAIN + ".Start", {})
        assert r.returncode != 0
        # Start was granted, not stop.
        r = as_user(path, vc.DOMAIN + ".Destroy", {})
        assert r.returncode != 0
    assert vc.state(other)[0] == "shutoff"
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("shutoff", "destroyed")


def test_root_is_allowed_without_polkit_rules():
    path = vc.define(vc.domain_xml(vc.unique("root")))
    vc.domain(path).SetAutostart(True, vc.no_options())
    vc.domain(path).Undefine(vc.no_options())
    assert vc.list_domains() == []
