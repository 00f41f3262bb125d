package fletch.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * DatabaseMetaData: the calls DBeaver's navigator and Tableau's schema browser make. Each maps to
 * one Flight SQL command (GetCatalogs, GetDbSchemas, GetTables, ...) read with strict Java types.
 */
class DatabaseMetaDataTest {
  @RegisterExtension
  static final FletchServerExtension fletch = new FletchServerExtension().loading(CpuData::load);

  @Test
  void getCatalogs_isTheOneFletchCatalog() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server());
        ResultSet rs = c.getMetaData().getCatalogs()) {
      assertEquals(List.of(FletchServer.CATALOG), Jdbc.strings(rs, "TABLE_CAT"));
    }
  }

  @Test
  void getSchemas_listsDatabasesAsSchemas() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server());
        ResultSet rs = c.getMetaData().getSchemas(null, null)) {
      List<String> schemas = new ArrayList<>();
      while (rs.next()) {
        assertEquals(FletchServer.CATALOG, rs.getString("TABLE_CATALOG"));
        schemas.add(rs.getString("TABLE_SCHEM"));
      }
      assertTrue(schemas.contains(CpuData.DB), "schemas " + schemas + " lack " + CpuData.DB);
      assertTrue(schemas.contains(CpuData.DEFAULT_DB), "schemas " + schemas + " lack default");
    }
  }

  @Test
  void getSchemas_withPattern_filters() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server());
        ResultSet rs = c.getMetaData().getSchemas(FletchServer.CATALOG, "jd%")) {
      assertEquals(List.of(CpuData.DB), Jdbc.strings(rs, "TABLE_SCHEM"));
    }
  }

  @Test
  void getTables_listsCpuAndMemWithType() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server());
        ResultSet rs = c.getMetaData().getTables(null, CpuData.DB, "%", null)) {
      Map<String, String> types = new LinkedHashMap<>();
      while (rs.next()) {
        assertEquals(FletchServer.CATALOG, rs.getString("TABLE_CAT"));
        assertEquals(CpuData.DB, rs.getString("TABLE_SCHEM"));
        types.put(rs.getString("TABLE_NAME"), rs.getString("TABLE_TYPE"));
      }
      assertEquals(Map.of("cpu", "table", "mem", "table"), types);
    }
  }

  @Test
  void getTables_filteredByTableType_fromGetTableTypes() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server())) {
      DatabaseMetaData md = c.getMetaData();
      List<String> types;
      try (ResultSet rs = md.getTableTypes()) {
        types = Jdbc.strings(rs, "TABLE_TYPE");
      }
      assertFalse(types.isEmpty(), "getTableTypes is empty");
      try (ResultSet rs = md.getTables(null, CpuData.DB, "cpu", types.toArray(new String[0]))) {
        assertEquals(List.of("cpu"), Jdbc.strings(rs, "TABLE_NAME"));
      }
      try (ResultSet rs = md.getTables(null, CpuData.DB, "cpu", new String[] {"VIEW"})) {
        assertFalse(rs.next(), "cpu listed as a VIEW");
      }
    }
  }

  @Test
  void getColumns_namesJdbcTypesAndOrder() throws SQLException {
    // Flight SQL has no GetColumns: the driver asks GetTables(include_schema=true) and reads each
    // table's Arrow schema (a binary IPC message) plus its ARROW:FLIGHT:SQL:* field metadata.
    Map<String, Integer> want = new LinkedHashMap<>();
    Map<String, Integer> got = new LinkedHashMap<>();
    try (Connection c = Jdbc.connect(fletch.server());
        ResultSet rs = c.getMetaData().getColumns(null, CpuData.DB, "cpu", null)) {
      int ordinal = 0;
      while (rs.next()) {
        assertEquals(CpuData.DB, rs.getString("TABLE_SCHEM"));
        assertEquals("cpu", rs.getString("TABLE_NAME"));
        assertEquals(++ordinal, rs.getInt("ORDINAL_POSITION"));
        assertNotNull(rs.getString("TYPE_NAME"));
        got.put(rs.getString("COLUMN_NAME"), rs.getInt("DATA_TYPE"));
      }
    }
    want.put("count", Types.BIGINT);
    want.put("host", Types.VARCHAR);
    want.put("note", Types.VARCHAR);
    want.put("region", Types.VARCHAR);
    want.put("time", Types.TIMESTAMP_WITH_TIMEZONE);
    want.put("up", Types.BOOLEAN);
    want.put("usage_system", Types.DOUBLE);
    want.put("usage_user", Types.DOUBLE);
    assertEquals(new java.util.TreeMap<>(want), new java.util.TreeMap<>(got));
  }

  @Test
  void getColumns_columnPattern_filters() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server());
        ResultSet rs = c.getMetaData().getColumns(null, CpuData.DB, "cpu", "usage%")) {
      List<String> cols = Jdbc.strings(rs, "COLUMN_NAME");
      java.util.Collections.sort(cols);
      assertEquals(List.of("usage_system", "usage_user"), cols);
    }
  }

  /** Server behaviour this proves: GetFlightInfo + DoGet of CommandGetPrimaryKeys, rows in schema_ref.PrimaryKeys. */
  @Test
  void getPrimaryKeys_areTheSeriesKeyTags() throws SQLException {
    List<String> keys = new ArrayList<>();
    try (Connection c = Jdbc.connect(fletch.server());
        ResultSet rs = c.getMetaData().getPrimaryKeys(null, CpuData.DB, "cpu")) {
      while (rs.next()) {
        assertEquals("cpu", rs.getString("TABLE_NAME"));
        assertEquals(CpuData.DB, rs.getString("TABLE_SCHEM"));
        assertEquals(keys.size() + 1, rs.getInt("KEY_SEQ"), "KEY_SEQ is 1-based and dense");
        keys.add(rs.getString("COLUMN_NAME"));
      }
    }
    // The series key is the tags (sorted); the server may append time.
    assertTrue(
        keys.equals(List.of("host", "region")) || keys.equals(List.of("host", "region", "time")),
        "primary key " + keys);
  }

  /**
   * Server behaviour this proves: CommandGetImportedKeys and CommandGetExportedKeys answering no rows in the
   * schema_ref.ImportedKeys / ExportedKeys schema. Note the driver lets these RPC errors out as
   * unchecked FlightRuntimeException, not SQLException.
   */
  @Test
  void getImportedAndExportedKeys_emptyNotError() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server())) {
      DatabaseMetaData md = c.getMetaData();
      try (ResultSet rs = md.getImportedKeys(null, CpuData.DB, "cpu")) {
        assertFalse(rs.next());
      }
      try (ResultSet rs = md.getExportedKeys(null, CpuData.DB, "cpu")) {
        assertFalse(rs.next());
      }
    }
  }

  @Test
  void getSqlInfo_productNameVersionAndQuote() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server())) {
      DatabaseMetaData md = c.getMetaData();
      assertEquals("Fletch", md.getDatabaseProductName());
      assertNotNull(md.getDatabaseProductVersion());
      assertFalse(md.getDatabaseProductVersion().isEmpty());
      assertEquals("\"", md.getIdentifierQuoteString());
      assertFalse(md.isReadOnly());
      assertFalse(md.supportsTransactions());
      // Answered by the driver itself, no RPC.
      assertNotNull(md.getDriverName());
      assertNotNull(md.getDriverVersion());
    }
  }

  /**
   * Getters DBeaver calls on connect. Each reads one GetSqlInfo id and casts the value to a
   * fixed Java type; an id the server leaves out makes the boolean and int getters throw
   * NullPointerException (the driver unboxes null) and a wrong union member throws
   * ClassCastException. The label says which id and union member the getter needs.
   */
  @Test
  void getSqlInfo_gettersToolsCallOnConnect() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server())) {
      DatabaseMetaData md = c.getMetaData();
      Map<String, Getter> getters = new LinkedHashMap<>();
      getters.put("getSQLKeywords: 508 string_list, non-empty", md::getSQLKeywords);
      getters.put("getNumericFunctions: 509 string_list, non-empty", md::getNumericFunctions);
      getters.put("getStringFunctions: 510 string_list, non-empty", md::getStringFunctions);
      getters.put("getSystemFunctions: 511 string_list, non-empty", md::getSystemFunctions);
      getters.put("getTimeDateFunctions: 512 string_list, non-empty", md::getTimeDateFunctions);
      getters.put("getSearchStringEscape: 513 string", md::getSearchStringEscape);
      getters.put("getExtraNameCharacters: 514 string", md::getExtraNameCharacters);
      getters.put("supportsColumnAliasing: 515 bool", md::supportsColumnAliasing);
      getters.put("nullPlusNonNullIsNull: 516 bool", md::nullPlusNonNullIsNull);
      getters.put("supportsConvert: 517 int32_to_int32_list_map", md::supportsConvert);
      getters.put("supportsTableCorrelationNames: 518 bool", md::supportsTableCorrelationNames);
      getters.put("supportsExpressionsInOrderBy: 520 bool", md::supportsExpressionsInOrderBy);
      getters.put("supportsOrderByUnrelated: 521 bool", md::supportsOrderByUnrelated);
      getters.put("supportsGroupBy: 522 int32 bitmask", md::supportsGroupBy);
      getters.put("supportsLikeEscapeClause: 523 bool", md::supportsLikeEscapeClause);
      getters.put("supportsNonNullableColumns: 524 bool", md::supportsNonNullableColumns);
      getters.put("supportsANSI92EntryLevelSQL: 526 int32 bitmask", md::supportsANSI92EntryLevelSQL);
      getters.put("supportsOuterJoins: 528 int32", md::supportsOuterJoins);
      getters.put("getSchemaTerm: 529 string", md::getSchemaTerm);
      getters.put("getProcedureTerm: 530 string", md::getProcedureTerm);
      getters.put("getCatalogTerm: 531 string", md::getCatalogTerm);
      getters.put("isCatalogAtStart: 532 bool", md::isCatalogAtStart);
      getters.put("supportsSchemasInDataManipulation: 533 int32 bitmask", md::supportsSchemasInDataManipulation);
      getters.put("supportsCatalogsInDataManipulation: 534 int32 bitmask", md::supportsCatalogsInDataManipulation);
      getters.put("supportsPositionedDelete: 535 int32 bitmask", md::supportsPositionedDelete);
      getters.put("supportsSelectForUpdate: 536 bool", md::supportsSelectForUpdate);
      getters.put("supportsStoredProcedures: 537 bool", md::supportsStoredProcedures);
      getters.put("supportsSubqueriesInComparisons: 538 int32 bitmask", md::supportsSubqueriesInComparisons);
      getters.put("supportsCorrelatedSubqueries: 539 bool", md::supportsCorrelatedSubqueries);
      getters.put("supportsUnion: 540 int32 bitmask", md::supportsUnion);
      getters.put("getMaxColumnNameLength: 543 int64", md::getMaxColumnNameLength);
      getters.put("getMaxStatementLength: 557 int64", md::getMaxStatementLength);
      getters.put("getMaxTableNameLength: 559 int64", md::getMaxTableNameLength);
      getters.put(
          "supportsTransactionIsolationLevel: 564 int32 bitmask",
          () -> md.supportsTransactionIsolationLevel(Connection.TRANSACTION_READ_COMMITTED));
      getters.put("dataDefinitionCausesTransactionCommit: 565 bool", md::dataDefinitionCausesTransactionCommit);
      getters.put("supportsBatchUpdates: 572 bool", md::supportsBatchUpdates);
      getters.put("supportsSavepoints: 573 bool", md::supportsSavepoints);
      getters.put("supportsNamedParameters: 574 bool", md::supportsNamedParameters);
      List<String> failures = new ArrayList<>();
      getters.forEach(
          (label, g) -> {
            try {
              Object v = g.get();
              if (v == null || (label.contains("non-empty") && v.toString().isEmpty())) {
                failures.add(label + " -> " + (v == null ? "null" : "empty"));
              }
            } catch (NullPointerException e) {
              failures.add(label + " -> id missing (driver unboxed null)");
            } catch (ClassCastException e) {
              failures.add(label + " -> wrong union member: " + e.getMessage());
            } catch (Exception e) {
              failures.add(label + " -> " + e);
            }
          });
      assertTrue(failures.isEmpty(), failures.size() + " getters fail:\n  " + String.join("\n  ", failures));
    }
  }

  @FunctionalInterface
  private interface Getter {
    Object get() throws Exception;
  }

  /**
   * The spec says id 562 (SQL_DEFAULT_TRANSACTION_ISOLATION) is an int32 ordinal, but the driver
   * reads it as Long (int64 member, bigint_value): an int32 answer makes this getter throw
   * ClassCastException. Only an int64 value satisfies JDBC.
   */
  @Test
  void getSqlInfo_defaultTransactionIsolation_readAsInt64() throws SQLException {
    try (Connection c = Jdbc.connect(fletch.server())) {
      assertEquals(Connection.TRANSACTION_NONE, c.getMetaData().getDefaultTransactionIsolation());
    }
  }
}
