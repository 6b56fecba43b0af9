module "pubsub" {
  source = "./modules/pubsub"

  project                        = var.project
  project_number                 = data.google_project.this.number
  labels                         = local.labels
  partitions_topic               = local.partitions_topic
  partitions_subscription        = local.partitions_subscription
  complete_topic                 = local.complete_topic
  events_topic                   = local.events_topic
  dead_letter_topic              = local.dead_letter_topic
  scan_tick_topic                = local.scan_tick_topic
  partition_ack_deadline_seconds = var.partition_ack_deadline_seconds
  max_delivery_attempts          = local.max_delivery_attempts

  depends_on = [google_project_service.enabled]
}
