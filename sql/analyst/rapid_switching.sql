-- Bursts of rapid editor switching (the extension's flag: more than 5 switches within 60 s),
-- per user and day, straight from the events.
SELECT
    user_id,
    date,  -- the UTC date partition of the event
    count(*) AS switches,
    count(*) FILTER (WHERE is_rapid_context_switching) AS rapid_switches,
    count(*) FILTER (WHERE is_cross_module_switch) AS cross_module_switches
FROM events
WHERE type = 'editor_switch'
GROUP BY user_id, date
ORDER BY rapid_switches DESC, user_id, date;
