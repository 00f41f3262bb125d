package fletch.jdbc;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * TLS plus auth, the way a DBeaver user connects to a real deployment. Skipped while {@code
 * fletch serve --help} has no {@code --tls-cert} (and {@code --tls-key}). The test makes a self-signed certificate for
 * 127.0.0.1 with openssl and a PKCS#12 trust store holding it with keytool.
 *
 * <p>Driver facts that shape these URLs: {@code useEncryption} defaults to true; {@code
 * useSystemTrustStore} also defaults to true and then wins over {@code trustStore}, so a trust
 * store needs {@code useSystemTrustStore=false}; {@code tlsRootCerts} (a PEM file) wins over both.
 */
class AuthTlsTest {
  private static final String STORE_PASSWORD = "changeit";

  private static Path certDir;
  private static Path cert;
  private static Path trustStore;

  @RegisterExtension
  static final FletchServerExtension fletch =
      new FletchServerExtension()
          .requiringFlags("--tls-cert", "--tls-key")
          .withAuth()
          .tls()
          .preparing(AuthTlsTest::makeCertificate)
          .loading(CpuData::load);

  private static FletchServer server;
  private static String token;

  /** A self-signed certificate for 127.0.0.1 (openssl) and a trust store holding it (keytool). */
  private static void makeCertificate(FletchServer.Options opts) throws Exception {
    assumeTrue(onPath("openssl"), "openssl is needed to make a test certificate");
    certDir = Files.createTempDirectory("fletch-tls-");
    cert = certDir.resolve("cert.pem");
    Path key = certDir.resolve("key.pem");
    trustStore = certDir.resolve("trust.p12");
    run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=localhost",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", key.toString(), "-out", cert.toString());
    run(
        "keytool", "-importcert", "-noprompt", "-alias", "fletch",
        "-file", cert.toString(), "-keystore", trustStore.toString(),
        "-storetype", "PKCS12", "-storepass", STORE_PASSWORD);
    opts.args("--tls-cert", cert.toString(), "--tls-key", key.toString());
  }

  @BeforeAll
  static void readToken() {
    server = fletch.server();
    token = AuthTest.adminToken(server);
  }

  @AfterAll
  static void removeCertificate() throws IOException {
    if (certDir != null) {
      try (var files = Files.list(certDir)) {
        for (Path f : (Iterable<Path>) files::iterator) {
          Files.deleteIfExists(f);
        }
      }
      Files.deleteIfExists(certDir);
    }
  }

  private static Connection connect(String... params) throws SQLException {
    return DriverManager.getConnection(server.jdbcUrl(params));
  }

  private String trustStoreParams() {
    return "trustStore=" + trustStore + "&trustStorePassword=" + STORE_PASSWORD + "&useSystemTrustStore=false";
  }

  @Test
  void trustStore_userPassword() throws SQLException {
    try (Connection c =
        connect("database=" + CpuData.DB, trustStoreParams(), "user=anyone", "password=" + token)) {
      AuthTest.assertMetadataWorks(c);
      AuthTest.assertQueryWorks(c);
    }
  }

  @Test
  void trustStore_token() throws SQLException {
    try (Connection c = connect("database=" + CpuData.DB, trustStoreParams(), "token=" + token)) {
      AuthTest.assertQueryWorks(c);
    }
  }

  @Test
  void tlsRootCertsPem_token() throws SQLException {
    try (Connection c = connect("database=" + CpuData.DB, "tlsRootCerts=" + cert, "token=" + token)) {
      AuthTest.assertQueryWorks(c);
    }
  }

  @Test
  void disableCertificateVerification_token() throws SQLException {
    try (Connection c =
        connect("database=" + CpuData.DB, "disableCertificateVerification=true", "token=" + token)) {
      AuthTest.assertQueryWorks(c);
    }
  }

  @Test
  void untrustedCertificate_refused() {
    // Only the system trust store: the self-signed certificate must not be accepted.
    assertThrows(
        SQLException.class,
        () -> {
          try (Connection c = connect("database=" + CpuData.DB, "token=" + token)) {
            AuthTest.assertQueryWorks(c);
          }
        });
  }

  @Test
  void plaintextClient_refused() {
    String url =
        server.jdbcUrl("database=" + CpuData.DB, "token=" + token)
            .replace("useEncryption=true", "useEncryption=false");
    assertThrows(
        SQLException.class,
        () -> {
          try (Connection c = DriverManager.getConnection(url)) {
            AuthTest.assertQueryWorks(c);
          }
        });
  }

  private static boolean onPath(String tool) {
    try {
      Process p = new ProcessBuilder(tool, "version").redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private static void run(String... cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException(String.join(" ", cmd) + " failed:\n" + out);
    }
  }
}
