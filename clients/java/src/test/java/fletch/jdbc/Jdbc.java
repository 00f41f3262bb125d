package fletch.jdbc;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/** Small JDBC conveniences shared by the tests. */
final class Jdbc {
  private Jdbc() {}

  /** Opens a connection through DriverManager, exactly as a tool that only has a URL does. */
  static Connection connect(FletchServer server, String... params) throws SQLException {
    return DriverManager.getConnection(server.jdbcUrl(params));
  }

  /** Opens a connection to database {@link CpuData#DB} (the {@code database} header). */
  static Connection connectDb(FletchServer server, String... more) throws SQLException {
    String[] params = new String[more.length + 1];
    params[0] = "database=" + CpuData.DB;
    System.arraycopy(more, 0, params, 1, more.length);
    return connect(server, params);
  }

  /** Reads column {@code col} of every row as a String (by label). */
  static List<String> strings(ResultSet rs, String col) throws SQLException {
    List<String> out = new ArrayList<>();
    while (rs.next()) {
      out.add(rs.getString(col));
    }
    return out;
  }

  /** The whole message chain of an exception, for asserting that a cause's text reached us. */
  static String messages(Throwable t) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      b.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage()).append(" | ");
    }
    return b.toString();
  }
}
