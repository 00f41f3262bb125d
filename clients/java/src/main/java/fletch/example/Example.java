package fletch.example;

import java.io.PrintStream;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Connects to Fletch with the Arrow Flight SQL JDBC driver, runs one query and prints its rows,
 * tab-separated under a header line.
 *
 * <pre>
 * mvn -q compile exec:java -Dexec.mainClass=fletch.example.Example \
 *     -Dexec.args="--host 127.0.0.1:8181 --database mydb --sql 'SELECT * FROM cpu LIMIT 5'"
 * </pre>
 *
 * <p>Any tool that only takes a URL (DBeaver, Tableau) connects the same way: {@code
 * jdbc:arrow-flight-sql://HOST:PORT?useEncryption=false&database=DB&token=TOKEN}. The driver
 * sends {@code database} as a gRPC header on every call and {@code token} as a Bearer token.
 */
public final class Example {
  /** What the example runs without {@code --sql}: per-host figures of the TSBS-style cpu table. */
  public static final String DEFAULT_SQL =
      "SELECT host, count(*) AS n, avg(usage_user) AS avg_usage_user, max(time) AS last"
          + " FROM cpu GROUP BY host ORDER BY host";

  private Example() {}

  public static void main(String[] args) throws SQLException {
    run(args, System.out);
  }

  /**
   * Runs the example with command-line {@code args} ({@code --host HOST:PORT} default
   * 127.0.0.1:8181, {@code --token T}, {@code --database DB}, {@code --sql SQL}, {@code --tls})
   * and prints to {@code out}. Returns the number of rows printed.
   */
  public static int run(String[] args, PrintStream out) throws SQLException {
    String host = "127.0.0.1:8181";
    String token = "";
    String database = "";
    String sql = DEFAULT_SQL;
    boolean tls = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--host" -> host = args[++i];
        case "--token" -> token = args[++i];
        case "--database" -> database = args[++i];
        case "--sql" -> sql = args[++i];
        case "--tls" -> tls = true;
        default -> throw new IllegalArgumentException(
            "unknown argument " + args[i] + "; want --host, --token, --database, --sql, --tls");
      }
    }
    try (Connection c = DriverManager.getConnection(url(host, token, database, tls));
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(sql)) {
      ResultSetMetaData md = rs.getMetaData();
      List<String> header = new ArrayList<>();
      for (int i = 1; i <= md.getColumnCount(); i++) {
        header.add(md.getColumnLabel(i));
      }
      out.println(String.join("\t", header));
      int rows = 0;
      while (rs.next()) {
        List<String> cells = new ArrayList<>();
        for (int i = 1; i <= md.getColumnCount(); i++) {
          cells.add(cell(rs, md, i));
        }
        out.println(String.join("\t", cells));
        rows++;
      }
      return rows;
    }
  }

  /**
   * The JDBC URL. {@code useEncryption} defaults to true in this driver, so plaintext must be
   * asked for; with TLS the JVM's trust store verifies the server (add {@code
   * &disableCertificateVerification=true} only for a self-signed test server).
   */
  static String url(String host, String token, String database, boolean tls) {
    StringBuilder b =
        new StringBuilder("jdbc:arrow-flight-sql://").append(host).append("?useEncryption=").append(tls);
    if (!database.isEmpty()) {
      b.append("&database=").append(URLEncoder.encode(database, StandardCharsets.UTF_8));
    }
    if (!token.isEmpty()) {
      b.append("&token=").append(URLEncoder.encode(token, StandardCharsets.UTF_8));
    }
    return b.toString();
  }

  /**
   * One value as text; NULL prints as {@code NULL}. Timestamps are read as {@link Instant}
   * (UTC, nanoseconds kept): the 18.3.0 driver's getObject/getString on a timestamp[ns, UTC]
   * column throws "not implemented".
   */
  private static String cell(ResultSet rs, ResultSetMetaData md, int i) throws SQLException {
    int type = md.getColumnType(i);
    Object v =
        (type == Types.TIMESTAMP || type == Types.TIMESTAMP_WITH_TIMEZONE)
            ? rs.getObject(i, Instant.class)
            : rs.getString(i);
    return rs.wasNull() || v == null ? "NULL" : v.toString();
  }
}
