"""Names that cannot run: a 255-character name was defined but could never start (its log
file name was too long), and '..', '-x', the all-zero UUID and two <uuid> elements were
accepted. Each is now InvalidXML at define time, naming the problem, with nothing defined."""

import os

import dbus
import pytest

import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

INVALID_XML = "org.virtswarm.Error.InvalidXML"
UUID = "6f1c1a52-9c59-4b43-a1a7-0e4cbb0e3d11"
# NAME_MAX (255) minus ".log": the shim's log file is named after the domain.
LONGEST_NAME = 251


def with_name(name, uuid=None):
    return vc.domain_xml("PLACEHOLDER", uuid=uuid).replace("PLACEHOLDER", name, 1)


CASES = [
    ("255 characters", with_name("n" * 255), "longer than 251 bytes"),
    ("one byte too many", with_name("n" * (LONGEST_NAME + 1)), "longer than 251 bytes"),
    ("dot dot", with_name(".."), "'..' is not allowed"),
    ("dot", with_name("."), "'.' is not allowed"),
    ("leading dash", with_name("-x"), "must not start with '-'"),
    ("leading dot", with_name(".hidden"), "must not start with '.'"),
    ("slash", with_name("a/b"), "'/'"),
    ("control character", with_name("a&#9;b"), "control character"),
    ("all-zero uuid", with_name("zero", "00000000-0000-0000-0000-000000000000"), "all-zero"),
    ("two uuids", with_name("twice", UUID).replace(
        f"<uuid>{UUID}</uuid>", f"<uuid>{UUID}</uuid><uuid>{UUID}</uuid>"),
     "more than one <uuid>"),
    ("two names", with_name("first").replace("<name>first</name>",
                                             "<name>first</name><name>second</name>"),
     "more than one <name>"),
]


@pytest.mark.parametrize("what,xml,message", CASES, ids=[c[0] for c in CASES])
def test_names_and_uuids_that_cannot_run_are_refused(what, xml, message):
    try:
        vc.manager().DefineXML(xml, vc.no_options(), timeout=vc.TIMEOUT)
    except dbus.exceptions.DBusException as e:
        assert e.get_dbus_name() == INVALID_XML, what
        assert message in e.get_dbus_message(), e.get_dbus_message()
    else:
        pytest.fail(f"{what}: defined")
    assert vc.list_domains() == []
    saved = vc.config_dir()
    assert not os.path.isdir(saved) or not [f for f in os.listdir(saved) if f.endswith(".xml")]


def test_the_longest_name_allowed_defines_and_starts():
    name = "n" * LONGEST_NAME
    path = vc.define(with_name(name))
    assert str(vc.prop(path, "Name")) == name
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path)[0] == "running"
