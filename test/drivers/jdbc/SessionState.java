// JDBC (pgjdbc) at its defaults through pgsift in transaction mode: it logs
// in with the startup parameters it always sends (extra_float_digits=3 among
// them), and each connection's SET search_path / SET myapp.tenant_id sticks
// for that connection while threads share a smaller pool; a SET rolled back
// is gone. Prepared statements run after prepareThreshold executions.
//   java -cp postgresql.jar:. SessionState URL USER PASSWORD THREADS ROUNDS
// Prints "ok N" and exits 0 when every value seen was the connection's own.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

public class SessionState {
    static final List<String> problems = Collections.synchronizedList(new ArrayList<>());
    static final AtomicLong checks = new AtomicLong();

    static void expect(String what, Object got, Object want) {
        checks.incrementAndGet();
        if (!want.equals(got))
            problems.add(what + ": got " + got + ", want " + want);
    }

    static void work(String url, String user, String password, int i, int rounds) {
        try (Connection c = DriverManager.getConnection(url, user, password)) {
            try (Statement st = c.createStatement()) {
                st.execute("SET search_path TO s" + i + ", public");
                st.execute("SET myapp.tenant_id = 't" + i + "'");
            }
            PreparedStatement probe = c.prepareStatement(
                "select current_setting('search_path'), current_setting('myapp.tenant_id'), "
                + "current_setting('extra_float_digits'), ?::int");
            for (int k = 0; k < rounds; k++) {
                probe.setInt(1, k);
                try (ResultSet rs = probe.executeQuery()) {
                    rs.next();
                    expect(i + "/" + k + " search_path", rs.getString(1), "s" + i + ", public");
                    expect(i + "/" + k + " tenant", rs.getString(2), "t" + i);
                    expect(i + "/" + k + " extra_float_digits", rs.getString(3), "3");
                    expect(i + "/" + k + " param", rs.getInt(4), k);
                }
                if (k % 3 == 0) {
                    c.setAutoCommit(false);
                    try (Statement st = c.createStatement()) {
                        st.execute("SET myapp.tenant_id = 'gone" + i + "'");
                    }
                    c.rollback();
                    c.setAutoCommit(true);
                }
            }
        } catch (Exception e) {
            problems.add("thread " + i + ": " + e);
        }
    }

    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2];
        int threads = Integer.parseInt(args[3]), rounds = Integer.parseInt(args[4]);
        List<Thread> ts = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            final int n = i;
            Thread t = new Thread(() -> work(url, user, password, n, rounds));
            ts.add(t);
            t.start();
        }
        for (Thread t : ts)
            t.join();
        if (!problems.isEmpty()) {
            for (String p : problems.subList(0, Math.min(20, problems.size())))
                System.out.println(p);
            System.exit(1);
        }
        System.out.println("ok " + checks.get());
    }
}
