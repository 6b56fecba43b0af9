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

# Durations (field duration_seconds). Buckets grow by 1.5 from 1 s: fine
# enough for p50/p95 from seconds up to the largest duration each can have.

resource "google_logging_metric" "partition_duration" {
  project     = var.project
  name        = "bqbackfill/partition_duration"
  description = "A partition's compute time, query to ledger record (field duration_seconds of \"partition done\")."
  filter      = "${local.worker_logs} AND jsonPayload.message=\"partition done\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "bqbackfill partition compute time"

    labels {
      key         = "backfill_id"
      value_type  = "STRING"
      description = "project.dataset.table/entry_date"
    }
  }

  value_extractor = "EXTRACT(jsonPayload.duration_seconds)"
  label_extractors = {
    backfill_id = "EXTRACT(jsonPayload.backfill_id)"
  }

  # 1 s to about 53 h (1.5^30 s), beyond any task timeout.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 30
      growth_factor      = 1.5
      scale              = 1
    }
  }
}

resource "google_logging_metric" "backfill_processing_duration" {
  project     = var.project
  name        = "bqbackfill/backfill_processing_duration"
  description = "A backfill's time from its start to all partitions final (field duration_seconds of \"backfill finished processing\"), by outcome."
  filter      = "${local.component_logs} AND jsonPayload.message=\"backfill finished processing\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "bqbackfill backfill processing time"

    labels {
      key         = "state"
      value_type  = "STRING"
      description = "processed or failed"
    }
  }

  value_extractor = "EXTRACT(jsonPayload.duration_seconds)"
  label_extractors = {
    state = "EXTRACT(jsonPayload.state)"
  }

  # 1 s to about 128 days (1.5^40 s): a large backfill runs for days.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 40
      growth_factor      = 1.5
      scale              = 1
    }
  }
}

resource "google_logging_metric" "backfill_completion_duration" {
  project     = var.project
  name        = "bqbackfill/backfill_completion_duration"
  description = "A backfill's time from the completion request to completed (field duration_seconds of completion log \"backfill completed\")."
  filter      = "${local.service_logs} AND jsonPayload.message=\"backfill completed\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "bqbackfill backfill completion time"

    labels {
      key         = "backfill_id"
      value_type  = "STRING"
      description = "project.dataset.table/entry_date"
    }
  }

  value_extractor = "EXTRACT(jsonPayload.duration_seconds)"
  label_extractors = {
    backfill_id = "EXTRACT(jsonPayload.backfill_id)"
  }

  # 1 s to about 53 h (1.5^30 s).
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 30
      growth_factor      = 1.5
      scale              = 1
    }
  }
}
