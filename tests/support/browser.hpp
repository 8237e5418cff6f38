#pragma once
// Debian's real Chromium, headless, driven over the Chrome DevTools Protocol (a WebSocket on 127.0.0.1, the port
// Chromium writes to DevToolsActivePort in its profile directory; https://chromedevtools.github.io/devtools-protocol/).
// The tests load graft's dashboard in it, read the DOM with Runtime.evaluate and keep screenshots.

#include "proto/json_fields.hpp"
#include "support/support.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace graft::test {

class headless_browser {
public:
    // Opens `url`, trusting only the TLS server whose chain holds a key with this SHA-256 SPKI hash (base64), as
    // Chromium's --ignore-certificate-errors-spki-list does. Throws when Chromium is not installed or does not start.
    headless_browser(const std::string& url, const std::string& spki_sha256_base64, const std::filesystem::path& dir);
    ~headless_browser();

    // The value of a JavaScript expression in the page (a promise is awaited); throws on an exception in the page.
    proto::json evaluate(const std::string& expression);
    // Waits until `expression` is truthy, taking an exception in the page (one still loading) as not yet; false when
    // it is not within `timeout`.
    bool wait_for(const std::string& expression, std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // Writes a PNG of the page as it is now.
    void screenshot(const std::filesystem::path& png);
    std::string log() const;

private:
    proto::json command(const std::string& method, const proto::json& params);
    struct connection;
    std::unique_ptr<child> process_;
    std::filesystem::path dir_;
    std::unique_ptr<connection> cdp_;
    int next_id_ = 1;
};

// The base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo, for --ignore-certificate-errors-spki-list.
std::string spki_sha256_base64(const std::string& certificate_pem);

}  // namespace graft::test
