// SPDX-License-Identifier: LGPL-2.1-or-later
#include "job_object.hpp"

#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/async_reply.hpp"

namespace virtswarm::storage {
namespace {

using Job_adaptor = org::virtswarm::Storage1::Job_adaptor;

constexpr auto kCancel = actions::forMethod(names::kStorageJobInterface, "Cancel");
constexpr auto kThrottle = std::chrono::milliseconds(250);

} // namespace

JobObject::JobObject(sdbus::IConnection& bus, EventLoop& loop, Authority& authority,
                     const std::string& path, std::shared_ptr<Job> job, PolkitDetails details)
    : AdaptorInterfaces(bus, path)
    , m_loop(loop)
    , m_job(std::move(job))
    , m_details(std::move(details))
    , m_gate(
          getObject(), authority, [this] { return m_details; },
          [] { return Error(Code::InvalidState, "the job has ended"); }) {
    registerAdaptor();
    m_job->onProgress = [this] { progressed(); };
    m_job->onCompleted = [this] { completed(); };
}

JobObject::~JobObject() {
    m_job->onProgress = nullptr;
    m_job->onCompleted = nullptr;
    unregisterAdaptor();
}

void JobObject::progressed() {
    if (m_throttle) {
        m_pending = true;
        return;
    }
    emitPropertiesChangedSignal(Job_adaptor::INTERFACE_NAME, {"Progress", "BytesDone"});
    m_throttle = m_loop.addTimer(kThrottle, [this] {
        m_throttle.reset();
        if (m_pending) {
            m_pending = false;
            progressed();
        }
    });
}

void JobObject::completed() {
    m_throttle.reset();
    emitPropertiesChangedSignal(Job_adaptor::INTERFACE_NAME, {"Progress", "BytesDone"});
    bool ok = m_job->state() == Job::State::Succeeded;
    emitCompleted(ok, ok ? "" : m_job->error());
    if (!ok) {
        log::notice(m_job->operation() + " of " + m_job->target() + ": " + m_job->error());
    }
    if (onFinished) {
        onFinished();
    }
}

void JobObject::Cancel(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kCancel,
                  [job = m_job](const SharedResult<>& r) {
                      if (job->state() != Job::State::Running) {
                          fail(r, Error(Code::InvalidState, "the job has ended"));
                          return;
                      }
                      job->cancel();
                      reply(r, success());
                  });
}

} // namespace virtswarm::storage
