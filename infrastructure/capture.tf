# Captured predictions in Athena: a Glue table over the Parquet segments the servers ship to
#   <prefix>/captures/predictions/model=<name>/dt=YYYY-MM-DD/hour=HH/<replica>-<seq>.parquet
# Partition projection computes the partitions from the key layout, so nothing has to add them
# (no crawler, no MSCK REPAIR) and a new hour is queryable as soon as its first segment lands.

locals {
  # The fixed columns of a predictions segment (src/capture/segment.rs); the inputs follow.
  capture_fixed_columns = [
    { name = "prediction_id", type = "string" },
    { name = "client_request_id", type = "string" },
    { name = "ts", type = "timestamp" },
    { name = "model_name", type = "string" },
    { name = "model_alias", type = "string" },
    { name = "model_version", type = "bigint" },
    { name = "run_id", type = "string" },
    { name = "probability", type = "double" },
    { name = "class", type = "bigint" },
    { name = "threshold", type = "double" },
    { name = "replica", type = "string" },
    { name = "schema_version", type = "int" },
    { name = "source", type = "string" },
    { name = "quality", type = "string" },
  ]
  capture_fixed_names = [for c in local.capture_fixed_columns : c.name]
  # Athena reads Parquet columns by lower-case name of [a-z0-9_] only (see the variable); an
  # input named like a fixed column is input_<name>, as the segment writer names it.
  athena_names = {
    for c in var.capture_input_columns : c.name => trim(replace(lower(c.name), "/[^a-z0-9]+/", "_"), "_")
  }
  capture_columns = concat(local.capture_fixed_columns, [
    for c in var.capture_input_columns : {
      name = contains(local.capture_fixed_names, local.athena_names[c.name]) ? "input_${local.athena_names[c.name]}" : local.athena_names[c.name]
      type = c.type
    }
  ])
  capture_database = replace("${local.name}_captures", "-", "_")
  predictions_uri  = "s3://${aws_s3_bucket.sync.bucket}/${local.capture_prefix}/predictions"
  # A model name is injected by each query unless the names are listed.
  model_projection = length(var.capture_models) == 0 ? tomap({ "projection.model.type" = "injected" }) : tomap({
    "projection.model.type"   = "enum"
    "projection.model.values" = join(",", var.capture_models)
  })
}

resource "aws_glue_catalog_database" "captures" {
  name        = local.capture_database
  description = "staytrack's captured predictions (s3://${aws_s3_bucket.sync.bucket}/${local.capture_prefix}/)"
}

resource "aws_glue_catalog_table" "predictions" {
  name          = "predictions"
  database_name = aws_glue_catalog_database.captures.name
  description   = "One row per prediction served, shipped by each replica in sealed Parquet segments."
  table_type    = "EXTERNAL_TABLE"
  parameters = merge(local.model_projection, {
    "EXTERNAL"                    = "TRUE"
    "classification"              = "parquet"
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${var.capture_projection_start},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "projection.hour.type"        = "integer"
    "projection.hour.range"       = "0,23"
    "projection.hour.digits"      = "2"
    "storage.location.template"   = "${local.predictions_uri}/model=$${model}/dt=$${dt}/hour=$${hour}"
  })

  partition_keys {
    name = "model"
    type = "string"
  }
  partition_keys {
    name = "dt"
    type = "date"
  }
  partition_keys {
    name = "hour"
    type = "int"
  }

  storage_descriptor {
    location      = "${local.predictions_uri}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }
    dynamic "columns" {
      for_each = local.capture_columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}
