// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "remote_types.hpp"
#include "virtswarm/error.hpp"

#include <string>
#include <string_view>

// Errors as libvirt clients receive them. Failures of the swarm (virtswarm::Error, or a
// named D-Bus error) are translated through the project's single error table
// (errorInfo/codeFromDBusName in common/src/error.cpp), so a code keeps its meaning from the
// registry all the way to virsh. Only errors of the protocol layer itself are made here.
namespace virtswarm::bridge {

RpcError toRpcError(const Error& error);
// A named D-Bus error (org.virtswarm.Error.*, org.freedesktop.DBus.Error.*).
RpcError fromDBusErrorName(std::string_view name, std::string_view message);

// VIR_ERR_NO_SUPPORT from the remote driver: what virsh needs to fall back to older calls.
RpcError unsupportedProcedure(int32_t procedure);
// VIR_ERR_RPC/VIR_FROM_RPC, as libvirtd answers unknown programs and procedures.
RpcError unknownProgram(uint32_t program, uint32_t version);
RpcError unknownProcedure(int32_t procedure);
// VIR_ERR_RPC: the arguments did not decode.
RpcError badArguments(int32_t procedure, std::string_view why);
// VIR_ERR_RPC: a STREAM_HOLE for a stream that was not opened sparse.
RpcError unexpectedStreamHole();
// VIR_ERR_INTERNAL_ERROR/VIR_FROM_RPC: a call before CONNECT_OPEN.
RpcError notOpen();
// VIR_ERR_NO_CONNECT: CONNECT_OPEN with a URI no driver of this bridge serves.
RpcError noConnectionDriver(std::string message);
// CONNECT_OPEN refused by polkit, as libvirtd's connection authentication reports it:
// VIR_ERR_AUTH_UNAVAILABLE when polkit would have needed an agent (a challenge),
// VIR_ERR_AUTH_FAILED otherwise ("access denied by policy"); both VIR_FROM_POLKIT.
RpcError connectionRefused(const Error& verdict, std::string_view actionId);
// VIR_ERR_OPERATION_DENIED: a mutating call on a read-only connection.
RpcError readOnlyDenied(std::string_view what);

} // namespace virtswarm::bridge
