SELECT
  submission_date,
  channel,
  first_seen_year,
  is_default,
  COUNT(*) AS dau,
  SUM(revenue) AS revenue
FROM
  `p.d.clients`
WHERE
  submission_date = @submission_date
GROUP BY
  submission_date,
  channel,
  first_seen_year,
  is_default
