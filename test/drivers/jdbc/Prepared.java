// JDBC (pgjdbc) through pgsift: server-side prepared statements after
// prepareThreshold executions (default 5, or as the URL says), several
// connections sharing a smaller pool.
//   java -cp postgresql.jar:. Prepared URL USER PASSWORD THREADS ROUNDS
// Prints "ok N" and exits 0 when every result was the thread's own.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

public class Prepared {
    static final List<String> problems = Collections.synchronizedList(new ArrayList<>());
    static final AtomicLong checks = new AtomicLong();

    static void expect(String what, Object got, Object want) {
        checks.incrementAndGet();
        if (!want.equals(got))
            problems.add(what + ": got " + got + ", want " + want);
    }

    static void work(String url, String user, String password, int i, int rounds) {
        try (Connection c = DriverManager.getConnection(url, user, password)) {
            PreparedStatement echo = c.prepareStatement("select ?::text || '/j'");
            PreparedStatement sum = c.prepareStatement("select ?::int + ?::int");
            PreparedStatement cast = c.prepareStatement("select (?::text)::int");
            for (int k = 0; k < rounds; k++) {
                String tok = "j" + i + "-" + k;
                echo.setString(1, tok);
                try (ResultSet rs = echo.executeQuery()) {
                    rs.next();
                    expect(tok + " echo", rs.getString(1), tok + "/j");
                }
                sum.setInt(1, k);
                sum.setInt(2, i);
                try (ResultSet rs = sum.executeQuery()) {
                    rs.next();
                    expect(tok + " sum", rs.getInt(1), k + i);
                }
                if (k % 4 == i % 4) {
                    cast.setString(1, tok);
                    try (ResultSet rs = cast.executeQuery()) {
                        problems.add(tok + ": bad cast passed");
                    } catch (SQLException e) {
                        checks.incrementAndGet();
                        if (!"22P02".equals(e.getSQLState()) || !e.getMessage().contains(tok))
                            problems.add(tok + ": wrong error " + e.getSQLState() + " " + e.getMessage());
                    }
                }
                if (k % 5 == 0) {
                    c.setAutoCommit(false);
                    echo.setString(1, tok + "tx");
                    try (ResultSet rs = echo.executeQuery()) {
                        rs.next();
                        expect(tok + " tx", rs.getString(1), tok + "tx/j");
                    }
                    c.commit();
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
            t.start();
            ts.add(t);
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
