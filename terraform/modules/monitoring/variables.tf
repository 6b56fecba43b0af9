variable "project" {
  description = "Project of the metrics, dashboard and alert policies (where the components log)."
  type        = string
}

variable "environment" {
  description = "Environment name, shown in the dashboard and alert titles."
  type        = string
}

variable "worker_job" {
  description = "Name of the worker Cloud Run job."
  type        = string
}

variable "services" {
  description = "Names of the Cloud Run services by component (scanner, completion, notifier)."
  type = object({
    scanner    = string
    completion = string
    notifier   = string
  })
}

variable "partitions_subscription" {
  description = "The workers' pull subscription."
  type        = string
}

variable "push_subscriptions" {
  description = "Push subscriptions whose backlog means a stuck completion or notification."
  type        = list(string)
}

variable "dead_letter_topic" {
  description = "The dead-letter topic."
  type        = string
}

variable "dead_letter_subscription" {
  description = "The subscription that holds dead letters for inspection."
  type        = string
}

variable "notification_channels" {
  description = "Notification channel ids of the alert policies."
  type        = list(string)
  default     = []
}

variable "stuck_after_minutes" {
  description = "Minutes after which waiting partition messages, or no finished partition while messages wait, count as a stuck backfill."
  type        = number
}
