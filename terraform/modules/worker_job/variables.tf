variable "project" {
  description = "Project of the job."
  type        = string
}

variable "region" {
  description = "Region of the job."
  type        = string
}

variable "name" {
  description = "Name of the Cloud Run job."
  type        = string
}

variable "image" {
  description = "The worker image (jobs/worker, with python3)."
  type        = string
}

variable "service_account_email" {
  description = "Identity the worker tasks run as."
  type        = string
}

variable "env" {
  description = "Environment variables of every task (Cloud Run adds CLOUD_RUN_TASK_INDEX, CLOUD_RUN_TASK_COUNT, CLOUD_RUN_TASK_ATTEMPT and CLOUD_RUN_EXECUTION)."
  type        = map(string)
}

variable "task_timeout_seconds" {
  description = "Timeout of one task."
  type        = number
}

variable "max_retries" {
  description = "Retries of a failed task."
  type        = number
}

variable "cpu" {
  description = "CPU limit of a task."
  type        = string
}

variable "memory" {
  description = "Memory limit of a task."
  type        = string
}

variable "labels" {
  description = "Labels of the job and its executions."
  type        = map(string)
  default     = {}
}
