variable "project" {
  description = "Project of the topics and subscriptions."
  type        = string
}

variable "project_number" {
  description = "Number of var.project; names the Pub/Sub service agent that forwards dead letters."
  type        = string
}

variable "labels" {
  description = "Labels of every topic and subscription."
  type        = map(string)
  default     = {}
}

variable "partitions_topic" {
  description = "Topic with one message per partition to compute."
  type        = string
}

variable "partitions_subscription" {
  description = "Pull subscription of the worker tasks on the partitions topic."
  type        = string
}

variable "complete_topic" {
  description = "Topic of completion requests (consumed by the completion service)."
  type        = string
}

variable "events_topic" {
  description = "Topic of backfill events (consumed by the notifier)."
  type        = string
}

variable "dead_letter_topic" {
  description = "Topic of partition messages that failed every attempt."
  type        = string
}

variable "scan_tick_topic" {
  description = "Topic the scheduler publishes the scanner's safety-net tick to."
  type        = string
}

variable "partition_ack_deadline_seconds" {
  description = "Ack deadline of the partitions subscription."
  type        = number
}

variable "max_delivery_attempts" {
  description = "Deliveries of a partition message before Pub/Sub dead-letters it; must equal the pipeline's MaxDeliveries."
  type        = number
}
