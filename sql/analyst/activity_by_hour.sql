-- Activity by UTC hour of day: events and distinct active users per hour.
SELECT
    hour("timestamp") AS hour_utc,
    count(*) AS events,
    count(DISTINCT user_id) AS active_users
FROM events
GROUP BY hour_utc
ORDER BY hour_utc;
