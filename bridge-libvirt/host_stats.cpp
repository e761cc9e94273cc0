// SPDX-License-Identifier: LGPL-2.1-or-later
#include "host_stats.hpp"

#include "host_info.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/proc_text.hpp"
#include "virtswarm/xml.hpp"

#include <algorithm>
#include <dirent.h>
#include <set>
#include <unistd.h>

namespace virtswarm::bridge {
namespace {

std::optional<std::string> readText(const std::string& path) {
    auto text = readFile(path, 1024 * 1024);
    return text ? std::optional<std::string>(std::move(text).value()) : std::nullopt;
}

std::vector<int> cpusOf(const char* file) {
    auto text = readText(std::string("/sys/devices/system/cpu/") + file);
    auto cpus = text ? parseCpuList(*text) : std::nullopt;
    if (cpus && !cpus->empty()) {
        return *cpus;
    }
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    std::vector<int> all;
    for (long i = 0; i < (n > 0 ? n : 1); ++i) {
        all.push_back(static_cast<int>(i));
    }
    return all;
}

} // namespace

std::optional<MemoryFigures> parseMeminfo(std::string_view text) {
    MemoryFigures m;
    bool total = false, free = false;
    while (!text.empty()) {
        std::string_view line = proctext::nextLine(text);
        if (line.starts_with("Node ")) { // "Node 0 MemFree:   123 kB"
            size_t space = line.find(' ', 5);
            line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        std::string_view key = line.substr(0, colon);
        std::string_view value = proctext::trim(line.substr(colon + 1));
        auto number = proctext::leadingU64(value.substr(0, value.find(' ')));
        if (!number) {
            continue;
        }
        if (key == "MemTotal") {
            m.totalKiB = *number;
            total = true;
        } else if (key == "MemFree") {
            m.freeKiB = *number;
            free = true;
        } else if (key == "Buffers") {
            m.buffersKiB = *number;
        } else if (key == "Cached") {
            m.cachedKiB = *number;
        }
    }
    return total && free ? std::optional<MemoryFigures>(m) : std::nullopt;
}

std::optional<std::vector<int>> parseCpuList(std::string_view text) {
    std::set<int> cpus;
    text = proctext::trim(text);
    while (!text.empty()) {
        size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        size_t dash = item.find('-');
        auto first = proctext::leadingU64(item.substr(0, dash));
        auto last =
            dash == std::string_view::npos ? first : proctext::leadingU64(item.substr(dash + 1));
        if (!first || !last || *last < *first || *last > 65535) {
            return std::nullopt;
        }
        for (uint64_t c = *first; c <= *last; ++c) {
            cpus.insert(static_cast<int>(c));
        }
    }
    return std::vector<int>(cpus.begin(), cpus.end());
}

std::optional<CpuTimes> parseProcStatCpu(std::string_view procStat, int cpu, long ticksPerSecond) {
    std::string label = cpu < 0 ? "cpu" : "cpu" + std::to_string(cpu);
    while (!procStat.empty()) {
        std::string_view line = proctext::nextLine(procStat);
        if (!line.starts_with(label) || line.size() <= label.size() || line[label.size()] != ' ') {
            continue;
        }
        std::vector<uint64_t> v;
        std::string_view rest = proctext::trim(line.substr(label.size()));
        while (!rest.empty() && v.size() < 7) {
            size_t space = rest.find(' ');
            auto n = proctext::leadingU64(rest.substr(0, space));
            if (!n) {
                return std::nullopt;
            }
            v.push_back(*n);
            rest = space == std::string_view::npos ? std::string_view()
                                                   : proctext::trim(rest.substr(space));
        }
        if (v.size() < 7) {
            return std::nullopt;
        }
        // user nice system idle iowait irq softirq, in clock ticks.
        uint64_t ns =
            1000000000ULL / static_cast<uint64_t>(ticksPerSecond > 0 ? ticksPerSecond : 100);
        return CpuTimes{(v[2] + v[5] + v[6]) * ns, (v[0] + v[1]) * ns, v[3] * ns, v[4] * ns};
    }
    return std::nullopt;
}

std::vector<int> numaNodes() {
    std::vector<int> nodes;
    DIR* dir = ::opendir("/sys/devices/system/node");
    if (dir == nullptr) {
        return nodes;
    }
    while (dirent* e = ::readdir(dir)) {
        std::string_view name = e->d_name;
        if (name.starts_with("node")) {
            if (auto n = proctext::leadingU64(name.substr(4));
                n && std::to_string(*n) == name.substr(4)) {
                nodes.push_back(static_cast<int>(*n));
            }
        }
    }
    ::closedir(dir);
    std::sort(nodes.begin(), nodes.end());
    return nodes;
}

std::optional<MemoryFigures> memoryFigures(int cell) {
    std::string path = cell < 0
                           ? "/proc/meminfo"
                           : "/sys/devices/system/node/node" + std::to_string(cell) + "/meminfo";
    auto text = readText(path);
    if (!text && cell == 0 && numaNodes().empty()) {
        // A kernel without NUMA: the host is cell 0.
        text = readText("/proc/meminfo");
    }
    return text ? parseMeminfo(*text) : std::nullopt;
}

std::vector<int> presentCpus() {
    return cpusOf("present");
}

std::vector<int> onlineCpus() {
    return cpusOf("online");
}

std::optional<CpuTimes> cpuTimes(int cpu) {
    auto text = readText("/proc/stat");
    return text ? parseProcStatCpu(*text, cpu, ::sysconf(_SC_CLK_TCK)) : std::nullopt;
}

std::string sysinfoXml() {
    auto dmi = [](const char* file) -> std::string {
        auto text = readText(std::string("/sys/class/dmi/id/") + file);
        return text ? std::string(proctext::trim(*text)) : "";
    };
    auto section = [&](const char* element,
                       std::initializer_list<std::pair<const char*, const char*>> entries) {
        std::string body;
        for (const auto& [name, file] : entries) {
            if (std::string v = dmi(file); !v.empty()) {
                body +=
                    "    <entry name='" + std::string(name) + "'>" + xml::escape(v) + "</entry>\n";
            }
        }
        return body.empty()
                   ? ""
                   : "  <" + std::string(element) + ">\n" + body + "  </" + element + ">\n";
    };
    std::string x = "<sysinfo type='smbios'>\n";
    x += section("bios", {{"vendor", "bios_vendor"},
                          {"version", "bios_version"},
                          {"date", "bios_date"},
                          {"release", "bios_release"}});
    x += section("system", {{"manufacturer", "sys_vendor"},
                            {"product", "product_name"},
                            {"version", "product_version"},
                            {"serial", "product_serial"},
                            {"uuid", "product_uuid"},
                            {"sku", "product_sku"},
                            {"family", "product_family"}});
    x += section("baseBoard", {{"manufacturer", "board_vendor"},
                               {"product", "board_name"},
                               {"version", "board_version"},
                               {"serial", "board_serial"},
                               {"asset", "board_asset_tag"}});
    x += section("chassis", {{"manufacturer", "chassis_vendor"},
                             {"version", "chassis_version"},
                             {"serial", "chassis_serial"},
                             {"asset", "chassis_asset_tag"}});
    // One <processor> per physical package.
    std::set<std::string> packages;
    std::string vendor, model, family, physicalId;
    auto flush = [&] {
        if (!model.empty() && packages.insert(physicalId).second) {
            x += "  <processor>\n";
            x += "    <entry name='manufacturer'>" + xml::escape(vendor) + "</entry>\n";
            x += "    <entry name='family'>" + xml::escape(family) + "</entry>\n";
            x += "    <entry name='version'>" + xml::escape(model) + "</entry>\n";
            x += "  </processor>\n";
        }
        vendor.clear();
        model.clear();
        family.clear();
        physicalId.clear();
    };
    std::string cpuinfo = readText("/proc/cpuinfo").value_or("");
    std::string_view rest = cpuinfo;
    while (!rest.empty()) {
        std::string_view line = proctext::nextLine(rest);
        if (proctext::trim(line).empty()) {
            flush();
            continue;
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        std::string_view key = proctext::trim(line.substr(0, colon));
        std::string value(proctext::trim(line.substr(colon + 1)));
        if (key == "vendor_id") {
            vendor = value;
        } else if (key == "model name") {
            model = value;
        } else if (key == "cpu family") {
            family = value;
        } else if (key == "physical id") {
            physicalId = value;
        }
    }
    flush();
    x += "</sysinfo>\n";
    return x;
}

} // namespace virtswarm::bridge
