-- Re-sent events: stored copies beyond the first of each (session_id, fingerprint).
-- Metrics and the events view count each pair once (contract §4.7).
SELECT
    user_id,
    count(*) AS stored_rows,
    count(DISTINCT (session_id, fingerprint)) AS distinct_events,
    count(*) - count(DISTINCT (session_id, fingerprint)) AS duplicate_copies
FROM events_all
GROUP BY user_id
ORDER BY duplicate_copies DESC, user_id;
