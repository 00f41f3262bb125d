package fletch.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Errors reach the JDBC user as SQLException carrying DuckDB's own words, and the connection
 * stays usable afterwards.
 *
 * <p>Server behaviour this proves: every statement goes through CreatePreparedStatement, which must fail with
 * InvalidArgument/NotFound carrying DuckDB's message (today it answers Unimplemented).
 */
class ErrorTest {
  @RegisterExtension
  static final FletchServerExtension fletch = new FletchServerExtension().loading(CpuData::load);

  @Test
  void executeQuery_syntaxError_sqlExceptionWithDuckDbText() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server()); Statement st = c.createStatement()) {
      SQLException e = assertThrows(SQLException.class, () -> st.executeQuery("SELEC host FROM cpu"));
      assertTrue(Jdbc.messages(e).contains("syntax error at or near \"SELEC\""), Jdbc.messages(e));
      assertConnectionStillWorks(c);
    }
  }

  @Test
  void executeQuery_unknownTable_sqlExceptionNamingIt() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server()); Statement st = c.createStatement()) {
      SQLException e = assertThrows(SQLException.class, () -> st.executeQuery("SELECT * FROM nosuchtable"));
      assertTrue(Jdbc.messages(e).contains("nosuchtable"), Jdbc.messages(e));
      assertConnectionStillWorks(c);
    }
  }

  @Test
  void executeQuery_unknownColumn_sqlExceptionWithBinderText() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server()); Statement st = c.createStatement()) {
      SQLException e = assertThrows(SQLException.class, () -> st.executeQuery("SELECT nosuchcol FROM cpu"));
      assertTrue(Jdbc.messages(e).contains("nosuchcol"), Jdbc.messages(e));
      assertConnectionStillWorks(c);
    }
  }

  @Test
  void prepareStatement_badSql_failsAtPrepare() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server())) {
      SQLException e = assertThrows(SQLException.class, () -> c.prepareStatement("SELECT FROM WHERE ?"));
      assertTrue(Jdbc.messages(e).contains("syntax error"), Jdbc.messages(e));
      assertConnectionStillWorks(c);
    }
  }

  @Test
  void executeQuery_unknownDatabase_sqlExceptionNamingIt() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server(), "database=nosuchdb");
        Statement st = c.createStatement()) {
      SQLException e = assertThrows(SQLException.class, () -> st.executeQuery("SELECT * FROM cpu"));
      assertTrue(Jdbc.messages(e).contains("nosuchdb"), Jdbc.messages(e));
    }
  }

  @Test
  void executeQuery_fileAccess_refused() throws SQLException {
    try (Connection c = Jdbc.connectDb(fletch.server()); Statement st = c.createStatement()) {
      assertThrows(SQLException.class, () -> st.executeQuery("SELECT * FROM read_csv('/etc/passwd')"));
      assertConnectionStillWorks(c);
    }
  }

  private static void assertConnectionStillWorks(Connection c) throws SQLException {
    try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM cpu")) {
      assertTrue(rs.next());
      assertEquals(CpuData.ROWS.size(), rs.getLong(1));
    }
  }
}
