# The sync bucket: `bqbackfill sync` writes trees/<sha>.zip, then
# manifest.json, whose finalize event starts the scanner (eventarc.tf).
resource "google_storage_bucket" "sql" {
  project                     = var.project
  name                        = var.sql_bucket
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  # Trees are immutable and named by content; a backfill records the tree it
  # started from, and backfills end well within 60 days.
  lifecycle_rule {
    condition {
      days_since_custom_time = 60
      matches_prefix         = ["trees/"]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# The ledger: backfills/<table>/<entry_date>/{backfill.json,partitions/,swap/},
# written with generation preconditions. Versioned, so a bad write can be
# undone by hand; old versions go after 30 days.
resource "google_storage_bucket" "ledger" {
  project                     = var.project
  name                        = var.ledger_bucket
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_iam_member" "sync_writers" {
  for_each = toset(var.sync_writers)

  bucket = google_storage_bucket.sql.name
  role   = "roles/storage.objectUser"
  member = each.value
}
