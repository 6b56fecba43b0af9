# Log-based metrics on the components' JSON log lines (severity, message and
# fields such as backfill_id, partition, state, bytes).

locals {
  worker_logs = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${var.worker_job}\""
  service_logs = format(
    "resource.type=\"cloud_run_revision\" AND (%s)",
    join(" OR ", [for s in [var.services.scanner, var.services.completion, var.services.notifier] : "resource.labels.service_name=\"${s}\""]),
  )
  component_logs = "((${local.worker_logs}) OR (${local.service_logs}))"
}

resource "google_logging_metric" "partitions_done" {
  project     = var.project
  name        = "bqbackfill/partitions_done"
  description = "Partitions computed into staging (worker log \"partition done\")."
  filter      = "${local.worker_logs} AND jsonPayload.message=\"partition done\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "bqbackfill partitions done"

    labels {
      key         = "backfill_id"
      value_type  = "STRING"
      description = "project.dataset.table/entry_date"
    }
  }

  label_extractors = {
    backfill_id = "EXTRACT(jsonPayload.backfill_id)"
  }
}

resource "google_logging_metric" "partitions_failed" {
  project     = var.project
  name        = "bqbackfill/partitions_failed"
  description = "Partitions marked failed and dead-lettered (worker log \"partition failed\")."
  filter      = "${local.worker_logs} AND jsonPayload.message=\"partition failed\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "bqbackfill partitions failed"

    labels {
      key         = "backfill_id"
      value_type  = "STRING"
      description = "project.dataset.table/entry_date"
    }
  }

  label_extractors = {
    backfill_id = "EXTRACT(jsonPayload.backfill_id)"
  }
}

# Logged once per backfill by whichever worker task or scanner tick moves it
# out of processing.
resource "google_logging_metric" "backfills_finished" {
  project     = var.project
  name        = "bqbackfill/backfills_finished"
  description = "Backfills whose partitions are all final (log \"backfill finished processing\"), by outcome."
  filter      = "${local.component_logs} AND jsonPayload.message=\"backfill finished processing\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "bqbackfill backfills finished processing"

    labels {
      key         = "state"
      value_type  = "STRING"
      description = "processed or failed"
    }
  }

  label_extractors = {
    state = "EXTRACT(jsonPayload.state)"
  }
}

resource "google_logging_metric" "backfills_completed" {
  project     = var.project
  name        = "bqbackfill/backfills_completed"
  description = "Backfills swapped into production (completion log \"backfill completed\")."
  filter      = "${local.service_logs} AND jsonPayload.message=\"backfill completed\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "bqbackfill backfills completed"

    labels {
      key         = "backfill_id"
      value_type  = "STRING"
      description = "project.dataset.table/entry_date"
    }
  }

  label_extractors = {
    backfill_id = "EXTRACT(jsonPayload.backfill_id)"
  }
}

resource "google_logging_metric" "partition_bytes" {
  project     = var.project
  name        = "bqbackfill/partition_bytes_processed"
  description = "Bytes a partition's query processed (field bytes of \"partition done\")."
  filter      = "${local.worker_logs} AND jsonPayload.message=\"partition done\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "By"
    display_name = "bqbackfill bytes processed per partition"
  }

  value_extractor = "EXTRACT(jsonPayload.bytes)"

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 40
      growth_factor      = 2
      scale              = 1048576
    }
  }
}
