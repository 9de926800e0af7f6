#!/usr/bin/python3
"""Generates test/corpus/corpus.sql: statements that look like real traffic.

Each template is what a tool or framework really sends (pgbench, TPC-C and
TPC-H kits, Django, Rails/ActiveRecord, Hibernate, SQLAlchemy, Prisma,
node-postgres code, psql users, migrations), instantiated with random values
from a fixed seed, so the file is reproducible:

    /usr/bin/python3 test/corpus/gen_corpus.py > test/corpus/corpus.sql

Statements are separated by ";\\n" and may span lines. The file is committed;
regenerate it only on purpose (the oracle's figures are computed over it).
"""
import random
import sys

R = random.Random(20240531)
OUT = []

FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "Zoë", "José",
         "Łukasz", "Mañana", "Søren", "Ægir", "Дмитрий", "太郎", "Ólafur", "O'Brien", "D'Angelo"]
WORDS = ["apple", "banana", "cherry", "delta", "echo", "foxtrot", "golf", "hotel", "kilo",
         "東京", "Zürich", "naïve café", "crème brûlée", "emoji 🎉", "it's", "50% off", "semi;colon",
         "back\\slash", "dollar $x$", "a \"quoted\" word", "tab\there"]


def q(s):
    """SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def i(a=1, b=100000):
    return R.randint(a, b)


def word():
    return R.choice(WORDS)


def name():
    return R.choice(FIRST)


def email():
    return "%s%d@example.%s" % (R.choice(FIRST[:8]), i(1, 999), R.choice(["com", "org", "io"]))


def ts():
    return "2024-%02d-%02d %02d:%02d:%02d" % (i(1, 12), i(1, 28), i(0, 23), i(0, 59), i(0, 59))


def date():
    return "%d-%02d-%02d" % (i(1992, 1998), i(1, 12), i(1, 28))


def dec():
    return "%d.%02d" % (i(0, 9999), i(0, 99))


def ids(lo=1, hi=40):
    return [str(i()) for _ in range(R.randint(lo, hi))]


def emit(sql, n=1):
    """Adds n instances of a template (a callable) or one literal statement."""
    for _ in range(n):
        OUT.append(sql() if callable(sql) else sql)


def section(title):
    OUT.append(("section", title))


def pgbench():
    section("pgbench: initialization and the TPC-B-like script, simple and extended protocol")
    for t, cols in [("pgbench_history", "tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22)"),
                    ("pgbench_tellers", "tid int not null,bid int,tbalance int,filler char(84)"),
                    ("pgbench_accounts", "aid    int not null,bid int,abalance int,filler char(84)"),
                    ("pgbench_branches", "bid int not null,bbalance int,filler char(88)")]:
        emit("drop table if exists %s" % t)
        emit("create table %s(%s) with (fillfactor=100)" % (t, cols))
    emit("truncate table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers")
    emit("insert into pgbench_branches(bid,bbalance) values(1,0)")
    emit("insert into pgbench_tellers(tid,bid,tbalance) select tid, (tid - 1) / 10 + 1, 0 from generate_series(1, 10) as tid")
    emit("copy pgbench_accounts from stdin with (freeze on)")
    emit("vacuum analyze pgbench_branches")
    emit("vacuum analyze pgbench_tellers")
    emit("alter table pgbench_branches add primary key (bid)")
    emit("alter table pgbench_accounts add primary key (aid)")
    for _ in range(60):
        aid, tid, bid, delta = i(1, 100000), i(1, 10), 1, R.randint(-5000, 5000)
        emit("BEGIN")
        emit("UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = %d" % (delta, aid))
        emit("SELECT abalance FROM pgbench_accounts WHERE aid = %d" % aid)
        emit("UPDATE pgbench_tellers SET tbalance = tbalance + %d WHERE tid = %d" % (delta, tid))
        emit("UPDATE pgbench_branches SET bbalance = bbalance + %d WHERE bid = %d" % (delta, bid))
        emit("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, %d, %d, %d, CURRENT_TIMESTAMP)"
             % (tid, bid, aid, delta))
        emit("END")
    for _ in range(15):
        emit("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2")
        emit("SELECT abalance FROM pgbench_accounts WHERE aid = $1")
        emit("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)")
    emit(lambda: "SELECT abalance FROM pgbench_accounts WHERE aid = %d" % i(), 20)


def tpcc():
    section("TPC-C style transactions")
    w = lambda: i(1, 10)
    d = lambda: i(1, 10)
    emit(lambda: "SELECT c_discount, c_last, c_credit, w_tax FROM customer, warehouse WHERE w_id = %d AND c_w_id = w_id AND c_d_id = %d AND c_id = %d" % (w(), d(), i(1, 3000)), 25)
    emit(lambda: "SELECT d_next_o_id, d_tax FROM district WHERE d_id = %d AND d_w_id = %d FOR UPDATE" % (d(), w()), 25)
    emit(lambda: "UPDATE district SET d_next_o_id = d_next_o_id + 1 WHERE d_id = %d AND d_w_id = %d" % (d(), w()), 25)
    emit(lambda: "INSERT INTO oorder (o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_ol_cnt, o_all_local) VALUES (%d, %d, %d, %d, '%s', %d, 1)" % (i(3001, 9999), d(), w(), i(1, 3000), ts(), i(5, 15)), 25)
    emit(lambda: "INSERT INTO new_order (no_o_id, no_d_id, no_w_id) VALUES (%d, %d, %d)" % (i(3001, 9999), d(), w()), 25)
    emit(lambda: "SELECT i_price, i_name, i_data FROM item WHERE i_id = %d" % i(1, 100000), 30)
    emit(lambda: "SELECT s_quantity, s_data, s_dist_%02d FROM stock WHERE s_i_id = %d AND s_w_id = %d FOR UPDATE" % (R.choice([1, 1, 1, 4]), i(1, 100000), w()), 30)
    emit(lambda: "UPDATE stock SET s_quantity = %d, s_ytd = s_ytd + %d, s_order_cnt = s_order_cnt + 1, s_remote_cnt = s_remote_cnt + %d WHERE s_i_id = %d AND s_w_id = %d" % (i(10, 100), i(1, 10), R.choice([0, 1]), i(1, 100000), w()), 30)
    emit(lambda: "INSERT INTO order_line (ol_o_id, ol_d_id, ol_w_id, ol_number, ol_i_id, ol_supply_w_id, ol_quantity, ol_amount, ol_dist_info) VALUES (%d, %d, %d, %d, %d, %d, %d, %s, %s)" % (i(3001, 9999), d(), w(), i(1, 15), i(1, 100000), w(), i(1, 10), dec(), q("dist-%06d" % i())), 30)
    emit(lambda: "UPDATE warehouse SET w_ytd = w_ytd + %s WHERE w_id = %d" % (dec(), w()), 15)
    emit(lambda: "SELECT c_first, c_middle, c_last, c_street_1, c_city, c_state, c_zip, c_phone, c_credit, c_credit_lim, c_discount, c_balance, c_since FROM customer WHERE c_w_id = %d AND c_d_id = %d AND c_id = %d FOR UPDATE" % (w(), d(), i(1, 3000)), 15)
    emit(lambda: "SELECT c_id FROM customer WHERE c_w_id = %d AND c_d_id = %d AND c_last = %s ORDER BY c_first" % (w(), d(), q(R.choice(["BARBARABLE", "OUGHTPRICALLY", "ANTICALLYESE"]))), 15)
    emit(lambda: "SELECT no_o_id FROM new_order WHERE no_d_id = %d AND no_w_id = %d ORDER BY no_o_id ASC LIMIT 1" % (d(), w()), 15)
    emit(lambda: "DELETE FROM new_order WHERE no_o_id = %d AND no_d_id = %d AND no_w_id = %d" % (i(1, 9999), d(), w()), 15)
    emit(lambda: "SELECT COUNT(DISTINCT (s_i_id)) AS stock_count FROM order_line, stock WHERE ol_w_id = %d AND ol_d_id = %d AND ol_o_id < %d AND ol_o_id >= %d - 20 AND s_w_id = %d AND s_i_id = ol_i_id AND s_quantity < %d" % (w(), d(), i(3000, 9999), i(3000, 9999), w(), i(10, 20)), 12)
    emit(lambda: "SELECT SUM(ol_amount) AS ol_total FROM order_line WHERE ol_o_id = %d AND ol_d_id = %d AND ol_w_id = %d" % (i(1, 9999), d(), w()), 12)


TPCH = {
    1: """-- TPC-H Q1: pricing summary report
