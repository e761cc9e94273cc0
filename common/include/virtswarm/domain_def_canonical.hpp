// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"
#include "virtswarm/xml.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// libvirt's inactive form of a domain definition, so that clients reading it back (virsh
// dumpxml, virt-manager, Cockpit, D-Bus clients) see what libvirt would show them: the
// same facts in libvirt's units, with the defaults libvirt adds written out. The
// documented expectations are libvirt's tests/qemuxml2xmloutdata/ files.
namespace virtswarm {

// Machine types the installed QEMU knows by an alias ("pc" -> "pc-i440fx-7.2"), from
// `qemu-system-x86_64 -machine help`.
struct MachineAliases {
    std::map<std::string, std::string> canonical; // alias -> versioned machine type
    std::string defaultMachine;                   // the "(default)" one
    std::vector<std::string> machines;            // every type, aliases too, as listed
};
MachineAliases parseMachineHelp(std::string_view output);

// The aliases of this process' QEMU, once a daemon has asked it (asynchronously, at
// start-up); until then machine types are left as written. Set from the event loop only.
void setMachineAliases(std::optional<MachineAliases> aliases);
const std::optional<MachineAliases>& machineAliases();

// Rewrites the parsed document `root` of `def` into libvirt's inactive form:
// - <memory> and <currentMemory> (added if missing) in KiB;
// - <vcpu placement='static'> (added if missing);
// - <os><type arch=... machine=...>: the machine type expanded to the versioned one;
// - the devices libvirt adds: a <serial> for a console that has none, with the console
//   pointing at it; the PS/2 mouse and keyboard every x86 machine has; a virtio
//   <memballoon> unless one is given (model='none' keeps it out).
// Idempotent: the form of the form is the form (define(dumpxml(x)) == dumpxml(x)).
// Afterwards `def` describes the rewritten document (machine type, serial, inputs,
// balloon), as a parse of it would.
void canonicalizeDomain(xml::Node root, DomainDef& def);

} // namespace virtswarm
