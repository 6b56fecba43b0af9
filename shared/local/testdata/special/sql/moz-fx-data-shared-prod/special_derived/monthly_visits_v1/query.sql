-- The first version counted bots; this one drops them.
SELECT
  DATE_TRUNC(@month_start, MONTH) AS month_start,
  country,
  SUM(visits) AS visits
FROM
  `moz-fx-data-shared-prod.special_live.visits_v1`
WHERE
  DATE_TRUNC(submission_date, MONTH) = DATE_TRUNC(@month_start, MONTH)
  AND NOT is_bot
GROUP BY
  month_start,
  country
