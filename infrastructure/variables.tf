variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Name of the deployment (prod, staging, ...); part of every resource name."
  type        = string
  default     = "prod"
}

variable "vpc_id" {
  description = "VPC the load balancer and the service run in."
  type        = string
}

variable "public_subnet_ids" {
  description = "At least two public subnets (different zones) for the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets for the service's tasks (with a NAT or VPC endpoints for ECR, S3, logs and Secrets Manager)."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener."
  type        = string
}

variable "allowed_cidrs" {
  description = "Who may reach the load balancer. Narrow this to your clients; 0.0.0.0/0 makes the API public."
  type        = list(string)
  default     = ["10.0.0.0/8"]
}

variable "image_tag" {
  description = "Tag of the staytrack image in the ECR repository."
  type        = string
  default     = "0.1.0"
}

variable "desired_count" {
  description = "Server tasks. Each pulls the team's models into a workspace of its own (following production within a minute of a push) and ships its own captures, so any number works."
  type        = number
  default     = 1
}

variable "cpu" {
  description = "Task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "memory" {
  description = "Task memory (MiB)."
  type        = number
  default     = 2048
}

variable "sync_prefix" {
  description = "Key prefix in the bucket that staytrack syncs under; the task may touch nothing else."
  type        = string
  default     = "team"
}

variable "log_retention_days" {
  description = "Days the service's logs are kept."
  type        = number
  default     = 365
}

variable "api_token" {
  description = "Bearer token for the admin routes (at least 32 bytes, or they stay off); stored in Secrets Manager. Leave null to set the secret's value outside Terraform."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.api_token == null || length(coalesce(var.api_token, "")) >= 32
    error_message = "api_token must be at least 32 bytes (openssl rand -hex 32); a shorter one leaves the admin routes off."
  }
}

variable "health_check_grace_seconds" {
  description = "Seconds a new task has before the load balancer's health checks count (the first sync pull runs meanwhile)."
  type        = number
  default     = 300
}

variable "shutdown_timeout_seconds" {
  description = "The server's --shutdown-timeout: after SIGTERM it has this long to finish requests, then this long again to write and ship what it captured. ECS kills the container 120 s after SIGTERM."
  type        = number
  default     = 50
  validation {
    condition     = var.shutdown_timeout_seconds >= 10 && var.shutdown_timeout_seconds <= 55
    error_message = "shutdown_timeout_seconds must be 10 to 55: a stop takes up to twice it, and the container's stopTimeout is 120 s."
  }
}

variable "capture_retention_days" {
  description = "Days captured predictions and outcomes (captures/ under the prefix) are kept in the bucket."
  type        = number
  default     = 90
  validation {
    condition     = var.capture_retention_days >= 1
    error_message = "capture_retention_days must be at least 1."
  }
}

variable "capture_models" {
  description = "Model names (the model=<name> partition: `[capture] model` in staytrack.toml, else the dataset's name) Athena enumerates. Empty: the name is injected, and every query must say model = '...'."
  type        = list(string)
  default     = ["av-healthcare-analytics-ii"]
}

variable "capture_projection_start" {
  description = "First day (yyyy-MM-dd) Athena's partition projection considers for captured predictions."
  type        = string
  default     = "2025-01-01"
  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.capture_projection_start))
    error_message = "capture_projection_start must be a date as yyyy-MM-dd."
  }
}

# The model's input columns as captured with each prediction, in the dataset spec's order: the
# hospital dataset's (src/data/spec.rs, DatasetSpec::hospital) but its target, Stay, as segments
# carry them by default (ids, categorical and numeric columns). Types are Athena's: int ->
# bigint, float -> double, text -> string. Athena takes lower-case column names of letters,
# digits and underscores only, so a name is used as lower(name) with every run of other
# characters made one underscore ("Bed Grade" -> bed_grade): the capture's Parquet columns must
# be named that way.
variable "capture_input_columns" {
  description = "The dataset's input columns in captured predictions, as {name, type} with an Athena type (bigint, double, string, boolean)."
  type = list(object({
    name = string
    type = string
  }))
  default = [
    { name = "case_id", type = "bigint" },
    { name = "Hospital_code", type = "bigint" },
    { name = "Hospital_type_code", type = "string" },
    { name = "City_Code_Hospital", type = "bigint" },
    { name = "Hospital_region_code", type = "string" },
    { name = "Available Extra Rooms in Hospital", type = "bigint" },
    { name = "Department", type = "string" },
    { name = "Ward_Type", type = "string" },
    { name = "Ward_Facility_Code", type = "string" },
    { name = "Bed Grade", type = "double" },
    { name = "patientid", type = "bigint" },
    { name = "City_Code_Patient", type = "double" },
    { name = "Type of Admission", type = "string" },
    { name = "Severity of Illness", type = "string" },
    { name = "Visitors with Patient", type = "bigint" },
    { name = "Age", type = "string" },
    { name = "Admission_Deposit", type = "double" },
  ]
  validation {
    condition     = alltrue([for c in var.capture_input_columns : contains(["bigint", "int", "double", "float", "string", "boolean", "date", "timestamp"], c.type)])
    error_message = "Each capture_input_columns type must be one of bigint, int, double, float, string, boolean, date, timestamp."
  }
  validation {
    condition = length(distinct([
      for c in var.capture_input_columns : trim(replace(lower(c.name), "/[^a-z0-9]+/", "_"), "_")
    ])) == length(var.capture_input_columns)
    error_message = "capture_input_columns names must stay distinct once lower-cased with other characters made underscores."
  }
  validation {
    condition = length(setintersection(
      [for c in var.capture_input_columns : trim(replace(lower(c.name), "/[^a-z0-9]+/", "_"), "_")],
      ["model", "dt", "hour"],
    )) == 0
    error_message = "capture_input_columns must not use a partition key's name (model, dt, hour)."
  }
}

variable "monitor_schedule" {
  description = "When the monitor task runs (EventBridge Scheduler expression)."
  type        = string
  default     = "rate(1 hour)"
}

variable "monitor_cpu" {
  description = "Monitor task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "monitor_memory" {
  description = "Monitor task memory (MiB): it pulls the captures of capture_retention_days into its workspace and reads them."
  type        = number
  default     = 4096
}

variable "alert_email" {
  description = "Email address the monitor's alerts and failures go to (SNS sends a confirmation mail first). Null: no email."
  type        = string
  default     = null
}

variable "alert_webhook_url" {
  description = "HTTPS endpoint SNS posts the monitor's alerts and failures to (it must confirm the subscription; SNS sends its JSON envelope). Null: no webhook."
  type        = string
  default     = null
  validation {
    condition     = var.alert_webhook_url == null || startswith(coalesce(var.alert_webhook_url, "https://"), "https://")
    error_message = "alert_webhook_url must start with https://."
  }
}
