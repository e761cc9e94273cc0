// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/result.hpp"

#include <functional>
#include <map>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm::shim {

// Where QEMU's output goes: streams of virtswarm-logd on the shim's own bus (the system's
// logd for a system domain, the user's for a session one), which bound the logs and
// outlive the shim's upgrades. QEMU's stdout and stderr (and swtpm's) go to the "qemu"
// stream, logd's own file <name>.log; each serial's <log> file goes to a stream
// "serial<N>" whose file is the one the shim opened with the definer's rights (logd never
// opens a definer's path). Where logd is not installed, or does not answer in time, the
// shim and QEMU write the files themselves as before: a log is never a reason for a
// domain not to start.
//
// The shim makes the pipes and keeps a copy of their read ends (and of the <log> files)
// while QEMU runs (it never reads them): a logd killed with -9 leaves the pipes open,
// QEMU's output waits in them, and the shim hands them to the next logd as soon as the
// name has an owner again (a re-exec's new image already reads them: nothing changes).
// The shim never starts logd for this: that could race a re-executing logd for its name.
class QemuLog {
public:
    struct Outputs {
        int qemu = -1;                         // QEMU's stdout and stderr
        std::map<std::string, int> serialLogs; // <log> path -> a pipe's write end
    };

    QemuLog(EventLoop& loop, sdbus::IConnection& bus, std::string domainUuid,
            std::string domainName, std::string fallbackPath);
    ~QemuLog();
    QemuLog(const QemuLog&) = delete;
    QemuLog& operator=(const QemuLog&) = delete;

    // The descriptors for QEMU's output, the caller's to close. Without logd, only `qemu`
    // (the file) and no serial pipes (QEMU gets the <log> files themselves). An error
    // only if a <log> file cannot be opened, or neither logd nor the file gives `qemu`.
    void open(const DomainDef& def, const HostPathOpener& opener,
              std::function<void(Result<Outputs>)> done);
    // QEMU has opened its outputs: the serial pipes become non-blocking for it too (QEMU
    // clears O_NONBLOCK on what it opens from an fd set), so a guest writing faster than
    // logd copies loses console output instead of stalling.
    void qemuStarted();
    // The last line QEMU wrote (its error message when it fails to start).
    void lastLine(std::function<void(std::string)> done);
    // QEMU is gone: the pipes are not handed to a later logd any more.
    void qemuEnded();

private:
    struct Stream {
        std::string name; // "qemu", "serial0", ...
        int readEnd = -1;
        int writeEnd = -1; // a serial's, until QEMU has opened it
        int file = -1;     // a serial's <log> file, opened with the definer's rights
        std::string path;  // and its path, as the definition names it
    };

    Result<int> openFile() const;
    std::string lastLineOfFile() const;
    // Opens the <log> files and makes every stream's pipe.
    Result<void> makeStreams(const DomainDef& def, const HostPathOpener& opener);
    // Hands one stream's read end to logd (the one that runs, or the one the call starts).
    void adopt(const Stream& stream, std::function<void(const sdbus::Error*)> then);
    // From now on, a logd that takes the name again gets the pipes (trusting the bus
    // driver's word only).
    void watchLogd();
    void onLogdOwnerChanged(sdbus::Message& message);

    EventLoop& m_loop;
    sdbus::IConnection& m_bus;
    std::unique_ptr<sdbus::IProxy> m_logd;
    std::string m_domainUuid;
    std::string m_domainName;
    std::string m_fallbackPath;
    bool m_viaLogd = false;
    std::vector<Stream> m_streams; // while QEMU may write, when it writes to logd
    sdbus::Slot m_ownerMatch;
    Lifetime m_lifetime;
};

// Closes what `outputs` still holds (the descriptors nobody took).
void closeOutputs(QemuLog::Outputs& outputs);

// The last non-empty line of `text`.
std::string lastLineOf(std::string text);

} // namespace virtswarm::shim
