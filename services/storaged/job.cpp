// SPDX-License-Identifier: LGPL-2.1-or-later
#include "job.hpp"

#include <algorithm>
#include <charconv>

namespace virtswarm::storage {

Job::Job(std::string operation, std::string target, uint64_t totalBytes)
    : m_operation(std::move(operation))
    , m_target(std::move(target))
    , m_totalBytes(totalBytes) {}

void Job::setProgress(double fraction) {
    fraction = std::clamp(fraction, 0.0, 1.0);
    if (m_state != State::Running || fraction <= m_progress) {
        return;
    }
    m_progress = fraction;
    m_bytesDone =
        std::max(m_bytesDone, static_cast<uint64_t>(fraction * static_cast<double>(m_totalBytes)));
    if (onProgress) {
        onProgress();
    }
}

void Job::setBytesDone(uint64_t bytes) {
    if (m_state != State::Running || bytes <= m_bytesDone) {
        return;
    }
    m_bytesDone = bytes;
    if (m_totalBytes > 0) {
        m_progress = std::min(1.0, static_cast<double>(bytes) / static_cast<double>(m_totalBytes));
    }
    if (onProgress) {
        onProgress();
    }
}

void Job::complete(const Result<void>& result) {
    if (m_state != State::Running) {
        return;
    }
    if (m_cancelRequested) {
        m_state = State::Cancelled;
        m_error = "cancelled";
    } else if (result) {
        m_state = State::Succeeded;
        m_progress = 1.0;
        m_bytesDone = std::max(m_bytesDone, m_totalBytes);
    } else {
        m_state = State::Failed;
        m_error = result.error().message();
    }
    m_cancel = nullptr;
    m_kept.clear();
    if (onCompleted) {
        onCompleted();
    }
}

void Job::cancel() {
    if (m_state != State::Running || m_cancelRequested) {
        return;
    }
    m_cancelRequested = true;
    if (m_cancel) {
        m_cancel();
    }
}

std::optional<double> parseQemuImgProgress(std::string_view line) {
    auto open = line.find('(');
    auto slash = line.find("/100%)");
    if (open == std::string_view::npos || slash == std::string_view::npos || slash < open) {
        return std::nullopt;
    }
    std::string_view number = line.substr(open + 1, slash - open - 1);
    double percent = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), percent);
    if (ec != std::errc() || end != number.data() + number.size()) {
        return std::nullopt;
    }
    return percent / 100.0;
}

} // namespace virtswarm::storage
