-- Lines added and deleted per user and UTC day (the ETL's line definition), with the churn ratio
-- the insight rules see: min(1, lines_deleted / lines_added), null when nothing was added.
SELECT
    user_id,
    date,
    lines_added,
    lines_deleted,
    churn_ratio,
    switch_count,
    rapid_switch_count,
    sessions,
    definition
FROM user_daily
ORDER BY user_id, date;
