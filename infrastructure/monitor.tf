# The monitor: every hour (monitor_schedule) EventBridge Scheduler starts a one-off Fargate task
# that pulls the team's runs, alias moves and captures into an empty workspace and runs
# `staytrack monitor --json`. Its exit code is the verdict: 0 all well, 3 a window raised an
# alert, anything else an error. An EventBridge rule turns a stopped task with a non-zero exit
# code into a message on an encrypted SNS topic, which mails and/or posts it.

locals {
  monitor_family = "${local.name}-monitor"
  # Task definitions of the family, whatever their revision.
  monitor_task_definitions = "arn:${local.partition}:ecs:${var.region}:${local.account_id}:task-definition/${local.monitor_family}:*"
}

# ---------------------------------------------------------------------------------------------
# The task: reads the bucket, writes nothing to it (what pull records stays in its workspace,
# which goes with the task).

resource "aws_iam_role" "monitor" {
  name_prefix        = "${local.name}-monitor-"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

data "aws_iam_policy_document" "monitor" {
  source_policy_documents = [data.aws_iam_policy_document.pull_models.json]
  statement {
    sid       = "ListCaptures"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.sync.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.capture_prefix}/*"]
    }
  }
  statement {
    sid       = "ReadCaptures"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.sync.arn}/${local.capture_prefix}/*"]
  }
}

resource "aws_iam_role_policy" "monitor" {
  name   = "read-models-and-captures"
  role   = aws_iam_role.monitor.id
  policy = data.aws_iam_policy_document.monitor.json
}

resource "aws_security_group" "monitor" {
  #checkov:skip=CKV2_AWS_5:It is attached to each task the schedule starts (aws_scheduler_schedule.monitor, network_configuration), a link checkov's graph does not follow.
  name_prefix = "${local.name}-monitor-"
  description = "staytrack monitor task: no inbound, HTTPS out to AWS APIs"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "monitor_https" {
  security_group_id = aws_security_group.monitor.id
  description       = "HTTPS to ECR, S3 and CloudWatch Logs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_ecs_task_definition" "monitor" {
  family                   = local.monitor_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.monitor_cpu
  memory                   = var.monitor_memory
  # The execution role only pulls the image and writes logs to the same group (it may read the
  # API token too, which this task does not ask for).
  execution_role_arn = aws_iam_role.execution.arn
  task_role_arn      = aws_iam_role.monitor.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume {
    name = "workspace"
  }
  container_definitions = jsonencode([{
    name      = "staytrack"
    image     = "${aws_ecr_repository.staytrack.repository_url}:${var.image_tag}"
    essential = true
    # A failed pull (a rejected object exits 1) stops here: the error is reported like an alert.
    entryPoint             = ["/bin/sh", "-c"]
    command                = ["staytrack sync pull && staytrack monitor --json"]
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    mountPoints            = [{ sourceVolume = "workspace", containerPath = "/workspace", readOnly = false }]
    environment = [
      { name = "STAYTRACK_HOME", value = "/workspace" },
      { name = "TMPDIR", value = "/workspace" },
      { name = "STAYTRACK_SYNC_BUCKET", value = aws_s3_bucket.sync.bucket },
      { name = "STAYTRACK_SYNC_PREFIX", value = local.prefix },
      { name = "STAYTRACK_SYNC_REGION", value = var.region },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.staytrack.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "monitor"
      }
    }
  }])
}

# ---------------------------------------------------------------------------------------------
# The schedule, with a role that may start this task family on this cluster and hand it its
# two roles, nothing more.

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name_prefix        = "${local.name}-sched-"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "RunMonitorTask"
    actions   = ["ecs:RunTask"]
    resources = [local.monitor_task_definitions]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.staytrack.arn]
    }
  }
  statement {
    sid       = "PassMonitorRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn, aws_iam_role.monitor.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  # The schedule is encrypted with the deployment's key.
  statement {
    sid       = "DecryptSchedule"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "run-monitor"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "monitor" {
  name                = local.monitor_family
  description         = "staytrack sync pull && staytrack monitor --json"
  schedule_expression = var.monitor_schedule
  kms_key_arn         = aws_kms_key.main.arn
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = aws_ecs_cluster.staytrack.arn
    role_arn = aws_iam_role.scheduler.arn
    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.monitor.arn
      launch_type         = "FARGATE"
      task_count          = 1
      network_configuration {
        subnets          = var.private_subnet_ids
        security_groups  = [aws_security_group.monitor.id]
        assign_public_ip = false
      }
    }
    # A run that cannot start within a quarter of an hour is skipped; the next one comes.
    retry_policy {
      maximum_event_age_in_seconds = 900
      maximum_retry_attempts       = 3
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Alerts: the stopped task's exit code, as a readable message on an encrypted topic.

resource "aws_sns_topic" "alerts" {
  name              = "${local.name}-monitor-alerts"
  display_name      = "staytrack monitor"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}

data "aws_iam_policy_document" "alerts" {
  # Only this deployment's two rules publish.
  statement {
    sid       = "MonitorRules"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.monitor_alert.arn, aws_cloudwatch_event_rule.monitor_failed.arn]
    }
  }
}

# Both need confirming: SNS mails a link, and posts a SubscriptionConfirmation the endpoint must
# follow (its SubscribeURL).
resource "aws_sns_topic_subscription" "alerts_email" {
  count     = var.alert_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

resource "aws_sns_topic_subscription" "alerts_webhook" {
  count     = var.alert_webhook_url == null ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "https"
  endpoint  = var.alert_webhook_url
}

locals {
  # The monitor task's stopped events on this cluster, any revision.
  monitor_stopped = {
    clusterArn        = [aws_ecs_cluster.staytrack.arn]
    taskDefinitionArn = [{ prefix = "${aws_ecs_task_definition.monitor.arn_without_revision}:" }]
    lastStatus        = ["STOPPED"]
  }
  monitor_event_paths = {
    task   = "$.detail.taskArn"
    code   = "$.detail.containers[0].exitCode"
    reason = "$.detail.stoppedReason"
    time   = "$.detail.stoppedAt"
  }
}

# Exit 3: a window raised an alert.
resource "aws_cloudwatch_event_rule" "monitor_alert" {
  name        = "${local.monitor_family}-alert"
  description = "staytrack monitor raised an alert (exit code 3)"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail        = merge(local.monitor_stopped, { containers = { exitCode = [3] } })
  })
}

resource "aws_cloudwatch_event_target" "monitor_alert" {
  rule = aws_cloudwatch_event_rule.monitor_alert.name
  arn  = aws_sns_topic.alerts.arn
  input_transformer {
    input_paths    = local.monitor_event_paths
    input_template = "\"ALERT from staytrack monitor (${local.name}) at <time>: a window raised an alert (exit code <code>). The report (staytrack monitor --json) is in CloudWatch Logs group ${aws_cloudwatch_log_group.staytrack.name}, stream monitor/staytrack/ followed by the task id, the end of <task>.\""
  }
}

# Any other non-zero exit (1: the pull or the monitor failed; 137: out of memory), or a task that
# never started (no image, no capacity): the monitor is not watching.
resource "aws_cloudwatch_event_rule" "monitor_failed" {
  name        = "${local.monitor_family}-failed"
  description = "staytrack monitor failed (exit code other than 0 and 3, or the task did not start)"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = merge(local.monitor_stopped, {
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = [0, 3] }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    })
  })
}

resource "aws_cloudwatch_event_target" "monitor_failed" {
  rule = aws_cloudwatch_event_rule.monitor_failed.name
  arn  = aws_sns_topic.alerts.arn
  input_transformer {
    input_paths    = local.monitor_event_paths
    input_template = "\"FAILURE of staytrack monitor (${local.name}) at <time>: exit code <code>, <reason>. No report was made this run. See CloudWatch Logs group ${aws_cloudwatch_log_group.staytrack.name}, stream monitor/staytrack/ followed by the task id, the end of <task>.\""
  }
}
