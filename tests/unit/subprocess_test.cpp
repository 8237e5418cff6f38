#include "proto/subprocess.hpp"

#include <catch2/catch.hpp>

#include <system_error>

using namespace graft::proto;

TEST_CASE("a program's lines arrive one by one, stdout and stderr together") {
    std::vector<std::string> lines;
    auto r = run_process({"sh", "-c", "echo one; echo two >&2; printf three"}, std::chrono::seconds(10),
                         [&](std::string_view l) { lines.emplace_back(l); });
    CHECK(r.exit_code == 0);
    CHECK(lines == std::vector<std::string>{"one", "two", "three"});
    CHECK(r.output == "one\ntwo\nthree");
}

TEST_CASE("stderr can be left out, for a program whose stdout is data and whose stderr is its log") {
    auto r = run_process({"sh", "-c", "echo 'time=now level=error' >&2; echo 'version = 2'"}, std::chrono::seconds(10), {},
                         1024, stderr_to::null);
    CHECK(r.exit_code == 0);
    CHECK(r.output == "version = 2\n");
}

TEST_CASE("a failing program's exit status is reported") {
    CHECK(run_process({"sh", "-c", "exit 7"}, std::chrono::seconds(10)).exit_code == 7);
}

TEST_CASE("a program that overstays its deadline is killed with its children") {
    auto start = std::chrono::steady_clock::now();
    auto r = run_process({"sh", "-c", "sleep 30 & sleep 30"}, std::chrono::milliseconds(300));
    CHECK(r.timed_out);
    CHECK(r.exit_code == 128 + 9);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("a program that does not exist is an error naming it") {
    CHECK_THROWS_WITH(run_process({"/nonexistent/kubeadm"}, std::chrono::seconds(5)),
                      Catch::Contains("/nonexistent/kubeadm"));
}
