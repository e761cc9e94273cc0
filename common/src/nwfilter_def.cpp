// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/nwfilter_def.hpp"

#include "definition_xml.hpp"
#include "virtswarm/xml.hpp"

#include <array>
#include <charconv>
#include <libxml/tree.h>

namespace virtswarm::nwfilter {
namespace {

Error invalid(const std::string& message) {
    return Error(Code::InvalidXML, message);
}

constexpr std::array<std::string_view, 8> kChainProtocols{"root", "mac",  "vlan", "stp",
                                                          "arp",  "rarp", "ipv4", "ipv6"};

Result<int> parsePriority(const std::optional<std::string>& text, int fallback) {
    if (!text) {
        return fallback;
    }
    int value = 0;
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, value);
    if (ec != std::errc() || ptr != end || value < -1000 || value > 1000) {
        return invalid("priority '" + *text + "' is not a number from -1000 to 1000");
    }
    return value;
}

// libvirt's chain names: a protocol, or a protocol (not root) and a suffix of
// [A-Za-z0-9_.:-], at most 54 characters in all (its ebtables chain names must fit).
Result<std::string> parseChain(const std::optional<std::string>& text) {
    std::string chain = text.value_or("root");
    std::string protocol = chain.substr(0, chain.find('-'));
    bool known = false;
    for (auto p : kChainProtocols) {
        known = known || p == protocol;
    }
    bool suffixOk = chain.size() <= 54 && (protocol != "root" || chain == "root") &&
                    (chain == protocol || chain.size() > protocol.size() + 1) &&
                    chain.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789_.:-") == std::string::npos;
    if (!known || !suffixOk) {
        return invalid("chain '" + chain +
                       "' is not root, mac, vlan, stp, arp, rarp, ipv4 or ipv6 (with an "
                       "optional -suffix)");
    }
    return chain;
}

Result<Action> parseAction(const std::optional<std::string>& text) {
    static constexpr std::array<std::pair<std::string_view, Action>, 5> kActions{{
        {"drop", Action::Drop},
        {"reject", Action::Reject},
        {"accept", Action::Accept},
        {"return", Action::Return},
        {"continue", Action::Continue},
    }};
    for (const auto& [name, action] : kActions) {
        if (text && *text == name) {
            return action;
        }
    }
    return invalid("rule action '" + text.value_or("") +
                   "' is not drop, reject, accept, return or continue");
}

Result<Direction> parseDirection(const std::optional<std::string>& text) {
    if (text && *text == "in") {
        return Direction::In;
    }
    if (text && *text == "out") {
        return Direction::Out;
    }
    if (text && *text == "inout") {
        return Direction::InOut;
    }
    return invalid("rule direction '" + text.value_or("") + "' is not in, out or inout");
}

Result<void> checkValue(std::string_view protocol, const std::string& attribute,
                        const std::string& value) {
    if (value.size() > kMaxValueBytes) {
        return invalid("value of " + attribute + " is too long");
    }
    if (!value.empty() && value[0] == '$') {
        Attribute a{attribute, value};
        std::string rest = value.substr(1 + a.variableName().size());
        bool indexOk =
            rest.empty() || (rest.size() > 2 && rest.front() == '[' && rest.back() == ']' &&
                             rest.find_first_not_of("@0123456789", 1) == rest.size() - 1);
        if (!validVariableName(a.variableName()) || !indexOk) {
            return invalid("'" + value + "' in " + attribute + " is not a variable reference");
        }
        return success();
    }
    return checkAttributeValue(protocol, attribute, value);
}

Result<Match> parseMatch(xml::Node node) {
    Match match{std::string(xml::name(node)), {}};
    if (!knownProtocol(match.protocol)) {
        return invalid("unknown protocol element <" + match.protocol + "> in a rule");
    }
    for (auto* attr = node->properties; attr != nullptr; attr = attr->next) {
        std::string name(reinterpret_cast<const char*>(attr->name));
        std::string value = xml::attribute(node, name.c_str()).value_or("");
        if (auto r = checkValue(match.protocol, name, value); !r) {
            return r.takeError();
        }
        match.attributes.push_back(Attribute{std::move(name), std::move(value)});
    }
    return match;
}

Result<Rule> parseRule(xml::Node node) {
    Rule rule;
    auto action = parseAction(xml::attribute(node, "action"));
    auto direction = parseDirection(xml::attribute(node, "direction"));
    auto priority = parsePriority(xml::attribute(node, "priority"), 500);
    if (!action || !direction || !priority) {
        return !action      ? action.takeError()
               : !direction ? direction.takeError()
                            : priority.takeError();
    }
    rule.action = action.value();
    rule.direction = direction.value();
    rule.priority = priority.value();
    auto protocols = xml::children(node);
    if (protocols.size() > 1) {
        return invalid("a rule has at most one protocol element");
    }
    if (!protocols.empty()) {
        auto match = parseMatch(protocols.front());
        if (!match) {
            return match.takeError();
        }
        rule.match = std::move(match).value();
    }
    return rule;
}

} // namespace

