#pragma once
// The dashboard's page, script and style sheet, embedded in the binary at build time from the files beside this one
// (index.html, dashboard.js, dashboard.css): nothing to install, nothing fetched from elsewhere.

#include <optional>
#include <string_view>

namespace graft::coordinator {

struct dashboard_asset {
    std::string_view content_type;
    std::string_view body;
};

// The asset served at `path` ("/", "/dashboard.js", "/dashboard.css"); nullopt for any other path.
std::optional<dashboard_asset> find_dashboard_asset(std::string_view path);

}  // namespace graft::coordinator
