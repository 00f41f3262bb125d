package fletch.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fletch.example.Example;
import fletch.jdbc.CpuData.Row;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The JDBC example program ({@code src/main/java/fletch/example/Example.java}) against a real
 * server with auth on, as a user runs it: host, token and database on its command line. Its
 * printed rows are compared with figures computed from {@link CpuData#ROWS} in Java.
 */
class ExampleTest {
  @RegisterExtension
  static final FletchServerExtension fletch =
      new FletchServerExtension().requiringFlags("--without-auth").withAuth().loading(CpuData::load);

  private static String[] args(String... more) {
    FletchServer s = fletch.server();
    List<String> a =
        new ArrayList<>(
            List.of(
                "--host", "127.0.0.1:" + s.port(),
                "--token", AuthTest.adminToken(s),
                "--database", CpuData.DB));
    a.addAll(List.of(more));
    return a.toArray(String[]::new);
  }

  private static List<String> runExample(String... args) throws SQLException {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
      int rows = Example.run(args, out);
      List<String> lines = buf.toString(StandardCharsets.UTF_8).lines().toList();
      assertEquals(rows + 1, lines.size(), "a header line, then one line per row");
      return lines;
    }
  }

  @Test
  void defaultQuery_printsPerHostFiguresOfTheWrittenRows() throws SQLException {
    List<String> lines = runExample(args());

    Map<String, List<Row>> byHost = new TreeMap<>();
    for (Row r : CpuData.ROWS) {
      byHost.computeIfAbsent(r.host(), h -> new ArrayList<>()).add(r);
    }
    List<String> want = new ArrayList<>(List.of("host\tn\tavg_usage_user\tlast"));
    byHost.forEach(
        (host, rows) ->
            want.add(
                String.join(
                    "\t",
                    host,
                    Integer.toString(rows.size()),
                    Double.toString(rows.stream().mapToDouble(Row::usageUser).sum() / rows.size()),
                    rows.stream().max(Comparator.comparingLong(Row::timeNs)).orElseThrow().time().toString())));
    assertEquals(want, lines);
  }

  @Test
  void sqlArgument_printsEveryColumnAndNulls() throws SQLException {
    List<String> lines =
        runExample(args("--sql", "SELECT host, note, NULL AS nothing, time FROM cpu WHERE host = 'c'"));
    Row c = CpuData.where(r -> r.host().equals("c")).get(0);
    assertEquals(List.of("host\tnote\tnothing\ttime", "c\t" + c.note() + "\tNULL\t" + c.time()), lines);
  }

  @Test
  void wrongToken_failsWithTheServersMessage() {
    String[] a = args();
    a[3] = "fletch_wrong";
    SQLException e = assertThrows(SQLException.class, () -> Example.run(a, System.out));
    assertTrue(Jdbc.messages(e).toLowerCase().contains("unauthenticated"), Jdbc.messages(e));
  }
}
