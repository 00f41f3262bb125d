package fletch.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Auth over plaintext gRPC. Skipped while the binary has no {@code --without-auth} switch (a
 * build from before auth). With auth on, the server prints {@code admin token: <token>} on first
 * start; the driver's {@code user=&password=} does a Handshake with {@code authorization: Basic
 * base64(user:password)} and expects {@code authorization: Bearer <token>} back in the Handshake
 * response headers, which it then sends on every call; {@code token=} does a Handshake carrying
 * {@code authorization: Bearer <token>} and sends the same header on every call.
 */
class AuthTest {
  @RegisterExtension
  static final FletchServerExtension fletch =
      new FletchServerExtension()
          .requiringFlags("--without-auth")
          .withAuth()
          .loading(CpuData::load);

  private static FletchServer server;
  private static String token;

  @BeforeAll
  static void readToken() {
    server = fletch.server();
    token = adminToken(server);
  }

  static String adminToken(FletchServer s) {
    return s.adminToken()
        .orElseThrow(
            () ->
                new AssertionError(
                    "no 'admin token: <token>' line in the server log:\n" + s.logTail(40)));
  }

  static void assertQueryWorks(Connection c) throws SQLException {
    try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM cpu")) {
      assertTrue(rs.next());
      assertEquals(CpuData.ROWS.size(), rs.getLong(1));
    }
  }

  static void assertMetadataWorks(Connection c) throws SQLException {
    try (ResultSet rs = c.getMetaData().getTables(null, CpuData.DB, "cpu", null)) {
      assertEquals(java.util.List.of("cpu"), Jdbc.strings(rs, "TABLE_NAME"));
    }
  }

  @Test
  void userPassword_handshakeThenQueryAndMetadata() throws SQLException {
    try (Connection c =
        DriverManager.getConnection(
            server.jdbcUrl("database=" + CpuData.DB, "user=anyone", "password=" + token))) {
      assertMetadataWorks(c);
      assertQueryWorks(c);
    }
  }

  @Test
  void token_handshakeThenQueryAndMetadata() throws SQLException {
    try (Connection c =
        DriverManager.getConnection(server.jdbcUrl("database=" + CpuData.DB, "token=" + token))) {
      assertMetadataWorks(c);
      assertQueryWorks(c);
    }
  }

  @Test
  void wrongPassword_refusedAtConnect() {
    // The Handshake itself must fail (Unauthenticated), so tools report it on "Test connection".
    assertThrows(
        SQLException.class,
        () -> DriverManager.getConnection(server.jdbcUrl("user=anyone", "password=wrong")).close());
  }

  @Test
  void wrongToken_refused() {
    assertThrows(
        SQLException.class,
        () -> {
          try (Connection c =
              DriverManager.getConnection(server.jdbcUrl("database=" + CpuData.DB, "token=wrong"))) {
            assertQueryWorks(c);
          }
        });
  }

  @Test
  void noCredentials_queryRefused() throws SQLException {
    // Without credentials the driver makes no call on connect; the first statement must fail.
    try (Connection c = DriverManager.getConnection(server.jdbcUrl("database=" + CpuData.DB))) {
      SQLException e = assertThrows(SQLException.class, () -> assertQueryWorks(c));
      assertTrue(Jdbc.messages(e).toLowerCase().contains("unauthenticated"), Jdbc.messages(e));
    }
  }

  @Test
  void noCredentials_metadataRefused() throws SQLException {
    // The driver lets metadata RPC errors out unchecked (FlightRuntimeException).
    try (Connection c = DriverManager.getConnection(server.jdbcUrl("database=" + CpuData.DB))) {
      assertThrows(Exception.class, () -> assertMetadataWorks(c));
    }
  }
}
