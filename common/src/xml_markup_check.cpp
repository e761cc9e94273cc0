// SPDX-License-Identifier: LGPL-2.1-or-later
#include "xml_markup_check.hpp"

#include <algorithm>
#include <array>
#include <string>

namespace virtswarm::xml::detail {
namespace {

Error invalid(const std::string& what) {
    return Error(Code::InvalidXML, what);
}

std::string lineOf(std::string_view text, size_t pos) {
    size_t line = 1;
    for (size_t i = 0; i < pos && i < text.size(); ++i) {
        line += text[i] == '\n' ? 1 : 0;
    }
    return "line " + std::to_string(line);
}

bool predefinedEntity(std::string_view name) {
    static constexpr std::array<std::string_view, 5> kPredefined{"lt", "gt", "amp", "apos", "quot"};
    for (auto p : kPredefined) {
        if (name == p) {
            return true;
        }
    }
    return false;
}

// The end of a construct whose content is not markup (comment, CDATA section, processing
// instruction), or npos if it is never closed (the parser will then say so).
size_t skipPast(std::string_view text, size_t from, std::string_view terminator) {
    size_t end = text.find(terminator, from);
    return end == std::string_view::npos ? end : end + terminator.size();
}

// A reference starts at text[pos] == '&'. Character references (&#10; &#x41;) and the
// five predefined entities expand to one character; everything else is refused.
Result<size_t> checkReference(std::string_view text, size_t pos) {
    size_t semicolon = text.find(';', pos + 1);
    // A name longer than this is no predefined entity; do not scan megabytes for a ';'.
    constexpr size_t kLongestAllowed = 16;
    if (semicolon == std::string_view::npos || semicolon - pos > kLongestAllowed) {
        semicolon = std::min(text.size(), pos + kLongestAllowed);
        return invalid(lineOf(text, pos) + ": entity reference '" +
                       std::string(text.substr(pos, semicolon - pos)) +
                       "...' is not allowed (only &lt; &gt; &amp; &apos; &quot; and &#N;)");
    }
    std::string_view name = text.substr(pos + 1, semicolon - pos - 1);
    if (!name.empty() && name[0] == '#') {
        return semicolon + 1; // a character reference; the parser checks its digits
    }
    if (!predefinedEntity(name)) {
        return invalid(lineOf(text, pos) + ": entity reference '&" + std::string(name) +
                       ";' is not allowed (only &lt; &gt; &amp; &apos; &quot; and &#N;)");
    }
    return semicolon + 1;
}

} // namespace

Result<void> refuseEntities(std::string_view text) {
    if (text.find('\0') != std::string_view::npos) {
        return invalid("XML document contains a NUL byte (only UTF-8 is accepted)");
    }
    size_t pos = 0;
    while (pos < text.size()) {
        size_t next = text.find_first_of("<&", pos);
        if (next == std::string_view::npos) {
            break;
        }
        if (text[next] == '&') {
            auto after = checkReference(text, next);
            if (!after) {
                return after.takeError();
            }
            pos = after.value();
            continue;
        }
        std::string_view rest = text.substr(next);
        if (rest.starts_with("<!--")) {
            pos = skipPast(text, next + 4, "-->");
        } else if (rest.starts_with("<![CDATA[")) {
            pos = skipPast(text, next + 9, "]]>");
        } else if (rest.starts_with("<?")) {
            pos = skipPast(text, next + 2, "?>");
        } else if (rest.starts_with("<!")) {
            // <!DOCTYPE, and anything else a DTD brings (<!ENTITY, <!ELEMENT, <![INCLUDE[).
            return invalid(lineOf(text, next) +
                           ": a DOCTYPE or other declaration is not allowed in this XML");
        } else {
            pos = next + 1;
        }
    }
    return success();
}

} // namespace virtswarm::xml::detail
