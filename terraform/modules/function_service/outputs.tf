output "name" {
  description = "Name of the Cloud Run service."
  value       = google_cloud_run_v2_service.this.name
}

output "uri" {
  description = "URL of the Cloud Run service."
  value       = google_cloud_run_v2_service.this.uri
}

output "push_subscription" {
  description = "Name of the push subscription that feeds the service."
  value       = google_pubsub_subscription.push.name
}
