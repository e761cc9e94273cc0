// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/domain_schema.hpp"

#include "virtswarm/xml.hpp"

#include <libxml/relaxng.h>
#include <libxml/xmlerror.h>
#include <map>
#include <memory>

namespace virtswarm {
namespace {

struct FreeSchema {
    void operator()(xmlRelaxNG* schema) const { xmlRelaxNGFree(schema); }
};
struct FreeParser {
    void operator()(xmlRelaxNGParserCtxt* ctxt) const { xmlRelaxNGFreeParserCtxt(ctxt); }
};
struct FreeValidator {
    void operator()(xmlRelaxNGValidCtxt* ctxt) const { xmlRelaxNGFreeValidCtxt(ctxt); }
};
using Schema = std::unique_ptr<xmlRelaxNG, FreeSchema>;

// libvirt lists every schema message on its own line after the first.
void collect(void* messages, xmlErrorPtr error) {
    if (error == nullptr || error->message == nullptr) {
        return;
    }
    auto* out = static_cast<std::string*>(messages);
    std::string line = error->message;
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) {
        line.pop_back();
    }
    if (error->node != nullptr) {
        const auto* node = static_cast<const xmlNode*>(error->node);
        if (node->name != nullptr) {
            line =
                "Element " + std::string(reinterpret_cast<const char*>(node->name)) + ": " + line;
        }
    }
    if (out->size() < 16 * 1024) { // enough to name the problems, bounded for the reply
        *out += "\n" + line;
    }
}

// Compiling domain.rng (and the files it includes) takes a noticeable fraction of a
// second: once per path per process.
Result<xmlRelaxNG*> schemaAt(const std::string& path) {
    static std::map<std::string, Schema> compiled;
    if (auto it = compiled.find(path); it != compiled.end()) {
        return it->second.get();
    }
    std::unique_ptr<xmlRelaxNGParserCtxt, FreeParser> parser(xmlRelaxNGNewParserCtxt(path.c_str()));
    if (!parser) {
        return Error(Code::Internal, "cannot read the schema " + path);
    }
    std::string messages;
    xmlRelaxNGSetParserStructuredErrors(parser.get(), collect, &messages);
    Schema schema(xmlRelaxNGParse(parser.get()));
    if (!schema) {
        return Error(Code::Internal, "cannot compile the schema " + path + messages);
    }
    return compiled.emplace(path, std::move(schema)).first->second.get();
}

} // namespace

Result<void> validateDomainSchema(std::string_view text, const std::string& schemaPath) {
    auto doc = xml::Document::parse(text);
    if (!doc) {
        return doc.takeError();
    }
    auto schema = schemaAt(schemaPath);
    if (!schema) {
        return schema.takeError();
    }
    std::unique_ptr<xmlRelaxNGValidCtxt, FreeValidator> validator(
        xmlRelaxNGNewValidCtxt(schema.value()));
    if (!validator) {
        return Error(Code::Internal, "cannot allocate a schema validator");
    }
    std::string messages;
    xmlRelaxNGSetValidStructuredErrors(validator.get(), collect, &messages);
    if (xmlRelaxNGValidateDoc(validator.get(), doc.value().raw()) != 0) {
        return Error(Code::InvalidSchema,
                     "Unable to validate doc against " + schemaPath + messages);
    }
    return success();
}

} // namespace virtswarm
