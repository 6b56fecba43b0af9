output "sql_bucket" {
  description = "The sync bucket: `bqbackfill sync --bucket` this."
  value       = google_storage_bucket.sql.name
}

output "ledger_bucket" {
  description = "The ledger bucket (BQBACKFILL_LEDGER_BUCKET for the CLI's status, retry and rollback)."
  value       = google_storage_bucket.ledger.name
}

output "services" {
  description = "URLs of the function services."
  value = {
    scanner    = module.scanner.uri
    completion = module.completion.uri
    notifier   = module.notifier.uri
  }
}

output "worker_job" {
  description = "The worker job (projects/P/locations/L/jobs/J)."
  value       = module.worker.id
}

output "topics" {
  description = "Topic names."
  value = {
    partitions  = module.pubsub.partitions_topic
    complete    = module.pubsub.complete_topic
    events      = module.pubsub.events_topic
    dead_letter = module.pubsub.dead_letter_topic
    scan_tick   = module.pubsub.scan_tick_topic
  }
}

output "dead_letter_subscription" {
  description = "Pull dead letters from here to inspect them."
  value       = module.pubsub.dead_letter_subscription
}

output "staging_dataset" {
  description = "The staging dataset, project.dataset."
  value       = "${local.staging_project}.${local.staging_dataset}"
}

output "service_accounts" {
  description = "Service account of each component; grant production datasets to these (docs/deploy.md)."
  value = {
    scanner    = google_service_account.scanner.email
    worker     = google_service_account.worker.email
    completion = google_service_account.completion.email
    notifier   = google_service_account.notifier.email
  }
}

output "dashboard_url" {
  description = "The Cloud Monitoring dashboard in the Console."
  value       = "https://console.cloud.google.com/monitoring/dashboards/builder/${element(split("/", module.monitoring.dashboard_id), 3)}?project=${var.project}"
}
