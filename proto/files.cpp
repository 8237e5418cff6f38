#include "proto/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace graft::proto {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
    throw std::runtime_error(what + " " + path + ": " + std::strerror(err));
}

}  // namespace

std::string read_file(const std::string& path) {
    // POSIX reads, so every failure (a directory, an I/O error) is reported with its errno instead of an empty string.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot read", path, errno);
    std::string out;
    char buf[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            fail("cannot read", path, err);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

void write_file_atomic(const std::string& path, std::string_view content, mode_t mode, const write_observer& at) {
    auto reached = [&](write_point p) {
        if (at) at(p);
    };
    const std::filesystem::path target(path);
    const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
    std::string temp = dir + "/." + target.filename().string() + ".XXXXXX";
    int fd = ::mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) fail("cannot create a temporary file beside", path, errno);
    auto abandon = [&](const char* what) {
        int err = errno;
        ::close(fd);
        ::unlink(temp.c_str());
        fail(what, path, err);
    };
    if (::fchmod(fd, mode) != 0) abandon("cannot set the mode of");
    reached(write_point::temp_created);
    for (std::size_t done = 0; done < content.size();) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) abandon("cannot write");
        done += static_cast<std::size_t>(n);
    }
    reached(write_point::content_written);
    if (::fsync(fd) != 0) abandon("cannot fsync");
    reached(write_point::content_synced);
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(temp.c_str());
        fail("cannot close", path, err);
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(temp.c_str());
        fail("cannot rename a temporary file onto", path, err);
    }
    reached(write_point::renamed);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) fail("cannot open the directory of", path, errno);
    int rc = ::fsync(dfd);
    int err = errno;
    ::close(dfd);
    if (rc != 0) fail("cannot fsync the directory of", path, err);
    reached(write_point::directory_synced);
}

}  // namespace graft::proto
