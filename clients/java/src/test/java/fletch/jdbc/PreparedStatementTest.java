package fletch.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fletch.jdbc.CpuData.Row;
import java.sql.Connection;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * PreparedStatement with parameters. The driver binds each value into an Arrow vector of the
 * type the server declared in the prepare result's parameter_schema, sends it with
 * DoPut(CommandPreparedStatementQuery), then GetFlightInfo + DoGet.
 *
 * <p>Server behaviour this proves: prepared statements (see QueryTest) plus a parameter_schema with one concrete field
 * per placeholder (utf8, float64, int64, bool, timestamp[ms]; driver 18.3.0 writes a Timestamp
 * parameter as epoch milliseconds whatever unit is declared), and DoPut(CommandPreparedStatementQuery)
 * answering a DoPutPreparedStatementResult whose handle carries the bound values.
 */
class PreparedStatementTest {
  @RegisterExtension
  static final FletchServerExtension fletch = new FletchServerExtension().loading(CpuData::load);

  @Test
  void executeQuery_stringDoubleLongParameters_reExecutedWithNewValues() throws SQLException {
    String sql =
        "SELECT note, usage_user, count, time FROM cpu"
            + " WHERE host = ? AND usage_user > ? AND count >= ? ORDER BY time";
    try (Connection c = Jdbc.connectDb(fletch.server());
        PreparedStatement ps = c.prepareStatement(sql)) {
      Object[][] cases = {{"a", 20.0, 0L}, {"b", 0.0, -100L}, {"b", 0.0, 0L}, {"c", 100.0, 0L}};
      for (Object[] p : cases) {
        String host = (String) p[0];
        double minUsage = (Double) p[1];
        long minCount = (Long) p[2];
        ps.setString(1, host);
        ps.setDouble(2, minUsage);
        ps.setLong(3, minCount);
        List<String> want =
            notes(r -> r.host().equals(host) && r.usageUser() > minUsage && r.count() >= minCount);
        try (ResultSet rs = ps.executeQuery()) {
          assertEquals(want, Jdbc.strings(rs, "note"), "host=" + host + " usage>" + minUsage + " count>=" + minCount);
        }
      }
    }
  }

  @Test
  void executeQuery_booleanParameter() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server());
        PreparedStatement ps = c.prepareStatement("SELECT note FROM cpu WHERE up = ? ORDER BY time")) {
      for (boolean up : new boolean[] {true, false}) {
        ps.setBoolean(1, up);
        try (ResultSet rs = ps.executeQuery()) {
          assertEquals(notes(r -> r.up() == up), Jdbc.strings(rs, "note"), "up=" + up);
        }
      }
    }
  }

  @Test
  void executeQuery_intParameter() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server());
        PreparedStatement ps = c.prepareStatement("SELECT note FROM cpu WHERE count = ?")) {
      ps.setInt(1, 42);
      try (ResultSet rs = ps.executeQuery()) {
        assertEquals(notes(r -> r.count() == 42), Jdbc.strings(rs, "note"));
      }
    }
  }

  @Test
  void executeQuery_timestampParameter_comparesWithTime() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server());
        PreparedStatement ps =
            c.prepareStatement("SELECT note FROM cpu WHERE time >= ? ORDER BY time")) {
      // Millisecond boundaries: java.sql.Timestamp parameters reach the driver as epoch millis.
      for (Instant from :
          List.of(
              Instant.parse("2026-01-01T00:00:00.124Z"),
              Instant.parse("2026-01-01T00:01:00Z"),
              Instant.parse("2026-01-02T00:00:00Z"))) {
        ps.setTimestamp(1, Timestamp.from(from));
        try (ResultSet rs = ps.executeQuery()) {
          assertEquals(
              notes(r -> !r.time().isBefore(from)), Jdbc.strings(rs, "note"), "time >= " + from);
        }
      }
    }
  }

  @Test
  void executeQuery_allTypesTogether_returnsTheOneRow() throws SQLException {
    Row want = CpuData.ROWS.get(2);
    try (Connection c = Jdbc.connectDb(fletch.server());
        PreparedStatement ps =
            c.prepareStatement(
                "SELECT host, usage_user, count, up, time FROM cpu"
                    + " WHERE host = ? AND count = ? AND usage_user = ? AND up = ? AND time >= ?")) {
      ps.setString(1, want.host());
      ps.setLong(2, want.count());
      ps.setDouble(3, want.usageUser());
      ps.setBoolean(4, want.up());
      ps.setTimestamp(5, new Timestamp(want.timeMillis()));
      try (ResultSet rs = ps.executeQuery()) {
        assertTrue(rs.next(), "no row for " + want);
        assertEquals(want.host(), rs.getString(1));
        assertEquals(want.usageUser(), rs.getDouble(2));
        assertEquals(want.count(), rs.getLong(3));
        assertEquals(want.up(), rs.getBoolean(4));
        assertEquals(want.time(), rs.getObject(5, Instant.class));
        assertFalse(rs.next());
      }
    }
  }

  @Test
  void parameterMetaData_oneConcreteTypePerPlaceholder() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server());
        PreparedStatement ps =
            c.prepareStatement(
                "SELECT note FROM cpu WHERE host = ? AND usage_user > ? AND count >= ? AND up = ?")) {
      ParameterMetaData md = ps.getParameterMetaData();
      assertEquals(4, md.getParameterCount());
      assertEquals(Types.VARCHAR, md.getParameterType(1), "host = ?");
      assertEquals(Types.DOUBLE, md.getParameterType(2), "usage_user > ?");
      assertEquals(Types.BIGINT, md.getParameterType(3), "count >= ?");
      assertEquals(Types.BOOLEAN, md.getParameterType(4), "up = ?");
    }
  }

  @Test
  void prepareStatement_noParameters_executesTwice() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server());
        PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM cpu")) {
      assertEquals(0, ps.getParameterMetaData().getParameterCount());
      for (int i = 0; i < 2; i++) {
        try (ResultSet rs = ps.executeQuery()) {
          assertTrue(rs.next());
          assertEquals(CpuData.ROWS.size(), rs.getLong(1));
        }
      }
    }
  }

  @Test
  void prepareStatement_resultSetMetaDataBeforeExecute() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server());
        PreparedStatement ps = c.prepareStatement("SELECT host, count FROM cpu WHERE up = ?")) {
      // DBeaver asks for the columns before running: they come from dataset_schema.
      var md = ps.getMetaData();
      assertEquals(2, md.getColumnCount());
      assertEquals("host", md.getColumnName(1));
      assertEquals(Types.BIGINT, md.getColumnType(2));
    }
  }

  private static List<String> notes(java.util.function.Predicate<Row> p) {
    return new ArrayList<>(CpuData.where(p).stream().map(Row::note).collect(Collectors.toList()));
  }
}
