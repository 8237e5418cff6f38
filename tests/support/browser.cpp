#include "support/browser.hpp"

#include "proto/openssl.hpp"
#include "proto/pki.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <fstream>
#include <sys/socket.h>
#include <thread>

namespace graft::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

std::string spki_sha256_base64(const std::string& certificate_pem) {
    auto cert = proto::certificate_from_pem(certificate_pem);
    unsigned char* der = nullptr;
    const int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
    if (length <= 0) throw std::runtime_error("cannot encode the certificate's public key");
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(der, static_cast<std::size_t>(length), digest);
    OPENSSL_free(der);
    unsigned char out[64] = {};
    const int written = EVP_EncodeBlock(out, digest, SHA256_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(written));
}

struct headless_browser::connection {
    net::io_context io;
    websocket::stream<tcp::socket> ws{io};
};

namespace {

std::string chromium_path() {
    for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
        if (std::filesystem::exists(p)) return p;
    throw std::runtime_error("Debian's chromium is not installed: scripts/install-deps installs it");
}

std::string http_get(const std::string& port, const std::string& target) {
    net::io_context io;
    tcp::socket socket(io);
    net::connect(socket, tcp::resolver(io).resolve("127.0.0.1", port));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1:" + port);
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return res.body();
}

}  // namespace

headless_browser::headless_browser(const std::string& url, const std::string& spki, const std::filesystem::path& dir)
    : dir_(dir) {
    std::filesystem::create_directories(dir_ / "profile");
    process_ = std::make_unique<child>(
        std::vector<std::string>{chromium_path(), "--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                                 "--disable-background-networking", "--disable-sync", "--disable-component-update",
                                 "--user-data-dir=" + (dir_ / "profile").string(), "--remote-debugging-port=0",
                                 "--remote-debugging-address=127.0.0.1", "--window-size=1400,1000",
                                 "--ignore-certificate-errors-spki-list=" + spki, url},
        dir_ / "chromium.log");
    const auto active_port = dir_ / "profile/DevToolsActivePort";
    if (!eventually([&] { return std::filesystem::exists(active_port) && read(active_port).find('\n') != std::string::npos; },
                    std::chrono::seconds(30)))
        throw std::runtime_error("Chromium did not open its DevTools port: " + log());
    const std::string port = read(active_port).substr(0, read(active_port).find('\n'));
    // The page target Chromium opened for `url`.
    std::string page_path;
    for (int i = 0; i < 100 && page_path.empty(); ++i) {
        for (const auto& target : proto::parse_json(http_get(port, "/json/list")))
            if (target.value("type", "") == "page") {
                const std::string ws_url = target.value("webSocketDebuggerUrl", "");
                page_path = ws_url.substr(ws_url.find('/', std::string("ws://").size()));
            }
        if (page_path.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (page_path.empty()) throw std::runtime_error("Chromium shows no page: " + log());
    cdp_ = std::make_unique<connection>();
    net::connect(cdp_->ws.next_layer(), tcp::resolver(cdp_->io).resolve("127.0.0.1", port));
    // A read that waits longer than this is a test that hangs: it fails instead.
    timeval timeout{30, 0};
    ::setsockopt(cdp_->ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    cdp_->ws.read_message_max(64 * 1024 * 1024);
    cdp_->ws.handshake("127.0.0.1:" + port, page_path);
}

headless_browser::~headless_browser() {
    try {
        if (cdp_) cdp_->ws.close(websocket::close_code::normal);
    } catch (const std::exception&) {
    }
    process_.reset();
}

std::string headless_browser::log() const {
    try {
        return read(dir_ / "chromium.log");
    } catch (const std::exception&) {
        return "(no log)";
    }
}

proto::json headless_browser::command(const std::string& method, const proto::json& params) {
    const int id = next_id_++;
    cdp_->ws.write(net::buffer(proto::json{{"id", id}, {"method", method}, {"params", params}}.dump()));
    for (;;) {
        beast::flat_buffer buffer;
        cdp_->ws.read(buffer);
        auto message = proto::parse_json(beast::buffers_to_string(buffer.data()));
        if (message.value("id", 0) != id) continue;  // an event, or an answer to someone else
        if (message.contains("error")) throw std::runtime_error(method + ": " + message["error"].dump());
        return message.at("result");
    }
}

proto::json headless_browser::evaluate(const std::string& expression) {
    auto result = command("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
    if (result.contains("exceptionDetails"))
        throw std::runtime_error("the page threw evaluating " + expression + ": " + result["exceptionDetails"].dump());
    return result.at("result").value("value", proto::json());
}

bool headless_browser::wait_for(const std::string& expression, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::string last_error;
    while (std::chrono::steady_clock::now() < until) {
        // While the page is still loading (no body yet, or about:blank), the expression may throw: not yet.
        try {
            auto value = evaluate("!!(" + expression + ")");
            if (value.is_boolean() && value.get<bool>()) return true;
        } catch (const std::runtime_error& e) {
            last_error = e.what();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!last_error.empty()) UNSCOPED_INFO("the last evaluation threw: " << last_error);
    return false;
}

void headless_browser::screenshot(const std::filesystem::path& png) {
    const std::string data = command("Page.captureScreenshot", {{"format", "png"}}).at("data");
    std::string bytes(data.size(), '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                  reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
    if (n < 0) throw std::runtime_error("Chromium's screenshot is not base64");
    std::size_t padding = 0;
    for (auto it = data.rbegin(); it != data.rend() && *it == '='; ++it) ++padding;
    bytes.resize(static_cast<std::size_t>(n) - padding);
    std::filesystem::create_directories(png.parent_path());
    std::ofstream(png, std::ios::binary) << bytes;
}

}  // namespace graft::test
