package fletch.jdbc;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Starts one real Fletch server per test class and stops it after the class. Register it as a
 * static field:
 *
 * <pre>
 * &#64;RegisterExtension
 * static final FletchServerExtension fletch = new FletchServerExtension().loading(CpuData::load);
 * </pre>
 *
 * <p>When a test (or a lifecycle method) fails, the tail of the server's log is printed to
 * stderr, because the interesting half of a failing wire test is often what the server said.
 */
public final class FletchServerExtension
    implements BeforeAllCallback,
        AfterAllCallback,
        TestExecutionExceptionHandler,
        LifecycleMethodExecutionExceptionHandler {
  private static final int LOG_TAIL_LINES = 60;

  private final FletchServer.Options options = new FletchServer.Options();
  private final List<String> requiredFlags = new ArrayList<>();
  private Preparer preparer = opts -> {};
  private Consumer<FletchServer> loader = s -> {};
  private FletchServer server;

  /** Work to do before the server starts, e.g. make a certificate and add its flags. */
  @FunctionalInterface
  public interface Preparer {
    void prepare(FletchServer.Options opts) throws Exception;
  }

  /**
   * Skip the class (a JUnit assumption, not a failure) unless {@code fletch serve --help} lists
   * every one of these flags: features still being built show up as flags.
   */
  public FletchServerExtension requiringFlags(String... flags) {
    requiredFlags.addAll(List.of(flags));
    return this;
  }

  /** Runs before the server starts; may add flags to the options. */
  public FletchServerExtension preparing(Preparer preparer) {
    this.preparer = preparer;
    return this;
  }

  /** Flags appended to {@code fletch serve}. */
  public FletchServerExtension args(String... args) {
    options.args(args);
    return this;
  }

  /** Run the server with auth on (no {@code --without-auth}). */
  public FletchServerExtension withAuth() {
    options.withAuth();
    return this;
  }

  /** The server serves TLS (see {@link FletchServer.Options#tls}). */
  public FletchServerExtension tls() {
    options.tls();
    return this;
  }

  /** Data to write once the server is up, before the class's tests run. */
  public FletchServerExtension loading(Consumer<FletchServer> loader) {
    this.loader = loader;
    return this;
  }

  /** The running server; only valid between beforeAll and afterAll. */
  public FletchServer server() {
    if (server == null) {
      throw new IllegalStateException("the Fletch server is not running");
    }
    return server;
  }

  @Override
  public void beforeAll(ExtensionContext ctx) throws Exception {
    String help = FletchServer.serveHelp();
    for (String flag : requiredFlags) {
      assumeTrue(help.contains(flag), "fletch serve --help lacks " + flag + ": not built yet");
    }
    preparer.prepare(options);
    server = FletchServer.start(options);
    loader.accept(server);
  }

  @Override
  public void afterAll(ExtensionContext ctx) {
    if (server != null) {
      server.close();
      server = null;
    }
  }

  @Override
  public void handleTestExecutionException(ExtensionContext ctx, Throwable t) throws Throwable {
    printLogTail(ctx, t);
    throw t;
  }

  @Override
  public void handleBeforeAllMethodExecutionException(ExtensionContext ctx, Throwable t)
      throws Throwable {
    printLogTail(ctx, t);
    throw t;
  }

  @Override
  public void handleBeforeEachMethodExecutionException(ExtensionContext ctx, Throwable t)
      throws Throwable {
    printLogTail(ctx, t);
    throw t;
  }

  private void printLogTail(ExtensionContext ctx, Throwable t) {
    // A failed assumption is a skip, not a failure.
    if (server == null || t instanceof org.opentest4j.TestAbortedException) {
      return;
    }
    System.err.printf(
        "%n----- %s failed (%s); last %d lines of the fletch log:%n%s%n-----%n",
        ctx.getDisplayName(), t, LOG_TAIL_LINES, server.logTail(LOG_TAIL_LINES));
  }
}
