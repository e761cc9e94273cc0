// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/nwfilter_def.hpp"

#include <functional>
#include <string>

namespace virtswarm::nwfilter {

// The filter a name refers to now, or null. Lets the checks below see a set of filters
// with one definition replaced by a proposed one.
using FilterLookup = std::function<const FilterDef*(const std::string& name)>;

// Every <filterref> of `def` names a filter that exists (NoSuchNWFilter otherwise), and no
// chain of references leads from `def` back to it (NWFilterLoop). `lookup` answers with
// the filters as they would be with `def` defined.
Result<void> checkReferences(const FilterDef& def, const FilterLookup& lookup);

// Does `from`, or a filter it references directly or not, have the name `target`?
bool reaches(const FilterDef& from, const std::string& target, const FilterLookup& lookup);

} // namespace virtswarm::nwfilter
