import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.JDBCType;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;

/*
 * A SELECT on pgsift's admin console through JDBC (test_console_sql.py):
 * the same prepared statement run six times, so that pgjdbc goes from
 * unnamed statements to a named one (prepareThreshold 5) and to binary
 * results. Prints the column types once and the rows of the last run as
 * "row\tfingerprint\tclass:value\t...", then "ok".
 *
 *   java ConsoleSql URL USER PASSWORD MIN_CALLS
 */
public class ConsoleSql {
	public static void main(String[] args) throws Exception {
		String sql = "SELECT fingerprint, calls, last_seen, mean_ms FROM queries WHERE calls >= ? "
			+ "ORDER BY calls DESC, fingerprint";
		try (Connection c = DriverManager.getConnection(args[0], args[1], args[2]);
		     PreparedStatement ps = c.prepareStatement(sql)) {
			ps.setLong(1, Long.parseLong(args[3]));
			for (int round = 0; round < 6; round++) {
				try (ResultSet rs = ps.executeQuery()) {
					if (round == 0) {
						ResultSetMetaData md = rs.getMetaData();
						StringBuilder t = new StringBuilder("types\t");
						for (int i = 1; i <= md.getColumnCount(); i++)
							t.append(i > 1 ? " " : "").append(JDBCType.valueOf(md.getColumnType(i)).getName());
						System.out.println(t);
					}
					while (rs.next()) {
						if (round < 5)
							continue;
						StringBuilder r = new StringBuilder("row\t").append(rs.getString(1));
						for (int i = 2; i <= 4; i++) {
							Object o = rs.getObject(i);
							r.append('\t').append(o.getClass().getName()).append(':').append(o);
						}
						System.out.println(r);
					}
				}
			}
		}
		System.out.println("ok");
	}
}