select
	l_returnflag, l_linestatus, sum(l_quantity) as sum_qty, sum(l_extendedprice) as sum_base_price,
	sum(l_extendedprice * (1 - l_discount)) as sum_disc_price,
	sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) as sum_charge,
	avg(l_quantity) as avg_qty, avg(l_extendedprice) as avg_price, avg(l_discount) as avg_disc,
	count(*) as count_order
from lineitem
where l_shipdate <= date '1998-12-01' - interval '{d} days'
group by l_returnflag, l_linestatus
order by l_returnflag, l_linestatus""",
    3: """select l_orderkey, sum(l_extendedprice * (1 - l_discount)) as revenue, o_orderdate, o_shippriority
from customer, orders, lineitem
where c_mktsegment = '{seg}' and c_custkey = o_custkey and l_orderkey = o_orderkey
	and o_orderdate < date '{date}' and l_shipdate > date '{date}'
group by l_orderkey, o_orderdate, o_shippriority
order by revenue desc, o_orderdate
limit 10""",
    4: """select o_orderpriority, count(*) as order_count
from orders
where o_orderdate >= date '{date}' and o_orderdate < date '{date}' + interval '3' month
	and exists (select * from lineitem where l_orderkey = o_orderkey and l_commitdate < l_receiptdate)
group by o_orderpriority
order by o_orderpriority""",
    5: """select n_name, sum(l_extendedprice * (1 - l_discount)) as revenue
from customer, orders, lineitem, supplier, nation, region
where c_custkey = o_custkey and l_orderkey = o_orderkey and l_suppkey = s_suppkey
	and c_nationkey = s_nationkey and s_nationkey = n_nationkey and n_regionkey = r_regionkey
	and r_name = '{region}' and o_orderdate >= date '{date}' and o_orderdate < date '{date}' + interval '1' year
group by n_name
order by revenue desc""",
    6: """select sum(l_extendedprice * l_discount) as revenue
from lineitem
where l_shipdate >= date '{date}' and l_shipdate < date '{date}' + interval '1' year
	and l_discount between 0.{d1} - 0.01 and 0.{d1} + 0.01 and l_quantity < {qty}""",
    10: """select c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) as revenue, c_acctbal, n_name,
	c_address, c_phone, c_comment
from customer, orders, lineitem, nation
where c_custkey = o_custkey and l_orderkey = o_orderkey and o_orderdate >= date '{date}'
	and o_orderdate < date '{date}' + interval '3' month and l_returnflag = 'R' and c_nationkey = n_nationkey
