CREATE TABLE `p.d.wide_v1` (submission_date DATE, channel STRING, fsy INT64, ratio FLOAT64, amount NUMERIC, is_default BOOL, day DATE, ts TIMESTAMP, b BYTES, country STRING, dau INT64, revenue FLOAT64, money NUMERIC) PARTITION BY submission_date;
INSERT INTO `p.d.wide_v1` VALUES
  (DATE '2024-06-01', 'release', 2023, 0.5, 1.5, TRUE, DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00:00', b'x', 'DE', 5, 2.5, 10.25),
  (DATE '2024-06-01', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'US', 4, 1.0, 3.5),
  (DATE '2024-06-01', 'beta', 2022, 0.25, 2.5, FALSE, DATE '2024-02-01', TIMESTAMP '2024-02-01 10:00:00', b'y', 'FR', 2, 0.5, 1.0);
CREATE TABLE `p.d.clients` (submission_date DATE, client_id STRING, channel STRING, fsy INT64, ratio FLOAT64, amount NUMERIC, is_default BOOL, day DATE, ts TIMESTAMP, b BYTES, country STRING, os STRING, label STRING, seen TIMESTAMP, revenue FLOAT64, money NUMERIC, clicks NUMERIC);
INSERT INTO `p.d.clients` VALUES
  (DATE '2024-06-01', 'c1', 'release', 2023, 0.5, 1.5, TRUE, DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00:00', b'x', 'DE', 'Linux', 'l1', TIMESTAMP '2024-06-01 01:00:00', 1.0, 4.0, 1.5),
  (DATE '2024-06-01', 'c2', 'release', 2023, 0.5, 1.5, TRUE, DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00:00', b'x', 'DE', 'Mac', 'l2', TIMESTAMP '2024-06-01 02:00:00', 0.5, 2.25, 2.5),
  (DATE '2024-06-01', 'c3', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'US', 'Linux', 'l3', NULL, 0.25, 1.5, 0.5);
CREATE TABLE `p.d.wide_v2_staging` (submission_date DATE, channel STRING, fsy INT64, ratio FLOAT64, amount NUMERIC, is_default BOOL, day DATE, ts TIMESTAMP, b BYTES, os STRING, seen TIMESTAMP, country STRING, label STRING, dau INT64, revenue FLOAT64, money NUMERIC, clicks NUMERIC) PARTITION BY submission_date;
