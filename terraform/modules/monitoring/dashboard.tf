locals {
  user_metric = "logging.googleapis.com/user"

  all_subscriptions = concat([var.partitions_subscription], var.push_subscriptions)
  subscription_filter = format(
    "resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=one_of(%s)",
    join(", ", [for s in local.all_subscriptions : "\"${s}\""]),
  )

  # A chart of one or more time series filters on a shared y axis.
  dashboard = {
    displayName = "bqbackfill (${var.environment})"
    mosaicLayout = {
      columns = 48
      tiles = [
        {
          xPos   = 0
          yPos   = 0
          width  = 48
          height = 6
          widget = {
            title = "About"
            text = {
              format  = "MARKDOWN"
              content = "Backfills of **${var.environment}**. Partitions flow from the scanner through `${var.partitions_subscription}` to the `${var.worker_job}` job; failures end in `${var.dead_letter_topic}` (read them from `${var.dead_letter_subscription}`). Ledger state: `bqbackfill status`. Logs: filter on `jsonPayload.backfill_id`."
            }
          }
        },
        {
          xPos   = 0
          yPos   = 6
          width  = 24
          height = 16
          widget = {
            title = "Partitions done and failed (per 5 min)"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [
                {
                  legendTemplate = "done"
                  plotType       = "STACKED_BAR"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"${local.user_metric}/${google_logging_metric.partitions_done.name}\" AND resource.type=\"cloud_run_job\""
                      aggregation = {
                        alignmentPeriod    = "300s"
                        perSeriesAligner   = "ALIGN_SUM"
                        crossSeriesReducer = "REDUCE_SUM"
                      }
                    }
                  }
                },
                {
                  legendTemplate = "failed"
                  plotType       = "STACKED_BAR"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"${local.user_metric}/${google_logging_metric.partitions_failed.name}\" AND resource.type=\"cloud_run_job\""
                      aggregation = {
                        alignmentPeriod    = "300s"
                        perSeriesAligner   = "ALIGN_SUM"
                        crossSeriesReducer = "REDUCE_SUM"
                      }
                    }
                  }
                },
              ]
              yAxis = { label = "partitions", scale = "LINEAR" }
            }
          }
        },
        {
          xPos   = 24
          yPos   = 6
          width  = 24
          height = 16
          widget = {
            title = "Backfills finished processing (by outcome) and completed"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [
                {
                  legendTemplate = "finished: $${metric.labels.state}"
                  plotType       = "STACKED_BAR"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"${local.user_metric}/${google_logging_metric.backfills_finished.name}\""
                      aggregation = {
                        alignmentPeriod    = "3600s"
                        perSeriesAligner   = "ALIGN_SUM"
                        crossSeriesReducer = "REDUCE_SUM"
                        groupByFields      = ["metric.label.state"]
                      }
                    }
                  }
                },
                {
                  legendTemplate = "completed"
                  plotType       = "STACKED_BAR"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"${local.user_metric}/${google_logging_metric.backfills_completed.name}\""
                      aggregation = {
                        alignmentPeriod    = "3600s"
                        perSeriesAligner   = "ALIGN_SUM"
                        crossSeriesReducer = "REDUCE_SUM"
                      }
                    }
                  }
                },
              ]
              yAxis = { label = "backfills per hour", scale = "LINEAR" }
            }
          }
        },
        {
          xPos   = 0
          yPos   = 22
          width  = 24
          height = 16
          widget = {
            title = "Oldest unacked message age"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [
                {
                  legendTemplate = "$${resource.labels.subscription_id}"
                  plotType       = "LINE"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND ${local.subscription_filter}"
                      aggregation = {
                        alignmentPeriod    = "60s"
                        perSeriesAligner   = "ALIGN_MAX"
                        crossSeriesReducer = "REDUCE_MAX"
                        groupByFields      = ["resource.label.subscription_id"]
                      }
                    }
                  }
                },
              ]
              thresholds = [{ value = var.stuck_after_minutes * 60, targetAxis = "Y1", label = "stuck" }]
              yAxis      = { label = "seconds", scale = "LINEAR" }
            }
          }
        },
        {
          xPos   = 24
          yPos   = 22
          width  = 24
          height = 16
          widget = {
            title = "Undelivered messages"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [
                {
                  legendTemplate = "$${resource.labels.subscription_id}"
                  plotType       = "LINE"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND ${local.subscription_filter}"
                      aggregation = {
                        alignmentPeriod    = "60s"
                        perSeriesAligner   = "ALIGN_MAX"
                        crossSeriesReducer = "REDUCE_MAX"
                        groupByFields      = ["resource.label.subscription_id"]
                      }
                    }
                  }
                },
              ]
              yAxis = { label = "messages", scale = "LINEAR" }
            }
          }
        },
        {
          xPos   = 0
          yPos   = 38
          width  = 24
          height = 16
          widget = {
            title = "Dead letters"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [
                {
                  legendTemplate = "waiting in ${var.dead_letter_subscription}"
                  plotType       = "LINE"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${var.dead_letter_subscription}\""
                      aggregation = {
                        alignmentPeriod  = "60s"
                        perSeriesAligner = "ALIGN_MAX"
                      }
                    }
                  }
                },
                {
                  legendTemplate = "forwarded by Pub/Sub from ${var.partitions_subscription}"
                  plotType       = "STACKED_BAR"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${var.partitions_subscription}\""
                      aggregation = {
                        alignmentPeriod    = "300s"
                        perSeriesAligner   = "ALIGN_SUM"
                        crossSeriesReducer = "REDUCE_SUM"
                      }
                    }
                  }
                },
              ]
              yAxis = { label = "messages", scale = "LINEAR" }
            }
          }
        },
        {
          xPos   = 24
          yPos   = 38
          width  = 24
          height = 16
          widget = {
            title = "Worker job executions"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [
                {
                  legendTemplate = "running"
                  plotType       = "LINE"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"run.googleapis.com/job/running_executions\" AND resource.type=\"cloud_run_job\" AND resource.label.job_name=\"${var.worker_job}\""
                      aggregation = {
                        alignmentPeriod    = "60s"
                        perSeriesAligner   = "ALIGN_MAX"
                        crossSeriesReducer = "REDUCE_SUM"
                      }
                    }
                  }
                },
                {
                  legendTemplate = "completed: $${metric.labels.result}"
                  plotType       = "STACKED_BAR"
                  targetAxis     = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"run.googleapis.com/job/completed_execution_count\" AND resource.type=\"cloud_run_job\" AND resource.label.job_name=\"${var.worker_job}\""
                      aggregation = {
                        alignmentPeriod    = "300s"
                        perSeriesAligner   = "ALIGN_SUM"
                        crossSeriesReducer = "REDUCE_SUM"
                        groupByFields      = ["metric.label.result"]
                      }
                    }
                  }
                },
              ]
              yAxis = { label = "executions", scale = "LINEAR" }
            }
          }
        },
        {
          xPos   = 0
          yPos   = 54
          width  = 24
          height = 16
          widget = {
            title = "Bytes processed per partition"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [
                {
                  plotType   = "HEATMAP"
                  targetAxis = "Y1"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"${local.user_metric}/${google_logging_metric.partition_bytes.name}\" AND resource.type=\"cloud_run_job\""
                      aggregation = {
                        alignmentPeriod    = "300s"
                        perSeriesAligner   = "ALIGN_DELTA"
                        crossSeriesReducer = "REDUCE_SUM"
                      }
                    }
                  }
                },
              ]
              yAxis = { label = "bytes", scale = "LOG10" }
            }
          }
        },
        {
          xPos   = 24
          yPos   = 54
          width  = 24
          height = 16
          widget = {
            title = "Completion function request latency (p50, p95)"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [for p in ["50", "95"] : {
                legendTemplate = "p${p}"
                plotType       = "LINE"
                targetAxis     = "Y1"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "metric.type=\"run.googleapis.com/request_latencies\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${var.services.completion}\""
                    aggregation = {
                      alignmentPeriod    = "300s"
                      perSeriesAligner   = "ALIGN_PERCENTILE_${p}"
                      crossSeriesReducer = "REDUCE_MAX"
                    }
                  }
                }
              }]
              yAxis = { label = "ms", scale = "LINEAR" }
            }
          }
        },
        {
          xPos   = 0
          yPos   = 70
          width  = 16
          height = 16
          widget = {
            title = "Partition compute time (p50, p95)"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [for p in ["50", "95"] : {
                legendTemplate = "p${p}"
                plotType       = "LINE"
                targetAxis     = "Y1"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "metric.type=\"${local.user_metric}/${google_logging_metric.partition_duration.name}\" AND resource.type=\"cloud_run_job\""
                    aggregation = {
                      alignmentPeriod    = "300s"
                      perSeriesAligner   = "ALIGN_DELTA"
                      crossSeriesReducer = "REDUCE_PERCENTILE_${p}"
                    }
                  }
                }
              }]
              yAxis = { label = "seconds", scale = "LOG10" }
            }
          }
        },
        {
          xPos   = 16
          yPos   = 70
          width  = 16
          height = 16
          widget = {
            title = "Backfill processing time, start to all partitions final (p50, p95)"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [for p in ["50", "95"] : {
                legendTemplate = "p${p} $${metric.labels.state}"
                plotType       = "LINE"
                targetAxis     = "Y1"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "metric.type=\"${local.user_metric}/${google_logging_metric.backfill_processing_duration.name}\""
                    aggregation = {
                      alignmentPeriod    = "3600s"
                      perSeriesAligner   = "ALIGN_DELTA"
                      crossSeriesReducer = "REDUCE_PERCENTILE_${p}"
                      groupByFields      = ["metric.label.state"]
                    }
                  }
                }
              }]
              yAxis = { label = "seconds", scale = "LOG10" }
            }
          }
        },
        {
          xPos   = 32
          yPos   = 70
          width  = 16
          height = 16
          widget = {
            title = "Backfill completion time, request to completed (p50, p95)"
            xyChart = {
              chartOptions = { mode = "COLOR" }
              dataSets = [for p in ["50", "95"] : {
                legendTemplate = "p${p}"
                plotType       = "LINE"
                targetAxis     = "Y1"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "metric.type=\"${local.user_metric}/${google_logging_metric.backfill_completion_duration.name}\" AND resource.type=\"cloud_run_revision\""
                    aggregation = {
                      alignmentPeriod    = "3600s"
                      perSeriesAligner   = "ALIGN_DELTA"
                      crossSeriesReducer = "REDUCE_PERCENTILE_${p}"
                    }
                  }
                }
              }]
              yAxis = { label = "seconds", scale = "LOG10" }
            }
          }
        },
        {
          xPos   = 0
          yPos   = 86
          width  = 48
          height = 20
          widget = {
            title = "Errors and warnings"
            logsPanel = {
              filter        = "${local.component_logs} AND severity>=WARNING"
              resourceNames = ["projects/${var.project}"]
            }
          }
        },
      ]
    }
  }
}

resource "google_monitoring_dashboard" "this" {
  project        = var.project
  dashboard_json = jsonencode(local.dashboard)
}
