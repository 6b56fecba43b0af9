CREATE TABLE `p.d.agg_v1` (submission_date DATE, channel STRING, first_seen_year INT64, is_default BOOL, dau INT64, revenue FLOAT64) PARTITION BY submission_date;
INSERT INTO `p.d.agg_v1` VALUES
  (DATE '2024-06-01', 'release', 2023, TRUE, 10, 5.0),
  (DATE '2024-06-01', 'beta', 2022, FALSE, 3, 1.25),
  (DATE '2024-06-01', NULL, 2023, TRUE, 6, 3.0),
  (DATE '2024-06-01', '??', 2023, TRUE, 2, 1.0),
  (DATE '2024-06-01', 'esr', NULL, NULL, 8, 4.0),
  (DATE '2024-06-01', 'nightly', 2021, TRUE, 3, 0.3),
  (DATE '2024-06-01', 'aurora', 2024, FALSE, 5, 2.0),
  (DATE '2024-06-01', 'release', 2020, FALSE, 10, 1.0);
CREATE TABLE `p.d.events` (submission_date DATE, channel STRING, first_seen_year INT64, is_default BOOL, os STRING, clicks INT64, dau INT64, revenue FLOAT64);
INSERT INTO `p.d.events` VALUES
  (DATE '2024-06-01', 'release', 2023, TRUE, 'Linux', 7, 4, 2.0),
  (DATE '2024-06-01', 'release', 2023, TRUE, 'Windows', 3, 5, 2.5),
  (DATE '2024-06-01', NULL, 2023, TRUE, 'Linux', 1, 4, 2.0),
  (DATE '2024-06-01', 'esr', NULL, NULL, 'Mac', 2, 5, 2.5),
  (DATE '2024-06-01', 'nightly', 2021, TRUE, 'Linux', 0, 1, 0.1),
  (DATE '2024-06-01', 'nightly', 2021, TRUE, 'Mac', 0, 1, 0.1),
  (DATE '2024-06-01', 'aurora', 2024, FALSE, 'Linux', 1, 7, 3.0),
  (DATE '2024-06-01', 'release', 2020, FALSE, 'Linux', 4, 8, 1.5),
  (DATE '2024-06-02', 'release', 2020, FALSE, 'Linux', 4, 100, 100.0);
CREATE TABLE `p.d.agg_v2_staging` (submission_date DATE, channel STRING, first_seen_year INT64, is_default BOOL, os STRING, dau INT64, clicks INT64, revenue FLOAT64) PARTITION BY submission_date;
