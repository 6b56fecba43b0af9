variable "project" {
  description = "Project of the service and its push subscription."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run service."
  type        = string
}

variable "name" {
  description = "Name of the Cloud Run service."
  type        = string
}

variable "image" {
  description = "The functions image (functions/server); every function runs the same image."
  type        = string
}

variable "function_target" {
  description = "FUNCTION_TARGET: the name the function registered with functions.CloudEvent, which functions-framework serves at /."
  type        = string
}

variable "service_account_email" {
  description = "Identity the function runs as."
  type        = string
}

variable "env" {
  description = "Plain environment variables of the function."
  type        = map(string)
  default     = {}
}

variable "secret_env" {
  description = "Environment variables read from Secret Manager: name => { secret (id in var.project), version }."
  type = map(object({
    secret  = string
    version = string
  }))
  default = {}
}

variable "timeout_seconds" {
  description = "Request timeout; at most 600 so it fits within the push subscription's ack deadline."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 10 && var.timeout_seconds <= 600
    error_message = "timeout_seconds must be between 10 and 600."
  }
}

variable "concurrency" {
  description = "Requests (events) one instance handles at once."
  type        = number
  default     = 1
}

variable "max_instances" {
  description = "Maximum instances."
  type        = number
  default     = 2
}

variable "cpu" {
  description = "CPU limit of an instance."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory limit of an instance."
  type        = string
  default     = "512Mi"
}

variable "labels" {
  description = "Labels of the service and subscription."
  type        = map(string)
  default     = {}
}

variable "invokers" {
  description = "Members allowed to invoke the service (roles/run.invoker), by a static key: the push subscription's identity and, for the scanner, the Eventarc trigger's. Keys are static so that members computed at apply time can be used."
  type        = map(string)
}

variable "push_topic" {
  description = "Name of the topic whose messages are pushed to this function."
  type        = string
}

variable "push_subscription" {
  description = "Name of the push subscription."
  type        = string
}

variable "push_service_account_email" {
  description = "Identity whose OIDC token authenticates the pushes; it needs roles/run.invoker on the service (list it in var.invokers)."
  type        = string
}

variable "push_ack_deadline_seconds" {
  description = "How long Pub/Sub waits for the function's answer before it redelivers."
  type        = number
  default     = 600
}

variable "push_message_retention" {
  description = "How long an undelivered push message is kept (at least 600s)."
  type        = string
  default     = "604800s"
}

variable "push_minimum_backoff" {
  description = "First redelivery delay after a failed push."
  type        = string
  default     = "10s"
}

variable "push_maximum_backoff" {
  description = "Longest redelivery delay after failed pushes."
  type        = string
  default     = "600s"
}
