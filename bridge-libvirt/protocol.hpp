// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <cstdint>

// Numbers of the libvirt remote protocol (src/rpc/virnetprotocol.x and
// src/remote/remote_protocol.x). The protocol is append-only, so these never change; the
// measured behaviour of virsh 9.0 against them is in reference/libvirt-rpc.md.
namespace virtswarm::bridge::proto {

inline constexpr uint32_t kRemoteProgram = 0x20008086;
inline constexpr uint32_t kKeepaliveProgram = 0x6b656570; // 'keep'
inline constexpr uint32_t kProtocolVersion = 1;

// Header.type
enum class MessageType : uint32_t {
    Call = 0,
    Reply = 1,
    Message = 2, // events and keepalive: no reply
    Stream = 3,
    CallWithFds = 4,
    ReplyWithFds = 5,
    StreamHole = 6,
};

// Header.status
enum class MessageStatus : uint32_t { Ok = 0, Error = 1, Continue = 2 };

// Sizes. A message is a 4-byte length (which counts itself), a 24-byte header and a payload;
// VIR_NET_MESSAGE_MAX does not count the length word.
inline constexpr uint32_t kLengthSize = 4;
inline constexpr uint32_t kHeaderSize = 24;
inline constexpr uint32_t kMinMessageLength = kLengthSize + kHeaderSize;
inline constexpr uint32_t kMessageMax = 16 * 1024 * 1024;
inline constexpr uint32_t kMaxMessageLength = kMessageMax + kLengthSize;
inline constexpr uint32_t kPayloadMax = kMessageMax - kHeaderSize;
// A *_WITH_FDS message: its payload starts with the number of descriptors (at most
// VIR_NET_MESSAGE_NUM_FDS_MAX), and each descriptor follows the message as one byte
// carrying it (SCM_RIGHTS) on the UNIX socket.
inline constexpr uint32_t kMaxFdsPerMessage = 32;

// Limits of remote_protocol.x (9.0).
inline constexpr uint32_t kStringMax = 4 * 1024 * 1024;
inline constexpr uint32_t kDomainListMax = 16384;
inline constexpr uint32_t kDomainIdListMax = 16384;
inline constexpr uint32_t kDomainNameListMax = 16384;
// REMOTE_DOMAIN_SNAPSHOT_LIST_MAX
inline constexpr uint32_t kDomainSnapshotListMax = 16384;
inline constexpr uint32_t kAuthTypeListMax = 20;
inline constexpr uint32_t kSecurityModelMax = 257;
inline constexpr uint32_t kSecurityLabelMax = 4097;
inline constexpr uint32_t kDomainMessagesMax = 2048;
inline constexpr uint32_t kAllDomainStatsMax = 262144;
inline constexpr uint32_t kNetworkListMax = 16384;
inline constexpr uint32_t kInterfaceListMax = 16384;
inline constexpr uint32_t kNetworkDhcpLeasesMax = 65536;
inline constexpr uint32_t kStoragePoolListMax = 4096;
inline constexpr uint32_t kStorageVolListMax = 16384;
inline constexpr uint32_t kNodeDeviceListMax = 65536;
// REMOTE_NWFILTER_LIST_MAX
inline constexpr uint32_t kNWFilterListMax = 16384;
// REMOTE_NWFILTER_BINDING_LIST_MAX
inline constexpr uint32_t kNWFilterBindingListMax = 16384;
inline constexpr uint32_t kNodeDeviceCapsListMax = 65536;

// The highest REMOTE procedure number libvirt has assigned (10.x). Numbers up to it name a
// real libvirt API we may not implement (answered VIR_ERR_NO_SUPPORT, so clients fall back);
// anything above is an unknown procedure (VIR_ERR_RPC, as libvirtd answers).
inline constexpr int32_t kRemoteProcMax = 446;

namespace keepalive {
inline constexpr int32_t kPing = 1;
inline constexpr int32_t kPong = 2;
} // namespace keepalive

// REMOTE procedures the bridge implements (and a few it names in messages).
enum Proc : int32_t {
    ConnectOpen = 1,
    ConnectClose = 2,
    ConnectGetType = 3,
    ConnectGetVersion = 4,
    ConnectGetMaxVcpus = 5,
    NodeGetInfo = 6,
    ConnectGetCapabilities = 7,
    DomainAttachDevice = 8,
    DomainCreate = 9,
    DomainCreateXml = 10,
    DomainDefineXml = 11,
    DomainDestroy = 12,
    DomainDetachDevice = 13,
    DomainGetXmlDesc = 14,
    DomainGetAutostart = 15,
    DomainGetInfo = 16,
    DomainGetMaxMemory = 17,
    DomainGetMaxVcpus = 18,
    DomainGetOsType = 19,
    DomainGetVcpus = 20,
    ConnectListDefinedDomains = 21,
    DomainLookupById = 22,
    DomainLookupByName = 23,
    DomainLookupByUuid = 24,
    ConnectNumOfDefinedDomains = 25,
    DomainReboot = 27,
    DomainResume = 28,
    DomainSetAutostart = 29,
    DomainSetMaxMemory = 30,
    DomainSetMemory = 31,
    DomainSetVcpus = 32,
    DomainShutdown = 33,
    DomainSuspend = 34,
    DomainUndefine = 35,
    ConnectListDefinedNetworks = 36,
    ConnectListDomains = 37,
    ConnectListNetworks = 38,
    NetworkCreate = 39,
    NetworkCreateXml = 40,
    NetworkDefineXml = 41,
    NetworkDestroy = 42,
    NetworkGetXmlDesc = 43,
    NetworkGetAutostart = 44,
    NetworkGetBridgeName = 45,
    NetworkLookupByName = 46,
    NetworkLookupByUuid = 47,
    NetworkSetAutostart = 48,
    NetworkUndefine = 49,
    ConnectNumOfDefinedNetworks = 50,
    ConnectNumOfDomains = 51,
    ConnectNumOfNetworks = 52,
    DomainRestore = 54,
    DomainSave = 55,
    ConnectGetHostname = 59,
    // Storage (71..100 and later additions), in one block.
    ConnectNumOfStoragePools = 71,
    ConnectListStoragePools = 72,
    ConnectNumOfDefinedStoragePools = 73,
    ConnectListDefinedStoragePools = 74,
    StoragePoolCreateXml = 76,
    StoragePoolDefineXml = 77,
    StoragePoolCreate = 78,
    StoragePoolBuild = 79,
    StoragePoolDestroy = 80,
    StoragePoolDelete = 81,
    StoragePoolUndefine = 82,
    StoragePoolRefresh = 83,
    StoragePoolLookupByName = 84,
    StoragePoolLookupByUuid = 85,
    StoragePoolLookupByVolume = 86,
    StoragePoolGetInfo = 87,
    StoragePoolGetXmlDesc = 88,
    StoragePoolGetAutostart = 89,
    StoragePoolSetAutostart = 90,
    StoragePoolNumOfVolumes = 91,
    StoragePoolListVolumes = 92,
    StorageVolCreateXml = 93,
    StorageVolDelete = 94,
    StorageVolLookupByName = 95,
    StorageVolLookupByKey = 96,
    StorageVolLookupByPath = 97,
    StorageVolGetInfo = 98,
    StorageVolGetXmlDesc = 99,
    StorageVolGetPath = 100,
    StorageVolCreateXmlFrom = 125,
    StoragePoolIsActive = 154,
    ConnectNumOfInterfaces = 126,
    ConnectListInterfaces = 127,
    InterfaceLookupByName = 128,
    InterfaceLookupByMacString = 129,
    InterfaceGetXmlDesc = 130,
    ConnectNumOfDefinedInterfaces = 137,
    ConnectListDefinedInterfaces = 138,
    InterfaceIsActive = 156,
    ConnectListAllInterfaces = 284,
    StoragePoolIsPersistent = 155,
    StorageVolWipe = 165,
    StorageVolUpload = 208,
    StorageVolDownload = 209,
    StorageVolWipePattern = 259,
    StorageVolResize = 260,
    ConnectListAllStoragePools = 281,
    StoragePoolListAllVolumes = 282,
    ConnectStoragePoolEventRegisterAny = 368,
    ConnectStoragePoolEventDeregisterAny = 369,
    ConnectNodeDeviceEventRegisterAny = 374,
    ConnectNodeDeviceEventDeregisterAny = 375,
    NodeDeviceEventLifecycle = 376,
    ConnectSecretEventRegisterAny = 380,
    ConnectSecretEventDeregisterAny = 381,
    ConnectGetStoragePoolCapabilities = 403,
    StoragePoolEventLifecycle = 370,
    StoragePoolEventRefresh = 373,
    StorageVolGetInfoFlags = 378,
    DomainEventCallbackMetadataChange = 379,
    ConnectSupportsFeature = 60,
    DomainBlockStats = 64,
    DomainInterfaceStats = 65,
    AuthList = 66,
    NodeGetCellsFreeMemory = 101,
    NodeGetFreeMemory = 102,
    ConnectGetUri = 110,
    DomainGetSecurityLabel = 121,
    NodeGetSecurityModel = 122,
    ConnectIsSecure = 149,
    DomainIsActive = 150,
    DomainIsPersistent = 151,
    NetworkIsActive = 152,
    NetworkIsPersistent = 153,
    ConnectGetLibVersion = 157,
    DomainMemoryStats = 159,
    DomainAttachDeviceFlags = 160,
    DomainDetachDeviceFlags = 161,
    DomainGetJobInfo = 163,
    DomainAbortJob = 164,
    DomainUpdateDeviceFlags = 174,
    DomainManagedSave = 182,
    DomainHasManagedSaveImage = 183,
    DomainManagedSaveRemove = 184,
    DomainSnapshotCreateXml = 185,
    DomainSnapshotGetXmlDesc = 186,
    DomainSnapshotNum = 187,
    DomainSnapshotListNames = 188,
    DomainSnapshotLookupByName = 189,
    DomainHasCurrentSnapshot = 190,
    DomainSnapshotCurrent = 191,
    DomainRevertToSnapshot = 192,
    DomainSnapshotDelete = 193,
    DomainGetBlockInfo = 194,
    DomainCreateWithFlags = 196,
    DomainSetVcpusFlags = 199,
    DomainGetVcpusFlags = 200,
    DomainOpenConsole = 201,
    DomainOpenGraphics = 249,
    DomainIsUpdated = 202,
    ConnectGetSysinfo = 203,
    DomainSetMemoryFlags = 204,
    ConnectIsAlive = 209,
    DomainInjectNmi = 210,
    DomainGetState = 212,
    DomainSendKey = 226,
    NodeGetCpuStats = 227,
    NodeGetMemoryStats = 228,
    DomainUndefineFlags = 231,
    DomainSaveFlags = 232,
    DomainRestoreFlags = 233,
    DomainDestroyFlags = 234,
    DomainSaveImageGetXmlDesc = 235,
    DomainSaveImageDefineXml = 236,
    DomainManagedSaveGetXmlDesc = 388,
    DomainManagedSaveDefineXml = 389,
    DomainBlockStatsFlags = 243,
    DomainSnapshotGetParent = 244,
    DomainReset = 245,
    DomainSnapshotNumChildren = 246,
    DomainSnapshotListChildrenNames = 247,
    DomainShutdownFlags = 258,
    DomainGetCpuStats = 262,
    DomainSetMetadata = 264,
    DomainGetMetadata = 265,
    DomainSnapshotIsCurrent = 271,
    DomainSnapshotHasMetadata = 272,
    ConnectListAllDomains = 273,
    DomainListAllSnapshots = 274,
    DomainSnapshotListAllChildren = 275,
    ConnectListAllNetworks = 283,
    NodeGetCpuMap = 293,
    DomainGetJobStats = 298,
    ConnectGetCpuModelNames = 312,
    ConnectNetworkEventRegisterAny = 313,
    ConnectNetworkEventDeregisterAny = 314,
    NetworkEventLifecycle = 315,
    ConnectDomainEventCallbackRegisterAny = 316,
    ConnectDomainEventCallbackDeregisterAny = 317,
    DomainEventCallbackLifecycle = 318,
    DomainEventCallbackReboot = 319,
    DomainEventCallbackDeviceRemoved = 333,
    NetworkGetDhcpLeases = 341,
    ConnectGetDomainCapabilities = 342,
    DomainOpenGraphicsFd = 343,
    ConnectGetAllDomainStats = 344,
    DomainInterfaceAddresses = 353,
    DomainGetHostname = 277,
    DomainGetTime = 337,
    DomainSetTime = 338,
    DomainDefineXmlFlags = 350,
    DomainRename = 358,
    ConnectRegisterCloseCallback = 360,
    ConnectUnregisterCloseCallback = 361,
    DomainGetMessages = 426,
    DomainAbortJobFlags = 442,
    // Node devices.
    NodeNumOfDevices = 111,
    NodeListDevices = 112,
    NodeDeviceLookupByName = 113,
    NodeDeviceGetXmlDesc = 114,
    NodeDeviceGetParent = 115,
    NodeDeviceNumOfCaps = 116,
    NodeDeviceListCaps = 117,
    NodeDeviceDettach = 118,
    NodeDeviceReAttach = 119,
    NodeDeviceReset = 120,
    NodeDeviceCreateXml = 123,
    NodeDeviceDestroy = 124,
    ConnectListAllNodeDevices = 285,
    NodeDeviceLookupScsiHostByWwn = 297,
    NodeDeviceDetachFlags = 301,
    // Network filters.
    NWFilterLookupByName = 175,
    NWFilterLookupByUuid = 176,
    NWFilterGetXmlDesc = 177,
    ConnectNumOfNWFilters = 178,
    ConnectListNWFilters = 179,
    NWFilterDefineXml = 180,
    NWFilterUndefine = 181,
    ConnectListAllNWFilters = 286,
    NWFilterBindingLookupByPortDev = 397,
    NWFilterBindingGetXmlDesc = 398,
    NWFilterBindingCreateXml = 399,
    NWFilterBindingDelete = 400,
    ConnectListAllNWFilterBindings = 401,
    NWFilterDefineXmlFlags = 431,
};

// CONNECT_SUPPORTS_FEATURE numbers (VIR_DRV_FEATURE_*).
inline constexpr int32_t kFeatureFdPassing = 8;
inline constexpr int32_t kFeatureTypedParamString = 9;
inline constexpr int32_t kFeatureProgramKeepalive = 10;
inline constexpr int32_t kFeatureRemoteEventCallback = 14;
inline constexpr int32_t kFeatureRemoteCloseCallback = 15;

// CONNECT_OPEN flags.
inline constexpr uint32_t kConnectReadOnly = 1;

// Domain event ids accepted by CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: 0 (LIFECYCLE)
// to 26 (MEMORY_DEVICE_SIZE_CHANGE) in libvirt 9.0. Lifecycle, reboot and device-removed
// events are produced, but virsh `event --all` aborts on the first refused registration,
// so all are accepted.
inline constexpr int32_t kEventIdLifecycle = 0;
inline constexpr int32_t kEventIdReboot = 1;
inline constexpr int32_t kEventIdDeviceRemoved = 15;
inline constexpr int32_t kEventIdMetadataChange = 23;
inline constexpr int32_t kEventIdLast = 26;

// Network event ids for CONNECT_NETWORK_EVENT_REGISTER_ANY: 0 (LIFECYCLE) in libvirt 9.0;
// 1 (METADATA_CHANGE) since 9.8, accepted for newer clients and never produced.
inline constexpr int32_t kNetworkEventIdLifecycle = 0;
inline constexpr int32_t kNetworkEventIdLast = 1;

// Storage pool event ids for CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY: 0 (LIFECYCLE) and
// 1 (REFRESH).
inline constexpr int32_t kStoragePoolEventIdLifecycle = 0;
inline constexpr int32_t kStoragePoolEventIdRefresh = 1;
inline constexpr int32_t kStoragePoolEventIdLast = 1;

// Node device event ids: 0 (LIFECYCLE: created 0, deleted 1) and 1 (UPDATE, never sent).
inline constexpr int32_t kNodeDeviceEventIdLifecycle = 0;
inline constexpr int32_t kNodeDeviceEventIdLast = 1;
// Secret event ids: 0 (LIFECYCLE) and 1 (VALUE_CHANGED). The swarm keeps no libvirt
// secrets, so none is ever sent; registrations are accepted as libvirtd accepts them.
inline constexpr int32_t kSecretEventIdLast = 1;

// virErrorNumber / virErrorDomain values the protocol layer itself answers with. Errors of
// the swarm's D-Bus API go through the project's one table (common/src/error.cpp).
namespace err {
inline constexpr int32_t kInternalError = 1;
inline constexpr int32_t kNoSupport = 3;
inline constexpr int32_t kNoConnect = 5;
inline constexpr int32_t kInvalidArg = 8;
inline constexpr int32_t kOperationDenied = 29;
inline constexpr int32_t kRpc = 39;
inline constexpr int32_t kAuthFailed = 45;
inline constexpr int32_t kOperationInvalid = 55;
inline constexpr int32_t kNoInterface = 57;
inline constexpr int32_t kAuthUnavailable = 94;
inline constexpr int32_t kFromNone = 0;
inline constexpr int32_t kFromRpc = 7;
inline constexpr int32_t kFromRemote = 13;
inline constexpr int32_t kFromInterface = 26;
inline constexpr int32_t kFromPolkit = 60;
inline constexpr int32_t kLevelError = 2;
} // namespace err

} // namespace virtswarm::bridge::proto
