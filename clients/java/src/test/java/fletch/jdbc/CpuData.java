package fletch.jdbc;

import java.time.Instant;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * The known data every test reads back: a table {@code cpu} (tags host, region; fields
 * usage_user, usage_system float, count integer, up boolean, note string) in database {@value
 * #DB}, plus a table {@code mem} there and a one-row {@code cpu} in the default database, so a
 * test can tell which database a query reached.
 *
 * <p>This class is the tests' oracle: expected results are computed from {@link #ROWS} in Java,
 * never by asking the server.
 */
public final class CpuData {
  /** The database the tests name with the {@code database} property. */
  public static final String DB = "jdbc";
  /** Fletch's default database: what a query reaches without a {@code database} header. */
  public static final String DEFAULT_DB = "default";
  /** The host of the one row of {@code cpu} in the default database. */
  public static final String DEFAULT_ONLY_HOST = "only-in-default";

  /** 2026-01-01T00:00:00Z in nanoseconds since the epoch. */
  static final long T0 = 1_767_225_600_000_000_000L;

  /** One line of {@code cpu}. {@code timeNs} is nanoseconds since the epoch, UTC. */
  public record Row(
      String host,
      String region,
      double usageUser,
      double usageSystem,
      long count,
      boolean up,
      String note,
      long timeNs) {
    public Instant time() {
      return Instant.ofEpochSecond(Math.floorDiv(timeNs, 1_000_000_000L), Math.floorMod(timeNs, 1_000_000_000L));
    }

    public long timeMillis() {
      return Math.floorDiv(timeNs, 1_000_000L);
    }
  }

  /**
   * The rows of {@code jdbc.cpu}, in time order. Sub-millisecond digits check that nanoseconds
   * survive; one count is beyond a double's 53 bits; one note is not ASCII and one holds a quote.
   */
  public static final List<Row> ROWS =
      List.of(
          new Row("a", "eu", 10.5, 1.25, 3, true, "first", T0 + 123_456_789L),
          new Row("b", "us", 20.25, 2.5, -7, false, "say \"hi\"", T0 + 1_000_000_001L),
          new Row("a", "eu", 30.75, 3.0, 0, true, "ünïcödé ✓", T0 + 60_000_000_999L),
          new Row("c", "ap", -1.5, 0.0, 9_007_199_254_740_993L, false, "big", T0 + 3_600_000_000_000L),
          new Row("b", "us", 55.0, 5.5, 42, true, "b two", T0 + 86_400_000_000_001L));

  /** The rows of {@code jdbc.mem}: host tag, used integer field. */
  static final String MEM_LINES =
      "mem,host=a used=100i " + (T0 + 1) + "\nmem,host=b used=200i " + (T0 + 2) + "\n";

  private CpuData() {}

  /** Writes all the data over HTTP line protocol. */
  public static void load(FletchServer server) {
    server.writeLineProtocol(DB, lineProtocol(ROWS));
    server.writeLineProtocol(DB, MEM_LINES);
    server.writeLineProtocol(
        DEFAULT_DB,
        lineProtocol(List.of(new Row(DEFAULT_ONLY_HOST, "nowhere", 1, 1, 1, true, "default", T0))));
  }

  /** The rows matching p, in time order. */
  public static List<Row> where(Predicate<Row> p) {
    return ROWS.stream().filter(p).collect(Collectors.toList());
  }

  static String lineProtocol(List<Row> rows) {
    StringBuilder b = new StringBuilder();
    for (Row r : rows) {
      b.append("cpu,host=")
          .append(tag(r.host()))
          .append(",region=")
          .append(tag(r.region()))
          .append(" usage_user=")
          .append(r.usageUser())
          .append(",usage_system=")
          .append(r.usageSystem())
          .append(",count=")
          .append(r.count())
          .append("i,up=")
          .append(r.up())
          .append(",note=\"")
          .append(r.note().replace("\\", "\\\\").replace("\"", "\\\""))
          .append("\" ")
          .append(r.timeNs())
          .append('\n');
    }
    return b.toString();
  }

  private static String tag(String v) {
    return v.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ");
  }
}
