-- Events by type: how much of each kind the extension sends (text_change is keystroke-level).
SELECT
    type,
    count(*) AS events,
    count(DISTINCT user_id) AS users,
    round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS share_pct
FROM events
GROUP BY type
ORDER BY events DESC;
