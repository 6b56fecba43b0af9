output "dashboard_id" {
  description = "Id of the Cloud Monitoring dashboard (projects/NUMBER/dashboards/ID)."
  value       = google_monitoring_dashboard.this.id
}

output "log_metrics" {
  description = "Names of the log-based metrics."
  value = [
    google_logging_metric.partitions_done.name,
    google_logging_metric.partitions_failed.name,
    google_logging_metric.backfills_finished.name,
    google_logging_metric.backfills_completed.name,
    google_logging_metric.partition_bytes.name,
    google_logging_metric.partition_duration.name,
    google_logging_metric.backfill_processing_duration.name,
    google_logging_metric.backfill_completion_duration.name,
  ]
}
