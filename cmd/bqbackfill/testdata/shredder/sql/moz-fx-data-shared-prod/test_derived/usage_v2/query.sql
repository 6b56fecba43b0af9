-- The second version adds the dimension os and the metric sessions.
SELECT
  submission_date,
  channel,
  os,
  COUNT(DISTINCT client_id) AS dau,
  SUM(clicks) AS clicks,
  SUM(sessions) AS sessions
FROM
  `moz-fx-data-shared-prod.test_live.clients_v1`
WHERE
  submission_date = @submission_date
GROUP BY
  submission_date,
  channel,
  os;
