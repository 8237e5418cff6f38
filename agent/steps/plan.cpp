#include "agent/steps/step.hpp"

#include "proto/files.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace graft::agent {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// A line diff by longest common subsequence (config files are small), shown with two lines of context.
std::string diff(const std::string& path, const std::optional<std::string>& before, const std::string& after) {
    auto a = before ? lines_of(*before) : std::vector<std::string>{};
    auto b = lines_of(after);
    std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
    for (std::size_t i = a.size(); i-- > 0;)
        for (std::size_t j = b.size(); j-- > 0;)
            lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    std::vector<std::pair<char, std::string>> ops;
    std::size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
        if (i < a.size() && j < b.size() && a[i] == b[j]) ops.emplace_back(' ', a[i++]), ++j;
        // On a tie, removals come before additions, as diff(1) shows a changed line.
        else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) ops.emplace_back('-', a[i++]);
        else ops.emplace_back('+', b[j++]);
    }
    std::string out = "--- " + (before ? path : std::string("/dev/null")) + "\n+++ " + path + "\n";
    constexpr std::size_t context = 2;
    for (std::size_t k = 0; k < ops.size(); ++k) {
        bool near = ops[k].first != ' ';
        for (std::size_t d = 1; !near && d <= context; ++d)
            near = (k >= d && ops[k - d].first != ' ') || (k + d < ops.size() && ops[k + d].first != ' ');
        if (near) out += std::string(1, ops[k].first) + ops[k].second + "\n";
        else if (k > 0 && out.back() == '\n' && out.compare(out.size() - 4, 4, "...\n") != 0) out += "...\n";
    }
    return out;
}

mode_t mode_of(const std::string& file, mode_t fallback) {
    struct stat st {};
    return ::stat(file.c_str(), &st) == 0 ? (st.st_mode & 07777) : fallback;
}

}  // namespace

std::string apply_edits(const host& h, const step_plan& plan) {
    for (const auto& e : plan.edits) try {
        const std::string target = h.path(e.path);
        fs::create_directories(fs::path(target).parent_path());
        if (e.remove) {
            std::error_code ec;
            fs::remove(target, ec);
            if (ec) throw std::runtime_error("cannot remove " + target + ": " + ec.message());
            continue;
        }
        if (e.symlink_to) {
            std::error_code ec;
            fs::remove(target, ec);
            if (::symlink(e.symlink_to->c_str(), target.c_str()) != 0)
                throw std::runtime_error("cannot link " + target + " to " + *e.symlink_to + ": " + std::strerror(errno));
            continue;
        }
        if (e.backup && e.before && !fs::exists(target + ".graft-backup"))
            proto::write_file_atomic(target + ".graft-backup", *e.before, mode_of(target, 0644));
        proto::write_file_atomic(target, e.after, mode_of(target, 0644));
    } catch (const std::exception& error) {
        std::string why = error.what();
        if (why.find(std::strerror(EROFS)) != std::string::npos)
            why += "; the file system holding " + e.path + " is mounted read-only: remount it read-write (mount -o "
                   "remount,rw MOUNTPOINT) and run graft again";
        return why;
    }
    return {};
}

std::string render_plan(const step_plan& plan) {
    std::string out = "== " + plan.step;
    if (!plan.blocker.empty()) out += ": BLOCKED\n   " + plan.blocker + "\n";
    else if (!plan.changes()) out += ": nothing to change\n";
    else out += "\n";
    for (const auto& e : plan.edits) {
        if (e.remove) out += "remove " + e.path + "\n";
        else if (e.symlink_to) out += "link " + e.path + " -> " + *e.symlink_to + "\n";
        else out += diff(e.path, e.before, e.after);
    }
    for (const auto& a : plan.actions) out += "action: " + a.description + "\n";
    for (const auto& n : plan.notes) out += "note: " + n + "\n";
    if (plan.needs_reboot) out += "reboot: the kernel command line change takes effect after one reboot\n";
    return out;
}

}  // namespace graft::agent
