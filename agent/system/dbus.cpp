#include "agent/system/dbus.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace graft::agent::dbus {
namespace {

// Message types and header field codes from the specification's "Message Format".
constexpr std::uint8_t method_call = 1, method_return = 2, error_reply = 3;
constexpr std::uint8_t field_path = 1, field_interface = 2, field_member = 3, field_error_name = 4,
                       field_reply_serial = 5, field_destination = 6, field_signature = 8;
// The specification's limit on a whole message.
constexpr std::size_t max_message = 128u << 20;

void pad(std::string& out, std::size_t alignment) {
    while (out.size() % alignment) out += '\0';
}

void put_u32(std::string& out, std::uint32_t v) {
    pad(out, 4);
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void put_string(std::string& out, std::string_view s) {  // s and o
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out += s;
    out += '\0';
}

void put_signature(std::string& out, std::string_view s) {  // g
    out += static_cast<char>(s.size());
    out += s;
    out += '\0';
}

// One header field: a struct (code, variant), aligned to 8.
void put_field(std::string& out, std::uint8_t code, char type, std::string_view value) {
    pad(out, 8);
    out += static_cast<char>(code);
    put_signature(out, std::string_view(&type, 1));
    if (type == 'g') put_signature(out, value);
    else put_string(out, value);
}

// Reads a received message, in either byte order, refusing anything that runs past its end.
class reader {
public:
    reader(std::string_view data, bool big_endian) : data_(data), big_(big_endian) {}

    void align(std::size_t a) {
        pos_ = (pos_ + a - 1) / a * a;
        need(0);
    }
    std::uint8_t byte() {
        need(1);
        return static_cast<std::uint8_t>(data_[pos_++]);
    }
    std::uint32_t u32() {
        align(4);
        need(4);
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const auto b = static_cast<std::uint8_t>(data_[pos_ + i]);
            v |= static_cast<std::uint32_t>(b) << (8 * (big_ ? 3 - i : i));
        }
        pos_ += 4;
        return v;
    }
    std::string string() {  // s and o
        const std::uint32_t n = u32();
        need(std::size_t{n} + 1);
        std::string s(data_.substr(pos_, n));
        pos_ += std::size_t{n} + 1;
        return s;
    }
    std::string signature() {  // g
        const std::uint8_t n = byte();
        need(std::size_t{n} + 1);
        std::string s(data_.substr(pos_, n));
        pos_ += std::size_t{n} + 1;
        return s;
    }
    std::size_t pos() const { return pos_; }

private:
    void need(std::size_t n) const {
        if (pos_ > data_.size() || data_.size() - pos_ < n) throw std::runtime_error("malformed D-Bus message: it ends early");
    }
    std::string_view data_;
    bool big_;
    std::size_t pos_ = 0;
};

// The fixed part of every message header: byte order, type, flags, version, body length, serial, and the length of
// the header field array.
struct fixed_header {
    bool big_endian;
    std::uint8_t type;
    std::uint32_t body_length, serial, fields_length;
};

fixed_header read_fixed(std::string_view first16) {
    if (first16[0] != 'l' && first16[0] != 'B') throw std::runtime_error("malformed D-Bus message: unknown byte order");
    reader r(first16, first16[0] == 'B');
    fixed_header h{first16[0] == 'B', 0, 0, 0, 0};
    r.byte();
    h.type = r.byte();
    r.byte();
    if (r.byte() != 1) throw std::runtime_error("malformed D-Bus message: protocol version is not 1");
    h.body_length = r.u32();
    h.serial = r.u32();
    h.fields_length = r.u32();
    return h;
}

struct parsed_message {
    fixed_header header;
    std::optional<std::uint32_t> reply_serial;
    std::string error_name, signature, body;
};

parsed_message parse(const std::string& message) {
    parsed_message m{read_fixed(std::string_view(message).substr(0, 16)), std::nullopt, {}, {}, {}};
    reader r(message, m.header.big_endian);
    for (int i = 0; i < 16; ++i) r.byte();
    const std::size_t fields_end = 16 + m.header.fields_length;
    while (r.pos() < fields_end) {
        r.align(8);
        const std::uint8_t code = r.byte();
        const std::string type = r.signature();
        if (type == "u") {
            const std::uint32_t v = r.u32();
            if (code == field_reply_serial) m.reply_serial = v;
        } else if (type == "s" || type == "o") {
            std::string v = r.string();
            if (code == field_error_name) m.error_name = std::move(v);
        } else if (type == "g") {
            std::string v = r.signature();
            if (code == field_signature) m.signature = std::move(v);
        } else {
            throw std::runtime_error("malformed D-Bus message: header field " + std::to_string(code) + " has type '" + type + "'");
        }
    }
    const std::size_t body_start = (fields_end + 7) / 8 * 8;
    m.body = message.substr(body_start);
    return m;
}

// "unix:path=/x,guid=..." → the socket address; %-escapes decoded as the specification's "Server Addresses" says.
std::optional<std::pair<sockaddr_un, socklen_t>> unix_socket_of(std::string_view entry) {
    if (!entry.starts_with("unix:")) return std::nullopt;
    entry.remove_prefix(5);
    while (!entry.empty()) {
        const auto comma = entry.find(',');
        const std::string_view kv = entry.substr(0, comma);
        entry = comma == std::string_view::npos ? std::string_view{} : entry.substr(comma + 1);
        const auto eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string_view key = kv.substr(0, eq), raw = kv.substr(eq + 1);
        if (key != "path" && key != "abstract") continue;
        std::string value;
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '%' && i + 2 < raw.size()) {
                value += static_cast<char>(std::strtol(std::string(raw.substr(i + 1, 2)).c_str(), nullptr, 16));
                i += 2;
            } else {
                value += raw[i];
            }
        }
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const std::size_t offset = key == "abstract" ? 1 : 0;
        if (value.empty() || value.size() + offset >= sizeof addr.sun_path) return std::nullopt;
        value.copy(addr.sun_path + offset, value.size());
        return std::pair{addr, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + value.size() + (offset ? 0 : 1))};
    }
    return std::nullopt;
}

