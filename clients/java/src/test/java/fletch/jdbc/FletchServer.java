package fletch.jdbc;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * One real {@code fletch serve} process on a temporary data directory and a free port.
 *
 * <p>The server is driven only through its command line and its wire interface. Each server
 * gets a home under {@code target/fletch/} (system property {@code fletch.workdir}) holding its
 * data directory and {@code fletch.log}, its stdout and stderr. A failing test prints the log's
 * tail ({@link #logTail}); {@link #close} removes the data but keeps the log for a post-mortem.
 */
public final class FletchServer implements AutoCloseable {
  /** The one Flight SQL catalog Fletch reports; databases are its schemas. */
  public static final String CATALOG = "fletch";

  /** Time the server gets to answer GET /health with 200 after start. */
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
  /** Time a SIGTERM gets before SIGKILL; the server persists its buffer first. */
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);

  /** Time the server gets to print its admin token after /health answers. */
  private static final Duration ADMIN_TOKEN_WAIT = Duration.ofSeconds(5);

  private static final Pattern ADMIN_TOKEN = Pattern.compile("admin token: (\\S+)");
  private static volatile String serveHelp;

  /** What to start: extra flags, whether to ask for auth to be off, whether it serves TLS. */
  public static final class Options {
    final List<String> args = new ArrayList<>();
    boolean withoutAuth = true;
    boolean tls;

    /** Flags appended to {@code serve --data-dir D --addr A}. */
    public Options args(String... more) {
      args.addAll(List.of(more));
      return this;
    }

    /** Leave auth on (no {@code --without-auth}); the server then prints an admin token. */
    public Options withAuth() {
      withoutAuth = false;
      return this;
    }

    /** The server serves TLS, so /health is polled over https (certificate not checked). */
    public Options tls() {
      tls = true;
      return this;
    }
  }

  private final Path home;
  private final Path log;
  private final Options opts;
  private final HttpClient http;
  private Process proc;
  private int port;
  private long logOffset;
  private String token;

  private FletchServer(Path home, Options opts) {
    this.home = home;
    this.log = home.resolve("fletch.log");
    this.opts = opts;
    this.http = httpClient(opts.tls);
  }

  /** The binary under test: system property {@code fletch.bin}, default ../../bin/fletch. */
  public static Path binary() {
    return Paths.get(System.getProperty("fletch.bin", "../../bin/fletch")).toAbsolutePath();
  }

  /** The output of {@code fletch serve --help}, to learn which flags this build has. */
  public static synchronized String serveHelp() {
    if (serveHelp == null) {
      try {
        Process p =
            new ProcessBuilder(binary().toString(), "serve", "--help")
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(30, TimeUnit.SECONDS);
        serveHelp = out;
      } catch (IOException e) {
        throw new UncheckedIOException("run " + binary() + " serve --help", e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    return serveHelp;
  }

  /** Starts a server in a new temporary directory and waits until it is healthy. */
  public static FletchServer start(Options opts) throws IOException {
    Path work = Paths.get(System.getProperty("fletch.workdir", "target/fletch")).toAbsolutePath();
    Files.createDirectories(work);
    Path home = Files.createTempDirectory(work, "server-");
    FletchServer s = new FletchServer(home, opts);
    s.spawnAndWait(opts.withoutAuth);
    if (!opts.withoutAuth) {
      s.awaitAdminToken();
    }
    return s;
  }

  private void spawnAndWait(boolean withoutAuth) throws IOException {
    IOException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      port = freePort();
      List<String> cmd = new ArrayList<>();
      cmd.add(binary().toString());
      cmd.add("serve");
      cmd.add("--data-dir");
      cmd.add(home.resolve("data").toString());
      cmd.add("--addr");
      cmd.add("127.0.0.1:" + port);
      if (withoutAuth) {
        cmd.add("--without-auth");
      }
      cmd.addAll(opts.args);
      Files.writeString(
          log,
          "\n===== " + Instant.now() + ": " + String.join(" ", cmd) + "\n",
          StandardCharsets.UTF_8,
          java.nio.file.StandardOpenOption.CREATE,
          java.nio.file.StandardOpenOption.APPEND);
      logOffset = Files.size(log);
      proc =
          new ProcessBuilder(cmd)
              .directory(home.toFile())
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
              .start();
      try {
        waitHealthy();
        return;
      } catch (IOException e) {
        last = e;
        String said = thisStartLog();
        if (withoutAuth && said.contains("unknown flag: --without-auth")) {
          // A build from before auth existed: it has no switch to turn auth off.
          withoutAuth = false;
          attempt--;
          continue;
        }
        if (!said.toLowerCase().contains("address already in use")) {
          break;
        }
      }
    }
    throw last;
  }

  private void waitHealthy() throws IOException {
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    while (true) {
      if (!proc.isAlive()) {
        throw new IOException(
            "fletch exited with code "
                + proc.exitValue()
                + " before answering /health; its log:\n"
                + thisStartLog());
      }
      if (healthy()) {
        return;
      }
      if (System.nanoTime() > deadline) {
        kill();
        throw new IOException(
            "fletch did not answer GET /health with 200 within "
                + READY_TIMEOUT.toSeconds()
                + "s on port "
                + port
                + "; its log:\n"
                + thisStartLog());
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for /health", e);
      }
    }
  }

  private boolean healthy() {
    try {
      HttpResponse<Void> r =
          http.send(
              HttpRequest.newBuilder(httpUri("/health")).timeout(Duration.ofSeconds(2)).build(),
              HttpResponse.BodyHandlers.discarding());
      return r.statusCode() == 200;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  public int port() {
    return port;
  }

  /** The server's home: data directory, log, and whatever a test puts there (certificates). */
  public Path home() {
    return home;
  }

  /** http(s)://127.0.0.1:PORT + path. */
  public URI httpUri(String path) {
    return URI.create((opts.tls ? "https" : "http") + "://127.0.0.1:" + port + path);
  }

  /**
   * A JDBC URL for this server, plaintext. {@code params} are appended as URL properties, e.g.
   * {@code "database=jdbc"}; an unknown property becomes a gRPC header on every call.
   */
  public String jdbcUrl(String... params) {
    StringBuilder b =
        new StringBuilder("jdbc:arrow-flight-sql://127.0.0.1:")
            .append(port)
            .append("?useEncryption=")
            .append(opts.tls);
    for (String p : params) {
      b.append('&').append(p);
    }
    return b.toString();
  }

  /** Gives the server a moment to print its admin token; a server without auth prints none. */
  private void awaitAdminToken() {
    long deadline = System.nanoTime() + ADMIN_TOKEN_WAIT.toNanos();
    while (adminToken().isEmpty() && System.nanoTime() < deadline) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** The admin token the server printed on first start ({@code admin token: <token>}). */
  public Optional<String> adminToken() {
    if (token == null) {
      Matcher m = ADMIN_TOKEN.matcher(readLog());
      if (m.find()) {
        token = m.group(1);
      }
    }
    return Optional.ofNullable(token);
  }

  /** POSTs line protocol to /api/v3/write_lp?db=DB; fails unless the server answers 2xx. */
  public void writeLineProtocol(String db, String lines) {
    HttpRequest.Builder req =
        HttpRequest.newBuilder(httpUri("/api/v3/write_lp?db=" + db + "&precision=nanosecond"))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "text/plain; charset=utf-8")
            .POST(HttpRequest.BodyPublishers.ofString(lines, StandardCharsets.UTF_8));
    adminToken().ifPresent(t -> req.header("Authorization", "Bearer " + t));
    try {
      HttpResponse<String> r = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() / 100 != 2) {
        throw new IllegalStateException(
            "write_lp to " + db + " answered " + r.statusCode() + ": " + r.body());
      }
    } catch (IOException e) {
      throw new UncheckedIOException("write_lp to " + db, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** The last {@code lines} lines of the server's log, across restarts. */
  public String logTail(int lines) {
    String[] all = readLog().split("\n", -1);
    int from = Math.max(0, all.length - lines);
    return String.join("\n", java.util.Arrays.asList(all).subList(from, all.length));
  }

  private String readLog() {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  private String thisStartLog() {
    String all = readLog();
    return logOffset <= all.length() ? all.substring((int) logOffset) : all;
  }

  /** SIGKILL, for cleanup; never throws. */
  public void kill() {
    if (proc != null && proc.isAlive()) {
      proc.destroyForcibly();
      try {
        proc.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** SIGTERM, then SIGKILL if the server does not exit in time; removes the data directory. */
  @Override
  public void close() {
    if (proc != null && proc.isAlive()) {
      proc.destroy();
      try {
        if (!proc.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
          kill();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        kill();
      }
    }
    deleteTree(home.resolve("data"));
  }

  private static void deleteTree(Path root) {
    try (var paths = Files.walk(root)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // A leftover temp directory is not worth failing a test for.
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static HttpClient httpClient(boolean tls) {
    HttpClient.Builder b =
        HttpClient.newBuilder()
            // HTTP/1.1: an h2c upgrade would look like gRPC to the server's connection mux.
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5));
    if (tls) {
      b.sslContext(trustAll());
    }
    return b.build();
  }

  /** The tests generate their own self-signed certificate; checking it over HTTP adds nothing. */
  private static SSLContext trustAll() {
    TrustManager[] all = {
      new X509TrustManager() {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public X509Certificate[] getAcceptedIssuers() {
          return new X509Certificate[0];
        }
      }
    };
    try {
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(null, all, new SecureRandom());
      return ctx;
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
