// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"

#include <cstdint>

// Changes of a definition's memory and vCPU counts (libvirt's virDomainSetMemoryFlags and
// virDomainSetVcpusFlags on the persistent definition) and of its name (virDomainRename),
// with libvirt's rules and errors.
// Each returns the whole definition re-validated, or an error and nothing changed.
namespace virtswarm {

// `maximum`: <memory> becomes `kib` and <currentMemory> shrinks to it if larger
// (VIR_DOMAIN_MEM_MAXIMUM); otherwise <currentMemory> becomes `kib`. Errors: InvalidArgs
// for 0, for more than 16 TiB, and for a current size above the maximum.
Result<DomainXml> withMemory(const DomainXml& domain, uint64_t kib, bool maximum);

// `maximum`: <vcpu> becomes `count` and its current attribute shrinks to it if larger
// (VIR_DOMAIN_VCPU_MAXIMUM); otherwise the current count becomes `count` (the attribute
// goes when it equals the maximum, as libvirt writes it). Errors: InvalidArgs for 0, for
// more than 255, and for a current count above the maximum.
Result<DomainXml> withVcpus(const DomainXml& domain, uint32_t count, bool maximum);

// The definition under another <name> (libvirt's virDomainRename). Errors: as
// parseDomainXml for a bad name (MissingName for an empty one, InvalidXML).
Result<DomainXml> withName(const DomainXml& domain, const std::string& name);

} // namespace virtswarm
