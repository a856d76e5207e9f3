-- The files developers switch to most, exact over the whole lake (ties by path).
SELECT
    path,
    sum(switch_count) AS switches_to,
    count(DISTINCT user_id) AS users,
    count(DISTINCT date) AS days
FROM metrics_file_switches
GROUP BY path
ORDER BY switches_to DESC, path
LIMIT 20;
