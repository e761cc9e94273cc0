// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Parsers of single device elements, shared by the domain parser and device hotplug.
#include "virtswarm/domain_def.hpp"
#include "virtswarm/xml.hpp"

namespace virtswarm::detail {

Result<DiskDef> parseDisk(xml::Node node);
// May add a generated <mac> to the element.
Result<InterfaceDef> parseInterface(xml::Node node);

// domain_tool_devices.cpp. True when `dev` was one of the tool devices (and is now in
// `tools`); false for any other element.
Result<bool> parseToolDevice(xml::Node dev, ToolDevices& tools);
// <os><smbios mode=...> with the domain's <sysinfo>.
Result<void> parseSmbiosMode(xml::Node root, xml::Node os, ToolDevices& tools);
// Checks across elements (a spicevmc channel needs SPICE graphics, ...); orders videos.
Result<void> checkToolDevices(DomainDef& def);
// <serial>/<console>: the unix type's source and a <log file=...>.
Result<void> parseCharDeviceExtras(xml::Node node, CharDeviceDef& chr);
// The SPICE-only parts of <graphics type='spice'>.
Result<void> parseSpiceGraphics(xml::Node node, GraphicsDef& graphics);

} // namespace virtswarm::detail
