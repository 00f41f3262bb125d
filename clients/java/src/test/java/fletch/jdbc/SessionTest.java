package fletch.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Connection properties that become session calls: {@code catalog=X} makes the driver send the
 * Flight action SetSessionOptions {catalog: X} while connecting, and CloseSession when the
 * connection closes. Other unknown properties ({@code database=}) become plain gRPC headers.
 *
 * <p>Server behaviour this proves: the SetSessionOptions and CloseSession actions (the catalog query test also needs
 * prepared statements).
 */
class SessionTest {
  @RegisterExtension
  static final FletchServerExtension fletch = new FletchServerExtension().loading(CpuData::load);

  @Test
  void connect_catalogProperty_thenQueryAndClose() throws SQLException {
    Connection c = Jdbc.connectDb(fletch.server(), "catalog=" + FletchServer.CATALOG);
    try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM cpu")) {
      assertTrue(rs.next());
      assertEquals(CpuData.ROWS.size(), rs.getLong(1));
    }
    closeWithSession(c);
  }

  @Test
  void connect_catalogProperty_thenMetadataAndClose() throws SQLException {
    Connection c = Jdbc.connectDb(fletch.server(), "catalog=" + FletchServer.CATALOG);
    try (ResultSet rs = c.getMetaData().getTables(FletchServer.CATALOG, CpuData.DB, "cpu", null)) {
      assertEquals(java.util.List.of("cpu"), Jdbc.strings(rs, "TABLE_NAME"));
    }
    closeWithSession(c);
  }

  /**
   * Closes a connection made with {@code catalog=}. Driver 18.3.0 closes its client handler
   * twice, so it sends CloseSession once to the server and then once more on the already shut
   * channel, and Connection.close() throws SQLException "Channel shutdown invoked" (apache/arrow-java
   * GH-863, fixed in 19.0.0). That exception therefore means the server's CloseSession succeeded:
   * had the first call failed, its error would have been thrown instead.
   */
  private static void closeWithSession(Connection c) {
    try {
      c.close();
    } catch (SQLException e) {
      assertTrue(
          Jdbc.messages(e).contains("Channel shutdown invoked"),
          "CloseSession failed on the server: " + Jdbc.messages(e));
    }
  }

  @Test
  void connect_unknownCatalog_fails() {
    // SetSessionOptionsResult with an error for "catalog" makes the driver refuse to connect,
    // which beats failing later with a confusing "table not found".
    SQLException e =
        assertThrows(SQLException.class, () -> Jdbc.connect(fletch.server(), "catalog=nosuch").close());
    assertTrue(Jdbc.messages(e).contains("catalog"), Jdbc.messages(e));
  }

  @Test
  void connect_withoutCatalog_openAndCloseWithoutAnyCall() throws SQLException {
    // No catalog, no credentials: the driver makes no RPC on connect or on close.
    Connection c = Jdbc.connect(fletch.server());
    org.junit.jupiter.api.Assertions.assertFalse(c.isClosed());
    c.close();
    assertTrue(c.isClosed());
  }
}