Result<FilterRef> parseFilterRef(xml::Node node) {
    FilterRef ref{xml::attribute(node, "filter").value_or(""), {}};
    if (ref.filter.empty() || ref.filter.size() > kMaxFilterNameBytes) {
        return invalid("<filterref> needs a filter name");
    }
    for (xml::Node child : xml::children(node)) {
        if (xml::name(child) != "parameter") {
            return invalid("unknown element <" + std::string(xml::name(child)) +
                           "> in <filterref>");
        }
        auto name = xml::attribute(child, "name").value_or("");
        auto value = xml::attribute(child, "value").value_or("");
        if (!validVariableName(name) || value.size() > kMaxValueBytes ||
            ref.parameters.size() >= kMaxParameters) {
            return invalid("bad <parameter name='" + name.substr(0, 64) +
                           "'> in <filterref filter='" + ref.filter + "'>");
        }
        ref.parameters.emplace_back(std::move(name), std::move(value));
    }
    return ref;
}

std::string Attribute::variableName() const {
    if (!isVariable()) {
        return {};
    }
    return value.substr(1, value.find('[') == std::string::npos ? std::string::npos
                                                                : value.find('[') - 1);
}

const Attribute* Match::find(std::string_view attributeName) const {
    for (const auto& a : attributes) {
        if (a.name == attributeName) {
            return &a;
        }
    }
    return nullptr;
}

std::string FilterDef::chainProtocol() const {
    return chain.substr(0, chain.find('-'));
}

int defaultChainPriority(std::string_view chainProtocol) {
    static constexpr std::array<std::pair<std::string_view, int>, 7> kPriorities{{
        {"stp", -810},
        {"mac", -800},
        {"vlan", -750},
        {"ipv4", -700},
        {"ipv6", -600},
        {"arp", -500},
        {"rarp", -400},
    }};
    for (const auto& [protocol, priority] : kPriorities) {
        if (protocol == chainProtocol) {
            return priority;
        }
    }
    return 0;
}

const char* actionName(Action action) {
    static constexpr std::array<const char*, 5> kNames{"drop", "reject", "accept", "return",
                                                       "continue"};
    return kNames[static_cast<size_t>(action)];
}

const char* directionName(Direction direction) {
    static constexpr std::array<const char*, 3> kNames{"in", "out", "inout"};
    return kNames[static_cast<size_t>(direction)];
}

bool validVariableName(std::string_view name) {
    if (name.empty() || name.size() > 64 || (name[0] >= '0' && name[0] <= '9')) {
        return false;
    }
    return name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789_") == std::string_view::npos;
}

Result<FilterXml> parseFilterXml(std::string_view text) {
    auto parsed = xml::Document::parse(text, kMaxFilterXmlBytes);
    if (!parsed) {
        return parsed.takeError();
    }
    xml::Document doc = std::move(parsed).value();
    xml::Node root = doc.root();
    if (xml::name(root) != "filter") {
        return invalid("root element must be <filter>, not <" + std::string(xml::name(root)) + ">");
    }
    FilterDef def;
    auto name = xml::attribute(root, "name");
    if (!name || name->empty()) {
        return Error(Code::MissingName, "a filter needs a name attribute");
    }
    if (name->size() > kMaxFilterNameBytes || (*name)[0] == '.' || (*name)[0] == '-' ||
        name->find_first_of("/ \t\n\r") != std::string::npos) {
        return invalid("filter name '" + name->substr(0, kMaxFilterNameBytes) +
                       "' is not usable (at most 128 bytes, no '/', space or leading '.'/'-')");
    }
    def.name = *name;
    auto chain = parseChain(xml::attribute(root, "chain"));
    if (!chain) {
        return chain.takeError();
    }
    def.chain = chain.value();
    auto priority =
        parsePriority(xml::attribute(root, "priority"), defaultChainPriority(def.chainProtocol()));
    if (!priority) {
        return priority.takeError();
    }
    def.priority = priority.value();
    if (xml::children(root, "uuid").empty()) {
        // libvirt writes a generated UUID first in <filter>.
        def.uuid = randomUuid();
        def.uuidGiven = false;
        xml::prependChild(root, "uuid", formatUuid(def.uuid));
    } else {
        auto uuid = detail::takeOrAddUuid(root, nullptr); // there is one: only checked
        if (!uuid) {
            return uuid.takeError();
        }
        def.uuid = uuid.value();
    }
    for (xml::Node child : xml::children(root)) {
        std::string_view element = xml::name(child);
        if (def.entries.size() >= kMaxFilterEntries) {
            return invalid("a filter has at most 1024 rules and references");
        }
        if (element == "rule") {
            auto rule = parseRule(child);
            if (!rule) {
                return rule.takeError().prefix("filter '" + def.name + "'");
            }
            def.entries.push_back(Entry{std::move(rule).value(), std::nullopt});
        } else if (element == "filterref") {
            auto ref = parseFilterRef(child);
            if (!ref) {
                return ref.takeError();
            }
            def.entries.push_back(Entry{std::nullopt, std::move(ref).value()});
        } else if (element != "uuid") {
            return invalid("unknown element <" + std::string(element) + "> in <filter>");
        }
    }
    return FilterXml{std::move(def), doc.serialize()};
}

} // namespace virtswarm::nwfilter
