// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/result.hpp"

#include <string>
#include <string_view>
#include <sys/types.h>

// Who defined a domain. A definition reaches only what its definer could reach: when the
// definer is not root, the shim opens the definition's host paths with the definer's
// file-system credentials (see docs/security.md).
namespace virtswarm {

// The DefineXML/CreateXML option by which a root caller that acts for someone else (the
// libvirt bridge) names the uid it acts for. Any other caller may name only itself.
inline constexpr const char* kDefinerUidOption = "definer-uid";

// The uid used when a record exists but was written for another XML (a crash between
// writing the record and the definition): nobody, so that such a definition reaches
// nothing it should not.
inline constexpr uid_t kUnknownDefiner = 65534;

// The definer to record for a call by `caller` with `options`: `caller` itself, or the
// uid named by definer-uid when `caller` is root. InvalidArgs for a definer-uid of
// another type, or naming another uid than the caller's from a non-root caller.
Result<uid_t> resolveDefiner(uid_t caller, const Options& options);

// The record kept next to a definition (and in a running domain's runtime dir). It names
// the XML it was written for, so a record never applies to another definition.
std::string formatDefinerRecord(uid_t definer, std::string_view xml);
// The definer in `record` if it was written for exactly `xml`; InvalidArgs otherwise.
Result<uid_t> parseDefinerRecord(std::string_view record, std::string_view xml);

} // namespace virtswarm