std::string system_bus_address() {
    if (const char* env = std::getenv("DBUS_SYSTEM_BUS_ADDRESS"); env && *env) return env;
    return "unix:path=/run/dbus/system_bus_socket";
}

}  // namespace

arguments& arguments::add(std::string_view s) {
    signature_ += 's';
    put_string(body_, s);
    return *this;
}

arguments& arguments::add(bool b) {
    signature_ += 'b';
    put_u32(body_, b ? 1 : 0);
    return *this;
}

arguments& arguments::add(const std::vector<std::string>& list) {
    signature_ += "as";
    put_u32(body_, 0);
    const std::size_t length_at = body_.size() - 4, start = body_.size();
    for (const auto& s : list) put_string(body_, s);
    const auto length = static_cast<std::uint32_t>(body_.size() - start);
    for (int i = 0; i < 4; ++i) body_[length_at + i] = static_cast<char>((length >> (8 * i)) & 0xff);
    return *this;
}

std::string reply::first_string() const {
    if (signature.empty() || (signature[0] != 's' && signature[0] != 'o'))
        throw std::runtime_error("unexpected D-Bus reply: signature '" + signature + "', expected a string or object path first");
    return reader(body, big_endian).string();
}

connection::connection(const std::string& address) : address_(address.empty() ? system_bus_address() : address) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::string last_error = "no unix: address in it";
    std::string_view entries = address_;
    while (fd_ < 0 && !entries.empty()) {
        const auto semi = entries.find(';');
        const std::string_view entry = entries.substr(0, semi);
        entries = semi == std::string_view::npos ? std::string_view{} : entries.substr(semi + 1);
        const auto to = unix_socket_of(entry);
        if (!to) continue;
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw std::runtime_error(std::string("socket(AF_UNIX) failed: ") + std::strerror(errno));
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&to->first), to->second) == 0) {
            fd_ = fd;
        } else {
            last_error = std::strerror(errno);
            ::close(fd);
        }
    }
    if (fd_ < 0) throw std::runtime_error("cannot connect to D-Bus at " + address_ + ": " + last_error);

    // A constructor that throws runs no destructor: the socket is closed here on the way out.
    try {
        authenticate(deadline);
        unique_name_ = call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello").first_string();
    } catch (...) {
        ::close(fd_);
        fd_ = -1;
        throw;
    }
}

