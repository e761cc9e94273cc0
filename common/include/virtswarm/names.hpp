// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Bus names, object paths and interface names shared by more than one process.
namespace virtswarm::names {

inline constexpr const char* kHypervisorBusName = "org.virtswarm.Hypervisor1";
inline constexpr const char* kHypervisorRootPath = "/org/virtswarm/Hypervisor1";
inline constexpr const char* kDomainPathPrefix = "/org/virtswarm/Hypervisor1/domain/_";

// One bus name per shim: the prefix plus 'd' plus the domain's UUID in 32 hex digits
// (a bus name element cannot start with a digit).
inline constexpr const char* kShimBusNamePrefix = "org.virtswarm.Shim1.d";
inline constexpr const char* kShimNamespace = "org.virtswarm.Shim1";
inline constexpr const char* kShimPath = "/org/virtswarm/Shim1";
inline constexpr const char* kShimInterface = "org.virtswarm.Shim1.Machine";

} // namespace virtswarm::names
