-- One row per session: its user, first and last event, length in minutes and event counts.
-- A session id rotates after 30 idle minutes, so a working day has several.
SELECT
    user_id,
    session_id,
    min("timestamp") AS start_time,
    max("timestamp") AS last_event_at,
    round(date_diff('second', min("timestamp"), max("timestamp")) / 60.0, 1) AS minutes,
    count(*) AS events,
    count(*) FILTER (WHERE type = 'text_change') AS text_changes,
    count(*) FILTER (WHERE type = 'editor_switch') AS editor_switches
FROM events
GROUP BY user_id, session_id
ORDER BY start_time;
