-- Rejected events by reason (contract §4.6) and UTC receive day.
SELECT
    date,
    reason,
    count(*) AS events,
    count(DISTINCT user_id) AS users
FROM quarantine
GROUP BY date, reason
ORDER BY date, events DESC;
