// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rpc_error.hpp"

#include "protocol.hpp"

namespace virtswarm::bridge {
namespace {

RpcError make(int32_t code, int32_t domain, std::string message) {
    RpcError e;
    e.code = code;
    e.domain = domain;
    e.message = std::move(message);
    e.level = proto::err::kLevelError;
    return e;
}

} // namespace

RpcError toRpcError(const Error& error) {
    const ErrorInfo& info = errorInfo(error.code());
    return make(info.virErrorNumber, info.virErrorDomain, error.message());
}

RpcError fromDBusErrorName(std::string_view name, std::string_view message) {
    return toRpcError(Error(codeFromDBusName(name), std::string(message)));
}

RpcError unsupportedProcedure(int32_t procedure) {
    return make(proto::err::kNoSupport, proto::err::kFromRemote,
                "this function is not supported by the connection driver: remote procedure " +
                    std::to_string(procedure));
}

RpcError unknownProgram(uint32_t program, uint32_t version) {
    return make(proto::err::kRpc, proto::err::kFromRpc,
                "Cannot find program " + std::to_string(program) + " version " +
                    std::to_string(version));
}

RpcError unknownProcedure(int32_t procedure) {
    return make(proto::err::kRpc, proto::err::kFromRpc,
                "unknown procedure: " + std::to_string(procedure));
}

RpcError badArguments(int32_t procedure, std::string_view why) {
    return make(proto::err::kRpc, proto::err::kFromRpc,
                "Unable to decode arguments of procedure " + std::to_string(procedure) + ": " +
                    std::string(why));
}

RpcError unexpectedStreamHole() {
    return make(proto::err::kRpc, proto::err::kFromRpc, "Unexpected stream hole");
}

RpcError notOpen() {
    return make(proto::err::kInternalError, proto::err::kFromRpc,
                "internal error: hypervisor connection not open");
}

RpcError noConnectionDriver(std::string message) {
    return make(proto::err::kNoConnect, proto::err::kFromNone, std::move(message));
}

RpcError connectionRefused(const Error& verdict, std::string_view actionId) {
    if (verdict.code() == Code::InteractiveAuthorizationRequired) {
        return make(proto::err::kAuthUnavailable, proto::err::kFromPolkit,
                    "authentication unavailable: no polkit agent available to authenticate "
                    "action '" +
                        std::string(actionId) + "'");
    }
    return make(proto::err::kAuthFailed, proto::err::kFromPolkit,
                "authentication failed: access denied by policy (" + std::string(actionId) + ")");
}

RpcError readOnlyDenied(std::string_view what) {
    const ErrorInfo& info = errorInfo(Code::AccessDenied);
    return make(info.virErrorNumber, info.virErrorDomain,
                "operation forbidden: read only access prevents " + std::string(what));
}

} // namespace virtswarm::bridge
