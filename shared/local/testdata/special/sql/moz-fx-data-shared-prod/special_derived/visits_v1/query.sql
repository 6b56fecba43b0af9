-- The first version counted bots; this one drops them.
SELECT
  submission_date,
  country,
  SUM(visits) AS visits
FROM
  `moz-fx-data-shared-prod.special_live.visits_v1`
WHERE
  submission_date = @submission_date
  AND NOT is_bot
GROUP BY
  submission_date,
  country
