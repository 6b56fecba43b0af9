# Cloud Monitoring answers 404 "Cannot find metric(s)" to an alert policy on
# a log-based metric created moments before, for up to about ten minutes
# (hashicorp/terraform-provider-google#11102), which fails the first apply.
# Alert policies on these metrics depend on this wait; a re-created metric
# restarts it (issue 9 F2, checked by terraform/apply_order_test.go).
resource "time_sleep" "log_metrics_visible" {
  create_duration = "10m"

  triggers = {
    partitions_done = google_logging_metric.partitions_done.id
  }
}
