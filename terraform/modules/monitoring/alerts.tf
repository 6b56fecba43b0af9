locals {
  stuck_seconds = var.stuck_after_minutes * 60
}

# Any message on the dead-letter topic: a partition failed every attempt (the
# worker dead-letters it with the error as an attribute) or a message could
# not be delivered at all.
resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project
  display_name          = "bqbackfill ${var.environment}: dead-lettered messages"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "messages waiting in ${var.dead_letter_subscription}"

    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${var.dead_letter_subscription}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A message reached `${var.dead_letter_topic}`. Read it without losing it:

          gcloud pubsub subscriptions pull ${var.dead_letter_subscription} --project=${var.project} --limit=10

      The `error` attribute says why the partition failed; `bqbackfill status` shows the
      backfill. Fix the cause, then `bqbackfill retry` republishes the failed partitions.
      Acknowledge the dead letters (`--auto-ack`) to close this incident.
    EOT
  }
}

# Partitions have waited too long: no worker is pulling (no execution was
# started, or every task died) or completions/notifications keep failing.
resource "google_monitoring_alert_policy" "messages_waiting" {
  project               = var.project
  display_name          = "bqbackfill ${var.environment}: messages waiting too long"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "oldest unacked message older than ${var.stuck_after_minutes} min"

    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND ${local.subscription_filter}"
      comparison      = "COMPARISON_GT"
      threshold_value = local.stuck_seconds
      duration        = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.subscription_id"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A message on one of bqbackfill's subscriptions has not been acknowledged for
      ${var.stuck_after_minutes} minutes. For `${var.partitions_subscription}`: check that a
      `${var.worker_job}` execution is running (Cloud Run > Jobs) and its task logs. For a push
      subscription: the function's logs show why it keeps failing.
    EOT
  }
}

# Work is waiting but nothing finishes: the workers are running and stuck,
# or crash on every partition without recording it.
resource "google_monitoring_alert_policy" "no_progress" {
  project               = var.project
  display_name          = "bqbackfill ${var.environment}: backfill stuck (no partition done)"
  combiner              = "AND"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "partition messages waiting"

    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${var.partitions_subscription}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "${local.stuck_seconds}s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MIN"
      }

      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "no partition done for ${var.stuck_after_minutes} min"

    condition_absent {
      filter   = "metric.type=\"${local.user_metric}/${google_logging_metric.partitions_done.name}\" AND resource.type=\"cloud_run_job\""
      duration = "${local.stuck_seconds}s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [time_sleep.log_metrics_visible]

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Partition messages have waited in `${var.partitions_subscription}` for
      ${var.stuck_after_minutes} minutes and no partition finished meanwhile. Look at the
      `${var.worker_job}` executions and their logs (`jsonPayload.message="partition attempt
      failed; will be redelivered"`), and at BigQuery jobs labelled with the backfill.
    EOT
  }
}

# A worker task exits non-zero only when it cannot work at all.
resource "google_monitoring_alert_policy" "worker_execution_failed" {
  project               = var.project
  display_name          = "bqbackfill ${var.environment}: worker execution failed"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "failed ${var.worker_job} executions"

    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/job/completed_execution_count\" AND resource.type=\"cloud_run_job\" AND resource.label.job_name=\"${var.worker_job}\" AND metric.label.result=\"failed\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      An execution of `${var.worker_job}` failed: its tasks exit non-zero only when the
      configuration or the subscription is broken ("worker task failed" in the task logs).
      Partitions are not lost; the next scanner tick starts workers again.
    EOT
  }
}
