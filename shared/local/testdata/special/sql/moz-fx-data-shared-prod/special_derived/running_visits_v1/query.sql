-- Today's total is yesterday's total, read from this same table, plus today's human visits.
WITH today AS (
  SELECT
    country,
    SUM(visits) AS visits
  FROM
    `moz-fx-data-shared-prod.special_live.visits_v1`
  WHERE
    submission_date = @submission_date
    AND NOT is_bot
  GROUP BY
    country
),
yesterday AS (
  SELECT
    country,
    total
  FROM
    `moz-fx-data-shared-prod.special_derived.running_visits_v1`
  WHERE
    submission_date = DATE_SUB(@submission_date, INTERVAL 1 DAY)
)
SELECT
  @submission_date AS submission_date,
  today.country,
  today.visits,
  COALESCE(yesterday.total, 0) + today.visits AS total
FROM
  today
LEFT JOIN
  yesterday
  ON yesterday.country = today.country
