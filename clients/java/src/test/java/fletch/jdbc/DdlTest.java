package fletch.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import fletch.jdbc.CpuData.Row;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Statements without a result set. The driver tells them from queries by the prepare result: an
 * empty dataset_schema means "update", and the driver then sends
 * DoPut(CommandPreparedStatementUpdate) and reads a DoPutUpdateResult from the put result.
 *
 * <p>A class of its own so the whole of it can be switched off while the server has no DDL.
 */
class DdlTest {
  @RegisterExtension
  static final FletchServerExtension fletch = new FletchServerExtension().loading(CpuData::load);

  @Test
  void executeUpdate_createAndDropView() throws SQLException {
    List<String> hot =
        CpuData.where(r -> r.usageUser() > 25).stream().map(Row::note).collect(Collectors.toList());
    try (Connection c = Jdbc.connectDb(fletch.server()); Statement st = c.createStatement()) {
      assertEquals(
          0, st.executeUpdate("CREATE VIEW hot AS SELECT note, time FROM cpu WHERE usage_user > 25"));
      try (ResultSet rs = st.executeQuery("SELECT note FROM hot ORDER BY time")) {
        assertEquals(hot, Jdbc.strings(rs, "note"));
      }
      assertFalse(st.execute("DROP VIEW hot"), "execute(DROP) must say: no result set");
      assertThrows(SQLException.class, () -> st.executeQuery("SELECT * FROM hot"));
    }
  }

  @Test
  void executeUpdate_delete_returnsTheRowsDeleted() throws SQLException {
    // jdbc.mem (CpuData.MEM_LINES): one row for host a, one for host b; no other test here reads it.
    try (Connection c = Jdbc.connectDb(fletch.server()); Statement st = c.createStatement()) {
      assertEquals(1, st.executeUpdate("DELETE FROM mem WHERE host = 'a'"));
      assertEquals(0, st.executeUpdate("DELETE FROM mem WHERE host = 'a'"));
      try (ResultSet rs = st.executeQuery("SELECT host FROM mem")) {
        assertEquals(List.of("b"), Jdbc.strings(rs, "host"));
      }
    }
  }

  @Test
  void execute_dropUnknownView_sqlException() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server()); Statement st = c.createStatement()) {
      SQLException e = assertThrows(SQLException.class, () -> st.execute("DROP VIEW nosuchview"));
      org.junit.jupiter.api.Assertions.assertTrue(
          Jdbc.messages(e).contains("nosuchview"), Jdbc.messages(e));
    }
  }
}
