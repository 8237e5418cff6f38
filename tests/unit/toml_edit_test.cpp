#include "agent/steps/toml_edit.hpp"

#include <catch2/catch.hpp>
#include <toml++/toml.h>

#include <sstream>

using graft::agent::toml_text;

namespace {

// The lines of `after` that are not in `before`, in order (an edit that only adds or replaces lines shows them).
std::vector<std::string> new_lines(const std::string& before, const std::string& after) {
    std::vector<std::string> old, out;
    std::istringstream a(before), b(after);
    for (std::string l; std::getline(a, l);) old.push_back(l);
    std::size_t i = 0;
    for (std::string l; std::getline(b, l);) {
        if (i < old.size() && old[i] == l) ++i;
        else out.push_back(l);
    }
    CHECK(i == old.size());  // every old line is still there, in order (replaced lines excepted by the caller)
    return out;
}

constexpr const char* debian_containerd = R"(version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
)";

}  // namespace

TEST_CASE("a key's value is replaced where it stands, with its comment and indentation") {
    toml_text doc("[a]\n  # the driver\n  SystemdCgroup = false   # set by the vendor\n  other = 'x # not a comment'\n", "f.toml");
    doc.set({"a", "SystemdCgroup"}, "true");
    CHECK(doc.str() == "[a]\n  # the driver\n  SystemdCgroup = true   # set by the vendor\n  other = 'x # not a comment'\n");
    CHECK(doc.raw({"a", "other"}) == "'x # not a comment'");
    CHECK_FALSE(doc.raw({"a", "missing"}));
}

TEST_CASE("a new key goes after the last key of its table, indented like its neighbours") {
    toml_text doc("[a]\n    x = 1\n    y = 2\n\n# about b\n[b]\nz = 3\n", "f.toml");
    doc.set({"a", "w"}, "\"new\"");
    CHECK(doc.str() == "[a]\n    x = 1\n    y = 2\n    w = \"new\"\n\n# about b\n[b]\nz = 3\n");
}

TEST_CASE("a new table goes after the tables it belongs with, indented as the file indents its headers") {
    toml_text doc(debian_containerd, "config.toml");
    doc.set({"plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "runtime_type"}, "\"io.containerd.runc.v2\"");
    doc.set({"plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options", "SystemdCgroup"}, "true");
    auto added = new_lines(debian_containerd, doc.str());
    CHECK(added == std::vector<std::string>{
                       "        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]",
                       "          runtime_type = \"io.containerd.runc.v2\"",
                       "          [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]",
                       "            SystemdCgroup = true",
                   });
    // Placed inside the CRI plugin's tables, before the next plugin.
    CHECK(doc.str().find("runc.options") < doc.str().find("io.containerd.internal.v1.opt"));
    auto parsed = toml::parse(doc.str());
    CHECK(parsed["plugins"]["io.containerd.grpc.v1.cri"]["cni"]["bin_dir"].value<std::string>() == "/usr/lib/cni");
    CHECK(parsed["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"]
              .value<bool>() == true);
}

TEST_CASE("a new top-level key goes before the first statement, after the file's opening comments") {
    const std::string docker = "#   Copyright Docker Inc.\n\ndisabled_plugins = [\n  \"cri\", # the CRI\n]\n\n#root = \"/var/lib/containerd\"\n";
    toml_text doc(docker, "config.toml");
    doc.set({"version"}, "2");
    doc.set({"disabled_plugins"}, "[]");
    CHECK(doc.str() == "#   Copyright Docker Inc.\n\nversion = 2\ndisabled_plugins = []\n\n#root = \"/var/lib/containerd\"\n");
}

TEST_CASE("a table made by dotted keys gets its new key as a dotted key, since a header for it is not TOML") {
    toml_text doc("[runtimes]\nrunc.runtime_type = \"io.containerd.runc.v2\"\nrunc.options.BinaryName = \"runc\"\n", "f.toml");
    doc.set({"runtimes", "runc", "options", "SystemdCgroup"}, "true");
    auto parsed = toml::parse(doc.str());
    CHECK(parsed["runtimes"]["runc"]["options"]["SystemdCgroup"].value<bool>() == true);
    CHECK(parsed["runtimes"]["runc"]["options"]["BinaryName"].value<std::string>() == "runc");
    CHECK(doc.str().find("[runtimes.runc.options]") == std::string::npos);
    CHECK(doc.str().starts_with("[runtimes]\nrunc.runtime_type = \"io.containerd.runc.v2\"\nrunc.options.BinaryName = \"runc\"\n"));
}

TEST_CASE("multi-line strings and arrays are skipped whole, and a file without a final newline stays valid") {
    const std::string text = "a = \"\"\"\n[not.a.table]\nx = 1\"\"\"\nlist = [\n  1, # one\n  2,\n]\n[t]\nk = 'v'";
    toml_text doc(text, "f.toml");
    doc.set({"t", "n"}, "5");
    doc.set({"list"}, "[3]");
    auto parsed = toml::parse(doc.str());
    CHECK(parsed["a"].value<std::string>() == "[not.a.table]\nx = 1");
    CHECK(parsed["t"]["n"].value<std::int64_t>() == 5);
    CHECK(parsed["list"].as_array()->size() == 1);
    CHECK_FALSE(parsed.contains("not"));
}

TEST_CASE("invalid TOML, and an edit through a value that is not a table, are refused naming the file") {
    CHECK_THROWS_WITH(toml_text("[a\n", "/etc/containerd/config.toml"),
                      Catch::Contains("/etc/containerd/config.toml is not valid TOML"));
    toml_text doc("a = 1\n", "f.toml");
    CHECK_THROWS_WITH(doc.set({"a", "b"}, "true"), Catch::Contains("f.toml") && Catch::Contains("a.b"));
    CHECK(doc.str() == "a = 1\n");
}

TEST_CASE("keys that need quotes are quoted, and quoted keys in the file are matched by their value") {
    CHECK(toml_text::key("io.containerd.grpc.v1.cri") == "\"io.containerd.grpc.v1.cri\"");
    CHECK(toml_text::key("runc") == "runc");
    toml_text doc("[plugins.'io.containerd.cri.v1.runtime'.containerd]\ndefault_runtime_name = 'runc'\n", "f.toml");
    doc.set({"plugins", "io.containerd.cri.v1.runtime", "containerd", "default_runtime_name"}, "\"crun\"");
    CHECK(doc.str() == "[plugins.'io.containerd.cri.v1.runtime'.containerd]\ndefault_runtime_name = \"crun\"\n");
}

TEST_CASE("a character outside ASCII outside a string or comment is refused with its line, inside one it is kept") {
    // U+035C in key position made toml++ 3.3.0 reach __builtin_unreachable() (found by the host_files fuzz target).
    CHECK_THROWS_WITH(graft::agent::toml_text("version = 3\n[plugins.'a'\xcd\x9c]\n", "/etc/containerd/config.toml"),
                      Catch::Contains("/etc/containerd/config.toml is not valid TOML") && Catch::Contains("line 2"));
    CHECK_NOTHROW(graft::agent::toml_text("# caf\xc3\xa9\nname = \"caf\xc3\xa9\"\nmulti = '''\nna\xc3\xafve\n'''\n", "f.toml"));
}
