package fletch.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Names as DatabaseMetaData reports them: GetTables lists table {@code cpu} in catalog {@value
 * FletchServer#CATALOG}, schema {@value CpuData#DB}, so SQL editors (DBeaver) write {@code
 * jdbc.cpu} or {@code fletch.jdbc.cpu} and send no {@code database} header. This class has a
 * server of its own and no test here sends the header, so nothing else has touched database
 * {@value CpuData#DB} in the query engine before the qualified name does.
 *
 * <p>Server behaviour this proves: the engine must know every database's tables whatever the header says, and
 * DuckDB's catalog must answer to the name {@value FletchServer#CATALOG}.
 */
class QualifiedNameTest {
  @RegisterExtension
  static final FletchServerExtension fletch = new FletchServerExtension().loading(CpuData::load);

  private static void assertCount(String table) throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server());
        ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM " + table)) {
      assertTrue(rs.next());
      assertEquals(CpuData.ROWS.size(), rs.getLong(1), table);
    }
  }

  @Test
  void schemaDotTable_withoutDatabaseHeader() throws SQLException {
    assertCount(CpuData.DB + ".cpu");
  }

  @Test
  void catalogDotSchemaDotTable_withoutDatabaseHeader() throws SQLException {
    assertCount(FletchServer.CATALOG + "." + CpuData.DB + ".cpu");
  }
}
