# Staging and backup tables: <P>.backfills_staging_derived, the dataset
# bigquery-etl uses, so both systems can run side by side. Tables expire
# after 30 days unless the pipeline sets its own expiration.
resource "google_bigquery_dataset" "staging" {
  count = var.manage_staging_dataset ? 1 : 0

  project                     = local.staging_project
  dataset_id                  = local.staging_dataset
  location                    = var.bigquery_location
  description                 = "bqbackfill staging and backup tables (<dataset>__<table>_<YYYY_MM_DD>[_backup_<YYYY_MM_DD>])."
  default_table_expiration_ms = local.staging_table_expiration_ms
  delete_contents_on_destroy  = false
  labels                      = local.labels
}

# What the scanner does in the staging dataset: create a table like
# production, copy the seed partition in, mirror production's table IAM onto
# it, and drop it when a start fails. Narrower than roles/bigquery.dataOwner,
# which could also change or delete the dataset.
resource "google_project_iam_custom_role" "staging_tables" {
  project     = local.staging_project
  role_id     = "bqbackfillStagingTables"
  title       = "bqbackfill staging tables"
  description = "Create, fill, share and delete tables in the bqbackfill staging dataset."
  permissions = [
    "bigquery.datasets.get",
    "bigquery.tables.create",
    "bigquery.tables.delete",
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.getIamPolicy",
    "bigquery.tables.list",
    "bigquery.tables.setIamPolicy",
    "bigquery.tables.update",
    "bigquery.tables.updateData",
  ]
}
