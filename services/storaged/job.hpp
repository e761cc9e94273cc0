// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace virtswarm::storage {

// Long work on a volume (clone, convert, wipe, upload, download, large creates): started at
// once, watched on the loop, observable (progress, bytes done) and cancellable. The model
// of the D-Bus Job object; udisks' Job is the anchor.
class Job {
public:
    enum class State { Running, Succeeded, Failed, Cancelled };

    Job(std::string operation, std::string target, uint64_t totalBytes);

    const std::string& operation() const { return m_operation; }
    // The volume the job writes ("pool/volume"), for listing and for refusing a second
    // job on it.
    const std::string& target() const { return m_target; }
    State state() const { return m_state; }
    double progress() const { return m_progress; }
    uint64_t bytesDone() const { return m_bytesDone; }
    uint64_t totalBytes() const { return m_totalBytes; }
    const std::string& error() const { return m_error; }

    // Called by the work itself.
    void setProgress(double fraction);
    void setBytesDone(uint64_t bytes);
    void setCanceller(std::function<void()> cancel) { m_cancel = std::move(cancel); }
    // Keeps a helper of the work (a progress timer) alive until the job ends.
    void keepUntilDone(std::shared_ptr<void> helper) { m_kept.push_back(std::move(helper)); }
    // Ends the job. A job asked to cancel ends Cancelled whatever the work reports.
    void complete(const Result<void>& result);

    // Asks the work to stop; the job completes once the work has cleaned up.
    void cancel();
    bool cancelRequested() const { return m_cancelRequested; }

    // Observers (the D-Bus object): progress moved, job ended.
    std::function<void()> onProgress;
    std::function<void()> onCompleted;

private:
    std::string m_operation;
    std::string m_target;
    uint64_t m_totalBytes;
    State m_state = State::Running;
    double m_progress = 0;
    uint64_t m_bytesDone = 0;
    std::string m_error;
    bool m_cancelRequested = false;
    std::function<void()> m_cancel;
    std::vector<std::shared_ptr<void>> m_kept;
};

// qemu-img's -p progress line "    (12.50/100%)": the fraction, or nothing for other lines.
std::optional<double> parseQemuImgProgress(std::string_view line);

} // namespace virtswarm::storage
