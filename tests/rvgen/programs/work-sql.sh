#!/usr/bin/env bash
# Print the SQLite workload (stdin of `sqlite3 DBFILE`): tables, thousands of
# single-row INSERTs in a transaction, a recursive-CTE bulk insert, indexes,
# joins, aggregates, window functions, an UPDATE/DELETE and integrity check.
# Usage: work-sql.sh [ROWS]
rows=${1:-3000}
cat <<SQL
PRAGMA journal_mode=DELETE;
CREATE TABLE dept(id INTEGER PRIMARY KEY, name TEXT NOT NULL, budget REAL);
CREATE TABLE emp(id INTEGER PRIMARY KEY, dept INT REFERENCES dept(id), name TEXT, salary REAL, hired TEXT);
CREATE TABLE sales(id INTEGER PRIMARY KEY, emp INT, amount INT, note TEXT);
BEGIN;
SQL
awk -v n=20 'BEGIN{for(i=1;i<=n;i++) printf "INSERT INTO dept VALUES(%d,%c%s%d%c,%d.5);\n", i, 39, "dept", i, 39, i*10000}'
awk -v n="$rows" 'BEGIN{s=7; for(i=1;i<=n;i++){s=(s*1103515245+12345)%2147483648; v=int(s/65536);
  printf "INSERT INTO emp VALUES(%d,%d,%cemp%06d%c,%d.%02d,%c20%02d-%02d-%02d%c);\n", i, v%20+1, 39, (v*7919)%999983, 39, 30000+(v*13)%90000, v%100, 39, v%24, (v/24)%12+1, v%28+1, 39}}'
cat <<SQL
COMMIT;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < $((rows * 5)))
INSERT INTO sales SELECT x, (x * 7919) % $rows + 1, (x * 104729) % 10007, printf('note-%08x', x * 2654435761 % 4294967296) FROM c;
CREATE INDEX emp_dept ON emp(dept);
CREATE INDEX sales_emp ON sales(emp);
SELECT count(*), sum(amount), min(note), max(note) FROM sales;
SELECT d.name, count(DISTINCT e.id), sum(s.amount), printf('%.2f', avg(e.salary))
  FROM dept d JOIN emp e ON e.dept = d.id JOIN sales s ON s.emp = e.id
  GROUP BY d.id ORDER BY 3 DESC LIMIT 8;
SELECT e.name, e.salary, rank() OVER (PARTITION BY e.dept ORDER BY e.salary DESC) AS r
  FROM emp e WHERE e.dept = 3 ORDER BY r, e.name LIMIT 5;
SELECT substr(hired, 1, 4) AS y, count(*), printf('%.3f', total(salary) / 1000.0) FROM emp GROUP BY y ORDER BY y LIMIT 30;
SELECT e.id, (SELECT sum(amount) FROM sales WHERE emp = e.id) AS tot FROM emp e ORDER BY tot DESC, e.id LIMIT 5;
UPDATE emp SET salary = salary * 1.05 WHERE dept IN (SELECT id FROM dept WHERE budget > 100000);
DELETE FROM sales WHERE amount % 7 = 0;
SELECT count(*), sum(amount) FROM sales;
SELECT printf('%.4f', sum(salary)), group_concat(DISTINCT dept) FROM (SELECT * FROM emp ORDER BY dept);
SELECT upper(name) || ':' || length(name), hex(name), typeof(salary), abs(-3), round(2.5), round(-2.5), 7 / 2, 7 % 3, 1e308 * 10
  FROM emp ORDER BY id LIMIT 3;
PRAGMA integrity_check;
SQL
