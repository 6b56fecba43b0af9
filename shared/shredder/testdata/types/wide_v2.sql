SELECT
  submission_date, channel, fsy, ratio, amount, is_default, day, ts, b, os,
  seen,
  ANY_VALUE(country) AS country,
  ANY_VALUE(label) AS label,
  COUNT(*) AS dau,
  SUM(revenue) AS revenue,
  SUM(money) AS money,
  SUM(clicks) AS clicks
FROM `p.d.clients`
WHERE submission_date = @submission_date
GROUP BY submission_date, channel, fsy, ratio, amount, is_default, day, ts, b, os, seen
