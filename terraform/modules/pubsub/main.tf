# Topics and the pull subscriptions. Push subscriptions belong to the service
# they push to (modules/function_service).

resource "google_pubsub_topic" "partitions" {
  project                    = var.project
  name                       = var.partitions_topic
  message_retention_duration = "604800s"
  labels                     = var.labels
}

resource "google_pubsub_topic" "complete" {
  project = var.project
  name    = var.complete_topic
  labels  = var.labels
}

resource "google_pubsub_topic" "events" {
  project = var.project
  name    = var.events_topic
  labels  = var.labels
}

resource "google_pubsub_topic" "dead_letter" {
  project                    = var.project
  name                       = var.dead_letter_topic
  message_retention_duration = "604800s"
  labels                     = var.labels
}

resource "google_pubsub_topic" "scan_tick" {
  project = var.project
  name    = var.scan_tick_topic
  labels  = var.labels
}

# Worker tasks pull this. A partition's query runs for minutes; the client
# keeps extending the lease while it runs, so the ack deadline only bounds
# how long a message held by a crashed task stays invisible. A nacked
# partition comes back after an exponential backoff; on the last delivery the
# worker records the failure and dead-letters it itself, and Pub/Sub
# dead-letters whatever was never acked after max_delivery_attempts.
resource "google_pubsub_subscription" "partitions_worker" {
  project                    = var.project
  name                       = var.partitions_subscription
  topic                      = google_pubsub_topic.partitions.name
  ack_deadline_seconds       = var.partition_ack_deadline_seconds
  message_retention_duration = "604800s"
  retain_acked_messages      = false
  enable_message_ordering    = false
  labels                     = var.labels

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "30s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
}

# Keeps dead letters for a week so a human can read them
# (gcloud pubsub subscriptions pull ... --auto-ack); the dead-letter alert
# fires while any wait here.
resource "google_pubsub_subscription" "dead_letter_hold" {
  project                    = var.project
  name                       = "${var.dead_letter_topic}-hold"
  topic                      = google_pubsub_topic.dead_letter.name
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  labels                     = var.labels

  expiration_policy {
    ttl = ""
  }
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the
# dead-letter topic and acknowledge on the source subscription.
locals {
  pubsub_agent = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  project = var.project
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_acks_partitions" {
  project      = var.project
  subscription = google_pubsub_subscription.partitions_worker.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
