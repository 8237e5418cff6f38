#include "proto/pki.hpp"

#include "proto/crypto.hpp"
#include "proto/subprocess.hpp"
#include "support/support.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

using namespace graft::proto;
using graft::test::temp_dir;

namespace {

struct test_ca {
    pkey_ptr key = generate_p256_key();
    x509_ptr cert;
    explicit test_ca(const std::string& name = "test CA") {
        certificate_profile p;
        p.common_name = name;
        p.use = certificate_use::ca;
        cert = sign_certificate(nullptr, *key, *key, p);
    }
};

std::string subject_of(X509& cert) {
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(&cert), buf, sizeof buf);
    return buf;
}

}  // namespace

TEST_CASE("a CSR round-trips and proves possession of its key") {
    auto key = generate_p256_key();
    auto csr = parse_csr(make_csr_pem(*key, "raspberrypi"));
    CHECK(csr.common_name == "raspberrypi");
    CHECK(EVP_PKEY_eq(csr.public_key.get(), key.get()) == 1);
}

TEST_CASE("a CSR whose signature was tampered with is refused") {
    auto key = generate_p256_key();
    std::string pem = make_csr_pem(*key, "raspberrypi");
    // Flip one character in the middle of the base64 body (the signature lives at the end of the DER).
    auto end = pem.find("-----END");
    pem[end - 10] = pem[end - 10] == 'A' ? 'B' : 'A';
    CHECK_THROWS_AS(parse_csr(pem), std::invalid_argument);
}

TEST_CASE("a CSR with a key other than P-256 is refused") {
    pkey_ptr rsa(EVP_RSA_gen(2048));
    REQUIRE(rsa);
    CHECK_THROWS_WITH(parse_csr(make_csr_pem(*rsa, "x")), Catch::Contains("not ECDSA P-256"));
    CHECK_THROWS_WITH(parse_csr("garbage"), Catch::Contains("not a PEM"));
}

TEST_CASE("a signed certificate carries the signer's subject and use, not the CSR's") {
    test_ca ca;
    auto node_key = generate_p256_key();
    auto csr = parse_csr(make_csr_pem(*node_key, "kube-apiserver"));
    certificate_profile p;
    p.common_name = "node-3";
    p.organization = "graft:nodes";
    p.use = certificate_use::client;
    auto cert = sign_certificate(ca.cert.get(), *ca.key, *csr.public_key, p);
    CHECK(subject_common_name(*cert) == "node-3");
    CHECK(subject_of(*cert) == "/O=graft:nodes/CN=node-3");
    CHECK(certificate_matches_key(*cert, *node_key));
    CHECK(verify_certificate(*cert, *ca.cert, certificate_use::client).empty());
    // A client certificate is no server certificate.
    CHECK_FALSE(verify_certificate(*cert, *ca.cert, certificate_use::server).empty());
}

TEST_CASE("a certificate from another CA does not verify") {
    test_ca ca, other("other CA");
    auto key = generate_p256_key();
    certificate_profile p;
    p.common_name = "node-1";
    auto cert = sign_certificate(other.cert.get(), *other.key, *key, p);
    CHECK_FALSE(verify_certificate(*cert, *ca.cert, certificate_use::client).empty());
}

TEST_CASE("notBefore is backdated for nodes whose clock lags") {
    test_ca ca;
    auto key = generate_p256_key();
    certificate_profile p;
    p.common_name = "node-1";
    p.backdate = std::chrono::minutes(5);
    auto cert = sign_certificate(ca.cert.get(), *ca.key, *key, p);
    int days = 0, secs = 0;
    REQUIRE(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()), nullptr) == 1);
    CHECK(days * 86400 + secs >= 299);
}

TEST_CASE("the SPKI pin matches kubeadm's documented openssl pipeline") {
    test_ca ca;
    temp_dir dir;
    graft::test::write(dir / "ca.crt", certificate_pem(*ca.cert));
    // From the kubeadm join reference: openssl x509 -pubkey | openssl rsa -pubin -outform der | openssl dgst -sha256
    // (with `pkey` for an EC key).
    auto r = run_process({"sh", "-c", "openssl x509 -pubkey -noout -in '" + (dir / "ca.crt") +
                                          "' | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1"},
                         std::chrono::seconds(20));
    REQUIRE(r.exit_code == 0);
    CHECK(spki_pin(*ca.cert) == "sha256:" + r.output.substr(0, 64));
    CHECK(is_spki_pin(spki_pin(*ca.cert)));
    CHECK_FALSE(is_spki_pin("sha256:ABC"));
}

TEST_CASE("private keys round-trip through PEM") {
    auto key = generate_p256_key();
    auto back = private_key_from_pem(private_key_pem(*key));
    CHECK(EVP_PKEY_eq(back.get(), key.get()) == 1);
    CHECK_THROWS_AS(private_key_from_pem("not a key"), openssl_error);
}

TEST_CASE("k3s's CA hash: the bytes of a single self-signed CA, the root's DER for a custom CA bundle, as openssl computes") {
    temp_dir dir;
    auto sh = [&](const std::string& script) {
        auto r = graft::proto::run_process({"sh", "-c", "cd \"$0\" && " + script, dir.path().string()}, std::chrono::seconds(60));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        return r.output;
    };
    // A custom CA as k3s documents it: a root, and an intermediate it signs that serves as the cluster's server CA.
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -out root.pem -days 3650 "
       "-subj /CN=root-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null && "
       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key -out inter.csr -subj /CN=server-ca "
       "2>/dev/null && printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n"
       "subjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n' >ext && openssl x509 -req -in inter.csr -CA root.pem "
       "-CAkey root.key -CAcreateserial -days 365 -extfile ext -out inter.pem 2>/dev/null && cat inter.pem root.pem >bundle.pem");
    const auto root_der_sha256 = sh("openssl x509 -in root.pem -outform der | sha256sum | cut -d' ' -f1");
    const auto bundle = graft::test::read(dir / "bundle.pem");
    CHECK(k3s_ca_hash(bundle) + "\n" == root_der_sha256);
    // k3s's own CA: one self-signed certificate, hashed as the bytes of the file.
    const auto single = graft::test::read(dir / "root.pem");
    CHECK(k3s_ca_hash(single) + "\n" == sh("sha256sum root.pem | cut -d' ' -f1"));
    CHECK(k3s_ca_hash(single + "\n") != k3s_ca_hash(single));  // the bytes, blank line included, as k3s hashes them
    // A bundle whose first certificate chains to nothing in it falls back to the bytes, as k3s does.
    const auto unrelated = graft::test::read(dir / "inter.pem") + sh("openssl req -x509 -newkey ec -pkeyopt "
        "ec_paramgen_curve:P-256 -nodes -keyout other.key -days 1 -subj /CN=other 2>/dev/null");
    CHECK(k3s_ca_hash(unrelated) == sha256_hex(unrelated));
}