group by c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
order by revenue desc
limit 20""",
    12: """select l_shipmode,
	sum(case when o_orderpriority = '1-URGENT' or o_orderpriority = '2-HIGH' then 1 else 0 end) as high_line_count,
	sum(case when o_orderpriority <> '1-URGENT' and o_orderpriority <> '2-HIGH' then 1 else 0 end) as low_line_count
from orders, lineitem
where o_orderkey = l_orderkey and l_shipmode in ('{m1}', '{m2}') and l_commitdate < l_receiptdate
	and l_shipdate < l_commitdate and l_receiptdate >= date '{date}'
	and l_receiptdate < date '{date}' + interval '1' year
group by l_shipmode
order by l_shipmode""",
    14: """select 100.00 * sum(case when p_type like 'PROMO%' then l_extendedprice * (1 - l_discount) else 0 end)
	/ sum(l_extendedprice * (1 - l_discount)) as promo_revenue
from lineitem, part
where l_partkey = p_partkey and l_shipdate >= date '{date}' and l_shipdate < date '{date}' + interval '1' month""",
    16: """select p_brand, p_type, p_size, count(distinct ps_suppkey) as supplier_cnt
from partsupp, part
where p_partkey = ps_partkey and p_brand <> 'Brand#{b}' and p_type not like '{t}%'
	and p_size in ({sizes})
	and ps_suppkey not in (select s_suppkey from supplier where s_comment like '%Customer%Complaints%')
group by p_brand, p_type, p_size
order by supplier_cnt desc, p_brand, p_type, p_size""",
    18: """select c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity)
from customer, orders, lineitem
where o_orderkey in (select l_orderkey from lineitem group by l_orderkey having sum(l_quantity) > {qty})
	and c_custkey = o_custkey and o_orderkey = l_orderkey
group by c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice
order by o_totalprice desc, o_orderdate
limit 100""",
    19: """select sum(l_extendedprice* (1 - l_discount)) as revenue