void connection::authenticate(std::chrono::steady_clock::time_point deadline) {
    // EXTERNAL authentication: the bus checks our uid from the socket's credentials. A NUL byte first, as required.
    std::string uid = std::to_string(::getuid()), hex;
    for (unsigned char c : uid) {
        static const char digits[] = "0123456789abcdef";
        hex += digits[c >> 4];
        hex += digits[c & 15];
    }
    send_all(std::string("\0AUTH EXTERNAL ", 15) + hex + "\r\n", deadline);
    std::string line;
    while (!line.ends_with("\r\n")) {
        if (line.size() > 4096) break;
        line += receive(1, deadline);
    }
    if (!line.starts_with("OK "))
        throw std::runtime_error("D-Bus at " + address_ + " refused EXTERNAL authentication as uid " + uid + ": " +
                                 line.substr(0, line.find('\r')));
    send_all("BEGIN\r\n", deadline);
}

connection::~connection() {
    if (fd_ >= 0) ::close(fd_);
}

void connection::send_all(std::string_view data, std::chrono::steady_clock::time_point deadline) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd p{fd_, POLLOUT, 0};
            if (left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) >= 0) continue;
            throw std::runtime_error("D-Bus at " + address_ + ": timed out sending");
        }
        throw std::runtime_error("D-Bus at " + address_ + ": sending failed: " + std::strerror(errno));
    }
}

std::string connection::receive(std::size_t size, std::chrono::steady_clock::time_point deadline) {
    std::string out(size, '\0');
    std::size_t done = 0;
    while (done < size) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd_, POLLIN, 0};
        const int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) throw std::runtime_error("D-Bus at " + address_ + ": no answer in time");
        const ssize_t n = ::recv(fd_, out.data() + done, size - done, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) throw std::runtime_error("D-Bus at " + address_ + " closed the connection");
        if (n < 0) throw std::runtime_error("D-Bus at " + address_ + ": receiving failed: " + std::strerror(errno));
        done += static_cast<std::size_t>(n);
    }
    return out;
}

reply connection::call(const std::string& destination, const std::string& path, const std::string& interface,
                       const std::string& member, const arguments& args, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::uint32_t serial = ++serial_;
    std::string message;
    message += 'l';
    message += static_cast<char>(method_call);
    message += '\0';  // flags: a reply is expected, and services may be started for it
    message += '\1';
    put_u32(message, static_cast<std::uint32_t>(args.body().size()));
    put_u32(message, serial);
    put_u32(message, 0);  // the header fields' length, filled in below
    const std::size_t fields_start = message.size();
    put_field(message, field_path, 'o', path);
    put_field(message, field_interface, 's', interface);
    put_field(message, field_member, 's', member);
    put_field(message, field_destination, 's', destination);
    if (!args.signature().empty()) put_field(message, field_signature, 'g', args.signature());
    const auto fields_length = static_cast<std::uint32_t>(message.size() - fields_start);
    for (int i = 0; i < 4; ++i) message[12 + i] = static_cast<char>((fields_length >> (8 * i)) & 0xff);
    pad(message, 8);
    message += args.body();
    send_all(message, deadline);

    // Signals the bus sends us (NameAcquired after Hello) come in between; only our reply counts.
    for (;;) {
        std::string received = receive(16, deadline);
        const fixed_header h = read_fixed(received);
        const std::size_t header_size = (16 + std::size_t{h.fields_length} + 7) / 8 * 8;
        if (header_size + h.body_length > max_message) throw std::runtime_error("D-Bus at " + address_ + " sent an oversized message");
        received += receive(header_size + h.body_length - 16, deadline);
        parsed_message m = parse(received);
        if (m.reply_serial != serial) continue;
        if (m.header.type == error_reply) {
            std::string text;
            if (!m.signature.empty() && m.signature[0] == 's') text = reader(m.body, m.header.big_endian).string();
            throw error(m.error_name, text);
        }
        if (m.header.type != method_return) continue;
        return reply{std::move(m.signature), std::move(m.body), m.header.big_endian};
    }
}

}  // namespace graft::agent::dbus
