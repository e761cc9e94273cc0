// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "job.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Storage1.Job_adaptor.h>

namespace virtswarm::storage {

// A running job on the bus (/org/virtswarm/Storage1/job/<n>). Progress is announced with
// PropertiesChanged at most every 250 ms and so, while it moves, several times a second;
// the end with Completed(ok, error). The job runs on whether or not its client stays.
class JobObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Storage1::Job_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor> {
public:
    JobObject(sdbus::IConnection& bus, EventLoop& loop, Authority& authority,
              const std::string& path, std::shared_ptr<Job> job, PolkitDetails details);
    ~JobObject();

    // Called once the job has completed and its signal is out.
    std::function<void()> onFinished;

private:
    void Cancel(sdbus::Result<>&& result, Options options) override;
    std::string Operation() override { return m_job->operation(); }
    std::string Target() override { return m_job->target(); }
    double Progress() override { return m_job->progress(); }
    uint64_t BytesDone() override { return m_job->bytesDone(); }
    uint64_t BytesTotal() override { return m_job->totalBytes(); }

    void progressed();
    void completed();

    EventLoop& m_loop;
    std::shared_ptr<Job> m_job;
    PolkitDetails m_details;
    service::MethodGate m_gate;
    EventSource m_throttle;
    bool m_pending = false;
};

} // namespace virtswarm::storage
