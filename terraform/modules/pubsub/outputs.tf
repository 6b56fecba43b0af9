output "partitions_topic" {
  description = "Name of the partitions topic."
  value       = google_pubsub_topic.partitions.name
}

output "partitions_subscription" {
  description = "Name of the workers' pull subscription."
  value       = google_pubsub_subscription.partitions_worker.name
}

output "complete_topic" {
  description = "Name of the completion topic."
  value       = google_pubsub_topic.complete.name
}

output "events_topic" {
  description = "Name of the events topic."
  value       = google_pubsub_topic.events.name
}

output "dead_letter_topic" {
  description = "Name of the dead-letter topic."
  value       = google_pubsub_topic.dead_letter.name
}

output "dead_letter_subscription" {
  description = "Name of the subscription that holds dead letters for inspection."
  value       = google_pubsub_subscription.dead_letter_hold.name
}

output "scan_tick_topic" {
  description = "Name of the scheduler tick topic."
  value       = google_pubsub_topic.scan_tick.name
}

output "scan_tick_topic_id" {
  description = "Id (projects/P/topics/T) of the scheduler tick topic."
  value       = google_pubsub_topic.scan_tick.id
}
