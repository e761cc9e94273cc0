// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"
#include "virtswarm/uuid.hpp"
#include "virtswarm/xml.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// libvirt's network filter XML (<filter>): what virtswarm-nwfilterd keeps, checks and
// compiles. The XML text stays the definition of record (with a generated <uuid> added);
// the model holds what the compiler needs.
namespace virtswarm::nwfilter {

// Bounds on client input, checked before and while parsing: a filter is a few dozen
// rules in practice (libvirt's largest standard filter has 12 entries).
inline constexpr size_t kMaxFilterXmlBytes = 256 * 1024;
inline constexpr size_t kMaxFilterEntries = 1024;
inline constexpr size_t kMaxFilterNameBytes = 128;
inline constexpr size_t kMaxParameters = 64;
inline constexpr size_t kMaxValueBytes = 256;

enum class Action { Drop, Reject, Accept, Return, Continue };
// From the guest's point of view: Out is what the guest sends, In what it receives.
enum class Direction { In, Out, InOut };

// An attribute of a protocol element: its name, and either a literal value (checked for
// its type when parsed) or a variable reference ($IP, $IP[@1], $IP[2]).
struct Attribute {
    std::string name;
    std::string value;
    bool isVariable() const { return !value.empty() && value[0] == '$'; }
    // The variable's name without '$' and index ("IP" for "$IP[@1]").
    std::string variableName() const;
};

// The protocol element of a rule (<mac>, <ip>, <tcp-ipv6>, ...), attributes in document
// order. A rule without one matches every frame.
struct Match {
    std::string protocol;
    std::vector<Attribute> attributes;
    const Attribute* find(std::string_view name) const;
};

struct Rule {
    Action action = Action::Drop;
    Direction direction = Direction::InOut;
    int priority = 500;
    std::optional<Match> match;
};

using Parameters = std::vector<std::pair<std::string, std::string>>;

struct FilterRef {
    std::string filter;
    Parameters parameters; // a name may repeat: a list value ($IP with two addresses)
};

// One child of <filter>, in document order: a rule or a reference.
struct Entry {
    std::optional<Rule> rule;
    std::optional<FilterRef> ref;
};

struct FilterDef {
    std::string name;
    UuidBytes uuid{};
    // False when the XML had no <uuid> (one was made): a redefinition by name then keeps
    // the filter's UUID, as libvirt does.
    bool uuidGiven = true;
    // root, mac, vlan, stp, arp, rarp, ipv4, ipv6, or one of those but root with a suffix
    // ("ipv4-ip"): the sub-chain the filter's rules go to.
    std::string chain = "root";
    int priority = 0; // of the chain: where it is entered from the root chain
    std::vector<Entry> entries;

    // The chain's protocol: the chain name up to its first '-'.
    std::string chainProtocol() const;
};

struct FilterXml {
    FilterDef def;
    std::string xml;
};

// Errors: MalformedXML / InvalidXML (with what is wrong: an unknown element or attribute,
// a value of the wrong type, an out-of-range priority, too large), MissingName.
Result<FilterXml> parseFilterXml(std::string_view text);

// A <filterref filter='...'> with its <parameter>s (in a filter, or in a filter binding).
Result<FilterRef> parseFilterRef(xml::Node node);

// The default priority of a chain (libvirt's: stp -810, mac -800, vlan -750, ipv4 -700,
// ipv6 -600, arp -500, rarp -400, root 0).
int defaultChainPriority(std::string_view chainProtocol);

const char* actionName(Action action);
const char* directionName(Direction direction);

// A variable name as filters and parameters spell it: [A-Za-z_][A-Za-z0-9_]*, bounded.
bool validVariableName(std::string_view name);

// Checks a literal value of attribute `attribute` of protocol element `protocol`
// (libvirt's types: MAC and IP addresses, masks, ports, protocol names, ...). Errors:
// InvalidXML naming the attribute and the element; unknown attributes included.
Result<void> checkAttributeValue(std::string_view protocol, std::string_view attribute,
                                 std::string_view value);
// Is `protocol` a protocol element libvirt's filters have?
bool knownProtocol(std::string_view protocol);

} // namespace virtswarm::nwfilter