from lineitem, part
where (p_partkey = l_partkey and p_brand = 'Brand#{b}' and p_container in ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
		and l_quantity >= {qty} and l_quantity <= {qty} + 10 and p_size between 1 and 5
		and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON')
	or (p_partkey = l_partkey and p_brand = 'Brand#{b}' and p_container in ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
		and l_quantity >= {qty} and l_quantity <= {qty} + 10 and p_size between 1 and 10
		and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON')""",
    22: """select cntrycode, count(*) as numcust, sum(c_acctbal) as totacctbal
from (select substring(c_phone from 1 for 2) as cntrycode, c_acctbal
	from customer
	where substring(c_phone from 1 for 2) in ({codes})
		and c_acctbal > (select avg(c_acctbal) from customer where c_acctbal > 0.00
			and substring(c_phone from 1 for 2) in ({codes}))
		and not exists (select * from orders where o_custkey = c_custkey)) as custsale
group by cntrycode
order by cntrycode""",
}


def tpch():
    section("TPC-H queries with substituted parameters")
    for qn, text in sorted(TPCH.items()):
        for _ in range(4):
            codes = ", ".join(q(str(c)) for c in R.sample(range(10, 35), 7))
            emit(text.format(d=i(60, 120), seg=R.choice(["BUILDING", "AUTOMOBILE", "MACHINERY"]), date=date(),
                             region=R.choice(["ASIA", "EUROPE", "AMERICA"]), d1=i(2, 9), qty=i(24, 315),
                             m1=R.choice(["MAIL", "SHIP"]), m2=R.choice(["AIR", "FOB"]), b=i(11, 55),
                             t=R.choice(["MEDIUM POLISHED", "SMALL BRUSHED"]),
                             sizes=", ".join(str(s) for s in R.sample(range(1, 50), 8)), codes=codes))


DJ_USER = '"auth_user"."id", "auth_user"."password", "auth_user"."last_login", "auth_user"."is_superuser", "auth_user"."username", "auth_user"."first_name", "auth_user"."last_name", "auth_user"."email", "auth_user"."is_staff", "auth_user"."is_active", "auth_user"."date_joined"'
DJ_POST = '"blog_post"."id", "blog_post"."title", "blog_post"."slug", "blog_post"."body", "blog_post"."author_id", "blog_post"."status", "blog_post"."published_at", "blog_post"."created_at"'


def django():
    section("Django ORM (psycopg2 interpolates parameters client-side)")
    emit(lambda: 'SELECT %s FROM "auth_user" WHERE "auth_user"."id" = %d LIMIT 21' % (DJ_USER, i()), 30)
    emit(lambda: 'SELECT %s FROM "auth_user" WHERE "auth_user"."username" = %s LIMIT 21' % (DJ_USER, q(name().lower())), 10)
    emit(lambda: 'SELECT %s FROM "blog_post" WHERE "blog_post"."author_id" IN (%s)' % (DJ_POST, ", ".join(ids(1, 60))), 30)
    emit(lambda: 'SELECT %s FROM "blog_post" WHERE "blog_post"."status" = %s ORDER BY "blog_post"."published_at" DESC LIMIT %d OFFSET %d' % (DJ_POST, q(R.choice(["published", "draft"])), 20, 20 * i(0, 30)), 20)
    emit(lambda: 'SELECT COUNT(*) AS "__count" FROM "blog_post" WHERE "blog_post"."author_id" = %d' % i(), 15)
    emit(lambda: 'SELECT (1) AS "a" FROM "auth_user" WHERE "auth_user"."email" = %s LIMIT 1' % q(email()), 10)
    emit(lambda: 'SELECT %s FROM "auth_user" WHERE UPPER("auth_user"."email"::text) = UPPER(%s) LIMIT 21' % (DJ_USER, q(email())), 8)
    emit(lambda: 'SELECT %s, %s FROM "blog_post" INNER JOIN "auth_user" ON ("blog_post"."author_id" = "auth_user"."id") WHERE ("blog_post"."status" = %s AND "blog_post"."published_at" >= %s::timestamptz) ORDER BY "blog_post"."published_at" DESC' % (DJ_POST, DJ_USER, q("published"), q(ts() + "+00:00")), 12)
    emit(lambda: 'INSERT INTO "blog_post" ("title", "slug", "body", "author_id", "status", "published_at", "created_at") VALUES (%s, %s, %s, %d, %s, %s, %s::timestamptz) RETURNING "blog_post"."id"' % (q(word()), q("slug-%d" % i()), q(word() * 3), i(), q("draft"), R.choice(["NULL", q(ts() + "+00:00") + "::timestamptz"]), q(ts() + "+00:00")), 20)
    emit(lambda: 'UPDATE "blog_post" SET "title" = %s, "status" = %s WHERE "blog_post"."id" = %d' % (q(word()), q("published"), i()), 12)
    emit(lambda: 'UPDATE "auth_user" SET "last_login" = %s::timestamptz WHERE "auth_user"."id" = %d' % (q(ts() + "+00:00"), i()), 12)
    emit(lambda: 'DELETE FROM "blog_comment" WHERE "blog_comment"."post_id" IN (%s)' % ", ".join(ids(1, 12)), 8)
    emit(lambda: 'SELECT "django_session"."session_key", "django_session"."session_data", "django_session"."expire_date" FROM "django_session" WHERE ("django_session"."expire_date" > %s::timestamptz AND "django_session"."session_key" = %s) LIMIT 21' % (q(ts() + "+00:00"), q("%032x" % R.getrandbits(128))), 15)
    emit(lambda: 'INSERT INTO "django_session" ("session_key", "session_data", "expire_date") VALUES (%s, %s, %s::timestamptz)' % (q("%032x" % R.getrandbits(128)), q("e30:1r%d" % i()), q(ts() + "+00:00")), 6)
    emit(lambda: 'DELETE FROM "django_session" WHERE "django_session"."expire_date" < %s::timestamptz' % q(ts() + "+00:00"), 3)

    def bulk():
        rows = ", ".join("(%s, %d, %s)" % (q(word()), i(), R.choice(["NULL", q(ts())])) for _ in range(R.randint(1, 25)))
        return 'INSERT INTO "blog_tag" ("name", "post_id", "created_at") VALUES %s RETURNING "blog_tag"."id"' % rows
    emit(bulk, 12)

    def atomic():
        sp = "s%d_x%d" % (i(100000000000, 140000000000), i(1, 9))
        return [('SAVEPOINT "%s"' % sp), ('RELEASE SAVEPOINT "%s"' % sp)]
    for _ in range(10):
        for s in atomic():
            emit(s)
    emit(lambda: 'ROLLBACK TO SAVEPOINT "s%d_x%d"' % (i(100000000000, 140000000000), i(1, 9)), 3)
    for _ in range(4):
        cur = "_django_curs_%d_sync_%d" % (i(100000000000, 140000000000), i(1, 50))
        emit('DECLARE "%s" NO SCROLL CURSOR WITH HOLD FOR SELECT %s FROM "blog_post"' % (cur, DJ_POST))
        emit('FETCH FORWARD 2000 FROM "%s"' % cur)
        emit('CLOSE "%s"' % cur)
    emit("SET TIME ZONE 'UTC'", 2)
    emit('SELECT "django_migrations"."id", "django_migrations"."app", "django_migrations"."name", "django_migrations"."applied" FROM "django_migrations"')
    emit(lambda: 'INSERT INTO "django_migrations" ("app", "name", "applied") VALUES (%s, %s, %s::timestamptz) RETURNING "django_migrations"."id"' % (q(R.choice(["blog", "auth", "contenttypes"])), q("%04d_auto" % i(1, 60)), q(ts() + "+00:00")), 4)


def rails():
    section("Rails / ActiveRecord (prepared statements, and unprepared with marginalia tags)")
    emit(lambda: 'SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2', 25)
    emit(lambda: '/*application:Blog,controller:users,action:show*/ SELECT "users".* FROM "users" WHERE "users"."id" = %d LIMIT 1' % i(), 15)
    emit(lambda: 'SELECT "posts".* FROM "posts" WHERE "posts"."user_id" IN (%s)' % ", ".join(ids(1, 50)), 25)
    emit(lambda: 'SELECT "posts".* FROM "posts" WHERE "posts"."user_id" = $1 ORDER BY "posts"."created_at" DESC LIMIT $2 OFFSET $3', 12)
    emit(lambda: 'SELECT "comments".* FROM "comments" WHERE "comments"."post_id" = %d /*application:Blog,controller:posts,action:index*/' % i(), 30)
    emit(lambda: 'SELECT 1 AS one FROM "users" WHERE "users"."email" = $1 LIMIT $2', 8)
    emit(lambda: 'SELECT COUNT(*) FROM "posts" WHERE "posts"."published" = %s' % R.choice(["TRUE", "FALSE"]), 8)
    emit(lambda: 'INSERT INTO "posts" ("title", "body", "user_id", "created_at", "updated_at") VALUES ($1, $2, $3, $4, $5) RETURNING "id"', 12)
    emit(lambda: 'UPDATE "users" SET "sign_in_count" = $1, "current_sign_in_at" = $2, "last_sign_in_at" = $3, "updated_at" = $4 WHERE "users"."id" = $5', 10)
    emit(lambda: 'UPDATE "posts" SET "views_count" = COALESCE("views_count", 0) + 1 WHERE "posts"."id" = %d' % i(), 10)
    emit(lambda: 'DELETE FROM "sessions" WHERE "sessions"."updated_at" < \'%s\'' % ts(), 4)
    emit(lambda: 'SELECT "users".* FROM "users" WHERE "users"."deleted_at" IS NULL AND "users"."role" IN (%s) ORDER BY "users"."id" ASC LIMIT $1' % ", ".join(q(r) for r in R.sample(["admin", "editor", "viewer", "owner"], R.randint(1, 4))), 8)
    emit(lambda: 'INSERT INTO "events" ("name","properties","created_at") VALUES (%s) ON CONFLICT ("name") DO UPDATE SET "properties"=excluded."properties" RETURNING "id"' % "), (".join("%s, %s, %s" % (q(word()), q('{"k": %d}' % i()), q(ts())) for _ in range(R.randint(1, 8))), 10)
    for _ in range(12):
        emit("BEGIN")
        emit("SAVEPOINT active_record_%d" % i(1, 3))
        emit('INSERT INTO "audit_logs" ("action", "user_id", "created_at") VALUES ($1, $2, $3) RETURNING "id"')
        emit(R.choice(["RELEASE SAVEPOINT active_record_%d", "ROLLBACK TO SAVEPOINT active_record_%d"]) % i(1, 3))
        emit("COMMIT")
    emit("SET client_min_messages TO 'warning'", 2)
    emit("SET standard_conforming_strings = on", 2)
    emit("SET intervalstyle = iso_8601", 2)
    emit("SET SESSION timezone TO 'UTC'", 2)
    emit("SHOW search_path", 2)
    emit("SELECT pg_try_advisory_lock(%d)" % i(10 ** 9, 2 * 10 ** 9), 3)
    emit("SELECT pg_advisory_unlock(%d)" % i(10 ** 9, 2 * 10 ** 9), 3)
    emit('SELECT "schema_migrations"."version" FROM "schema_migrations" ORDER BY "schema_migrations"."version" ASC')
    emit(lambda: 'INSERT INTO "schema_migrations" (version) VALUES (\'%d\')' % i(20230101000000, 20241231000000), 4)
    emit("""SELECT a.attname, format_type(a.atttypid, a.atttypmod),
       pg_get_expr(d.adbin, d.adrelid), a.attnotnull, a.atttypid, a.atttypmod,
       c.collname, col_description(a.attrelid, a.attnum) AS comment,
       attidentity AS identity, attgenerated as attgenerated
  FROM pg_attribute a
  LEFT JOIN pg_attrdef d ON a.attrelid = d.adrelid AND a.attnum = d.adnum
  LEFT JOIN pg_type t ON a.atttypid = t.oid
  LEFT JOIN pg_collation c ON a.attcollation = c.oid AND a.attcollation <> t.typcollation
 WHERE a.attrelid = '"users"'::regclass
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum""")
    emit(lambda: "SELECT t.oid, t.typname FROM pg_type as t WHERE t.typname IN (%s)" % ", ".join(q(x) for x in R.sample(["int2", "int4", "int8", "oid", "float4", "float8", "bool", "text", "numeric", "jsonb"], R.randint(2, 10))), 4)


def hibernate():
    section("Hibernate 6 and 5 over pgjdbc (server-side $n parameters)")
    emit("select u1_0.id,u1_0.email,u1_0.name,u1_0.version from users u1_0 where u1_0.id=$1", 25)
    emit("select nextval('orders_seq')", 12)
    emit("insert into orders (created_at,customer_id,status,total,version,id) values ($1,$2,$3,$4,$5,$6)", 20)
    emit("update orders set status=$1,total=$2,version=$3 where id=$4 and version=$5", 15)
    emit("delete from order_items where order_id=$1", 8)
    def hib_page():
        n = R.randint(1, 6)
        return ("select o1_0.id,o1_0.created_at,o1_0.customer_id,o1_0.status from orders o1_0 join customers c1_0 on c1_0.id=o1_0.customer_id where o1_0.status in (%s) order by o1_0.created_at desc offset $%d rows fetch first $%d rows only"
                % (",".join("$%d" % k for k in range(1, n + 1)), n + 1, n + 2))
    emit(hib_page, 15)
    emit("select i1_0.order_id,i1_0.id,i1_0.product_id,i1_0.quantity from order_items i1_0 where i1_0.order_id=any ($1)", 10)
    emit("select user0_.id as id1_0_0_, user0_.email as email2_0_0_, user0_.name as name3_0_0_ from users user0_ where user0_.id=$1", 12)
    emit("select count(o1_0.id) from orders o1_0 where o1_0.customer_id=$1", 10)
    emit("select p1_0.id,p1_0.name,p1_0.price from products p1_0 where lower(p1_0.name) like lower($1) escape '\\'", 6)


def sqlalchemy():
    section("SQLAlchemy (psycopg2 literals; asyncpg $n with casts)")
    emit(lambda: "SELECT users.id AS users_id, users.name AS users_name, users.email AS users_email \nFROM users \nWHERE users.id = %d" % i(), 20)
    emit(lambda: "SELECT users.id, users.name, users.email \nFROM users \nWHERE users.id = $1::INTEGER", 15)
    emit(lambda: "SELECT addresses.id, addresses.user_id, addresses.email_address \nFROM addresses \nWHERE addresses.user_id IN (%s)" % ", ".join("$%d::INTEGER" % k for k in range(1, R.randint(2, 30))), 15)
    emit(lambda: "INSERT INTO users (name, email) VALUES (%s) RETURNING users.id" % "), (".join("$%d::VARCHAR, $%d::VARCHAR" % (2 * k + 1, 2 * k + 2) for k in range(R.randint(1, 10))), 15)
    emit(lambda: "INSERT INTO users (name, email) VALUES (%s, %s) RETURNING users.id" % (q(name()), q(email())), 10)
    emit(lambda: "UPDATE users SET name=%s WHERE users.id = %d" % (q(name()), i()), 10)
    emit(lambda: "SELECT count(*) AS count_1 \nFROM (SELECT users.id AS users_id \nFROM users \nWHERE users.name LIKE %s) AS anon_1" % q(name()[:2] + "%"), 8)
    emit("select pg_catalog.version()", 3)
    emit("select current_schema()", 3)
    emit("show standard_conforming_strings", 3)
    emit("show transaction isolation level", 3)


def prisma():
    section("Prisma")
    emit('SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name" FROM "public"."User" WHERE ("public"."User"."id" = $1 AND 1=1) LIMIT $2 OFFSET $3', 25)
    def prisma_in():
        n = R.randint(1, 40)
        return ('SELECT "public"."Post"."id", "public"."Post"."title", "public"."Post"."authorId" FROM "public"."Post" WHERE "public"."Post"."authorId" IN (%s) OFFSET $%d'
                % (",".join("$%d" % k for k in range(1, n + 1)), n + 1))
    emit(prisma_in, 25)
    emit('INSERT INTO "public"."Post" ("title","content","published","authorId","createdAt") VALUES ($1,$2,$3,$4,$5) RETURNING "public"."Post"."id"', 15)
    emit('UPDATE "public"."User" SET "name" = $1 WHERE ("public"."User"."id" = $2 AND 1=1) RETURNING "public"."User"."id", "public"."User"."email", "public"."User"."name"', 10)
    emit('SELECT COUNT(*) AS "_count._all" FROM (SELECT "public"."Post"."id" FROM "public"."Post" WHERE "public"."Post"."published" = $1 OFFSET $2) AS "sub"', 8)
    emit('DELETE FROM "public"."Session" WHERE "public"."Session"."expires" < $1', 5)
    emit("DEALLOCATE ALL", 2)


def node_pg():
    section("node-postgres application code: JSON, upserts, CTEs, windows, LISTEN/NOTIFY, locks")
    emit("SELECT * FROM users WHERE id = $1", 20)
    emit(lambda: "SELECT * FROM users WHERE id = %d" % i(), 10)
    emit("INSERT INTO events (type, payload, created_at) VALUES ($1, $2::jsonb, now())", 15)
    emit(lambda: "INSERT INTO events (type, payload, created_at) VALUES (%s, %s::jsonb, now())" % (q(R.choice(["click", "view", "buy"])), q('{"user_id": %d, "path": "/p/%d", "name": "%s"}' % (i(), i(), word().replace("'", "")))), 15)
    emit(lambda: "SELECT payload->>'user_id' AS uid, payload#>>'{meta,ip}' AS ip, count(*) FROM events WHERE payload @> %s::jsonb AND created_at > now() - interval '%d hours' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT %d" % (q('{"type": "%s"}' % R.choice(["click", "view"])), i(1, 48), R.choice([10, 50, 100])), 12)
    emit(lambda: "UPDATE sessions SET data = $1, expires_at = now() + interval '1 day' WHERE sid = $2", 10)
    emit(lambda: "INSERT INTO counters (key, value) VALUES (%s, 1) ON CONFLICT (key) DO UPDATE SET value = counters.value + EXCLUDED.value RETURNING value" % q("page:%d" % i()), 12)
    emit(lambda: "INSERT INTO user_settings AS s (user_id, settings) VALUES ($1, $2) ON CONFLICT ON CONSTRAINT user_settings_pkey DO UPDATE SET settings = s.settings || EXCLUDED.settings", 6)
    emit(lambda: """WITH recent AS (
  SELECT user_id, max(created_at) AS last_seen FROM events WHERE created_at > now() - interval '%d days' GROUP BY user_id
), ranked AS (
  SELECT r.*, row_number() OVER (ORDER BY last_seen DESC) AS rn FROM recent r
)
SELECT u.id, u.name, ranked.last_seen FROM ranked JOIN users u ON u.id = ranked.user_id WHERE rn <= %d""" % (i(1, 30), R.choice([10, 20, 100])), 10)
    emit(lambda: "SELECT id, amount, sum(amount) OVER (PARTITION BY account_id ORDER BY created_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running, lag(amount, 1) OVER w AS prev FROM ledger WHERE account_id = %d WINDOW w AS (PARTITION BY account_id ORDER BY created_at)" % i(), 10)
    emit(lambda: "SELECT date_trunc('day', created_at) AS day, count(*) FILTER (WHERE status = 'paid') AS paid, percentile_cont(0.95) WITHIN GROUP (ORDER BY amount) FROM orders WHERE created_at >= %s GROUP BY 1 ORDER BY 1" % q(date()), 8)
    emit(lambda: "WITH RECURSIVE tree(id, parent_id, depth) AS (SELECT id, parent_id, 0 FROM categories WHERE id = %d UNION ALL SELECT c.id, c.parent_id, t.depth + 1 FROM categories c JOIN tree t ON c.parent_id = t.id) SELECT * FROM tree" % i(), 6)
    emit(lambda: "SELECT * FROM products WHERE id = ANY(ARRAY[%s])" % ", ".join(ids(1, 20)), 10)
    emit(lambda: "SELECT * FROM products WHERE id = ANY($1::int[])", 10)
    emit(lambda: "SELECT * FROM products WHERE tags && %s::text[] ORDER BY price DESC NULLS LAST LIMIT %d OFFSET %d" % (q("{%s}" % ",".join(R.sample(["red", "blue", "sale", "new"], 2))), 25, 25 * i(0, 10)), 8)
    emit(lambda: "SELECT id, name FROM products WHERE name ILIKE %s LIMIT 20" % q("%" + word() + "%"), 8)
    emit(lambda: "SELECT * FROM jobs WHERE queue = %s AND run_at <= now() ORDER BY priority, run_at LIMIT 1 FOR UPDATE SKIP LOCKED" % q(R.choice(["default", "mail"])), 10)
    emit(lambda: "UPDATE jobs SET locked_at = now(), locked_by = %s WHERE id = %d RETURNING *" % (q("worker-%d" % i(1, 9)), i()), 8)
    emit("LISTEN cache_invalidation", 3)
    emit(lambda: "NOTIFY cache_invalidation, %s" % q("users:%d" % i()), 6)
    emit(lambda: "SELECT pg_notify('jobs', %s)" % q('{"id": %d}' % i()), 4)
    emit("UNLISTEN *", 2)
    emit(lambda: "SELECT pg_advisory_xact_lock(%d)" % i(), 6)
    emit(lambda: "SELECT * FROM orders WHERE created_at BETWEEN %s AND %s AND status IN (%s)" % (q(date()), q(date()), ", ".join(q(s) for s in R.sample(["new", "paid", "shipped", "void"], R.randint(1, 4)))), 10)
    emit(lambda: "SELECT * FROM accounts WHERE balance > %s AND currency = %s AND flags & %d <> 0" % (R.choice(["-100.50", "0", "1e3", "-2.5e-1"]), q(R.choice(["EUR", "USD"])), R.choice([1, 2, 4])), 8)
    emit(lambda: "SELECT * FROM measurements WHERE (sensor_id, ts) IN (%s)" % ", ".join("(%d, %s)" % (i(), q(ts())) for _ in range(R.randint(1, 6))), 6)
    emit(lambda: "SELECT * FROM t_unicode WHERE label = %s OR note = E%s" % (q(word()), q("line\\n%d" % i())), 8)
    emit(lambda: "MERGE INTO inventory AS i USING (VALUES (%d, %d)) AS v(sku, qty) ON i.sku = v.sku WHEN MATCHED THEN UPDATE SET qty = i.qty + v.qty WHEN NOT MATCHED THEN INSERT (sku, qty) VALUES (v.sku, v.qty)" % (i(), i(1, 9)), 5)


def ddl_utility():
    section("DDL, migrations, functions with dollar quotes, utility statements")
    for t in ["accounts", "ledger", "categories", "jobs", "events", "inventory"]:
        emit("CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), name text CHECK (length(name) < 200), amount numeric(12, 2) DEFAULT 0.00, data jsonb DEFAULT '{}'::jsonb)" % t)
        emit("CREATE INDEX CONCURRENTLY IF NOT EXISTS %s_created_at_idx ON %s USING btree (created_at DESC) WHERE deleted_at IS NULL" % (t, t))
        emit("ALTER TABLE %s ADD COLUMN IF NOT EXISTS deleted_at timestamptz" % t)
        emit("COMMENT ON TABLE %s IS %s" % (t, q("stores " + t)))
        emit("GRANT SELECT, INSERT, UPDATE ON %s TO app_rw" % t)
    emit("DROP TABLE IF EXISTS tmp_import CASCADE")
    emit('ALTER TABLE "blog_post" ADD CONSTRAINT "blog_post_author_id_fk" FOREIGN KEY ("author_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED')
    emit("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    emit("CREATE OR REPLACE VIEW active_users AS SELECT * FROM users WHERE deleted_at IS NULL")
    emit("CREATE MATERIALIZED VIEW daily_totals AS SELECT date_trunc('day', created_at) AS day, sum(amount) FROM ledger GROUP BY 1")
    emit("REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals")
    emit("""CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();  -- keep in sync; RETURN below
  RETURN NEW;
END;
$$""")
    emit("""CREATE FUNCTION add_money(a numeric, b numeric) RETURNS numeric AS $body$
  SELECT a + b; -- 'quoted' $$ not the end
$body$ LANGUAGE sql IMMUTABLE""")
    emit("""CREATE FUNCTION one() RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT 1;
END""")
    emit("CREATE TRIGGER trg_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch_updated_at()")
    emit("DO $$ BEGIN RAISE NOTICE 'hello; world'; END $$")
    emit(lambda: "CREATE TEMP TABLE tmp_ids_%d (id bigint) ON COMMIT DROP" % i(), 3)
    emit(lambda: "ALTER SEQUENCE orders_seq RESTART WITH %d" % i(), 2)
    emit(lambda: "SELECT setval('orders_seq', %d, true)" % i(), 3)
    emit(lambda: "VACUUM (VERBOSE, ANALYZE) %s" % R.choice(["accounts", "ledger"]), 3)
    emit("ANALYZE events")
    emit(lambda: "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM users WHERE id = %d" % i(), 4)
    emit("SHOW server_version")
    emit("SHOW max_connections")
    emit("RESET ALL")
    emit("DISCARD ALL")
    emit("RESET statement_timeout")
    emit(lambda: "SET statement_timeout = %d" % R.choice([0, 1000, 30000]), 6)
    emit(lambda: "SET LOCAL lock_timeout = %s" % q(R.choice(["1s", "5s", "100ms"])), 4)
    emit("SET application_name = 'web-1'")
    emit("SET search_path TO app, public")
    emit("SET search_path = public")
    emit("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    emit("BEGIN ISOLATION LEVEL SERIALIZABLE")
    emit("BEGIN READ ONLY")
    emit("START TRANSACTION")
    emit("ROLLBACK")
    emit("COMMIT")
    emit(lambda: "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE" % R.choice(["accounts", "ledger"]), 2)
    emit("COPY (SELECT id, name FROM users WHERE created_at > now() - interval '1 day') TO STDOUT WITH (FORMAT csv, HEADER true)")
    emit("COPY accounts (id, name, amount) FROM STDIN WITH (FORMAT binary)")
    emit("TRUNCATE tmp_import RESTART IDENTITY")
    emit(lambda: "PREPARE q_%d (bigint) AS SELECT * FROM accounts WHERE id = $1" % i(1, 99), 4)
    emit(lambda: "EXECUTE q_%d(%d)" % (i(1, 99), i()), 6)
    emit(lambda: "DEALLOCATE q_%d" % i(1, 99), 3)
    emit(lambda: "DECLARE c%d CURSOR FOR SELECT * FROM ledger ORDER BY id" % i(1, 99), 3)
    emit(lambda: "FETCH %d FROM c%d" % (R.choice([100, 1000]), i(1, 99)), 5)
    emit(lambda: "MOVE FORWARD %d IN c%d" % (R.choice([10, 50]), i(1, 99)), 2)
    emit(lambda: "CLOSE c%d" % i(1, 99), 3)
    emit("CHECKPOINT")
    emit(lambda: "CALL process_batch(%d, %s)" % (i(), q(R.choice(["fast", "full"]))), 3)


def comments_and_forms():
    section("comments, sqlcommenter tags, literal forms, non-ASCII")
    emit(lambda: "SELECT * FROM orders WHERE id = %d /*action='show',controller='orders',framework='spring_boot%%3A3.2',route='%%2Forders%%2F%%7Bid%%7D',traceparent='00-%032x-%016x-01'*/" % (i(), R.getrandbits(128), R.getrandbits(64)), 20)
    emit(lambda: "/* request_id=%d */ SELECT id, name FROM users WHERE email = %s" % (i(), q(email())), 10)
    emit(lambda: "-- fetch account\nSELECT id, balance FROM accounts WHERE id = %d -- by primary key" % i(), 8)
    emit(lambda: "SELECT /* hint /* nested */ ok */ count(*) FROM ledger WHERE amount > %s" % dec(), 5)
    emit(lambda: "SELECT $$%s$$ AS s, $q$it's $$ here$q$ AS t" % word().replace("$", ""), 5)
    emit(lambda: "SELECT B'%s', X'%x', N%s, U&'d\\0061t\\+000061 %d', E'\\x41\\n%d'" % (bin(i(1, 255))[2:], i(1, 65535), q(word()), i(), i()), 5)
    emit(lambda: "SELECT U&'!00e9t!00e9 %d' UESCAPE '!'" % i(1, 9), 2)
    emit(lambda: 'SELECT "café"."prénom", "日本"."名前" FROM "café" JOIN "日本" ON "café".id = "日本".id WHERE "café"."prénom" = %s' % q(name()), 6)
    emit(lambda: "SELECT 'multi'\n  'line %d' AS continued" % i(), 3)
    emit(lambda: "select  ID ,Name\tFROM   Users   where   ID=%d" % i(), 6)
    emit(lambda: "SELECT * FROM users WHERE id = %d AND name = %s" % (i(), q(name())), 8)
    emit(lambda: "UPDATE users SET nickname = %s WHERE id = %d" % (R.choice(["NULL", q(name())]), i()), 8)
    emit(lambda: "SELECT count(*) FROM users WHERE created_at > %s::date AND active = %s" % (q(date()), R.choice(["true", "false"])), 6)
    emit(lambda: "SELECT amount::numeric(10,2), -amount, - %d, 2 - %d FROM ledger WHERE id = %d" % (i(), i(), i()), 6)


def pg16_syntax():
    section("PostgreSQL 16+ lexical forms (pg_query 15 cannot parse these)")
    emit(lambda: "SELECT * FROM flags WHERE mask & 0x%X <> 0 AND id > 1_000_%03d" % (i(1, 255), i(0, 999)), 4)
    emit(lambda: "SELECT 0o%o, 0b%s, 1_000.000_1" % (i(1, 511), bin(i(1, 31))[2:]), 3)


def multi_statement():
    section("multi-statement simple queries (one message, several statements)")
    emit(lambda: "BEGIN; UPDATE accounts SET balance = balance - %s WHERE id = %d; UPDATE accounts SET balance = balance + %s WHERE id = %d; COMMIT" % (dec(), i(), dec(), i()), 6)
    emit(lambda: "SET LOCAL statement_timeout = '%ds'; SELECT * FROM reports WHERE id = %d" % (i(1, 60), i()), 4)


def main():
    for gen in (pgbench, tpcc, tpch, django, rails, hibernate, sqlalchemy, prisma, node_pg,
                ddl_utility, comments_and_forms, pg16_syntax, multi_statement):
        gen()
    out = sys.stdout
    out.write("-- corpus.sql: generated by test/corpus/gen_corpus.py (fixed seed); do not edit.\n")
    for s in OUT:
        if isinstance(s, tuple):
            out.write("\n-- %s\n" % s[1])
        elif "--" in s.rsplit("\n", 1)[-1]:
            out.write(s + "\n;\n")  # a line comment would swallow the ';'
        else:
            out.write(s + ";\n")


if __name__ == "__main__":
    main()
